//===- DDPMScheduler.cpp - diffusers' DDPMScheduler -----------------------===//
//
// Ancestral DDPM sampling of diffusers 0.31.0 scheduling_ddpm.py: the
// posterior mean from the predicted x0 (clipped by default), then fresh
// noise times the posterior's standard deviation at every timestep above 0
// (Fresco's step noise, or torch.randn's with --generator torch, in the
// model output's dtype). Float32 throughout, as DDIM: the alphas_cumprod
// entries are 0-d float32 tensors there.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <algorithm>
#include <cmath>

namespace fresco {
namespace sched {
namespace {

enum class Variance { FixedSmall, FixedSmallLog, FixedLarge };

class DDPMScheduler final : public AlphasCumprodScheduler {
public:
  explicit DDPMScheduler(const Config &c)
      : AlphasCumprodScheduler("DDPMScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    BetaDefaults defaults;
    defaults.sigmoid = true;
    alphasCumprod_ = alphasCumprod(makeBetas(c, numTrain_, true, defaults));
    const std::string variance = c.getString("variance_type", "fixed_small");
    if (variance == "fixed_small")
      variance_ = Variance::FixedSmall;
    else if (variance == "fixed_small_log")
      variance_ = Variance::FixedSmallLog;
    else if (variance == "fixed_large")
      variance_ = Variance::FixedLarge;
    else if (variance == "fixed_large_log")
      // step takes the square root of log(beta) < 0: NaN latents.
      c.invalid("variance_type", "\"fixed_large_log\"",
                "fixed_small, fixed_small_log or fixed_large (diffusers' "
                "step takes the square root of its negative log variance)");
    else if (variance == "learned" || variance == "learned_range")
      c.unsupported("variance_type", "\"" + variance + "\"",
                    "fixed_small, fixed_small_log or fixed_large; the "
                    "pipelines split a learned variance off the model output "
                    "before the scheduler");
    else
      c.invalid("variance_type", "\"" + variance + "\"",
                "fixed_small, fixed_small_log, fixed_large, fixed_large_log, "
                "learned or learned_range");
    clipSample_ = c.getBool("clip_sample", true);
    clipRange_ = c.getDouble("clip_sample_range", 1.0);
    stepsOffset_ = readStepsOffset(c);
    prediction_ = readPrediction(c, "epsilon, sample or v_prediction");
    c.requireFalse("thresholding");
    spacing_ = readTimestepSpacing(c, "leading");
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    check(n <= numTrain_, name_, ": ", n,
          " inference steps cannot be more than num_train_timesteps (",
          numTrain_, ")");
    numInferenceSteps_ = n;
    timesteps_ = ddimTimesteps(name_, spacing_, numTrain_, n, stepsOffset_);
    resetSteps(n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const int64_t t = int64_t(timesteps_[size_t(stepIndex)]);
    // previous_timestep: num_train // n below, whatever the spacing.
    const int64_t prevT = t - numTrain_ / numInferenceSteps_;
    const float alphaT = alphaAt(t);
    const float alphaPrev = prevT >= 0 ? alphaAt(prevT) : 1.0f;
    const float betaT = 1.0f - alphaT;
    const float betaPrev = 1.0f - alphaPrev;
    const float currentAlpha = alphaT / alphaPrev;
    const float currentBeta = 1.0f - currentAlpha;
    const float sqrtAlphaT = std::sqrt(alphaT), sqrtBetaT = std::sqrt(betaT);
    const float x0Coeff = (std::sqrt(alphaPrev) * currentBeta) / betaT;
    const float sampleCoeff = (std::sqrt(currentAlpha) * betaPrev) / betaT;
    const float range = float(clipRange_);

    // Noise on every timestep above 0 (the timestep, not the step index).
    std::vector<float> noise;
    float noiseScale = 0;
    if (t > 0) {
      noise = drawStepNoise(name_, stepNoise_, n, stepIndex);
      noiseScale = varianceScale(currentBeta, betaPrev, betaT);
    }
    for (int64_t i = 0; i < n; ++i) {
      const float s = sample[i], m = modelOutput[i];
      float x0 = 0;
      switch (prediction_) {
      case Prediction::Epsilon: {
        const float u = s - sqrtBetaT * m;
        x0 = u / sqrtAlphaT;
        break;
      }
      case Prediction::Sample:
        x0 = m;
        break;
      case Prediction::V: {
        const float a = sqrtAlphaT * s, b = sqrtBetaT * m;
        x0 = a - b;
        break;
      }
      }
      if (clipSample_)
        x0 = torchClamp(x0, range);
      const float a = x0Coeff * x0, b = sampleCoeff * s;
      float prev = a + b;
      if (t > 0) {
        const float v = noiseScale * noise[size_t(i)];
        prev = prev + v;
      }
      sample[i] = prev;
    }
  }

  bool drawsStepNoise() const override { return true; }

private:
  /// What multiplies the noise: _get_variance's posterior variance
  /// (clamped at 1e-20) ** 0.5, or exp(0.5 log(variance)) for
  /// fixed_small_log, or beta_t ** 0.5 for fixed_large.
  float varianceScale(float currentBeta, float betaPrev, float betaT) const {
    if (variance_ == Variance::FixedLarge)
      return std::sqrt(currentBeta);
    float variance = (betaPrev / betaT) * currentBeta;
    variance = std::isnan(variance) ? variance : std::max(variance, 1e-20f);
    if (variance_ == Variance::FixedSmallLog)
      return torchExpF32(0.5f * torchLogF32(variance));
    return std::sqrt(variance);
  }

  int64_t numTrain_ = 1000;
  Variance variance_ = Variance::FixedSmall;
  bool clipSample_ = true;
  double clipRange_ = 1.0;
  int64_t stepsOffset_ = 0;
  Prediction prediction_ = Prediction::Epsilon;
  std::string spacing_;
  int64_t numInferenceSteps_ = 0;
};

} // namespace

std::unique_ptr<Scheduler> createDDPMScheduler(const Config &config) {
  return std::make_unique<DDPMScheduler>(config);
}

} // namespace sched
} // namespace fresco
