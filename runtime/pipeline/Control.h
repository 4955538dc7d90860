//===- Control.h - A ControlNet's inputs to the denoiser --------*- C++ -*-===//
//
// diffusers' StableDiffusionControlNetPipeline and
// StableDiffusionXLControlNetPipeline, and their Img2Img classes (one
// ControlNetModel, no guess mode): the control image, 8-bit RGB at the
// image's size scaled to [0, 1] (the control_image_processor does not
// normalize), is the same in every row of the denoiser's batch; the
// ControlNet's residuals are scaled by controlnet_conditioning_scale on the
// steps that control_guidance_start and control_guidance_end keep (of the
// steps that run: image-to-image's), and by 0 on the others.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_CONTROL_H
#define FRESCO_RUNTIME_PIPELINE_CONTROL_H

#include "runtime/core/Tensor.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <cstdint>
#include <limits>

namespace fresco {

/// What a run gives the ControlNet.
struct ControlOptions {
  /// f32 [1, C, H, W] in [0, 1] at the plan's control image size; null: no
  /// control image (refused by a plan with a ControlNet).
  const HostTensor *image = nullptr;
  /// controlnet_conditioning_scale; NaN: the class's default
  /// (defaultControlScale).
  double scale = std::numeric_limits<double>::quiet_NaN();
  double start = 0.0, end = 1.0; // control_guidance_start / _end
};

/// Throws fresco::Error unless `o` fits `spec` for `task`: an image
/// exactly when the plan has a ControlNet, of its size; a finite scale (or
/// NaN); 0 <= start < end <= 1 (diffusers' check_inputs); not inpainting
/// (the ControlNet inpaint classes are not implemented).
void checkControl(const PipelineSpec &spec, const ControlOptions &o, Task task);

/// The class's controlnet_conditioning_scale: 1.0 for text-to-image, 0.8
/// for image-to-image (the ControlNet Img2Img classes).
double defaultControlScale(Task task);

/// The control image from 8-bit pixels (`channels` 3, HWC): f32 [1, 3, H,
/// W], value / 255.
HostTensor controlImage(const uint8_t *hwc, int channels, int64_t height,
                        int64_t width);

/// Every row of the denoiser's control image input `in` ([rows, C, H, W])
/// set to `o.image`.
void fillControlImage(const ControlOptions &o, HostTensor &in);

/// The conditioning scale of step `step` of the `length` steps that run
/// (image-to-image: counted from its first): scale x controlnet_keep[step].
/// `o.scale` must be resolved (not NaN).
float controlScale(const ControlOptions &o, int step, int64_t length);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_CONTROL_H
