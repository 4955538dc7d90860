//===- FluxPipeline.cpp - diffusers' FluxPipeline folder -> one module ----===//
//
// FLUX.1 dev and schnell as diffusers 0.31's FluxPipeline runs them: the
// CLIP text encoder's pooled output and T5's hidden states condition the
// transformer, which sees 2x2-packed latent tokens and their (0, row,
// column) ids; FlowMatchEulerDiscreteScheduler with FluxPipeline's shifted
// sigmas; the guidance scale is a transformer input for dev (no CFG batch)
// and absent for schnell. Every size is fixed here: the image size, the T5
// sequence length and the images per run. With --vae-encoder the VAE
// encoder comes too, for image-to-image (FluxImg2ImgPipeline). A
// FluxControlNetPipeline folder adds its FluxControlNetModel(s) to the
// transformer's function and always brings the encoder (the control image
// is VAE-encoded).
//
//===----------------------------------------------------------------------===//
#include "models/ModelSizes.h"
#include "models/flux/FluxBuilder.h"
#include "models/pipelines/PipelineFolder.h"
#include "models/text/CLIPTextModel.h"
#include "models/text/T5EncoderModel.h"
#include "models/unet/ControlNetConfig.h"
#include "models/vae/VAEBuilder.h"

using namespace llvm;

namespace fresco::models {
namespace {

// FluxPipeline's limits and defaults (diffusers 0.31).
constexpr int64_t kMaxTextTokens = 512, kDefaultSampleSize = 64;
constexpr int64_t kMaxPixels = int64_t(1) << 16;

/// The image and token sizes for `options`, checked as FluxPipeline would
/// (it only warns and rounds a size the packing cannot divide; Fresco
/// refuses it, naming the multiple).
struct FluxSizes {
  int64_t height, width;             // pixels
  int64_t latentHeight, latentWidth; // the VAE's latent grid
  int64_t imageTokens, textTokens;
};

Expected<FluxSizes> fluxSizes(const VAEConfig &vae,
                              const BuildOptions &options) {
  // FluxPipeline's vae_scale_factor: the VAE's downsampling times the 2x2
  // packing, 16 for FLUX.1's VAE.
  const int64_t factor = 2 * vae.upscale();
  FluxSizes s;
  s.height = options.height ? options.height : kDefaultSampleSize * factor;
  s.width = options.width ? options.width : kDefaultSampleSize * factor;
  for (auto [what, v] : {std::pair<StringRef, int64_t>{"height", s.height},
                         std::pair<StringRef, int64_t>{"width", s.width}})
    if (v < factor || v > kMaxPixels || v % factor != 0)
      return makeError("FluxPipeline's image " + what +
                       " must be a multiple of " + Twine(factor) +
                       " pixels (the VAE's " + Twine(vae.upscale()) +
                       "x downsampling and the 2x2 latent packing) up to " +
                       Twine(kMaxPixels) + ", got " + Twine(v));
  s.latentHeight = s.height / vae.upscale();
  s.latentWidth = s.width / vae.upscale();
  s.imageTokens = (s.height / factor) * (s.width / factor);
  s.textTokens =
      options.maxSequenceLength ? options.maxSequenceLength : kMaxTextTokens;
  if (s.textTokens < 1 || s.textTokens > kMaxTextTokens)
    return makeError("FluxPipeline's max sequence length must be in 1.." +
                     Twine(kMaxTextTokens) + ", got " + Twine(s.textTokens));
  return s;
}

/// The sizes the components must agree on, as FluxPipeline wires them.
Error checkAgreement(const FluxConfig &flux, const VAEConfig &vae,
                     const CLIPTextConfig &clip, const T5Config &t5) {
  auto mismatch = [](const Twine &a, int64_t x, const Twine &b, int64_t y) {
    return makeError(a + " (" + Twine(x) + ") must equal " + b + " (" +
                     Twine(y) + ")");
  };
  if (flux.patchSize != 1)
    return makeError("the transformer's patch_size is " +
                     Twine(flux.patchSize) +
                     "; FluxPipeline packs 2x2 latents itself and needs 1");
  if (flux.inChannels != 4 * vae.latentChannels)
    return mismatch("the transformer's in_channels", flux.inChannels,
                    "4 x the VAE's latent_channels", 4 * vae.latentChannels);
  if (flux.outChannels() != flux.inChannels)
    return mismatch("the transformer's out_channels", flux.outChannels(),
                    "its in_channels", flux.inChannels);
  if (flux.jointAttentionDim != t5.dModel)
    return mismatch("the transformer's joint_attention_dim",
                    flux.jointAttentionDim, "text_encoder_2's d_model",
                    t5.dModel);
  if (flux.pooledProjectionDim != clip.hiddenSize)
    return mismatch("the transformer's pooled_projection_dim",
                    flux.pooledProjectionDim, "text_encoder's hidden_size",
                    clip.hiddenSize);
  if (flux.axesDimsRope.size() != 3)
    return makeError("FluxPipeline's ids have 3 axes; the transformer's "
                     "axes_dims_rope has " +
                     Twine(flux.axesDimsRope.size()));
  return Error::success();
}

/// The FluxControlNetModel in `folder`, checked to fit the transformer; a
/// misfit's error starts with the folder.
Expected<FluxControlNetConfig> readFluxControlNet(const PipelineFolder &dir,
                                                  StringRef folder,
                                                  const FluxConfig &flux) {
  Expected<FluxControlNetConfig> cn = dir.config<FluxControlNetConfig>(folder);
  if (!cn)
    return cn.takeError();
  const FluxConfig &c = cn->flux;
  auto fail = [&](const Twine &msg) { return makeError(folder + ": " + msg); };
  // It reads the transformer's inputs: the latents, the control latents
  // (the same packing), the text, the ids and the guidance.
  if (c.inChannels != flux.inChannels)
    return fail("the ControlNet's in_channels (" + Twine(c.inChannels) +
                ") differ from the transformer's (" + Twine(flux.inChannels) +
                "): it reads the same packed latents");
  if (c.patchSize != 1)
    return fail("the ControlNet's patch_size is " + Twine(c.patchSize) +
                "; FluxControlNetPipeline packs 2x2 latents and needs 1");
  if (c.jointAttentionDim != flux.jointAttentionDim ||
      c.pooledProjectionDim != flux.pooledProjectionDim)
    return fail("the ControlNet's joint_attention_dim or "
                "pooled_projection_dim differ from the transformer's: both "
                "read the same text embeddings");
  if (c.axesDimsRope.size() != flux.axesDimsRope.size())
    return fail(
        "the ControlNet's axes_dims_rope has " + Twine(c.axesDimsRope.size()) +
        " axes; FluxPipeline's ids have " + Twine(flux.axesDimsRope.size()));
  if (c.guidanceEmbeds != flux.guidanceEmbeds)
    return fail(Twine("the ControlNet's guidance_embeds is ") +
                (c.guidanceEmbeds ? "true" : "false") +
                " and the transformer's is not: Fresco feeds both the same "
                "guidance input (pair a FLUX.1-dev ControlNet with dev, a "
                "schnell one with schnell)");
  if (c.innerDim() != flux.innerDim())
    return fail("the ControlNet's width (num_attention_heads x "
                "attention_head_dim = " +
                Twine(c.innerDim()) + ") differs from the transformer's (" +
                Twine(flux.innerDim()) +
                "): its block samples are added to the transformer's");
  return cn;
}

/// The pipeline's FluxControlNetModels (controlnet, and with a
/// FluxMultiControlNetModel entry controlnet_1, ...), which must agree on
/// their block counts (their samples are summed). With `images`, the one
/// union net once per control image, all reading controlnet/.
Expected<SmallVector<FluxControlNetConfig, 1>>
readFluxControlNets(const PipelineFolder &dir, const json::Object &index,
                    const FluxConfig &flux, int64_t images) {
  Expected<size_t> count =
      controlNetCount(dir, index, "FluxMultiControlNetModel");
  if (!count)
    return count.takeError();
  if (images) {
    if (*count != 1)
      return makeError("--control-images applies to one ControlNet-Union; "
                       "this folder has " +
                       Twine(*count) +
                       " ControlNets, which take one control image each");
    Expected<FluxControlNetConfig> cn =
        readFluxControlNet(dir, controlNetFolder(0), flux);
    if (!cn)
      return cn.takeError();
    if (!cn->numMode)
      return makeError(
          "--control-images: controlnet is not a ControlNet-Union (its "
          "config has no num_mode); diffusers' FluxMultiControlNetModel "
          "applies only a union net to several images (a plain net reads "
          "the first)");
    cn->folder = controlNetFolder(0);
    return SmallVector<FluxControlNetConfig, 1>(size_t(images), *cn);
  }
  SmallVector<FluxControlNetConfig, 1> nets;
  for (size_t k = 0; k < *count; ++k) {
    Expected<FluxControlNetConfig> cn =
        readFluxControlNet(dir, controlNetFolder(k), flux);
    if (!cn)
      return cn.takeError();
    cn->folder = controlNetFolder(k);
    if (k > 0 && (cn->flux.numLayers != nets[0].flux.numLayers ||
                  cn->flux.numSingleLayers != nets[0].flux.numSingleLayers))
      return makeError(controlNetFolder(k) +
                       ": its num_layers and num_single_layers differ from "
                       "controlnet's: FluxMultiControlNetModel sums the "
                       "nets' block samples");
    nets.push_back(std::move(*cn));
  }
  return nets;
}

} // namespace

Error buildFluxPipeline(mlir::ModuleOp module, const PipelineFolder &dir,
                        const json::Object &index,
                        const BuildOptions &options) {
  const bool control = index.getString("_class_name") ==
                       std::optional<StringRef>("FluxControlNetPipeline");
  const StringRef cls = control ? "FluxControlNetPipeline" : "FluxPipeline";
  SmallVector<StringRef> needed = {
      "transformer",    "vae",       "scheduler",  "text_encoder",
      "text_encoder_2", "tokenizer", "tokenizer_2"};
  if (control)
    needed.push_back("controlnet");
  if (Error e = dir.requireComponents(index, cls, needed))
    return e;
  Expected<FluxConfig> flux = dir.config<FluxConfig>("transformer");
  if (!flux)
    return flux.takeError();
  SmallVector<FluxControlNetConfig, 1> controlnets;
  if (control) {
    Expected<SmallVector<FluxControlNetConfig, 1>> cn =
        readFluxControlNets(dir, index, *flux, options.controlImages);
    if (!cn)
      return cn.takeError();
    controlnets = std::move(*cn);
  }
  Expected<VAEConfig> vae = dir.config<VAEConfig>("vae");
  if (!vae)
    return vae.takeError();
  Expected<CLIPTextConfig> clip = dir.config<CLIPTextConfig>("text_encoder");
  if (!clip)
    return clip.takeError();
  Expected<T5Config> t5 = dir.config<T5Config>("text_encoder_2");
  if (!t5)
    return t5.takeError();
  if (Error e = checkAgreement(*flux, *vae, *clip, *t5))
    return e;
  Expected<FluxSizes> sizes = fluxSizes(*vae, options);
  if (!sizes)
    return sizes.takeError();
  if (Error e = checkVAESize(*vae, sizes->height, sizes->width))
    return e;
  // Joint attention over image and text tokens at this image size.
  // The nets attend over the same tokens, perhaps with more heads.
  int64_t heads = flux->numAttentionHeads, modeTokens = 0;
  for (const FluxControlNetConfig &cn : controlnets) {
    heads = std::max(heads, cn.flux.numAttentionHeads);
    modeTokens = std::max<int64_t>(modeTokens, cn.numMode ? 1 : 0);
  }
  if (Error e = checkJointAttention("FluxPipeline", heads,
                                    sizes->imageTokens + sizes->textTokens +
                                        modeTokens,
                                    sizes->height, sizes->width))
    return e;
  Expected<SchedulerFile> sched =
      dir.scheduler("FluxPipeline", "FlowMatchEulerDiscreteScheduler");
  if (!sched)
    return sched.takeError();

  // One image per prompt: every component runs the images once (no CFG
  // batch; dev's guidance is an input of the transformer).
  const int64_t n = options.batch;
  buildCLIPText(module, *clip, n, "text_encoder", CLIPOutputs::Pooled);
  buildT5Encoder(module, *t5, n, sizes->textTokens, "text_encoder_2");
  FluxShape shape;
  shape.batch = n;
  shape.imageTokens = sizes->imageTokens;
  shape.textTokens = sizes->textTokens;
  buildFlux(module, *flux, shape, "transformer", controlnets);
  buildVAEDecoder(module, *vae, n, sizes->latentHeight, sizes->latentWidth,
                  "vae");

  // The sampler description (docs/dialect.md); spellings as in
  // runtime/pipeline/PipelineNames.h.
  PipelineAttrs a(module.getContext());
  SmallVector<StringRef> denoiserInputs = {
      "latents",  "text_embeddings", "pooled_text_embeddings",
      "timestep", "image_ids",       "text_ids"};
  if (flux->guidanceEmbeds)
    denoiserInputs.push_back("guidance_scale");
  if (control)
    denoiserInputs.append({"control_latents", "control_scale"});
  if (llvm::any_of(controlnets,
                   [](const FluxControlNetConfig &n) { return n.numMode; }))
    denoiserInputs.push_back("control_mode");
  mlir::ArrayAttr components = a.b.getArrayAttr(
      {a.dict({a.str("role", "text_encoder"), a.str("function", "text_encoder"),
               a.attr("inputs", a.strings({"token_ids"})),
               a.attr("outputs", a.strings({"pooled_text_embeddings"})),
               a.str("tokenizer_kind", "clip_bpe"),
               a.str("tokenizer", "tokenizer"), a.i64("prompt_slot", 0)}),
       a.dict({a.str("role", "text_encoder"),
               a.str("function", "text_encoder_2"),
               a.attr("inputs", a.strings({"token_ids"})),
               a.attr("outputs", a.strings({"text_embeddings"})),
               a.str("tokenizer_kind", "t5_sentencepiece"),
               a.str("tokenizer", "tokenizer_2"), a.i64("prompt_slot", 1)}),
       a.dict({a.str("role", "denoiser"), a.str("function", "transformer"),
               a.attr("inputs", a.strings(denoiserInputs)),
               a.attr("outputs", a.strings({"prediction"}))}),
       a.dict({a.str("role", "decoder"), a.str("function", "vae"),
               a.attr("inputs", a.strings({"latents"})),
               a.attr("outputs", a.strings({"image"}))})});
  // Image-to-image (FluxImg2ImgPipeline) needs the encoder: only compiled
  // when asked, so text-to-image plans stay as they were. The ControlNet
  // class encodes its control images with it.
  if (options.vaeEncoder || control) {
    SmallVector<mlir::Attribute> all(components.begin(), components.end());
    all.push_back(a.vaeEncoder(module, *vae, n, sizes->height, sizes->width));
    components = a.b.getArrayAttr(all);
  }
  mlir::DictionaryAttr latents = a.dict(
      {a.str("layout", "packed_tokens"), a.i64("channels", vae->latentChannels),
       a.i64("height", sizes->latentHeight), a.i64("width", sizes->latentWidth),
       a.i64("patch_size", 2),
       a.i64("prediction_channels", flux->outChannels()),
       a.f64("scaling_factor", vae->scalingFactor),
       a.f64("shift_factor", vae->shiftFactor.value_or(0.0))});
  mlir::DictionaryAttr sampler = a.dict(
      {a.str("scheduler", sched->className),
       a.str("scheduler_config", sched->text),
       a.str("guidance", flux->guidanceEmbeds ? "embedded" : "none"),
       // The transformer multiplies its timestep input by 1000 again.
       a.f64("timestep_divisor", 1000.0), a.str("timesteps", "flux_shifted"),
       a.attr("flow_prediction", a.b.getBoolAttr(true))});
  module->setAttr(
      "fresco.pipeline",
      a.dict({a.str("kind", "FluxPipeline"), a.i64("num_images", n),
              a.str("denoiser", "transformer"), a.str("decoder", "vae"),
              a.attr("components", components),
              a.attr("conditioning", a.dict({a.str("kind", "text")})),
              a.attr("latents", latents), a.attr("sampler", sampler)}));
  return Error::success();
}

} // namespace fresco::models
