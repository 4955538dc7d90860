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

enum class Prediction { Epsilon, Sample, V };

class EulerDiscreteScheduler final : public SchedulerBase {
public:
  explicit EulerDiscreteScheduler(const Config &c)
      : SchedulerBase("EulerDiscreteScheduler") {
    numTrain_ = c.getInt("num_train_timesteps", 1000);
    check(numTrain_ >= 2, name_,
          ": scheduler config key 'num_train_timesteps' must be at least 2, "
          "got ",
          numTrain_);
    alphasCumprod_ = alphasCumprod(makeBetas(c, numTrain_));
    // A zero terminal SNR would make the last sigma infinite.
    if (c.getBool("rescale_betas_zero_snr", false))
      alphasCumprod_.back() = 0x1p-24f;
    trainSigmas_ = trainSigmas(alphasCumprod_);
    logSigmas_.resize(trainSigmas_.size());
    for (size_t i = 0; i < trainSigmas_.size(); ++i)
      logSigmas_[i] = npLogF32(trainSigmas_[i]);

    const std::string pred = c.getString("prediction_type", "epsilon");
    if (pred == "epsilon")
      prediction_ = Prediction::Epsilon;
    else if (pred == "v_prediction")
      prediction_ = Prediction::V;
    else if (pred == "sample" || pred == "original_sample")
      prediction_ = Prediction::Sample;
    else
      c.invalid("prediction_type", "\"" + pred + "\"",
                "epsilon, v_prediction or sample");

    const std::string interp = c.getString("interpolation_type", "linear");
    if (interp == "log_linear")
      c.unsupported("interpolation_type", "\"log_linear\"", "linear");
    else if (interp != "linear")
      c.invalid("interpolation_type", "\"" + interp + "\"",
                "linear or log_linear");

    karras_ = c.getBool("use_karras_sigmas", false);
    const bool exponential = c.getBool("use_exponential_sigmas", false);
    const bool beta = c.getBool("use_beta_sigmas", false);
    if (int(karras_) + int(exponential) + int(beta) > 1)
      fail(name_, ": only one of the scheduler config keys "
                  "'use_karras_sigmas', 'use_exponential_sigmas', "
                  "'use_beta_sigmas' can be true");
    if (exponential)
      c.unsupported("use_exponential_sigmas", "true", "false");
    if (beta)
      c.unsupported("use_beta_sigmas", "true", "false");
    sigmaMin_ = c.getOptionalDouble("sigma_min");
    sigmaMax_ = c.getOptionalDouble("sigma_max");

    spacing_ = c.getString("timestep_spacing", "linspace");
    if (spacing_ != "leading" && spacing_ != "trailing" &&
        spacing_ != "linspace")
      c.invalid("timestep_spacing", "\"" + spacing_ + "\"",
                "linspace, leading or trailing");
    stepsOffset_ = c.getInt("steps_offset", 0);

    const std::string type = c.getString("timestep_type", "discrete");
    if (type != "discrete" && type != "continuous")
      c.invalid("timestep_type", "\"" + type + "\"", "discrete or continuous");
    // Only this combination changes anything in diffusers.
    continuousV_ = type == "continuous" && prediction_ == Prediction::V;

    const std::string finalSigmas = c.getString("final_sigmas_type", "zero");
    if (finalSigmas != "zero" && finalSigmas != "sigma_min")
      c.invalid("final_sigmas_type", "\"" + finalSigmas + "\"",
                "zero or sigma_min");
    finalSigmaMin_ = finalSigmas == "sigma_min";
    // Until set_timesteps, diffusers' sigmas are the training ones, noisiest
    // first, then 0 (init_noise_sigma reads them).
    sigmas_.assign(trainSigmas_.rbegin(), trainSigmas_.rend());
    sigmas_.push_back(0.0f);
  }

  void setTimesteps(int n) override {
    check(n >= 1, name_, ": the number of inference steps must be >= 1, got ",
          n);
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
    std::vector<double> sigmas = npInterpArange(tsD, trainSigmas_);
    if (karras_) {
      const double sMin = sigmaMin_ ? *sigmaMin_ : sigmas.back();
      const double sMax = sigmaMax_ ? *sigmaMax_ : sigmas.front();
      sigmas = karrasSigmas(sMin, sMax, n);
      ts.clear();
      for (double s : sigmas)
        ts.push_back(float(sigmaToT(s, logSigmas_)));
    }

    sigmas_.clear();
    for (double s : sigmas)
      sigmas_.push_back(float(s));
    sigmas_.push_back(finalSigmaMin_ ? trainSigmas_[0] : 0.0f);

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
  std::vector<float> alphasCumprod_, trainSigmas_, logSigmas_;
  Prediction prediction_ = Prediction::Epsilon;
  bool karras_ = false;
  std::optional<double> sigmaMin_, sigmaMax_;
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
