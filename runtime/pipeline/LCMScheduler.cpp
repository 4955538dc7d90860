//===- LCMScheduler.cpp - diffusers' latent consistency model sampler -----===//
//
// diffusers 0.31.0 scheduling_lcm.py, as the Stable Diffusion pipelines drive
// it (LCM-LoRA: set_timesteps(n), no strength, no custom timesteps): n of
// the original_inference_steps distillation timesteps, evenly spaced by
// index; each step is the consistency function's boundary-condition mix
// c_out * x0 + c_skip * x, then, except on the last step, noised again to
// the next timestep with fresh Gaussian noise (Fresco's stepNoise, or
// torch.randn's with --generator torch). Float32 throughout, in diffusers'
// order of operations.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <algorithm>
#include <cmath>

namespace fresco {
namespace sched {
namespace {

class LCMScheduler final : public AlphasCumprodScheduler {
public:
  explicit LCMScheduler(const Config &c)
      : AlphasCumprodScheduler("LCMScheduler") {
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
    clipSample_ = c.getBool("clip_sample", false);
    clipRange_ = float(c.getDouble("clip_sample_range", 1.0));
    prediction_ = readPrediction(c, "epsilon, sample or v_prediction");
    c.requireFalse("thresholding");
    const double scaling = c.getDouble("timestep_scaling", 10.0);
    check(std::isfinite(scaling), name_,
          ": scheduler config key 'timestep_scaling' must be finite");
    timestepScaling_ = float(scaling);
    // set_alpha_to_one only matters to custom timesteps, which end below 0;
    // steps_offset and timestep_spacing are keys LCM does not read.
  }

  bool drawsStepNoise() const override { return true; }

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
    const int64_t prev = last ? t : int64_t(timesteps_[i + 1]);
    const float alphaT = alphasCumprod_[size_t(t)];
    const float alphaPrev = alphasCumprod_[size_t(prev)];
    const float betaT = 1.0f - alphaT, betaPrev = 1.0f - alphaPrev;
    // get_scalings_for_boundary_condition_discrete, sigma_data 0.5.
    const float scaled = float(t) * timestepScaling_;
    const float sq = scaled * scaled;
    const float cSkip = 0.25f / (sq + 0.25f);
    const float cOut = scaled / std::sqrt(sq + 0.25f);
    const float sqrtAlpha = std::sqrt(alphaT), sqrtBeta = std::sqrt(betaT);

    std::vector<float> noise;
    if (!last)
      noise = drawStepNoise(name_, stepNoise_, n, stepIndex);
    const float sqrtAlphaPrev = std::sqrt(alphaPrev),
                sqrtBetaPrev = std::sqrt(betaPrev);
    for (int64_t e = 0; e < n; ++e) {
      const float x = sample[e], m = modelOutput[e];
      float x0 = 0;
      switch (prediction_) {
      case Prediction::Epsilon: {
        const float u = sqrtBeta * m;
        x0 = (x - u) / sqrtAlpha;
        break;
      }
      case Prediction::Sample:
        x0 = m;
        break;
      case Prediction::V: {
        const float a = sqrtAlpha * x, b = sqrtBeta * m;
        x0 = a - b;
        break;
      }
      }
      if (clipSample_)
        x0 = torchClamp(x0, clipRange_);
      const float a = cOut * x0, b = cSkip * x;
      const float denoised = a + b;
      if (last) {
        sample[e] = denoised;
      } else {
        const float c = sqrtAlphaPrev * denoised,
                    d = sqrtBetaPrev * noise[size_t(e)];
        sample[e] = c + d;
      }
    }
  }

private:
  int64_t numTrain_ = 1000;
  int64_t originalSteps_ = 50;
  bool clipSample_ = false;
  float clipRange_ = 1.0f;
  Prediction prediction_ = Prediction::Epsilon;
  float timestepScaling_ = 10.0f;
};

} // namespace

std::unique_ptr<Scheduler> createLCMScheduler(const Config &config) {
  return std::make_unique<LCMScheduler>(config);
}

} // namespace sched
} // namespace fresco
