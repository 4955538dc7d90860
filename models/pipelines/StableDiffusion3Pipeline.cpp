//===- StableDiffusion3Pipeline.cpp - SD3 / SD3.5 folder -> one module ----===//
//
// diffusers 0.31's StableDiffusion3Pipeline: the penultimate hidden states
// of two CLIP encoders with projection (text_encoder: ViT-L,
// text_encoder_2: ViT-bigG) side by side, zero-padded to T5's width, then
// T5's tokens (text_encoder_3; zeros for 77 tokens when the folder has
// none) make the transformer's encoder_hidden_states; the two projected
// pooled outputs side by side its pooled_projections. True classifier-free
// guidance on the negative prompts ("" by default), the folder's
// FlowMatchEulerDiscreteScheduler stepping the transformer's velocity, and
// the VAE decoding latents / scaling_factor + shift_factor. With
// --vae-encoder the VAE encoder comes too, for image-to-image
// (StableDiffusion3Img2ImgPipeline on this folder). A
// StableDiffusion3ControlNetPipeline folder adds its SD3ControlNetModel(s)
// to the transformer's function and always brings the encoder. A
// StableDiffusion3ControlNetInpaintingPipeline folder's one net reads the
// masked control image's latents and the mask (extra_conditioning_channels
// 1): the plan's latents say so (control_mask_channels).
//
//===----------------------------------------------------------------------===//
#include "models/ModelSizes.h"
#include "models/pipelines/PipelineFolder.h"
#include "models/sd3/SD3Builder.h"
#include "models/text/CLIPTextModel.h"
#include "models/text/T5EncoderModel.h"
#include "models/unet/ControlNetConfig.h"
#include "models/vae/VAEBuilder.h"

using namespace llvm;

namespace fresco::models {
namespace {

constexpr StringRef kName = "StableDiffusion3Pipeline";
constexpr StringRef kInpaintingClass =
    "StableDiffusion3ControlNetInpaintingPipeline";
// _get_t5_prompt_embeds' default and check_inputs' limit.
constexpr int64_t kDefaultT5Tokens = 256, kMaxT5Tokens = 512;

/// The sizes the components must agree on, as the pipeline wires them.
Error checkAgreement(const SD3Config &sd3, const VAEConfig &vae,
                     const CLIPTextConfig &clip, const CLIPTextConfig &clip2,
                     const T5Config *t5) {
  auto mismatch = [](const Twine &a, int64_t x, const Twine &b, int64_t y) {
    return makeError(a + " (" + Twine(x) + ") must equal " + b + " (" +
                     Twine(y) + ")");
  };
  for (auto [name, c] :
       {std::pair<StringRef, const CLIPTextConfig *>{"text_encoder", &clip},
        {"text_encoder_2", &clip2}})
    if (!c->withProjection)
      return makeError(name + " must be a CLIPTextModelWithProjection: its "
                              "text_embeds are half the pooled projections");
  if (sd3.inChannels != vae.latentChannels)
    return mismatch("the transformer's in_channels", sd3.inChannels,
                    "the VAE's latent_channels", vae.latentChannels);
  if (sd3.outChannels != sd3.inChannels)
    return mismatch("the transformer's out_channels", sd3.outChannels,
                    "its in_channels", sd3.inChannels);
  if (clip.projectionDim + clip2.projectionDim != sd3.pooledProjectionDim)
    return mismatch("the CLIP encoders' projection_dims added up",
                    clip.projectionDim + clip2.projectionDim,
                    "the transformer's pooled_projection_dim",
                    sd3.pooledProjectionDim);
  if (clip.hiddenSize + clip2.hiddenSize > sd3.jointAttentionDim)
    return makeError("the CLIP encoders' hidden sizes (" +
                     Twine(clip.hiddenSize) + " + " + Twine(clip2.hiddenSize) +
                     ") exceed the transformer's joint_attention_dim (" +
                     Twine(sd3.jointAttentionDim) +
                     "), to which the pipeline pads them");
  if (clip.maxPositions != clip2.maxPositions)
    return makeError("text_encoder takes " + Twine(clip.maxPositions) +
                     " tokens and text_encoder_2 " + Twine(clip2.maxPositions) +
                     "; their hidden states are concatenated per token");
  if (t5 && t5->dModel != sd3.jointAttentionDim)
    return mismatch("text_encoder_3's d_model", t5->dModel,
                    "the transformer's joint_attention_dim",
                    sd3.jointAttentionDim);
  return Error::success();
}

/// The SD3ControlNetModels of the folder (controlnet, and with an
/// SD3MultiControlNetModel entry controlnet_1, ...), each checked to fit
/// the transformer at this latent grid; a misfit's error starts with its
/// folder.
Expected<SmallVector<SD3ControlNetConfig, 1>>
readSD3ControlNets(const PipelineFolder &dir, const json::Object &index,
                   const SD3Config &sd3, int64_t latentHeight,
                   int64_t latentWidth, bool inpainting) {
  Expected<size_t> count =
      controlNetCount(dir, index, "SD3MultiControlNetModel");
  if (!count)
    return count.takeError();
  // diffusers 0.31: "MultiControlNetModel is not supported for
  // SD3ControlNetInpaintingPipeline".
  if (inpainting && *count != 1)
    return makeError(Twine(kInpaintingClass) +
                     " runs one SD3ControlNetModel, "
                     "not an SD3MultiControlNetModel of " +
                     Twine(*count));
  SmallVector<SD3ControlNetConfig, 1> nets;
  for (size_t k = 0; k < *count; ++k) {
    const std::string folder = controlNetFolder(k);
    Expected<SD3ControlNetConfig> cn = dir.config<SD3ControlNetConfig>(folder);
    if (!cn)
      return cn.takeError();
    const SD3Config &c = cn->sd3;
    auto fail = [&](const Twine &msg) {
      return makeError(folder + ": " + msg);
    };
    if (c.inChannels != sd3.inChannels || c.patchSize != sd3.patchSize)
      return fail("the ControlNet's in_channels or patch_size differ from "
                  "the transformer's: it reads the same latents");
    if (c.innerDim() != sd3.innerDim())
      return fail("the ControlNet's width (num_attention_heads x "
                  "attention_head_dim = " +
                  Twine(c.innerDim()) + ") differs from the transformer's (" +
                  Twine(sd3.innerDim()) +
                  "): its block samples are added to the transformer's");
    if (c.jointAttentionDim != sd3.jointAttentionDim ||
        c.pooledProjectionDim != sd3.pooledProjectionDim)
      return fail("the ControlNet's joint_attention_dim or "
                  "pooled_projection_dim differ from the transformer's: both "
                  "read the same text embeddings");
    for (int64_t side : {latentHeight, latentWidth})
      if (side / c.patchSize > c.posEmbedMaxSize)
        return fail("the image needs " + Twine(side / c.patchSize) +
                    " patches a side; the ControlNet's pos_embed_max_size "
                    "is " +
                    Twine(c.posEmbedMaxSize));
    // SD3Transformer2DModel adds sample i // (blocks // samples) after every
    // block but the last: diffusers fails unless that index exists.
    const int64_t blocks = sd3.numLayers, samples = c.numLayers;
    if (samples > blocks || (blocks - 2) / (blocks / samples) >= samples)
      return fail("the ControlNet's " + Twine(samples) +
                  " blocks do not map onto the transformer's " + Twine(blocks) +
                  " (SD3Transformer2DModel adds sample i // (" + Twine(blocks) +
                  " // " + Twine(samples) +
                  ") after block i, which must exist)");
    // The pipelines give the latents alone, or (inpainting) the latents
    // and one mask channel.
    if (cn->extraChannels != (inpainting ? 1 : 0))
      return fail(
          "extra_conditioning_channels is " + Twine(cn->extraChannels) +
          (inpainting
               ? ": " + Twine(kInpaintingClass) +
                     " gives its net the masked image's latents and 1 mask "
                     "channel (extra_conditioning_channels 1)"
               : ": StableDiffusion3ControlNetPipeline gives its nets the "
                 "control latents alone (an inpainting net, with extra "
                 "channels, goes in a " +
                     Twine(kInpaintingClass) + " folder)"));
    if (k > 0 && c.numLayers != nets[0].sd3.numLayers)
      return fail("its num_layers differ from controlnet's: "
                  "SD3MultiControlNetModel sums the nets' block samples");
    nets.push_back(std::move(*cn));
  }
  return nets;
}

} // namespace

Error buildStableDiffusion3Pipeline(mlir::ModuleOp module,
                                    const PipelineFolder &dir,
                                    const json::Object &index,
                                    const BuildOptions &options) {
  const std::optional<StringRef> indexClass = index.getString("_class_name");
  const bool inpainting =
      indexClass == std::optional<StringRef>(kInpaintingClass);
  const bool control =
      inpainting || indexClass == std::optional<StringRef>(
                                      "StableDiffusion3ControlNetPipeline");
  SmallVector<StringRef> needed = {
      "transformer",    "vae",       "scheduler",  "text_encoder",
      "text_encoder_2", "tokenizer", "tokenizer_2"};
  if (control)
    needed.push_back("controlnet");
  const StringRef cls = inpainting ? StringRef(kInpaintingClass)
                        : control  ? "StableDiffusion3ControlNetPipeline"
                                   : kName;
  if (Error e = dir.requireComponents(index, cls, needed))
    return e;
  const bool withT5 = componentPresent(index, "text_encoder_3");
  if (withT5 != componentPresent(index, "tokenizer_3"))
    return makeError(dir.path("", "model_index.json") +
                     ": text_encoder_3 and tokenizer_3 go together");
  Expected<SD3Config> sd3 = dir.config<SD3Config>("transformer");
  if (!sd3)
    return sd3.takeError();
  Expected<VAEConfig> vae = dir.config<VAEConfig>("vae");
  if (!vae)
    return vae.takeError();
  Expected<CLIPTextConfig> clip = dir.config<CLIPTextConfig>("text_encoder");
  if (!clip)
    return clip.takeError();
  Expected<CLIPTextConfig> clip2 = dir.config<CLIPTextConfig>("text_encoder_2");
  if (!clip2)
    return clip2.takeError();
  std::optional<T5Config> t5;
  if (withT5) {
    Expected<T5Config> c = dir.config<T5Config>("text_encoder_3");
    if (!c)
      return c.takeError();
    t5 = *c;
  }
  if (Error e = checkAgreement(*sd3, *vae, *clip, *clip2, t5 ? &*t5 : nullptr))
    return e;
  int64_t t5Tokens = clip->maxPositions; // the zeros without T5
  if (options.maxSequenceLength && !withT5)
    return makeError("--max-sequence-length sets T5's tokens; this folder has "
                     "no text_encoder_3");
  if (withT5)
    t5Tokens = options.maxSequenceLength ? options.maxSequenceLength
                                         : kDefaultT5Tokens;
  if (t5Tokens < 1 || t5Tokens > kMaxT5Tokens)
    return makeError("StableDiffusion3Pipeline's max sequence length must be "
                     "in 1.." +
                     Twine(kMaxT5Tokens) + ", got " + Twine(t5Tokens));

  // vae_scale_factor 2^(len(block_out_channels) - 1); the transformer's
  // patches must tile the latents and fit its position table.
  const int64_t p = sd3->patchSize;
  Expected<ImageSize> size =
      imageSize(cls, options, vae->upscale(), p,
                "the transformer's " + std::to_string(p) + "x" +
                    std::to_string(p) + " patches",
                sd3->sampleSize);
  if (!size)
    return size.takeError();
  for (auto [what, latent] :
       {std::pair<StringRef, int64_t>{"height", size->latentHeight},
        std::pair<StringRef, int64_t>{"width", size->latentWidth}})
    if (latent / p > sd3->posEmbedMaxSize)
      return makeError("StableDiffusion3Pipeline's image " + what + " needs " +
                       Twine(latent / p) +
                       " patches; the transformer's pos_embed_max_size is " +
                       Twine(sd3->posEmbedMaxSize));
  if (Error e = checkVAESize(*vae, size->height, size->width))
    return e;
  SmallVector<SD3ControlNetConfig, 1> controlnets;
  if (control) {
    Expected<SmallVector<SD3ControlNetConfig, 1>> cn = readSD3ControlNets(
        dir, index, *sd3, size->latentHeight, size->latentWidth, inpainting);
    if (!cn)
      return cn.takeError();
    controlnets = std::move(*cn);
  }
  int64_t heads = sd3->numAttentionHeads;
  for (const SD3ControlNetConfig &cn : controlnets)
    heads = std::max(heads, cn.sd3.numAttentionHeads);
  const int64_t textTokens = clip->maxPositions + t5Tokens;
  // Joint attention over image and text tokens at this image size.
  if (Error e = checkJointAttention(
          cls, heads,
          (size->latentHeight / p) * (size->latentWidth / p) + textTokens,
          size->height, size->width))
    return e;
  Expected<SchedulerFile> sched =
      dir.scheduler(cls, "FlowMatchEulerDiscreteScheduler");
  if (!sched)
    return sched.takeError();

  const int64_t n = options.batch;
  // Each CLIP's hidden_states[-2] and pooled output; with clip_skip the
  // prompts read hidden_states[-(clip_skip + 2)].
  const int64_t skip = options.clipSkip;
  for (auto [config, fn] :
       {std::pair{&*clip, "text_encoder"}, {&*clip2, "text_encoder_2"}})
    if (Error e =
            buildPipelineCLIP(module, *config, n, fn,
                              CLIPOutputs::PenultimatePooled, skip, false, cls))
      return e;
  if (t5)
    buildT5Encoder(module, *t5, n, t5Tokens, "text_encoder_3");
  SD3Shape shape;
  shape.batch = 2 * n; // true CFG: the prompts', the negative prompts'
  shape.height = size->latentHeight;
  shape.width = size->latentWidth;
  shape.textTokens = textTokens;
  buildSD3(module, *sd3, shape, "transformer", controlnets);
  buildVAEDecoder(module, *vae, n, size->latentHeight, size->latentWidth,
                  "vae");

  PipelineAttrs a(module.getContext());
  const StringRef both[] = {"text_embeddings", "pooled_text_embeddings"};
  SmallVector<mlir::Attribute> components = {
      a.textEncoder("text_encoder", both, "clip_bpe", "tokenizer", 0, {},
                    skip > 0),
      a.textEncoder("text_encoder_2", both, "clip_bpe", "tokenizer_2", 1,
                    {{0, clip->hiddenSize}, {0, clip->projectionDim}},
                    skip > 0)};
  if (t5)
    components.push_back(a.textEncoder("text_encoder_3", {"text_embeddings"},
                                       "t5_sentencepiece", "tokenizer_3", 2,
                                       {{clip->maxPositions, 0}}));
  SmallVector<StringRef> denoiserInputs = {
      "latents", "text_embeddings", "pooled_text_embeddings", "timestep"};
  if (control)
    denoiserInputs.append({"control_latents", "control_scale"});
  components.push_back(
      a.component("denoiser", "transformer", denoiserInputs, "prediction"));
  components.push_back(a.component("decoder", "vae", {"latents"}, "image"));
  // Image-to-image needs the encoder: only compiled when asked. The
  // ControlNet class encodes its control images with it.
  if (options.vaeEncoder || control) {
    components.push_back(
        a.vaeEncoder(module, *vae, n, size->height, size->width));
  }
  mlir::DictionaryAttr latents = a.dict(
      {a.str("layout", "image"), a.i64("channels", vae->latentChannels),
       a.i64("height", size->latentHeight), a.i64("width", size->latentWidth),
       a.i64("prediction_channels", sd3->outChannels),
       a.f64("scaling_factor", vae->scalingFactor),
       a.f64("shift_factor", vae->shiftFactor.value_or(0.0)),
       a.i64("control_mask_channels", inpainting ? 1 : 0)});
  mlir::DictionaryAttr sampler = a.dict(
      {a.str("scheduler", sched->className),
       a.str("scheduler_config", sched->text), a.str("guidance", "text_cfg"),
       a.attr("flow_prediction", a.b.getBoolAttr(true))});
  module->setAttr(
      "fresco.pipeline",
      a.dict({a.str("kind", kName), a.i64("num_images", n),
              a.str("denoiser", "transformer"), a.str("decoder", "vae"),
              a.attr("components", a.b.getArrayAttr(components)),
              a.attr("conditioning", a.dict({a.str("kind", "text")})),
              a.attr("latents", latents), a.attr("sampler", sampler)}));
  return Error::success();
}

} // namespace fresco::models
