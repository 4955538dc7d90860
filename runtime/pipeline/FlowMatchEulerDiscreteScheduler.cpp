//===- FlowMatchEulerDiscreteScheduler.cpp - diffusers' flow-match Euler --===//
//
// diffusers 0.31.0 scheduling_flow_match_euler_discrete.py, the sampler of
// Flux and SD3: sigmas run from 1 (noise) towards 0, the model predicts a
// velocity and a step is prev = sample + (sigma_next - sigma) * v. What the
// text-to-image pipelines use, and scale_noise with set_begin_index for
// FluxImg2ImgPipeline and StableDiffusion3Img2ImgPipeline (addNoise /
// setBeginIndex).
//
// The arithmetic is replayed in diffusers' dtypes: the training sigmas of
// __init__ are float32 torch (they give sigma_max / sigma_min), the
// set_timesteps grid and its shift are float64 numpy, then the sigmas are
// rounded to float32 and timesteps = sigmas * num_train_timesteps in float32.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <cmath>

namespace fresco {
namespace sched {
namespace {

/// The FlowMatchEulerDiscreteScheduler keys diffusers 0.31 reads.
struct FlowMatchConfig {
  int64_t numTrain = 1000;
  double shift = 1.0;
  bool dynamicShifting = false;
  // Not read by the scheduler itself: FluxPipeline reads them from its
  // config to compute mu (calculate_shift).
  double baseShift = 0.5, maxShift = 1.15;
  double baseImageSeqLen = 256, maxImageSeqLen = 4096;
};

FlowMatchConfig readFlowMatchConfig(const Config &c) {
  FlowMatchConfig f;
  f.numTrain = c.getInt("num_train_timesteps", 1000);
  check(f.numTrain >= 1, c.className(),
        ": scheduler config key 'num_train_timesteps' must be at least 1, "
        "got ",
        f.numTrain);
  checkNumTrainTimestepsLimit(c, f.numTrain);
  f.shift = c.getDouble("shift", 1.0);
  check(std::isfinite(f.shift), c.className(),
        ": scheduler config key 'shift' must be finite");
  f.dynamicShifting = c.getBool("use_dynamic_shifting", false);
  f.baseShift = c.getDouble("base_shift", 0.5);
  f.maxShift = c.getDouble("max_shift", 1.15);
  f.baseImageSeqLen = c.getDouble("base_image_seq_len", 256);
  f.maxImageSeqLen = c.getDouble("max_image_seq_len", 4096);

  // Keys of later diffusers releases change the schedule; 0.31 ignores them,
  // so a config written for them would run with a different schedule than
  // its model expects. Refuse them when they are not their neutral value.
  for (const char *key :
       {"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
        "invert_sigmas", "stochastic_sampling"})
    if (c.getBool(key, false))
      c.unsupported(key, "true",
                    "false; Fresco follows diffusers 0.31, which has no such "
                    "key");
  if (c.has("shift_terminal"))
    c.unsupported("shift_terminal", "a number",
                  "null; Fresco follows diffusers 0.31, which has no such "
                  "key");
  const std::string timeShift = c.getString("time_shift_type", "exponential");
  if (timeShift != "exponential")
    c.unsupported("time_shift_type", "\"" + timeShift + "\"",
                  "\"exponential\", diffusers 0.31's only time shift");
  return f;
}

class FlowMatchEulerDiscreteScheduler final : public SchedulerBase {
public:
  explicit FlowMatchEulerDiscreteScheduler(const Config &c)
      : SchedulerBase("FlowMatchEulerDiscreteScheduler"),
        config_(readFlowMatchConfig(c)) {
    // __init__: float32 np.linspace(1, N, N) reversed, / N in float32, and
    // the static shift in float32 unless shifting dynamically. Only the ends
    // survive set_timesteps (as Python floats).
    const int64_t n = config_.numTrain;
    const std::vector<double> grid = npLinspace(1, double(n), n);
    auto trainSigma = [&](double t) {
      const float s = float(t) / float(n);
      if (config_.dynamicShifting)
        return s;
      const float shift = float(config_.shift);
      const float num = shift * s;
      const float shiftM1 = float(config_.shift - 1);
      const float den = 1.0f + shiftM1 * s;
      return num / den;
    };
    sigmaMax_ = trainSigma(grid.back());
    sigmaMin_ = trainSigma(grid.front());
  }

  bool flowMatching() const override { return true; }

  void setTimesteps(int n) override { setTimestepsWith(n, {}); }

  void setTimestepsWith(int n, const TimestepOptions &o) override {
    checkNumInferenceSteps(n);
    check(!config_.dynamicShifting || o.mu, name_,
          ": scheduler config key 'use_dynamic_shifting' is true, so "
          "set_timesteps needs mu (the Flux pipeline computes it from the "
          "image sequence length)");
    std::vector<double> sigmas = o.sigmas;
    if (sigmas.empty()) {
      // np.linspace(sigma_max * N, sigma_min * N, n) / N, float64.
      const double numTrain = double(config_.numTrain);
      sigmas = npLinspace(sigmaMax_ * numTrain, sigmaMin_ * numTrain, n);
      for (double &s : sigmas)
        s = s / numTrain;
    } else {
      check(int64_t(sigmas.size()) == n, name_, ": ", sigmas.size(),
            " custom sigmas given for ", n, " inference steps");
    }

    if (config_.dynamicShifting) {
      // time_shift(mu, 1.0, t) = e^mu / (e^mu + (1 / t - 1) ** 1.0); x ** 1.0
      // is x exactly. Python's math.exp is the C library's exp.
      const double emu = std::exp(*o.mu);
      for (double &t : sigmas) {
        const double r = 1.0 / t - 1.0;
        t = emu / (emu + r);
      }
    } else {
      // shift * s / (1 + (shift - 1) * s), float64 (applied a second time
      // over __init__'s shifted ends, as diffusers does).
      const double shift = config_.shift;
      for (double &s : sigmas) {
        const double num = shift * s;
        const double den = 1.0 + (shift - 1.0) * s;
        s = num / den;
      }
    }

    // shift 0 makes 0 / 0 at sigma 1 (as a very negative mu does): diffusers
    // runs on into NaN, which was then blamed on the denoiser's output.
    for (size_t i = 0; i < sigmas.size(); ++i)
      check(std::isfinite(sigmas[i]), name_, ": sigma ", i, " of the ", n,
            "-step schedule is not a number: check 'shift' (with "
            "use_dynamic_shifting, 'base_shift' and 'max_shift') in "
            "scheduler_config.json");
    sigmas_.clear();
    timesteps_.clear();
    const float numTrain32 = float(config_.numTrain);
    for (double s : sigmas) {
      const float s32 = float(s);
      sigmas_.push_back(s32);
      timesteps_.push_back(s32 * numTrain32);
    }
    sigmas_.push_back(0.0f);
    resetSteps(n);
  }

  std::vector<double> sigmas() const override {
    return std::vector<double>(sigmas_.begin(), sigmas_.end());
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    // (sigma_next - sigma) is a 0-d float32 tensor; then a float32 multiply
    // and add, unfused.
    const float dt =
        sigmas_[size_t(stepIndex) + 1] - sigmas_[size_t(stepIndex)];
    for (int64_t i = 0; i < n; ++i) {
      const float delta = dt * modelOutput[i];
      sample[i] = sample[i] + delta;
    }
  }

  /// scale_noise after set_begin_index (img2img calls it before the first
  /// step): sigma * noise + (1.0 - sigma) * sample at sigmas[stepIndex], in
  /// float32 (sigma a float32 tensor, 1.0 a Python float), unfused.
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override {
    checkStepIndex(stepIndex, "addNoise");
    const float sigma = sigmas_[size_t(stepIndex)];
    const float keep = 1.0f - sigma;
    for (int64_t i = 0; i < n; ++i) {
      const float a = sigma * noise[i];
      const float b = keep * original[i];
      out[i] = a + b;
    }
  }

  /// set_begin_index: step() reads sigmas by index from there on.
  void setBeginIndex(int stepIndex) override {
    checkStepIndex(stepIndex, "setBeginIndex");
    nextStep_ = stepIndex;
  }

private:
  FlowMatchConfig config_;
  double sigmaMax_ = 1, sigmaMin_ = 0; ///< __init__'s ends, float32 values
  std::vector<float> sigmas_;          ///< n + 1 values, the last 0
};

} // namespace

std::unique_ptr<Scheduler>
createFlowMatchEulerDiscreteScheduler(const Config &config) {
  return std::make_unique<FlowMatchEulerDiscreteScheduler>(config);
}

} // namespace sched

TimestepOptions fluxTimestepOptions(const std::string &configJson,
                                    int numInferenceSteps,
                                    int64_t imageSeqLen) {
  const sched::Config c("FlowMatchEulerDiscreteScheduler", configJson);
  const sched::FlowMatchConfig f = sched::readFlowMatchConfig(c);
  check(numInferenceSteps >= 1,
        "FluxPipeline: the number of inference steps must be >= 1, got ",
        numInferenceSteps);
  check(f.maxImageSeqLen != f.baseImageSeqLen,
        "FlowMatchEulerDiscreteScheduler: scheduler config keys "
        "'base_image_seq_len' and 'max_image_seq_len' are equal (",
        f.baseImageSeqLen, "); calculate_shift divides by their difference");
  TimestepOptions o;
  // sigmas = np.linspace(1.0, 1 / n, n).
  o.sigmas = sched::npLinspace(1.0, 1.0 / double(numInferenceSteps),
                               numInferenceSteps);
  // calculate_shift, in Python floats.
  const double m =
      (f.maxShift - f.baseShift) / (f.maxImageSeqLen - f.baseImageSeqLen);
  const double b = f.baseShift - m * f.baseImageSeqLen;
  o.mu = double(imageSeqLen) * m + b;
  return o;
}

} // namespace fresco
