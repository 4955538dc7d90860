//===- PipelineQueries.cpp - What the loop asks of a PipelineSpec ---------===//
//
// The decoded table's answers: the pipeline class's defaults, its
// components by role, the latent layout's sizes.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <algorithm>

namespace fresco {

const ComponentSpec *PipelineSpec::find(plan::ComponentRole role) const {
  for (const ComponentSpec &c : components)
    if (c.role == role)
      return &c;
  return nullptr;
}

int PipelineSpec::defaultSteps(Task task) const {
  if (task != Task::TextToImage && kind == "StableDiffusion3Pipeline")
    return 50;
  return kind == "FluxPipeline" || kind == "StableDiffusion3Pipeline" ? 28 : 50;
}

double PipelineSpec::defaultGuidanceScale(Task task) const {
  // FluxControlNetPipeline's guidance_scale is 7.0 too.
  if (kind == "FluxPipeline")
    return task == Task::TextToImage && controlImage.empty() ? 3.5 : 7.0;
  // StableDiffusionXLControlNetInpaintPipeline keeps 5.0.
  if (isSDXL())
    return task == Task::Inpainting && controlImage.empty() ? 7.5 : 5.0;
  if (kind == "StableDiffusion3Pipeline")
    return 7.0;
  return kind == "StableDiffusionPipeline" ? 7.5 : 4.0;
}

double PipelineSpec::defaultStrength(Task task) const {
  const bool inpaint = task == Task::Inpainting;
  // StableDiffusion(XL)ControlNetImg2ImgPipeline (FluxControlNetImg2Img-
  // Pipeline keeps FluxImg2ImgPipeline's 0.6).
  if (!controlImage.empty() && !controlLatents && !inpaint)
    return 0.8;
  if (isSDXL())
    return inpaint ? 0.9999 : 0.3;
  if (kind == "StableDiffusion3Pipeline" || kind == "FluxPipeline")
    return 0.6;
  return inpaint ? 1.0 : 0.8;
}

bool PipelineSpec::imageToImageOnly() const {
  return kind == "StableDiffusionXLImg2ImgPipeline";
}

bool PipelineSpec::isSDXL() const {
  return kind == "StableDiffusionXLPipeline" ||
         kind == "StableDiffusionXLImg2ImgPipeline";
}

std::vector<const ComponentSpec *> PipelineSpec::textEncoders() const {
  std::vector<const ComponentSpec *> out;
  for (const ComponentSpec &c : components)
    if (c.role == plan::ComponentRole::TextEncoder)
      out.push_back(&c);
  return out;
}

int64_t PipelineSpec::latentPositions() const {
  return (height / patchSize) * (width / patchSize);
}

int PipelineSpec::guidanceCopies() const {
  return guidance == plan::GuidanceMode::ClassCfg ||
                 guidance == plan::GuidanceMode::TextCfg
             ? 2
             : 1;
}

int64_t PipelineSpec::latentChannels() const {
  return layout == plan::LatentLayout::PackedTokens
             ? channels * patchSize * patchSize
             : channels;
}

void PipelineSpec::toDecoderInput(float *latents, int64_t n) const {
  // The factors are Python floats: torch rounds them to float32 and
  // computes in float32; 1 / scaling_factor is a double division first.
  const float shift = float(shiftFactor);
  if (kind == "DiTPipeline") {
    const float inv = float(1.0 / scalingFactor);
    for (int64_t i = 0; i < n; ++i)
      latents[i] = inv * latents[i] + shift;
    return;
  }
  const float scale = float(scalingFactor);
  if (!latentsMean.empty()) {
    // torch.tensor(latents_mean / latents_std) are float32:
    // latents * std / scaling_factor + mean.
    const int64_t plane = height * width;
    check(n % (channels * plane) == 0, "the decoder's input (", n,
          " values) is not whole images of [", channels, ", ", height, ", ",
          width, "] latents");
    for (int64_t i = 0; i < n; ++i) {
      const size_t c = size_t((i / plane) % channels);
      const float a = latents[i] * float(latentsStd[c]);
      latents[i] = a / scale + float(latentsMean[c]);
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    latents[i] = latents[i] / scale + shift;
}

std::vector<int64_t> PipelineSpec::latentShape(int64_t batch,
                                               int64_t perPosition) const {
  if (layout == plan::LatentLayout::PackedTokens)
    return {batch, (height / patchSize) * (width / patchSize), perPosition};
  return {batch, perPosition, height, width};
}

} // namespace fresco
