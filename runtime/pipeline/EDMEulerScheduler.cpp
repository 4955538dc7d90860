//===- EDMEulerScheduler.cpp - diffusers' EDMEulerScheduler ---------------===//
//
// The Euler sampler in the EDM formulation of diffusers 0.31.0
// scheduling_edm_euler.py, deterministic (s_churn = 0, as the pipelines
// call it): x += (x - D(x)) / sigma * (sigma_next - sigma), with D the
// preconditioned denoiser of EDMCommon.h; float32 throughout.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/EDMCommon.h"

namespace fresco {
namespace sched {
namespace {

class EDMEulerScheduler final : public SchedulerBase {
public:
  explicit EDMEulerScheduler(const Config &c)
      : SchedulerBase("EDMEulerScheduler"), edm_(readEdmConfig(c)) {}

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    edmSchedule(edm_, n, name_, 0.0f, sigmas_, timesteps_);
    resetSteps(n);
  }

  std::vector<double> sigmas() const override {
    return {sigmas_.begin(), sigmas_.end()};
  }

  double initNoiseSigma() const override { return edmInitNoiseSigma(edm_); }

  void scaleModelInput(float *sample, int64_t n, int stepIndex) override {
    checkStepIndex(stepIndex, "scaleModelInput");
    edmPreconditionInputs(edm_, sigmas_[size_t(stepIndex)], sample, n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const float sigmaHat = sigmas_[size_t(stepIndex)]; // gamma = 0
    const float dt = sigmas_[size_t(stepIndex) + 1] - sigmaHat;
    std::vector<float> denoised(static_cast<size_t>(n));
    edmPreconditionOutputs(edm_, sigmaHat, sample, modelOutput, denoised.data(),
                           n);
    for (int64_t i = 0; i < n; ++i) {
      const float s = sample[i];
      const float derivative = (s - denoised[size_t(i)]) / sigmaHat;
      const float delta = derivative * dt;
      sample[i] = s + delta;
    }
  }

  /// add_noise with the begin index set (image-to-image).
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override {
    checkStepIndex(stepIndex, "addNoise");
    edmAddNoise(sigmas_[size_t(stepIndex)], original, noise, out, n);
  }

  /// set_begin_index: the sigmas are read by index and no history is kept.
  void setBeginIndex(int stepIndex) override {
    checkStepIndex(stepIndex, "setBeginIndex");
    nextStep_ = stepIndex;
  }

private:
  EdmConfig edm_;
  std::vector<float> sigmas_; ///< the schedule's, then 0
};

} // namespace

std::unique_ptr<Scheduler> createEDMEulerScheduler(const Config &config) {
  return std::make_unique<EDMEulerScheduler>(config);
}

} // namespace sched
} // namespace fresco
