//===- Control.h - ControlNets' inputs to the denoiser ----------*- C++ -*-===//
//
// diffusers' StableDiffusionControlNetPipeline and
// StableDiffusionXLControlNetPipeline, and their Img2Img classes, with one
// ControlNetModel or a MultiControlNetModel of K (no guess mode): each
// net's control image, 8-bit RGB at the image's size scaled to [0, 1] (the
// control_image_processor does not normalize), is the same in every row of
// the denoiser's batch (the K images side by side in the channels); each
// net's residuals are scaled by its controlnet_conditioning_scale on the
// steps that its control_guidance_start and control_guidance_end keep (of
// the steps that run: image-to-image's), and by 0 on the others.
// FluxControlNetPipeline's nets read the control image through the VAE
// encoder instead (normalized to [-1, 1] as the init image, its latent
// distribution's mean scaled as the latents are, 2x2-packed): the K nets'
// packed latents side by side per token (ControlLatents). diffusers 0.31
// draws a sample there from torch's global RNG (not the pipeline's
// generator, so --generator torch cannot reproduce it): Fresco takes the
// mean, always.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_CONTROL_H
#define FRESCO_RUNTIME_PIPELINE_CONTROL_H

#include "runtime/core/Tensor.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <cstdint>
#include <vector>

namespace fresco {

/// What a run gives the ControlNets. A list of one value applies to every
/// net (diffusers broadcasts a float); otherwise it has one per net.
struct ControlOptions {
  /// One f32 [1, 3, H, W] in [0, 1] per net, at the plan's image size.
  std::vector<const HostTensor *> images;
  /// controlnet_conditioning_scale; empty: the class's default
  /// (defaultControlScale).
  std::vector<double> scales;
  /// control_guidance_start / _end.
  std::vector<double> starts = {0.0}, ends = {1.0};
  /// ControlNet-Union's control_mode per net (a Flux plan with a union
  /// net needs them; nets without modes ignore theirs).
  std::vector<int64_t> modes;
  /// StableDiffusion3ControlNetInpaintingPipeline's control_mask: f32 [1,
  /// 1, H, W] of 0 (keep) and 1 (repaint), Inpaint.h's binaryMask.
  const HostTensor *mask = nullptr;
  /// diffusers' guess_mode (a UNet's ControlNets only): each net's
  /// residuals scaled by logspace(-1, 0, R) (0.1 for the first down
  /// residual up to 1 for the mid block's) times its scale, and under CFG
  /// the negative prompts' rows get none.
  bool guessMode = false;
};

/// Throws fresco::Error unless `o` fits `spec` for `task`: one image per
/// ControlNet of the plan (none without), of its size; finite scales; 0 <=
/// start < end <= 1 per net (diffusers' check_inputs); lists of 1 or K
/// values; neither inpainting nor image-to-image with SD3's; a control mask
/// exactly for an inpainting SD3 ControlNet, of the image's size.
void checkControl(const PipelineSpec &spec, const ControlOptions &o, Task task);

/// The class's controlnet_conditioning_scale: 1.0 for text-to-image, 0.8
/// for image-to-image with SD's and SDXL's ControlNet Img2Img classes (1.0
/// with FluxControlNetImg2ImgPipeline), for inpainting 0.5
/// (StableDiffusionControlNetInpaintPipeline) or 1.0
/// (StableDiffusionXLControlNetInpaintPipeline).
double defaultControlScale(const PipelineSpec &spec, Task task);

/// The control image from 8-bit pixels (`channels` 3, HWC): f32 [1, 3, H,
/// W], value / 255.
HostTensor controlImage(const uint8_t *hwc, int channels, int64_t height,
                        int64_t width);

/// Every row of the denoiser's control image input `in` ([rows, 3 K, H,
/// W]) set to the K images side by side.
void fillControlImage(const ControlOptions &o, HostTensor &in);

/// A control image in [0, 1] as the VAE encoder's pixels: 2 x - 1 (the
/// image processor's normalization, which FluxControlNetPipeline applies).
HostTensor encoderPixels(const HostTensor &image);

/// StableDiffusion3ControlNetInpaintingPipeline's masked control image:
/// `pixels` ([1, 3, H, W] in [-1, 1]) set to -1 in every channel where
/// `mask` ([1, 1, H, W]) is above 0.5.
HostTensor maskedControlPixels(const HostTensor &pixels,
                               const HostTensor &mask);

/// Its mask channel after the control latents: 1 - `mask` ([1, 1, H, W])
/// on the `height` x `width` latent grid (nearest, as Inpaint.h's
/// nearestMask), into `dst`.
void controlMaskChannel(const HostTensor &mask, int64_t height, int64_t width,
                        float *dst);

/// Net `net`'s packed control latents ([tokens, perToken]) into its slot of
/// one row of the denoiser's control latents ([tokens, nets x perToken]).
void interleaveControlLatents(const float *packed, size_t net, size_t nets,
                              int64_t tokens, int64_t perToken, float *row);

/// Every row of `in` ([rows, ...]) set to `row`.
void fillRows(const std::vector<float> &row, HostTensor &in);

/// Every row of the denoiser's control mode input `in` (i64 [rows, K]) set
/// to the nets' modes (a list of 1 applies to every net).
void fillControlModes(const ControlOptions &o, HostTensor &in);

/// Every row of the denoiser's control scale input `in` ([rows, K], or a
/// UNet's [rows, K, R]) at step `step` of the `length` steps that run:
/// net k's controlScale, per residual i times guess mode's factor
/// 10^(-1 + i / (R - 1)); under guess mode with CFG (`guided`) 0 in the
/// rows of the negative prompts' block, as diffusers runs the nets on the
/// prompts' half alone and adds zeros to the other.
void fillControlScales(const ControlOptions &o, const BatchLayout &batch,
                       bool guided, int step, int64_t length, HostTensor &in);

/// The conditioning scale of net `net` at step `step` of the `length`
/// steps that run (image-to-image: counted from its first): its scale x
/// controlnet_keep[step]. `o.scales` must not be empty.
float controlScale(const ControlOptions &o, size_t net, int step,
                   int64_t length);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_CONTROL_H
