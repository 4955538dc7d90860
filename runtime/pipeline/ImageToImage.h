//===- ImageToImage.h - Start the loop from an encoded image ----*- C++ -*-===//
//
// diffusers' StableDiffusionImg2ImgPipeline: the init image goes through
// the VAE encoder, its latent distribution's mean (not a sample: Fresco
// draws no encoder noise) times scaling_factor is noised with the
// scheduler's add_noise to the first timestep `strength` keeps, and the
// loop runs the remaining steps (get_timesteps).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_IMAGETOIMAGE_H
#define FRESCO_RUNTIME_PIPELINE_IMAGETOIMAGE_H

#include "runtime/core/Executor.h"
#include "runtime/core/Tensor.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <cstdint>

namespace fresco {

/// diffusers' get_timesteps: the index of the first of `scheduleLength`
/// timesteps that a `numInferenceSteps`-step run of `strength` keeps
/// (scheduler order 1). Throws fresco::Error for a strength outside (0, 1]
/// or one that keeps no step.
int imageToImageBegin(int numInferenceSteps, double strength,
                      size_t scheduleLength);

/// Throws fresco::Error unless `spec` can run image-to-image: a
/// StableDiffusionPipeline plan compiled with the VAE encoder.
void checkImageToImage(const PipelineSpec &spec);

/// Throws fresco::Error unless a `width` x `height` image is the size the
/// plan's encoder was compiled for (Fresco does not resize).
void checkInitImageSize(const PipelineSpec &spec, int64_t width,
                        int64_t height);

/// The encoder's input pixels [1, 3, H, W] f32 in [-1, 1] repeated for the
/// encoder's batch, run; the first n images' means times scaling_factor
/// (float32, as the pipeline computes it), [n, C, h, w]. Throws
/// fresco::Error when the image is not the size the plan was compiled for.
HostTensor encodeInitImage(const PipelineSpec &spec, Executor &exec,
                           const HostTensor &pixels, int64_t n);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_IMAGETOIMAGE_H
