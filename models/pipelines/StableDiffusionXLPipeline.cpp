//===- StableDiffusionXLPipeline.cpp - SDXL folder -> one module ----------===//
//
// diffusers 0.31's StableDiffusionXLPipeline: the penultimate hidden states
// of CLIP ViT-L (text_encoder) and OpenCLIP ViT-bigG (text_encoder_2, with
// projection) side by side condition the UNet's cross-attention, bigG's
// projected pooled output and the time ids (original size, crop corner,
// target size) its added conditions, under true classifier-free guidance;
// without a negative prompt the unconditional half is zeros
// (force_zeros_for_empty_prompt, true by default). The VAE decodes
// latents / scaling_factor. No refiner, no watermark. With --vae-encoder
// the VAE encoder comes too, for image-to-image
// (StableDiffusionXLImg2ImgPipeline on this folder).
//
//===----------------------------------------------------------------------===//
#include "models/pipelines/UNetPipeline.h"
#include "models/text/CLIPTextModel.h"

using namespace llvm;

namespace fresco::models {
namespace {

/// force_zeros_for_empty_prompt from model_index.json (a registered config
/// of the pipeline; true when absent, as its constructor's default).
Expected<bool> forceZeros(const PipelineFolder &dir,
                          const json::Object &index) {
  const json::Value *v = index.get("force_zeros_for_empty_prompt");
  if (!v)
    return true;
  if (std::optional<bool> b = v->getAsBoolean())
    return *b;
  return makeError(dir.path("", "model_index.json") +
                   ": force_zeros_for_empty_prompt must be true or false");
}

/// SDXL's VAE may carry latents_mean / latents_std, which the pipeline then
/// applies before decoding; Fresco does not yet.
Error refuseLatentStatistics(const PipelineFolder &dir) {
  Expected<json::Object> vae = dir.object("vae", "config.json");
  if (!vae)
    return vae.takeError();
  for (StringRef key : {"latents_mean", "latents_std"})
    if (const json::Value *v = vae->get(key); v && !v->getAsNull())
      return makeError(dir.path("vae", "config.json") + ": " + key +
                       " is set; decoding with latent statistics is not "
                       "implemented yet");
  return Error::success();
}

} // namespace

Error buildStableDiffusionXLPipeline(mlir::ModuleOp module,
                                     const PipelineFolder &dir,
                                     const json::Object &index,
                                     const BuildOptions &options) {
  constexpr StringRef kName = "StableDiffusionXLPipeline";
  if (Error e =
          dir.requireComponents(index, kName,
                                {"unet", "vae", "scheduler", "text_encoder",
                                 "text_encoder_2", "tokenizer", "tokenizer_2"}))
    return e;
  if (options.maxSequenceLength)
    return makeError("StableDiffusionXLPipeline's prompts take CLIP's "
                     "max_position_embeddings tokens: --max-sequence-length "
                     "does not apply");
  Expected<UNetPipeline> p = readUNetPipeline(dir, kName, options);
  if (!p)
    return p.takeError();
  const UNetConfig &unet = p->unet;
  if (!unet.hasTextTime())
    return makeError("unet: StableDiffusionXLPipeline feeds SDXL's added "
                     "conditions (addition_embed_type \"text_time\"), which "
                     "this UNet does not take");
  Expected<CLIPTextConfig> clip = dir.config<CLIPTextConfig>("text_encoder");
  if (!clip)
    return clip.takeError();
  Expected<CLIPTextConfig> clip2 = dir.config<CLIPTextConfig>("text_encoder_2");
  if (!clip2)
    return clip2.takeError();
  if (!clip2->withProjection)
    return makeError("text_encoder_2 must be a CLIPTextModelWithProjection: "
                     "its text_embeds are the UNet's pooled conditioning");
  if (clip->maxPositions != clip2->maxPositions)
    return makeError("text_encoder takes " + Twine(clip->maxPositions) +
                     " tokens and text_encoder_2 " +
                     Twine(clip2->maxPositions) +
                     "; their hidden states are concatenated per token");
  if (clip->hiddenSize + clip2->hiddenSize != unet.crossAttentionDim)
    return makeError("the text encoders' hidden sizes (" +
                     Twine(clip->hiddenSize) + " + " +
                     Twine(clip2->hiddenSize) +
                     ") must add up to the UNet's cross_attention_dim (" +
                     Twine(unet.crossAttentionDim) + ")");
  if (clip2->projectionDim != unet.textEmbedsDim())
    return makeError("text_encoder_2's projection_dim (" +
                     Twine(clip2->projectionDim) +
                     ") differs from the UNet's pooled text input (" +
                     Twine(unet.textEmbedsDim()) +
                     ": projection_class_embeddings_input_dim minus 6 x "
                     "addition_time_embed_dim)");
  Expected<bool> zeros = forceZeros(dir, index);
  if (!zeros)
    return zeros.takeError();
  if (Error e = refuseLatentStatistics(dir))
    return e;

  const int64_t n = options.batch;
  p->shape.textTokens = clip->maxPositions;
  // hidden_states[-2] of both; bigG's projected pooled output.
  buildCLIPText(module, *clip, n, "text_encoder", {false, true, false});
  buildCLIPText(module, *clip2, n, "text_encoder_2", {false, true, true});
  buildUNet(module, unet, p->shape, "unet");
  buildVAEDecoder(module, p->vae, n, p->shape.height, p->shape.width, "vae");

  PipelineAttrs a(module.getContext());
  SmallVector<mlir::Attribute> components = {
      a.textEncoder("text_encoder", {"text_embeddings"}, "clip_bpe",
                    "tokenizer", 0),
      a.textEncoder("text_encoder_2",
                    {"text_embeddings", "pooled_text_embeddings"}, "clip_bpe",
                    "tokenizer_2", 1, {{0, clip->hiddenSize}, {0, 0}}),
      a.component("denoiser", "unet",
                  {"latents", "timestep", "text_embeddings",
                   "pooled_text_embeddings", "time_ids"},
                  "prediction"),
      a.component("decoder", "vae", {"latents"}, "image")};
  // Image-to-image needs the encoder: only compiled when asked. The
  // img2img class on a base folder (requires_aesthetics_score false) feeds
  // the same time ids as below.
  if (options.vaeEncoder) {
    const int64_t up = p->vae.upscale();
    components.push_back(a.vaeEncoder(module, p->vae, n, p->shape.height * up,
                                      p->shape.width * up));
  }
  // add_time_ids: original_size + crops_coords_top_left + target_size, the
  // defaults (the image size, (0, 0), the image size), the same for the
  // negative half.
  const double h = double(p->size.height), w = double(p->size.width);
  SmallVector<mlir::Attribute> ids;
  for (double v : {h, w, 0.0, 0.0, h, w})
    ids.push_back(a.b.getF64FloatAttr(v));
  mlir::DictionaryAttr conditioning =
      a.dict({a.str("kind", "text"), a.attr("time_ids", a.b.getArrayAttr(ids)),
              a.attr("zero_negative_prompt", a.b.getBoolAttr(*zeros))});
  mlir::DictionaryAttr sampler =
      a.dict({a.str("scheduler", p->scheduler.className),
              a.str("scheduler_config", p->scheduler.text),
              a.str("guidance", "text_cfg")});
  module->setAttr("fresco.pipeline",
                  a.dict({a.str("kind", kName), a.i64("num_images", n),
                          a.str("denoiser", "unet"), a.str("decoder", "vae"),
                          a.attr("components", a.b.getArrayAttr(components)),
                          a.attr("conditioning", conditioning),
                          a.attr("latents", unetLatents(a, *p)),
                          a.attr("sampler", sampler)}));
  return Error::success();
}

} // namespace fresco::models
