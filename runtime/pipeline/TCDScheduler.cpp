//===- TCDScheduler.cpp - diffusers' trajectory consistency sampler -------===//
//
// diffusers 0.31.0 scheduling_tcd.py as the Stable Diffusion pipelines drive
// it (TCD-LoRA): LCM's schedule; each step predicts x0 and the noise, goes
// to the intermediate timestep s = floor((1 - gamma) t_prev) on the
// predicted trajectory, then, with gamma (the pipelines' `eta`, 0 unless
// given) above 0 and before the last step, noises back to t_prev with fresh
// noise (Fresco's stepNoise, or torch.randn's with --generator torch). TCD
// neither clips nor thresholds. Float32, in diffusers' order.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <cmath>

namespace fresco {
namespace sched {
namespace {

class TCDScheduler final : public AlphasCumprodScheduler {
public:
  explicit TCDScheduler(const Config &c)
      : AlphasCumprodScheduler("TCDScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    BetaDefaults defaults;
    defaults.start = 0.00085;
    defaults.end = 0.012;
    defaults.schedule = "scaled_linear";
    alphasCumprod_ = alphasCumprod(makeBetas(c, numTrain_, true, defaults));
    originalSteps_ = c.getInt("original_inference_steps", 50);
    if (originalSteps_ < 1)
      c.invalid("original_inference_steps", std::to_string(originalSteps_),
                "1 or more");
    prediction_ = readPrediction(c, "epsilon, sample or v_prediction");
    // clip_sample, thresholding, set_alpha_to_one (only custom timesteps
    // reach below 0), steps_offset, timestep_spacing and timestep_scaling:
    // keys its step and set_timesteps(n) do not read, as in diffusers.
  }

  bool takesEta() const override { return true; }
  double stepDefaultEta() const override { return 0.3; }
  void setEta(double eta) override {
    check(eta >= 0 && eta <= 1, name_, ": eta (gamma) must be in [0, 1], got ",
          eta);
    eta_ = eta;
  }
  bool drawsStepNoise() const override { return eta_ > 0; }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    timesteps_ = lcmTimesteps(name_, numTrain_, originalSteps_, n);
    resetSteps(n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const size_t i = size_t(stepIndex);
    const bool last = i + 1 == timesteps_.size();
    const int64_t t = int64_t(timesteps_[i]);
    const int64_t prevT = last ? 0 : int64_t(timesteps_[i + 1]);
    // torch.floor((1 - eta) * prev_timestep): a float32 product.
    const float gammaProduct = float(1.0 - eta_) * float(prevT);
    const int64_t s = int64_t(std::floor(gammaProduct));
    const float alphaT = alphasCumprod_[size_t(t)];
    const float betaT = 1.0f - alphaT;
    const float alphaPrev = alphasCumprod_[size_t(prevT)]; // prev >= 0
    const float alphaS = alphasCumprod_[size_t(s)];
    const float betaS = 1.0f - alphaS;
    const float sqrtAlphaT = std::sqrt(alphaT), sqrtBetaT = std::sqrt(betaT);
    const float sqrtAlphaS = std::sqrt(alphaS), sqrtBetaS = std::sqrt(betaS);

    const bool noised = eta_ > 0 && !last;
    std::vector<float> noise;
    float keep = 0, fresh = 0;
    if (noised) {
      noise = drawStepNoise(name_, stepNoise_, n, stepIndex);
      const float ratio = alphaPrev / alphaS;
      keep = std::sqrt(ratio);
      fresh = std::sqrt(1.0f - ratio);
    }
    for (int64_t e = 0; e < n; ++e) {
      const float x = sample[e], m = modelOutput[e];
      float x0 = 0, eps = 0;
      switch (prediction_) {
      case Prediction::Epsilon: {
        const float u = sqrtBetaT * m;
        x0 = (x - u) / sqrtAlphaT;
        eps = m;
        break;
      }
      case Prediction::Sample: {
        x0 = m;
        const float u = sqrtAlphaT * x0;
        eps = (x - u) / sqrtBetaT;
        break;
      }
      case Prediction::V: {
        const float a = sqrtAlphaT * x, b = sqrtBetaT * m;
        x0 = a - b;
        const float c = sqrtAlphaT * m, d = sqrtBetaT * x;
        eps = c + d;
        break;
      }
      }
      const float a = sqrtAlphaS * x0, b = sqrtBetaS * eps;
      const float noisedSample = a + b; // pred_noised_sample
      if (noised) {
        const float c = keep * noisedSample, d = fresh * noise[size_t(e)];
        sample[e] = c + d;
      } else {
        sample[e] = noisedSample;
      }
    }
  }

private:
  int64_t numTrain_ = 1000;
  int64_t originalSteps_ = 50;
  Prediction prediction_ = Prediction::Epsilon;
  double eta_ = 0;
};

} // namespace

std::unique_ptr<Scheduler> createTCDScheduler(const Config &config) {
  return std::make_unique<TCDScheduler>(config);
}

} // namespace sched
} // namespace fresco
