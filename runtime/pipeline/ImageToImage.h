//===- ImageToImage.h - Start the loop from an encoded image ----*- C++ -*-===//
//
// diffusers' StableDiffusionImg2ImgPipeline, StableDiffusionXLImg2ImgPipeline,
// StableDiffusion3Img2ImgPipeline and
// FluxImg2ImgPipeline: the init image goes through the VAE encoder, its
// latent distribution's mean (not a sample: Fresco draws no encoder noise,
// but with --generator torch, as diffusers) is scaled as the pipeline class
// does (SD, SDXL: times scaling_factor; SD3, Flux: minus shift_factor, times
// scaling_factor; Flux then 2x2-packs it), noised with the scheduler's
// add_noise (SD3, Flux: scale_noise) to the first timestep `strength` keeps,
// and the loop runs the remaining steps (get_timesteps, which SD / SDXL and SD3
// / Flux compute differently). StableDiffusionXLImg2ImgPipeline runs on a base
// folder or on a refiner's (a plan of that class: image-to-image only), and
// SDXL's two classes cut the schedule for an ensemble of experts
// (denoising_start / _end, the refiner starting from the base's latents as they
// are).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_IMAGETOIMAGE_H
#define FRESCO_RUNTIME_PIPELINE_IMAGETOIMAGE_H

#include "runtime/core/Executor.h"
#include "runtime/core/Tensor.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <cstdint>
#include <vector>

namespace fresco {

/// StableDiffusionImg2ImgPipeline's get_timesteps: the index of the first of
/// `scheduleLength` timesteps that a `numInferenceSteps`-step run of
/// `strength` keeps (the last int(steps * strength)), times the scheduler's
/// `order` (t_start * order: Heun's schedule has two entries per step).
/// Throws fresco::Error for a strength outside (0, 1] or one that keeps no
/// step.
int imageToImageBegin(int numInferenceSteps, double strength,
                      size_t scheduleLength, int order = 1);

/// FluxImg2ImgPipeline's (and SD3's) get_timesteps: t_start =
/// int(max(steps - min(steps * strength, steps), 0)) in Python floats, so
/// the kept steps round up where SD's round down (4 steps at 0.6: 3, SD 2).
/// Throws fresco::Error as imageToImageBegin.
int flowImageToImageBegin(int numInferenceSteps, double strength,
                          size_t scheduleLength);

/// The begin index of `spec`'s pipeline class (one of the two above: SD's
/// for StableDiffusion(XL)Pipeline, the flow rule for SD3 and Flux).
int imageToImageBegin(const PipelineSpec &spec, int numInferenceSteps,
                      double strength, size_t scheduleLength, int order = 1);

/// Throws fresco::Error unless `spec` can run image-to-image: a
/// StableDiffusionPipeline, StableDiffusionXLPipeline,
/// StableDiffusion3Pipeline or FluxPipeline plan compiled with the VAE
/// encoder.
void checkImageToImage(const PipelineSpec &spec);

/// SDXL's ensemble of experts (StableDiffusionXLPipeline's denoising_end,
/// StableDiffusionXLImg2ImgPipeline's denoising_start and denoising_end):
/// the discrete cutoff int(round(num_train_timesteps - F *
/// num_train_timesteps)), Python's round (half to even), num_train_timesteps
/// from the plan's scheduler_config.json.
int64_t denoisingCutoff(const PipelineSpec &spec, double fraction);

/// denoising_start's get_timesteps: the index of the first of `timesteps`
/// below the cutoff (those run; no order-2 scheduler here). Throws
/// fresco::Error when none is.
int denoisingStartBegin(const PipelineSpec &spec, double start,
                        const std::vector<double> &timesteps);

/// denoising_end: one past the last of timesteps[begin:] at or above the
/// cutoff. Throws fresco::Error when none is.
int denoisingEndIndex(const PipelineSpec &spec, double end,
                      const std::vector<double> &timesteps, int begin);

/// Throws fresco::Error for a denoising_start / denoising_end (NaN: not
/// given) that `spec` cannot take: outside (0, 1), another class than
/// SDXL's, a start without image-to-image (`imageToImage`), a start not
/// below the end.
void checkDenoisingRange(const PipelineSpec &spec, double start, double end,
                         bool imageToImage);

/// Throws fresco::Error unless `latents` can start `spec`'s image-to-image
/// for `n` images as the image itself (diffusers takes an image of the
/// latent channel count as the init latents, unscaled): an SDXL class, f32
/// [n or 1, C, h, w] of the plan's latent grid.
void checkImageLatents(const PipelineSpec &spec, const HostTensor &latents,
                       int64_t n);

/// Throws fresco::Error when `spec`'s class runs image-to-image only
/// (StableDiffusionXLImg2ImgPipeline, the SDXL refiner) and no init image
/// is given.
void checkTextToImage(const PipelineSpec &spec);

/// Throws fresco::Error for an aesthetic score (`given` not NaN, from
/// `flag`) that `spec` does not take (PipelineSpec::aestheticScore).
void checkAestheticScore(const PipelineSpec &spec, double given,
                         const char *flag);

/// Throws fresco::Error unless a `width` x `height` image is the size the
/// plan's encoder was compiled for (Fresco does not resize).
void checkInitImageSize(const PipelineSpec &spec, int64_t width,
                        int64_t height);

/// The encoder's input pixels [1, 3, H, W] f32 in [-1, 1] repeated for the
/// encoder's batch, run; the first n images' means (with `sample`, one
/// image's [C, h, w] standard normal values, or n images' when
/// `sampleImages` is n: the latent distribution's sample mean + exp(logvar
/// / 2) * sample, as diffusers' latent_dist.sample) scaled as the pipeline
/// class does (float32, as it computes them: SD and SDXL scaling_factor * mean,
/// SD3 and Flux (mean - shift_factor) * scaling_factor; without `shift`
/// scaling_factor * mean for every class, as StableDiffusion3ControlNetPipeline
/// scales its control image), [n, C, h, w], not yet in the latent layout.
/// Throws fresco::Error when the image is not the size the plan was
/// compiled for, or for a sample from an encoder without the log-variance.
/// Whether `spec`'s ControlNet class scales its control latents with the
/// shift like its init image (FluxControlNetPipeline), or without it
/// (diffusers 0.31's StableDiffusion3ControlNetPipeline:
/// scaling_factor * latents).
bool controlLatentsShifted(const PipelineSpec &spec);

HostTensor encodeInitImage(const PipelineSpec &spec, Executor &exec,
                           const HostTensor &pixels, int64_t n,
                           const float *sample = nullptr,
                           int64_t sampleImages = 1, bool shift = true);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_IMAGETOIMAGE_H
