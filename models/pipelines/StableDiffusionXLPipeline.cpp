//===- StableDiffusionXLPipeline.cpp - SDXL folder -> one module ----------===//
//
// diffusers 0.31's StableDiffusionXLPipeline: the penultimate hidden states
// of CLIP ViT-L (text_encoder) and OpenCLIP ViT-bigG (text_encoder_2, with
// projection) side by side condition the UNet's cross-attention, bigG's
// projected pooled output and the time ids (original size, crop corner,
// target size) its added conditions, under true classifier-free guidance;
// without a negative prompt the unconditional half is zeros
// (force_zeros_for_empty_prompt, true by default). The VAE decodes
// latents / scaling_factor. No watermark. With --vae-encoder the VAE
// encoder comes too, for image-to-image (StableDiffusionXLImg2ImgPipeline
// on this folder).
//
// A StableDiffusionXLImg2ImgPipeline folder (the SDXL refiner) is
// image-to-image only: its VAE encoder always comes. Its text_encoder may be
// null: text_encoder_2 alone then reads the prompt (encode_prompt zips the
// prompts with the encoders it has) and fills the whole cross-attention
// input. With requires_aesthetics_score its time ids are original size,
// crop corner and an aesthetic score the run gives (another for the
// negative half); force_zeros_for_empty_prompt is false in the refiner's
// folder (the class's default is true).
//
// A StableDiffusionXLInpaintPipeline folder (SDXL inpainting 0.1) compiles
// as the base's (its plans are StableDiffusionXLPipeline's kind); an
// inpainting UNet there (9 input channels) makes a plan that only inpaints,
// with the encoder always. A StableDiffusionXLControlNetPipeline folder
// compiles as the base's with its ControlNetModel in the UNet's function;
// its Img2Img and Inpaint classes' folders always get the encoder, and the
// Inpaint class's may hold an inpainting UNet (the ControlNet then reads
// the latents' channels alone, as diffusers feeds it).
//
//===----------------------------------------------------------------------===//
#include "models/pipelines/UNetPipeline.h"
#include "models/text/CLIPTextModel.h"

using namespace llvm;

namespace fresco::models {
namespace {

/// A boolean `key` of model_index.json (a registered config of the
/// pipeline; `dflt` when absent, as its constructor's default).
Expected<bool> indexFlag(const PipelineFolder &dir, const json::Object &index,
                         StringRef key, bool dflt) {
  const json::Value *v = index.get(key);
  if (!v)
    return dflt;
  if (std::optional<bool> b = v->getAsBoolean())
    return *b;
  return makeError(dir.path("", "model_index.json") + ": " + key +
                   " must be true or false");
}

/// SDXL's VAE may carry latents_mean / latents_std (Playground v2.5). The
/// base and img2img classes decode (and encode) with them, as Fresco does.
/// diffusers 0.31's inpainting class decodes with them but encodes without,
/// its ControlNet-inpainting class ignores them, and its ControlNet classes
/// use them as the base ones; Fresco has none of those with statistics yet.
/// The classes view them as 4 channels (SDXL's).
Error checkLatentStatistics(const PipelineFolder &dir, const VAEConfig &vae,
                            StringRef cls, bool supported) {
  if (vae.latentsMean.empty())
    return Error::success();
  if (vae.latentChannels != 4)
    return makeError(dir.path("vae", "config.json") +
                     ": latents_mean / latents_std with latent_channels " +
                     Twine(vae.latentChannels) + ": " + cls +
                     " views them as 4 channels (diffusers fails too)");
  if (supported)
    return Error::success();
  return makeError(dir.path("vae", "config.json") +
                   ": latents_mean / latents_std are set; " + cls +
                   " with latent statistics is not implemented (the "
                   "StableDiffusionXLPipeline and "
                   "StableDiffusionXLImg2ImgPipeline classes are)");
}

/// The text encoders' sizes against the UNet's inputs: text_encoder (when
/// there is one) and text_encoder_2 side by side per token make the
/// cross-attention input; text_encoder_2's projection is the pooled input.
Error checkEncoders(StringRef cls, const UNetConfig &unet,
                    const CLIPTextConfig *clip, const CLIPTextConfig &clip2) {
  if (!clip2.withProjection)
    return makeError("text_encoder_2 must be a CLIPTextModelWithProjection: "
                     "its text_embeds are the UNet's pooled conditioning");
  if (clip && clip->maxPositions != clip2.maxPositions)
    return makeError("text_encoder takes " + Twine(clip->maxPositions) +
                     " tokens and text_encoder_2 " + Twine(clip2.maxPositions) +
                     "; their hidden states are concatenated per token");
  const int64_t hidden = (clip ? clip->hiddenSize : 0) + clip2.hiddenSize;
  if (hidden != unet.crossAttentionDim)
    return makeError(
        (clip ? "the text encoders' hidden sizes (" + Twine(clip->hiddenSize) +
                    " + " + Twine(clip2.hiddenSize) + ") must add up to"
              : "text_encoder_2's hidden size (" + Twine(clip2.hiddenSize) +
                    ") must equal") +
        " the UNet's cross_attention_dim (" + Twine(unet.crossAttentionDim) +
        ")" + (clip ? "" : Twine("; ") + cls + " has no text_encoder here"));
  if (clip2.projectionDim != unet.textEmbedsDim())
    return makeError(
        "text_encoder_2's projection_dim (" + Twine(clip2.projectionDim) +
        ") differs from the UNet's pooled text input (" +
        Twine(unet.textEmbedsDim()) +
        ": projection_class_embeddings_input_dim minus " + Twine(unet.timeIds) +
        " x addition_time_embed_dim" +
        (unet.timeIds == UNetConfig::kRefinerTimeIds
             ? ", the 5 time ids of requires_aesthetics_score)"
             : ", the 6 time ids of requires_aesthetics_score false; a "
               "refiner's UNet takes 5: StableDiffusionXLImg2ImgPipeline "
               "with requires_aesthetics_score true)"));
  return Error::success();
}

/// The classes: `img2img` for StableDiffusionXLImg2ImgPipeline, `inpaint`
/// for StableDiffusionXLInpaintPipeline, `control` for
/// StableDiffusionXLControlNetPipeline and its Img2Img and Inpaint classes
/// (all with the base's plan kind).
Error buildSDXL(mlir::ModuleOp module, const PipelineFolder &dir,
                const json::Object &index, const BuildOptions &options,
                bool img2img, bool inpaint = false, bool control = false) {
  // The ControlNet Img2Img and Inpaint classes' folders: the encoder always
  // comes.
  std::optional<StringRef> indexClass = index.getString("_class_name");
  const bool controlImg2Img =
      control &&
      indexClass == std::optional<StringRef>(
                        "StableDiffusionXLControlNetImg2ImgPipeline");
  const bool controlInpaint =
      control &&
      indexClass == std::optional<StringRef>(
                        "StableDiffusionXLControlNetInpaintPipeline");
  inpaint = inpaint || controlInpaint;
  const StringRef kName =
      img2img          ? "StableDiffusionXLImg2ImgPipeline"
      : controlInpaint ? "StableDiffusionXLControlNetInpaintPipeline"
      : inpaint        ? "StableDiffusionXLInpaintPipeline"
      : controlImg2Img ? "StableDiffusionXLControlNetImg2ImgPipeline"
      : control        ? "StableDiffusionXLControlNetPipeline"
                       : "StableDiffusionXLPipeline";
  const StringRef kind = img2img ? "StableDiffusionXLImg2ImgPipeline"
                                 : "StableDiffusionXLPipeline";
  SmallVector<StringRef> required = {"unet", "vae", "scheduler",
                                     "text_encoder_2", "tokenizer_2"};
  if (!img2img)
    required.append({"text_encoder", "tokenizer"});
  if (control)
    required.push_back("controlnet");
  if (Error e = dir.requireComponents(index, kName, required))
    return e;
  for (StringRef c : {"text_encoder_2", "tokenizer_2"})
    if (!componentPresent(index, c))
      return makeError(dir.path("", "model_index.json") + ": " + c +
                       " is null; " + kName +
                       " needs it (its text_embeds are the UNet's pooled "
                       "conditioning)");
  // The refiner's folder has no text_encoder ([null, null]).
  const bool withClip = componentPresent(index, "text_encoder");
  if (withClip != componentPresent(index, "tokenizer"))
    return makeError(dir.path("", "model_index.json") +
                     ": text_encoder and tokenizer go together");
  if (options.maxSequenceLength)
    return makeError(kName + Twine("'s prompts take CLIP's "
                                   "max_position_embeddings tokens: "
                                   "--max-sequence-length does not apply"));
  Expected<bool> aesthetic =
      img2img || inpaint || controlImg2Img
          ? indexFlag(dir, index, "requires_aesthetics_score", false)
          : Expected<bool>(false);
  if (!aesthetic)
    return aesthetic.takeError();
  if (controlImg2Img && *aesthetic)
    return makeError(kName + Twine(" with requires_aesthetics_score true is "
                                   "not implemented"));
  if (inpaint && *aesthetic)
    return makeError(kName + Twine(" with requires_aesthetics_score true (a "
                                   "refiner's UNet) is not implemented: "
                                   "compile the refiner's own folder"));
  Expected<UNetPipeline> p = readUNetPipeline(dir, kName, options, inpaint);
  if (!p)
    return p.takeError();
  UNetConfig &unet = p->unet;
  if (!unet.hasTextTime())
    return makeError("unet: " + kName +
                     " feeds SDXL's added conditions (addition_embed_type "
                     "\"text_time\"), which this UNet does not take");
  if (*aesthetic)
    unet.timeIds = UNetConfig::kRefinerTimeIds;
  std::optional<CLIPTextConfig> clip;
  if (withClip) {
    Expected<CLIPTextConfig> c = dir.config<CLIPTextConfig>("text_encoder");
    if (!c)
      return c.takeError();
    clip = *c;
  }
  Expected<CLIPTextConfig> clip2 = dir.config<CLIPTextConfig>("text_encoder_2");
  if (!clip2)
    return clip2.takeError();
  if (Error e = checkEncoders(kName, unet, clip ? &*clip : nullptr, *clip2))
    return e;
  Expected<bool> zeros =
      indexFlag(dir, index, "force_zeros_for_empty_prompt", true);
  if (!zeros)
    return zeros.takeError();
  const bool statistics = !control && !inpaint;
  if (Error e = checkLatentStatistics(dir, p->vae, kName, statistics))
    return e;
  SmallVector<ControlNetConfig, 1> controlnets;
  if (control) {
    Expected<SmallVector<ControlNetConfig, 1>> cn =
        readControlNets(dir, index, *p, kName);
    if (!cn)
      return cn.takeError();
    controlnets = std::move(*cn);
  }

  const int64_t n = options.batch;
  p->shape.textTokens = clip2->maxPositions;
  // hidden_states[-2] of both; bigG's projected pooled output. With
  // clip_skip the prompts read hidden_states[-(clip_skip + 2)] of both.
  const int64_t skip = options.clipSkip;
  if (clip)
    if (Error e =
            buildPipelineCLIP(module, *clip, n, "text_encoder",
                              CLIPOutputs::Penultimate, skip, false, kName))
      return e;
  if (Error e =
          buildPipelineCLIP(module, *clip2, n, "text_encoder_2",
                            CLIPOutputs::PenultimatePooled, skip, false, kName))
    return e;
  buildUNet(module, unet, p->shape, "unet", controlnets);
  buildVAEDecoder(module, p->vae, n, p->shape.height, p->shape.width, "vae");

  PipelineAttrs a(module.getContext());
  SmallVector<mlir::Attribute> components;
  // Alone, text_encoder_2 reads the prompt (slot 0), as encode_prompt's
  // zip of [prompt, prompt_2] with [text_encoder_2] does.
  if (clip)
    components.push_back(a.textEncoder("text_encoder", {"text_embeddings"},
                                       "clip_bpe", "tokenizer", 0, {},
                                       skip > 0));
  components.push_back(a.textEncoder(
      "text_encoder_2", {"text_embeddings", "pooled_text_embeddings"},
      "clip_bpe", "tokenizer_2", clip ? 1 : 0,
      {{0, clip ? clip->hiddenSize : 0}, {0, 0}}, skip > 0));
  SmallVector<StringRef> denoiserInputs = {
      "latents", "timestep", "text_embeddings", "pooled_text_embeddings",
      "time_ids"};
  if (!controlnets.empty())
    denoiserInputs.append({"control_image", "control_scale"});
  components.push_back(
      a.component("denoiser", "unet", denoiserInputs, "prediction"));
  components.push_back(a.component("decoder", "vae", {"latents"}, "image"));
  // Image-to-image needs the encoder: only compiled when asked, or always
  // for the img2img class and an inpainting UNet.
  if (options.vaeEncoder || img2img || p->maskChannels || controlImg2Img ||
      controlInpaint) {
    const int64_t up = p->vae.upscale();
    components.push_back(a.vaeEncoder(module, p->vae, n, p->shape.height * up,
                                      p->shape.width * up));
  }
  // add_time_ids from the defaults (original and target size the image
  // size, crop corner (0, 0)), the same for the negative half:
  // original_size + crops_coords_top_left + target_size, or with
  // requires_aesthetics_score original_size + crops_coords_top_left and the
  // aesthetic score the runtime appends per half.
  const double h = double(p->size.height), w = double(p->size.width);
  SmallVector<double> values = {h, w, 0.0, 0.0};
  if (!*aesthetic)
    values.append({h, w});
  SmallVector<mlir::Attribute> ids;
  for (double v : values)
    ids.push_back(a.b.getF64FloatAttr(v));
  SmallVector<mlir::NamedAttribute> cond = {
      a.str("kind", "text"), a.attr("time_ids", a.b.getArrayAttr(ids)),
      a.attr("zero_negative_prompt", a.b.getBoolAttr(*zeros))};
  if (*aesthetic)
    cond.push_back(a.attr("aesthetic_score", a.b.getBoolAttr(true)));
  mlir::DictionaryAttr sampler =
      a.dict({a.str("scheduler", p->scheduler.className),
              a.str("scheduler_config", p->scheduler.text),
              a.str("guidance", "text_cfg")});
  module->setAttr("fresco.pipeline",
                  a.dict({a.str("kind", kind), a.i64("num_images", n),
                          a.str("denoiser", "unet"), a.str("decoder", "vae"),
                          a.attr("components", a.b.getArrayAttr(components)),
                          a.attr("conditioning", a.dict(cond)),
                          a.attr("latents", unetLatents(a, *p, statistics)),
                          a.attr("sampler", sampler)}));
  return Error::success();
}

} // namespace

Error buildStableDiffusionXLPipeline(mlir::ModuleOp module,
                                     const PipelineFolder &dir,
                                     const json::Object &index,
                                     const BuildOptions &options) {
  return buildSDXL(module, dir, index, options, /*img2img=*/false);
}

Error buildStableDiffusionXLImg2ImgPipeline(mlir::ModuleOp module,
                                            const PipelineFolder &dir,
                                            const json::Object &index,
                                            const BuildOptions &options) {
  return buildSDXL(module, dir, index, options, /*img2img=*/true);
}

Error buildStableDiffusionXLInpaintPipeline(mlir::ModuleOp module,
                                            const PipelineFolder &dir,
                                            const json::Object &index,
                                            const BuildOptions &options) {
  return buildSDXL(module, dir, index, options, /*img2img=*/false,
                   /*inpaint=*/true);
}

Error buildStableDiffusionXLControlNetPipeline(mlir::ModuleOp module,
                                               const PipelineFolder &dir,
                                               const json::Object &index,
                                               const BuildOptions &options) {
  return buildSDXL(module, dir, index, options, /*img2img=*/false,
                   /*inpaint=*/false, /*control=*/true);
}

} // namespace fresco::models
