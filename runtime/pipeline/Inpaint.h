//===- Inpaint.h - Repaint the masked part of an init image -----*- C++ -*-===//
//
// diffusers' inpaint classes on a denoiser of the latent channel count
// (StableDiffusionInpaintPipeline and StableDiffusionXLInpaintPipeline on a
// 4-channel UNet, StableDiffusion3InpaintPipeline, FluxInpaintPipeline):
// image-to-image whose latents, after every step, are put back to the init
// image's (noised to the next timestep) wherever the mask is black. The
// mask is binarized as their VaeImageProcessor does (PIL's "L" of the
// pixels, / 255, 1 from 0.5 up) and taken to the latent grid by nearest
// neighbour (torch.nn.functional.interpolate's default). At strength 1 the
// loop starts from pure noise times init_noise_sigma, not from add_noise.
//
// An inpainting UNet (SD 1.5 / 2 inpainting: 9 input channels) instead
// reads, after the latents, the mask on the latent grid and the latents of
// the init image with the repainted part zeroed; nothing is put back.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_INPAINT_H
#define FRESCO_RUNTIME_PIPELINE_INPAINT_H

#include "runtime/core/Tensor.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <cstdint>
#include <vector>

namespace fresco {

/// Throws fresco::Error unless `spec` can inpaint: the plans that run
/// image-to-image from an image (ImageToImage.h's checkImageToImage).
void checkInpainting(const PipelineSpec &spec);

/// The mask of 8-bit pixels (`channels` 1 (gray) or 3 (RGB), HWC) as
/// diffusers' mask processor makes it: f32 [1, 1, H, W] of 0 (keep) and 1
/// (repaint). RGB goes to gray as PIL's convert("L") does, (19595 R + 38470
/// G + 7471 B + 32768) >> 16; a gray level of 128 or more is 1.
HostTensor binaryMask(const uint8_t *hwc, int channels, int64_t height,
                      int64_t width);

/// Throws fresco::Error unless `mask` is f32 [1, 1, H, W] of 0s and 1s at
/// the plan's pixel size.
void checkMask(const PipelineSpec &spec, const HostTensor &mask);

/// The mask on a `height` x `width` grid as torch's nearest interpolation
/// takes it (source index floor(i * in / out) in float32, clamped).
std::vector<float> nearestMask(const HostTensor &mask, int64_t height,
                               int64_t width);

/// How many of the mask's pixels are 1.
int64_t maskedPixels(const HostTensor &mask);

/// Throws fresco::Error when `spec`'s denoiser is an inpainting UNet
/// (PipelineSpec::maskChannels) and the run has no mask: such a plan only
/// inpaints.
void checkInpaintingUNet(const PipelineSpec &spec, bool hasMask);

/// The image an inpainting UNet's encoder sees: the init image ([1, 3, H,
/// W]) where the mask is below 0.5, 0 where it is repainted (the inpaint
/// classes' `init_image * (mask < 0.5)`).
HostTensor maskedImage(const HostTensor &image, const HostTensor &mask);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_INPAINT_H
