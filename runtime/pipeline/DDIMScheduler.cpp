//===- DDIMScheduler.cpp - diffusers' DDIMScheduler -----------------------===//
//
// DDIM following diffusers 0.31.0 scheduling_ddim.py: deterministic with
// eta 0 (the pipelines' default, DiT's always), else eta * the posterior's
// standard deviation of fresh noise (Fresco's stepNoise, or torch.randn's
// with --generator torch, in the model output's dtype) added every step.
// Everything in step() is float32 like the torch original: alphas_cumprod
// entries are 0-d float32 tensors there, so every coefficient and every
// elementwise operation rounds to float32.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <cmath>

namespace fresco {
namespace sched {
namespace {

class DDIMScheduler final : public AlphasCumprodScheduler {
public:
  explicit DDIMScheduler(const Config &c)
      : AlphasCumprodScheduler("DDIMScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    alphasCumprod_ = alphasCumprod(makeBetas(c, numTrain_));
    // set_alpha_to_one: the "previous" alpha of the last step.
    finalAlphaCumprod_ =
        c.getBool("set_alpha_to_one", true) ? 1.0f : alphasCumprod_[0];
    clipSample_ = c.getBool("clip_sample", true);
    clipRange_ = c.getDouble("clip_sample_range", 1.0);
    stepsOffset_ = readStepsOffset(c);

    prediction_ = readPrediction(c, "epsilon, sample or v_prediction");
    c.requireFalse("thresholding");
    spacing_ = readTimestepSpacing(c, "leading");
  }

  bool takesEta() const override { return true; }
  void setEta(double eta) override {
    check(eta >= 0 && eta <= 1, name_, ": eta must be in [0, 1], got ", eta);
    eta_ = eta;
  }
  bool drawsStepNoise() const override { return eta_ > 0; }

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
    // diffusers steps back by num_train // n whatever the spacing.
    const int64_t prevT = t - numTrain_ / numInferenceSteps_;
    const float alphaT = alphaAt(t);
    const float alphaPrev =
        prevT >= 0 ? alphasCumprod_[size_t(prevT)] : finalAlphaCumprod_;
    const float betaT = 1.0f - alphaT;
    const float sqrtAlphaT = std::sqrt(alphaT);
    const float sqrtBetaT = std::sqrt(betaT);

    // _get_variance and std_dev_t = eta * variance ** 0.5 (with eta 0 too:
    // a NaN variance poisons the result exactly as in diffusers).
    const float betaPrev = 1.0f - alphaPrev;
    const float variance = (betaPrev / betaT) * (1.0f - alphaT / alphaPrev);
    const float stdDev = float(eta_) * std::sqrt(variance);
    std::vector<float> noise;
    if (eta_ > 0)
      noise = drawStepNoise(name_, stepNoise_, n, stepIndex);
    const float dirCoeff = std::sqrt((1.0f - alphaPrev) - stdDev * stdDev);
    const float sqrtAlphaPrev = std::sqrt(alphaPrev);
    const float range = float(clipRange_);

    for (int64_t i = 0; i < n; ++i) {
      const float s = sample[i], m = modelOutput[i];
      float x0 = 0, eps = 0;
      switch (prediction_) {
      case Prediction::Epsilon: {
        const float u = s - sqrtBetaT * m;
        x0 = u / sqrtAlphaT;
        eps = m;
        break;
      }
      case Prediction::Sample: {
        x0 = m;
        const float u = s - sqrtAlphaT * x0;
        eps = u / sqrtBetaT;
        break;
      }
      case Prediction::V: {
        const float a = sqrtAlphaT * s, b = sqrtBetaT * m;
        x0 = a - b;
        const float c = sqrtAlphaT * m, d = sqrtBetaT * s;
        eps = c + d;
        break;
      }
      }
      if (clipSample_)
        x0 = torchClamp(x0, range);
      const float direction = dirCoeff * eps;
      const float scaled = sqrtAlphaPrev * x0;
      const float prev = scaled + direction;
      if (eta_ > 0) {
        const float v = stdDev * noise[size_t(i)];
        sample[i] = prev + v;
      } else {
        sample[i] = prev;
      }
    }
  }

private:
  int64_t numTrain_ = 1000;
  float finalAlphaCumprod_ = 1.0f;
  bool clipSample_ = true;
  double clipRange_ = 1.0;
  int64_t stepsOffset_ = 0;
  Prediction prediction_ = Prediction::Epsilon;
  std::string spacing_;
  int64_t numInferenceSteps_ = 0;
  double eta_ = 0;
};

} // namespace

std::unique_ptr<Scheduler> createDDIMScheduler(const Config &config) {
  return std::make_unique<DDIMScheduler>(config);
}

} // namespace sched
} // namespace fresco
