//===- EulerDiscreteScheduler.cpp - diffusers' EulerDiscreteScheduler -----===//
//
// The deterministic Euler sampler (s_churn = 0) of diffusers 0.31.0
// scheduling_euler_discrete.py. The schedule is built the way diffusers
// builds it: float32 timestep grids from numpy, sigmas interpolated in
// float64 by np.interp (or the float64 Karras ramp), then both stored as
// float32; step() and scale_model_input() are float32 throughout.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

namespace fresco {
namespace sched {
namespace {

class EulerDiscreteScheduler final : public EulerFamilyBase {
public:
  explicit EulerDiscreteScheduler(const Config &c)
      : EulerFamilyBase("EulerDiscreteScheduler", c,
                        "epsilon, v_prediction or sample",
                        /*originalSampleAlias=*/true) {
    const std::string interp = c.getString("interpolation_type", "linear");
    if (interp == "log_linear")
      c.unsupported("interpolation_type", "\"log_linear\"", "linear");
    else if (interp != "linear")
      c.invalid("interpolation_type", "\"" + interp + "\"",
                "linear or log_linear");

    karras_ = readKarrasConfig(c);
    const std::string type =
        c.getChoice("timestep_type", "discrete", {"discrete", "continuous"});
    // Only this combination changes anything in diffusers.
    continuousV_ = type == "continuous" && prediction_ == Prediction::V;

    finalSigmaMin_ = readFinalSigmaMin(c);
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    std::vector<double> sigmas, t64;
    baseSchedule(n, karras_, /*roundTimesteps=*/false, sigmas, t64);
    const std::vector<float> ts(t64.begin(), t64.end()); // float32 here

    sigmas_.clear();
    for (double s : sigmas)
      sigmas_.push_back(float(s));
    sigmas_.push_back(finalSigmaMin_ ? tables_.trainSigmas[0] : 0.0f);

    timesteps_.clear();
    if (continuousV_) {
      for (size_t i = 0; i + 1 < sigmas_.size(); ++i)
        timesteps_.push_back(0.25f * torchLogF32(sigmas_[i]));
    } else {
      timesteps_.assign(ts.begin(), ts.end());
    }
    resetSteps(n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const float sigma = sigmas_[size_t(stepIndex)];
    const float sigmaHat = sigma; // sigma * (gamma + 1) with gamma = 0
    const float dt = sigmas_[size_t(stepIndex) + 1] - sigmaHat;
    const EulerDenoised denoised(prediction_, sigmaHat);
    for (int64_t i = 0; i < n; ++i) {
      const float s = sample[i];
      const float diff = s - denoised(s, modelOutput[i]);
      const float derivative = diff / sigmaHat;
      const float delta = derivative * dt;
      sample[i] = s + delta;
    }
  }

private:
  KarrasConfig karras_;
  bool continuousV_ = false;
  bool finalSigmaMin_ = false;
};

} // namespace

std::unique_ptr<Scheduler> createEulerDiscreteScheduler(const Config &config) {
  return std::make_unique<EulerDiscreteScheduler>(config);
}

} // namespace sched
} // namespace fresco
