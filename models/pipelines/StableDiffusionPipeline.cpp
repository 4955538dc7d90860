//===- StableDiffusionPipeline.cpp - SD 1.x / 2.x folder -> one module ----===//
//
// diffusers 0.31's StableDiffusionPipeline: CLIP's last hidden state
// conditions a UNet2DConditionModel under true classifier-free guidance
// (the negative prompt's embeddings, "" by default, in the second half of
// the UNet's batch), the folder's scheduler, the VAE decoder on
// latents / scaling_factor. The safety checker is not run. With
// --vae-encoder the VAE encoder comes too, for image-to-image.
// A StableDiffusionInpaintPipeline folder compiles the same way (the plan's
// kind stays StableDiffusionPipeline); an inpainting UNet there (9 input
// channels) makes a plan that only inpaints, with the encoder always.
// A StableDiffusionControlNetPipeline folder adds its ControlNetModel to the
// UNet's function (buildUNet), so every strategy splits both as one.
//
//===----------------------------------------------------------------------===//
#include "models/pipelines/UNetPipeline.h"
#include "models/text/CLIPTextModel.h"

using namespace llvm;

namespace fresco::models {
namespace {
constexpr StringLiteral kInpaintClass = "StableDiffusionInpaintPipeline";
constexpr StringLiteral kControlNetClass = "StableDiffusionControlNetPipeline";
constexpr StringLiteral kControlNetImg2ImgClass =
    "StableDiffusionControlNetImg2ImgPipeline";
constexpr StringLiteral kControlNetInpaintClass =
    "StableDiffusionControlNetInpaintPipeline";

} // namespace

Error buildStableDiffusionPipeline(mlir::ModuleOp module,
                                   const PipelineFolder &dir,
                                   const json::Object &index,
                                   const BuildOptions &options) {
  std::optional<StringRef> indexClass = index.getString("_class_name");
  const bool inpaintClass =
      indexClass == std::optional<StringRef>(kInpaintClass);
  // The ControlNet Img2Img and Inpaint classes' folders: the encoder always
  // comes (the Inpaint class's may hold an inpainting UNet).
  const bool controlImg2Img =
      indexClass == std::optional<StringRef>(kControlNetImg2ImgClass);
  const bool controlInpaint =
      indexClass == std::optional<StringRef>(kControlNetInpaintClass);
  const bool controlClass =
      controlImg2Img || controlInpaint ||
      indexClass == std::optional<StringRef>(kControlNetClass);
  const StringRef cls = inpaintClass     ? StringRef(kInpaintClass)
                        : controlImg2Img ? StringRef(kControlNetImg2ImgClass)
                        : controlInpaint ? StringRef(kControlNetInpaintClass)
                        : controlClass   ? StringRef(kControlNetClass)
                                         : StringRef("StableDiffusionPipeline");
  SmallVector<StringRef> needed = {"unet", "vae", "scheduler", "text_encoder",
                                   "tokenizer"};
  if (controlClass)
    needed.push_back("controlnet");
  if (Error e = dir.requireComponents(index, cls, needed))
    return e;
  if (options.maxSequenceLength)
    return makeError(cls +
                     "'s prompts take CLIP's "
                     "max_position_embeddings tokens: --max-sequence-length "
                     "does not apply");
  Expected<UNetPipeline> p =
      readUNetPipeline(dir, cls, options, inpaintClass || controlInpaint);
  if (!p)
    return p.takeError();
  if (p->unet.hasTextTime())
    return makeError("unet: addition_embed_type \"text_time\" is SDXL's "
                     "UNet, which StableDiffusionPipeline does not feed");
  Expected<CLIPTextConfig> clip = dir.config<CLIPTextConfig>("text_encoder");
  if (!clip)
    return clip.takeError();
  if (clip->hiddenSize != p->unet.crossAttentionDim)
    return makeError("text_encoder's hidden_size (" + Twine(clip->hiddenSize) +
                     ") differs from the UNet's cross_attention_dim (" +
                     Twine(p->unet.crossAttentionDim) + ")");

  SmallVector<ControlNetConfig, 1> controlnets;
  if (controlClass) {
    Expected<SmallVector<ControlNetConfig, 1>> cn =
        readControlNets(dir, index, *p, cls);
    if (!cn)
      return cn.takeError();
    controlnets = std::move(*cn);
  }

  const int64_t n = options.batch;
  p->shape.textTokens = clip->maxPositions;
  // With clip_skip the prompts read final_layer_norm(hidden_states[-(
  // clip_skip + 1)]), the negative prompts the last hidden state.
  if (Error e =
          buildPipelineCLIP(module, *clip, n, "text_encoder",
                            CLIPOutputs::Hidden, options.clipSkip, true, cls))
    return e;
  buildUNet(module, p->unet, p->shape, "unet", controlnets);
  SmallVector<StringRef> denoiserInputs = {"latents", "timestep",
                                           "text_embeddings"};
  if (!controlnets.empty())
    denoiserInputs.append({"control_image", "control_scale"});
  buildVAEDecoder(module, p->vae, n, p->shape.height, p->shape.width, "vae");

  PipelineAttrs a(module.getContext());
  SmallVector<mlir::Attribute> components = {
      a.textEncoder("text_encoder", {"text_embeddings"}, "clip_bpe",
                    "tokenizer", 0, {}, options.clipSkip > 0),
      a.component("denoiser", "unet", denoiserInputs, "prediction"),
      a.component("decoder", "vae", {"latents"}, "image")};
  // Image-to-image (StableDiffusionImg2ImgPipeline) needs the encoder: only
  // compiled when asked, so text-to-image plans stay as small as before.
  if (options.vaeEncoder || p->maskChannels || controlImg2Img ||
      controlInpaint) {
    const int64_t up = p->vae.upscale();
    components.push_back(a.vaeEncoder(module, p->vae, n, p->shape.height * up,
                                      p->shape.width * up));
  }
  mlir::DictionaryAttr sampler =
      a.dict({a.str("scheduler", p->scheduler.className),
              a.str("scheduler_config", p->scheduler.text),
              a.str("guidance", "text_cfg")});
  module->setAttr(
      "fresco.pipeline",
      a.dict({a.str("kind", "StableDiffusionPipeline"), a.i64("num_images", n),
              a.str("denoiser", "unet"), a.str("decoder", "vae"),
              a.attr("components", a.b.getArrayAttr(components)),
              a.attr("conditioning", a.dict({a.str("kind", "text")})),
              a.attr("latents", unetLatents(a, *p)),
              a.attr("sampler", sampler)}));
  return Error::success();
}

} // namespace fresco::models
