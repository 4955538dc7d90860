//===- UNetPipeline.cpp - What the UNet pipelines share -------------------===//
#include "models/pipelines/UNetPipeline.h"
#include "models/ModelSizes.h"

using namespace llvm;

namespace fresco::models {

Expected<UNetPipeline> readUNetPipeline(const PipelineFolder &dir,
                                        StringRef pipeline,
                                        const BuildOptions &options,
                                        bool inpaintClass) {
  UNetPipeline p;
  Expected<UNetConfig> unet = dir.config<UNetConfig>("unet");
  if (!unet)
    return unet.takeError();
  p.unet = *unet;
  Expected<VAEConfig> vae = dir.config<VAEConfig>("vae");
  if (!vae)
    return vae.takeError();
  p.vae = *vae;
  // An inpainting UNet (SD 1.5 / 2 inpainting, SDXL inpainting 0.1) reads
  // the latents, the mask and the masked image's latents: 2C + 1 channels.
  const int64_t c = p.vae.latentChannels;
  if (p.unet.inChannels == 2 * c + 1 && p.unet.outChannels == c) {
    if (!inpaintClass)
      return makeError(
          "the UNet takes " + Twine(p.unet.inChannels) +
          " input channels (an inpainting UNet: the latents, a mask and the "
          "masked image's latents), which " +
          pipeline + " does not feed; its folder's class is " +
          (pipeline.starts_with("StableDiffusionXLControlNet")
               ? "StableDiffusionXLControlNetInpaintPipeline"
           : pipeline.starts_with("StableDiffusionXL")
               ? "StableDiffusionXLInpaintPipeline"
           : pipeline.contains("ControlNet")
               ? "StableDiffusionControlNetInpaintPipeline"
               : "StableDiffusionInpaintPipeline"));
    p.maskChannels = c + 1;
  } else if (p.vae.latentChannels != p.unet.inChannels)
    return makeError("the VAE's latent_channels (" +
                     Twine(p.vae.latentChannels) +
                     ") differ from the UNet's in_channels (" +
                     Twine(p.unet.inChannels) + ")");
  if (!p.maskChannels && p.unet.outChannels != p.unet.inChannels)
    return makeError("the UNet's out_channels (" + Twine(p.unet.outChannels) +
                     ") differ from its in_channels (" +
                     Twine(p.unet.inChannels) + ")");
  Expected<SchedulerFile> sched = dir.scheduler();
  if (!sched)
    return sched.takeError();
  p.scheduler = std::move(*sched);

  // Sizes as the pipelines compute them (vae_scale_factor: the VAE's
  // upscaling; default size: the UNet's sample_size times it); the UNet's
  // down blocks must halve the latents exactly (diffusers would resize its
  // upsampling to fit; Fresco refuses, naming the multiple).
  Expected<ImageSize> size = imageSize(
      pipeline, options, p.vae.upscale(), p.unet.downscale(),
      "the UNet's " + std::to_string(p.unet.downscale()) + "x downsampling",
      p.unet.sampleSize);
  if (!size)
    return size.takeError();
  p.size = *size;
  // Classifier-free guidance: the prompts' and the negative prompts'
  // halves in one batch.
  p.shape.batch = 2 * options.batch;
  p.shape.height = p.size.latentHeight;
  p.shape.width = p.size.latentWidth;
  if (Error e = checkUNetSize(p.unet, p.shape.height, p.shape.width))
    return std::move(e);
  if (Error e = checkVAESize(p.vae, p.size.height, p.size.width))
    return std::move(e);
  return p;
}

namespace {

/// The ControlNetModel in `folder`, checked to fit the UNet and VAE of `p`;
/// a misfit's error starts with the folder.
Expected<ControlNetConfig> readControlNet(const PipelineFolder &dir,
                                          StringRef folder,
                                          const UNetPipeline &p,
                                          StringRef pipeline) {
  Expected<ControlNetConfig> cn = dir.config<ControlNetConfig>(folder);
  if (!cn)
    return cn.takeError();
  const UNetConfig &c = cn->unet, &u = p.unet;
  auto fail = [&](const Twine &msg) { return makeError(folder + ": " + msg); };
  auto mismatch = [&](StringRef what) {
    return fail("the ControlNet's " + what +
                " differ from the UNet's: its residuals are added to the "
                "UNet's skip connections, which need the same down blocks");
  };
  // SDXL's: the same added conditions as the UNet's (it reads the same
  // pooled text embeddings and time ids).
  if (c.hasTextTime() != u.hasTextTime())
    return fail(Twine("addition_embed_type is ") +
                (c.hasTextTime()
                     ? "\"text_time\" (an SDXL ControlNet)"
                     : "none (a Stable Diffusion 1.x / 2.x ControlNet)") +
                ", which " + pipeline + " does not feed");
  if (c.additionTimeEmbedDim != u.additionTimeEmbedDim ||
      c.addEmbeddingInputDim != u.addEmbeddingInputDim)
    return fail("the ControlNet's addition_time_embed_dim or "
                "projection_class_embeddings_input_dim differ from the "
                "UNet's: both read the same pooled text embeddings and time "
                "ids");
  if (c.blockOutChannels != u.blockOutChannels)
    return mismatch("block_out_channels");
  if (c.layersPerBlock != u.layersPerBlock)
    return mismatch("layers_per_block");
  if (c.crossAttentionDim != u.crossAttentionDim)
    return fail("the ControlNet's cross_attention_dim (" +
                Twine(c.crossAttentionDim) + ") differs from the UNet's (" +
                Twine(u.crossAttentionDim) +
                "): both read the same text embeddings");
  // The classes' control image processor converts every image to RGB.
  if (cn->conditioningChannels != 3)
    return fail("the ControlNet's conditioning_channels is " +
                Twine(cn->conditioningChannels) + "; " + pipeline +
                " feeds it an RGB control image (3 channels)");
  if (c.inChannels != p.vae.latentChannels)
    return fail("the ControlNet's in_channels (" + Twine(c.inChannels) +
                ") differ from the VAE's latent_channels (" +
                Twine(p.vae.latentChannels) + ")");
  if (cn->embeddingDownscale() != p.vae.upscale())
    return fail(
        "the ControlNet's conditioning embedding shrinks the control image " +
        Twine(cn->embeddingDownscale()) +
        "x (conditioning_embedding_out_channels has " +
        Twine(cn->embeddingChannels.size()) +
        " entries), but the VAE's latents are " + Twine(p.vae.upscale()) +
        "x smaller than the image");
  cn->unet.timeIds = u.timeIds;
  return cn;
}

} // namespace

Expected<SmallVector<ControlNetConfig, 1>>
readControlNets(const PipelineFolder &dir, const json::Object &index,
                const UNetPipeline &p, StringRef pipeline) {
  Expected<size_t> count = controlNetCount(dir, index, "MultiControlNetModel");
  if (!count)
    return count.takeError();
  SmallVector<ControlNetConfig, 1> nets;
  for (size_t k = 0; k < *count; ++k) {
    Expected<ControlNetConfig> cn =
        readControlNet(dir, controlNetFolder(k), p, pipeline);
    if (!cn)
      return cn.takeError();
    nets.push_back(std::move(*cn));
  }
  return nets;
}

mlir::DictionaryAttr unetLatents(PipelineAttrs &a, const UNetPipeline &p,
                                 bool latentStatistics) {
  SmallVector<mlir::NamedAttribute> entries = {
      a.str("layout", "image"),
      a.i64("channels", p.vae.latentChannels),
      a.i64("height", p.shape.height),
      a.i64("width", p.shape.width),
      a.i64("prediction_channels", p.unet.outChannels),
      a.f64("scaling_factor", p.vae.scalingFactor),
      a.f64("shift_factor", p.vae.shiftFactor.value_or(0.0)),
      a.i64("mask_channels", p.maskChannels)};
  if (latentStatistics && !p.vae.latentsMean.empty()) {
    auto list = [&](ArrayRef<double> values) {
      SmallVector<mlir::Attribute> attrs;
      for (double v : values)
        attrs.push_back(a.b.getF64FloatAttr(v));
      return a.b.getArrayAttr(attrs);
    };
    entries.push_back(a.attr("latents_mean", list(p.vae.latentsMean)));
    entries.push_back(a.attr("latents_std", list(p.vae.latentsStd)));
  }
  return a.dict(entries);
}

} // namespace fresco::models
