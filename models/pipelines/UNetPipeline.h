//===- UNetPipeline.h - What the UNet pipelines share -----------*- C++ -*-===//
//
// StableDiffusionPipeline and StableDiffusionXLPipeline read the same UNet,
// VAE and scheduler, size the image the same way and run the UNet on both
// halves of a classifier-free guidance batch.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_MODELS_PIPELINES_UNETPIPELINE_H
#define FRESCO_MODELS_PIPELINES_UNETPIPELINE_H

#include "models/pipelines/PipelineFolder.h"
#include "models/unet/UNetBuilder.h"
#include "models/vae/VAEBuilder.h"

namespace fresco::models {

struct UNetPipeline {
  UNetConfig unet;
  VAEConfig vae;
  SchedulerFile scheduler;
  ImageSize size;
  /// The UNet's function sizes: 2 x the images (true CFG), the latent grid;
  /// textTokens still to be set by the caller.
  UNetShape shape;
  /// An inpainting UNet's input channels after the latents: the mask and
  /// the masked image's latents (1 + latent_channels); 0: none.
  int64_t maskChannels = 0;
};

/// Reads `dir`'s unet, vae and scheduler for `pipeline`, checks that they
/// agree and sizes the image from `options`. `inpaintClass` (the folder is
/// an inpaint class's) admits an inpainting UNet (in_channels 2C + 1).
llvm::Expected<UNetPipeline> readUNetPipeline(const PipelineFolder &dir,
                                              llvm::StringRef pipeline,
                                              const BuildOptions &options,
                                              bool inpaintClass = false);

/// `dir`'s ControlNetModel (controlnet/), or with model_index.json's
/// MultiControlNetModel each of controlnet/, controlnet_1/, ... (as
/// diffusers loads them: up to the first missing folder), checked to fit
/// the UNet and VAE of `p`: the same down half (their residuals are added
/// to the UNet's skips), the same added conditions, an embedding of the
/// control image that lands on the latent grid. `pipeline` names the class
/// in errors.
llvm::Expected<llvm::SmallVector<ControlNetConfig, 1>>
readControlNets(const PipelineFolder &dir, const llvm::json::Object &index,
                const UNetPipeline &p, llvm::StringRef pipeline);

/// The latents dictionary of a UNet pipeline's fresco.pipeline attribute;
/// with `latentStatistics` the VAE's latents_mean / latents_std when it has
/// them (the SDXL classes that use them).
mlir::DictionaryAttr unetLatents(PipelineAttrs &a, const UNetPipeline &p,
                                 bool latentStatistics = false);

} // namespace fresco::models

#endif // FRESCO_MODELS_PIPELINES_UNETPIPELINE_H
