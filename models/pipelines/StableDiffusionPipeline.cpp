//===- StableDiffusionPipeline.cpp - SD 1.x / 2.x folder -> one module ----===//
//
// diffusers 0.31's StableDiffusionPipeline: CLIP's last hidden state
// conditions a UNet2DConditionModel under true classifier-free guidance
// (the negative prompt's embeddings, "" by default, in the second half of
// the UNet's batch), the folder's scheduler, the VAE decoder on
// latents / scaling_factor. The safety checker is not run.
//
//===----------------------------------------------------------------------===//
#include "models/ModelSizes.h"
#include "models/pipelines/PipelineFolder.h"
#include "models/text/CLIPTextModel.h"
#include "models/unet/UNetBuilder.h"
#include "models/vae/VAEBuilder.h"

using namespace llvm;

namespace fresco::models {

Error buildStableDiffusionPipeline(mlir::ModuleOp module,
                                   const PipelineFolder &dir,
                                   const json::Object &index,
                                   const BuildOptions &options) {
  if (Error e = dir.requireComponents(
          index, "StableDiffusionPipeline",
          {"unet", "vae", "scheduler", "text_encoder", "tokenizer"}))
    return e;
  if (options.maxSequenceLength)
    return makeError("StableDiffusionPipeline's prompts take CLIP's "
                     "max_position_embeddings tokens: --max-sequence-length "
                     "does not apply");
  Expected<UNetConfig> unet = dir.config<UNetConfig>("unet");
  if (!unet)
    return unet.takeError();
  if (unet->hasTextTime())
    return makeError("unet: addition_embed_type \"text_time\" is SDXL's "
                     "UNet, which StableDiffusionPipeline does not feed");
  Expected<VAEConfig> vae = dir.config<VAEConfig>("vae");
  if (!vae)
    return vae.takeError();
  Expected<CLIPTextConfig> clip = dir.config<CLIPTextConfig>("text_encoder");
  if (!clip)
    return clip.takeError();
  if (vae->latentChannels != unet->inChannels)
    return makeError("the VAE's latent_channels (" +
                     Twine(vae->latentChannels) +
                     ") differ from the UNet's in_channels (" +
                     Twine(unet->inChannels) + ")");
  if (unet->outChannels != unet->inChannels)
    return makeError("the UNet's out_channels (" + Twine(unet->outChannels) +
                     ") differ from its in_channels (" +
                     Twine(unet->inChannels) + ")");
  if (clip->hiddenSize != unet->crossAttentionDim)
    return makeError("text_encoder's hidden_size (" + Twine(clip->hiddenSize) +
                     ") differs from the UNet's cross_attention_dim (" +
                     Twine(unet->crossAttentionDim) + ")");
  Expected<SchedulerFile> sched = dir.scheduler();
  if (!sched)
    return sched.takeError();

  // Sizes as the pipeline computes them (vae_scale_factor: the VAE's
  // upscaling; default size: the UNet's sample_size times it); the UNet's
  // down blocks must halve the latents exactly (diffusers would resize its
  // upsampling to fit; Fresco refuses, naming the multiple).
  const int64_t vsf = vae->upscale();
  const int64_t multiple = vsf * unet->downscale();
  int64_t height = options.height ? options.height : unet->sampleSize * vsf;
  int64_t width = options.width ? options.width : unet->sampleSize * vsf;
  for (auto [what, v] : {std::pair<StringRef, int64_t>{"height", height},
                         std::pair<StringRef, int64_t>{"width", width}})
    if (v < multiple || v > (int64_t(1) << 16) || v % multiple != 0)
      return makeError("StableDiffusionPipeline's image " + what +
                       " must be a multiple of " + Twine(multiple) +
                       " pixels (the VAE's " + Twine(vsf) +
                       "x and the UNet's " + Twine(unet->downscale()) +
                       "x downsampling) up to 65536, got " + Twine(v));
  const int64_t n = options.batch;
  UNetShape shape;
  // Classifier-free guidance: the prompts' and the negative prompts'
  // halves in one batch.
  shape.batch = 2 * n;
  shape.height = height / vsf;
  shape.width = width / vsf;
  shape.textTokens = clip->maxPositions;
  if (Error e = checkUNetSize(*unet, shape.height, shape.width))
    return e;
  if (Error e = checkVAESize(*vae, height, width))
    return e;
  buildCLIPText(module, *clip, n, "text_encoder", CLIPOutputs::Hidden);
  buildUNet(module, *unet, shape, "unet");
  buildVAEDecoder(module, *vae, n, shape.height, shape.width, "vae");

  PipelineAttrs a(module.getContext());
  mlir::ArrayAttr components = a.b.getArrayAttr(
      {a.dict({a.str("role", "text_encoder"), a.str("function", "text_encoder"),
               a.attr("inputs", a.strings({"token_ids"})),
               a.attr("outputs", a.strings({"text_embeddings"})),
               a.str("tokenizer_kind", "clip_bpe"),
               a.str("tokenizer", "tokenizer"), a.i64("prompt_slot", 0)}),
       a.dict({a.str("role", "denoiser"), a.str("function", "unet"),
               a.attr("inputs",
                      a.strings({"latents", "timestep", "text_embeddings"})),
               a.attr("outputs", a.strings({"prediction"}))}),
       a.dict({a.str("role", "decoder"), a.str("function", "vae"),
               a.attr("inputs", a.strings({"latents"})),
               a.attr("outputs", a.strings({"image"}))})});
  mlir::DictionaryAttr latents =
      a.dict({a.str("layout", "image"), a.i64("channels", unet->inChannels),
              a.i64("height", shape.height), a.i64("width", shape.width),
              a.i64("prediction_channels", unet->outChannels),
              a.f64("scaling_factor", vae->scalingFactor),
              a.f64("shift_factor", vae->shiftFactor.value_or(0.0))});
  mlir::DictionaryAttr sampler = a.dict({a.str("scheduler", sched->className),
                                         a.str("scheduler_config", sched->text),
                                         a.str("guidance", "text_cfg")});
  module->setAttr(
      "fresco.pipeline",
      a.dict({a.str("kind", "StableDiffusionPipeline"), a.i64("num_images", n),
              a.str("denoiser", "unet"), a.str("decoder", "vae"),
              a.attr("components", components),
              a.attr("conditioning", a.dict({a.str("kind", "text")})),
              a.attr("latents", latents), a.attr("sampler", sampler)}));
  return Error::success();
}

} // namespace fresco::models
