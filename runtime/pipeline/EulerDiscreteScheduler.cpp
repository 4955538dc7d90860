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

#include <algorithm>
#include <cmath>

namespace fresco {
namespace sched {
namespace {

class EulerDiscreteScheduler final : public SchedulerBase {
public:
  explicit EulerDiscreteScheduler(const Config &c)
      : SchedulerBase("EulerDiscreteScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    tables_ = makeSigmaTables(c, numTrain_);
    prediction_ = readPrediction(c, "epsilon, v_prediction or sample",
                                 /*originalSampleAlias=*/true);

    const std::string interp = c.getString("interpolation_type", "linear");
    if (interp == "log_linear")
      c.unsupported("interpolation_type", "\"log_linear\"", "linear");
    else if (interp != "linear")
      c.invalid("interpolation_type", "\"" + interp + "\"",
                "linear or log_linear");

    karras_ = readKarrasConfig(c);
    spacing_ = readTimestepSpacing(c, "linspace");
    stepsOffset_ = c.getInt("steps_offset", 0);

    const std::string type =
        c.getChoice("timestep_type", "discrete", {"discrete", "continuous"});
    // Only this combination changes anything in diffusers.
    continuousV_ = type == "continuous" && prediction_ == Prediction::V;

    finalSigmaMin_ = readFinalSigmaMin(c);
    // Until set_timesteps, diffusers' sigmas are the training ones, noisiest
    // first, then 0 (init_noise_sigma reads them).
    sigmas_.assign(tables_.trainSigmas.rbegin(), tables_.trainSigmas.rend());
    sigmas_.push_back(0.0f);
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    // Timestep grid, float32 as diffusers stores it.
    std::vector<float> ts;
    if (spacing_ == "linspace") {
      std::vector<double> t = npLinspace(0, double(numTrain_ - 1), n);
      for (auto it = t.rbegin(); it != t.rend(); ++it)
        ts.push_back(float(*it));
    } else if (spacing_ == "leading") {
      const int64_t ratio = numTrain_ / n;
      for (int64_t i = n - 1; i >= 0; --i)
        ts.push_back(float(i * ratio) + float(stepsOffset_));
    } else { // trailing; may give n + 1 values like numpy does
      const double ratio = double(numTrain_) / double(n);
      for (double t : npArange(double(numTrain_), 0, -ratio))
        ts.push_back(float(npRound(t)) - 1.0f);
    }

    std::vector<double> tsD(ts.begin(), ts.end());
    std::vector<double> sigmas = npInterpArange(tsD, tables_.trainSigmas);
    if (karras_.enabled) {
      const double sMin = karras_.sigmaMin ? *karras_.sigmaMin : sigmas.back();
      const double sMax = karras_.sigmaMax ? *karras_.sigmaMax : sigmas.front();
      sigmas = karrasSigmas(sMin, sMax, n);
      ts.clear();
      for (double s : sigmas)
        ts.push_back(float(sigmaToT(s, tables_.logSigmas)));
    }

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

  double initNoiseSigma() const override {
    float maxSigma = sigmas_[0];
    for (float s : sigmas_)
      maxSigma = std::isnan(s) || s > maxSigma ? s : maxSigma;
    if (spacing_ == "linspace" || spacing_ == "trailing")
      return maxSigma;
    const float sq = maxSigma * maxSigma + 1.0f;
    return std::sqrt(sq);
  }

  void scaleModelInput(float *sample, int64_t n, int stepIndex) override {
    checkStepIndex(stepIndex, "scaleModelInput");
    const float sigma = sigmas_[size_t(stepIndex)];
    const float sq = sigma * sigma + 1.0f;
    const float denom = std::sqrt(sq);
    for (int64_t i = 0; i < n; ++i)
      sample[i] = sample[i] / denom;
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const float sigma = sigmas_[size_t(stepIndex)];
    const float sigmaHat = sigma; // sigma * (gamma + 1) with gamma = 0
    const float dt = sigmas_[size_t(stepIndex) + 1] - sigmaHat;
    // v_prediction coefficients, as 0-d float32 tensors in diffusers.
    const float sq = sigma * sigma + 1.0f;
    const float vOut = -sigma / std::sqrt(sq);
    for (int64_t i = 0; i < n; ++i) {
      const float s = sample[i], m = modelOutput[i];
      float x0 = 0;
      switch (prediction_) {
      case Prediction::Epsilon: {
        const float u = sigmaHat * m;
        x0 = s - u;
        break;
      }
      case Prediction::Sample:
        x0 = m;
        break;
      case Prediction::V: {
        const float a = m * vOut;
        const float b = s / sq;
        x0 = a + b;
        break;
      }
      }
      const float diff = s - x0;
      const float derivative = diff / sigmaHat;
      const float delta = derivative * dt;
      sample[i] = s + delta;
    }
  }

private:
  int64_t numTrain_ = 1000;
  SigmaTables tables_;
  Prediction prediction_ = Prediction::Epsilon;
  KarrasConfig karras_;
  std::string spacing_;
  int64_t stepsOffset_ = 0;
  bool continuousV_ = false;
  bool finalSigmaMin_ = false;
  std::vector<float> sigmas_; ///< n + 1 values, the last 0 or sigma_min
};

} // namespace

std::unique_ptr<Scheduler> createEulerDiscreteScheduler(const Config &config) {
  return std::make_unique<EulerDiscreteScheduler>(config);
}

} // namespace sched
} // namespace fresco
