//===- EulerAncestralDiscreteScheduler.cpp - Euler ancestral sampling -----===//
//
// diffusers 0.31.0 scheduling_euler_ancestral_discrete.py: Euler's method
// to sigma_down, then fresh Gaussian noise times sigma_up, with
// sigma_up^2 = sigma_to^2 (sigma_from^2 - sigma_to^2) / sigma_from^2 and
// sigma_down^2 = sigma_to^2 - sigma_up^2. The schedule is EulerDiscrete's
// without its extras (Karras sigmas, final_sigmas_type, continuous
// timesteps: keys this class does not have, so diffusers ignores them and
// so does Fresco). step() is float32 throughout, as diffusers' 0-d tensor
// and elementwise arithmetic; the noise is Fresco's (Noise.h stepNoise) or,
// with --generator torch, torch.randn's (TorchGenerator.h).
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <cmath>

namespace fresco {
namespace sched {
namespace {

class EulerAncestralDiscreteScheduler final : public EulerFamilyBase {
public:
  explicit EulerAncestralDiscreteScheduler(const Config &c)
      : EulerFamilyBase("EulerAncestralDiscreteScheduler", c,
                        "epsilon or v_prediction",
                        /*originalSampleAlias=*/false) {
    // diffusers accepts "sample" and raises NotImplementedError in step.
    if (prediction_ == Prediction::Sample)
      c.invalid("prediction_type", "\"sample\"",
                "epsilon or v_prediction; diffusers' step does not "
                "implement sample either");
  }

  bool drawsStepNoise() const override { return true; }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    const std::vector<float> ts = timestepGrid(n);
    sigmas_.clear();
    for (double s : interpolatedSigmas(ts))
      sigmas_.push_back(float(s));
    sigmas_.push_back(0.0f);
    timesteps_.assign(ts.begin(), ts.end());
    resetSteps(n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const std::vector<float> fresh =
        drawStepNoise(name_, stepNoise_, n, stepIndex);
    const int64_t m = stepNoise_->valuesPerImage;
    const float sigma = sigmas_[size_t(stepIndex)];
    const float sigmaTo = sigmas_[size_t(stepIndex) + 1];
    // 0-d float32 tensors in diffusers, in its order.
    const float to2 = sigmaTo * sigmaTo, from2 = sigma * sigma;
    const float gap = from2 - to2;
    const float upNum = to2 * gap;
    const float up2 = upNum / from2;
    const float sigmaUp = std::sqrt(up2);
    const float upSq = sigmaUp * sigmaUp;
    const float down2 = to2 - upSq;
    const float sigmaDown = std::sqrt(down2);
    const float dt = sigmaDown - sigma;
    const EulerDenoised denoised(prediction_, sigma);
    for (int64_t image = 0; image < n / m; ++image) {
      float *x = sample + image * m;
      const float *out = modelOutput + image * m;
      const float *noise = fresh.data() + image * m;
      for (int64_t i = 0; i < m; ++i) {
        const float s = x[i];
        const float diff = s - denoised(s, out[i]);
        const float derivative = diff / sigma;
        const float delta = derivative * dt;
        const float prev = s + delta;
        const float added = noise[i] * sigmaUp;
        x[i] = prev + added;
      }
    }
  }
};

} // namespace

std::unique_ptr<Scheduler>
createEulerAncestralDiscreteScheduler(const Config &config) {
  return std::make_unique<EulerAncestralDiscreteScheduler>(config);
}

} // namespace sched
} // namespace fresco
