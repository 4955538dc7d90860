//===- Guidance.cpp - How the denoiser's predictions combine --------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/PipelineNames.h"

#include <cstring>

namespace fresco {
namespace {

/// Classifier-free guidance as DiTPipeline computes it: the batch holds the
/// conditional then the unconditional images, and with a scale g > 1 the
/// prediction is uncond + g * (cond - uncond) in float32. With g <= 1 it is
/// the conditional prediction (the second half still runs: same time).
class ClassifierFreeGuidance final : public Guidance {
public:
  explicit ClassifierFreeGuidance(double scale) : scale_(scale) {}
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
  }

private:
  double scale_;
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

} // namespace

std::unique_ptr<Guidance> makeGuidance(const PipelineSpec &spec, double scale) {
  switch (spec.guidance) {
  case plan::GuidanceMode::ClassCfg:
    return std::make_unique<ClassifierFreeGuidance>(scale);
  case plan::GuidanceMode::None:
    return std::make_unique<NoGuidance>();
  default:
    fail("guidance mode ", pipeline_names::name(spec.guidance),
         " is not implemented yet in this runtime");
  }
}

} // namespace fresco
