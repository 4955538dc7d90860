//===- Guidance.cpp - How the denoiser's predictions combine --------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/PipelineNames.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace fresco {
namespace {

/// Classifier-free guidance as DiTPipeline and StableDiffusionPipeline
/// compute it: the batch holds the conditional then the unconditional
/// images (the null class, or the negative prompts), and with a scale g > 1
/// the prediction is uncond + g * (cond - uncond) in float32. With g <= 1 it
/// is the conditional prediction (the second half still runs: same time).
/// A rescale r > 0 then mixes in the result scaled to the conditional
/// prediction's standard deviation (rescale_noise_cfg).
class ClassifierFreeGuidance final : public Guidance {
public:
  ClassifierFreeGuidance(double scale, double rescale)
      : scale_(scale), rescale_(rescale) {}
  int copies() const override { return 2; }
  bool guided() const override { return scale_ > 1.0; }
  void combine(const std::vector<const float *> &blocks, float *out,
               int64_t n) const override {
    const float *cond = blocks[0], *uncond = blocks[1];
    if (!guided()) {
      std::memcpy(out, cond, n * sizeof(float));
      return;
    }
    const float g = float(scale_);
    for (int64_t i = 0; i < n; ++i)
      out[i] = uncond[i] + g * (cond[i] - uncond[i]);
    if (rescale_ > 0.0) {
      // noise_cfg * (std_text / std_cfg), torch's unbiased std over the
      // image's values, mixed by the rescale factor.
      const float ratio = float(stdDev(cond, n) / stdDev(out, n));
      const float r = float(rescale_), keep = float(1.0 - rescale_);
      for (int64_t i = 0; i < n; ++i) {
        const float scaled = out[i] * ratio;
        out[i] = r * scaled + keep * out[i];
      }
    }
  }

private:
  static double stdDev(const float *v, int64_t n) {
    double mean = 0, sq = 0;
    for (int64_t i = 0; i < n; ++i)
      mean += v[i];
    mean /= double(n);
    for (int64_t i = 0; i < n; ++i)
      sq += (v[i] - mean) * (v[i] - mean);
    return std::sqrt(sq / double(std::max<int64_t>(n - 1, 1)));
  }

  double scale_, rescale_;
};

/// One denoiser pass per image, its prediction used as it is.
class NoGuidance final : public Guidance {
public:
  int copies() const override { return 1; }
  bool guided() const override { return false; }
  void combine(const std::vector<const float *> &blocks, float *out,
               int64_t n) const override {
    std::memcpy(out, blocks[0], n * sizeof(float));
  }
};

/// A guidance-distilled denoiser (Flux-dev): one pass per image, the scale
/// given to the denoiser as an f32 input per row (FluxPipeline's
/// `guidance`, which the model multiplies by 1000 again).
class EmbeddedGuidance final : public Guidance {
public:
  explicit EmbeddedGuidance(double scale) : scale_(scale) {}
  int copies() const override { return 1; }
  bool guided() const override { return false; }
  void combine(const std::vector<const float *> &blocks, float *out,
               int64_t n) const override {
    std::memcpy(out, blocks[0], n * sizeof(float));
  }
  bool fill(plan::TensorRole role, const BatchLayout &batch,
            HostTensor &in) const override {
    if (role != plan::TensorRole::GuidanceScale)
      return false;
    check(in.numel() == batch.rows(), "the denoiser's guidance input is ",
          shapeToString(in.shape), ", expected [", batch.rows(), "]");
    std::fill(in.as<float>(), in.as<float>() + in.numel(), float(scale_));
    return true;
  }

private:
  double scale_;
};

} // namespace

void checkGuidanceRescale(const PipelineSpec &p, double rescale, Task task) {
  if (rescale == 0.0)
    return;
  check(std::isfinite(rescale) && rescale > 0 && rescale <= 1,
        "--guidance-rescale must be in [0, 1], got ", rescale);
  // Of the ControlNet classes only StableDiffusionXLControlNetInpaint-
  // Pipeline has it.
  check(p.controlImage.empty() || (p.isSDXL() && task == Task::Inpainting),
        "--guidance-rescale (guidance_rescale) is not a parameter of the "
        "ControlNet pipeline classes (StableDiffusionControlNetPipeline, "
        "StableDiffusionXLControlNetPipeline, FluxControlNetPipeline, "
        "StableDiffusion3ControlNetPipeline; only "
        "StableDiffusionXLControlNetInpaintPipeline has it); this plan runs "
        "a ControlNet");
  check(p.isSDXL() ||
            (p.kind == "StableDiffusionPipeline" && task == Task::TextToImage),
        "--guidance-rescale (guidance_rescale) is a parameter of "
        "StableDiffusionPipeline (text-to-image) and the SDXL classes only; "
        "this run is ",
        p.kind,
        task == Task::ImageToImage ? "'s image-to-image"
        : task == Task::Inpainting ? "'s inpainting"
        : p.conditioning == plan::ConditioningKind::Text
            ? "'s text-to-image"
            : "'s class-conditional generation");
}

std::unique_ptr<Guidance> makeGuidance(const PipelineSpec &spec, double scale,
                                       double rescale) {
  check(rescale == 0.0 || spec.guidance == plan::GuidanceMode::TextCfg ||
            spec.guidance == plan::GuidanceMode::ClassCfg,
        "--guidance-rescale applies to classifier-free guidance; pipeline '",
        spec.kind, "' has none");
  switch (spec.guidance) {
  case plan::GuidanceMode::ClassCfg:
  case plan::GuidanceMode::TextCfg:
    return std::make_unique<ClassifierFreeGuidance>(scale, rescale);
  case plan::GuidanceMode::None:
    return std::make_unique<NoGuidance>();
  case plan::GuidanceMode::Embedded:
    return std::make_unique<EmbeddedGuidance>(scale);
  default:
    fail("guidance mode ", pipeline_names::name(spec.guidance),
         " is not implemented yet in this runtime");
  }
}

} // namespace fresco
