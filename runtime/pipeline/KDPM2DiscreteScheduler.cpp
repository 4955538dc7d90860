//===- KDPM2DiscreteScheduler.cpp - diffusers' DPM2 sampler ---------------===//
//
// diffusers 0.31.0 scheduling_k_dpm_2_discrete.py ("DPM2", Karras et al.
// 2022's second-order sampler): each step but the last takes two model
// calls, an Euler step to the geometric mean of this sigma and the next
// (exp of the mean of their logs), then a full step with the slope found
// there. The schedule interleaves those midpoints' timesteps (diffusers'
// `order` 2: 2n - 1 calls for n steps). Float32 throughout, torch's log,
// exp and lerp replayed.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <cmath>

namespace fresco {
namespace sched {
namespace {

BetaDefaults kdpm2Betas() {
  BetaDefaults d;
  d.start = 0.00085;
  d.end = 0.012;
  return d; // "linear", as diffusers' defaults
}

class KDPM2DiscreteScheduler final : public EulerFamilyBase {
public:
  explicit KDPM2DiscreteScheduler(const Config &c)
      : EulerFamilyBase("KDPM2DiscreteScheduler", c, "epsilon or v_prediction",
                        /*originalSampleAlias=*/false,
                        /*readRescaleZeroSnr=*/false, kdpm2Betas()) {
    // diffusers accepts "sample" and raises NotImplementedError in step.
    if (prediction_ == Prediction::Sample)
      c.invalid("prediction_type", "\"sample\"",
                "epsilon or v_prediction; diffusers' step does not "
                "implement sample either");
    karras_ = readKarrasConfig(c);
  }

  int order() const override { return 2; }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    std::vector<double> sigmas, ts; // Karras: rounded, float64 here
    baseSchedule(n, karras_, /*roundTimesteps=*/true, sigmas, ts);
    std::vector<float> base;
    for (double s : sigmas)
      base.push_back(float(s));
    base.push_back(0.0f);
    // sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp(): lerp's weight 0.5
    // takes its `end - (end - start) * (1 - weight)` form.
    std::vector<float> interp(base.size());
    for (size_t i = 0; i < base.size(); ++i) {
      const float start = torchLogF32(base[i]);
      const float end = torchLogF32(base[i == 0 ? base.size() - 1 : i - 1]);
      const float diff = end - start;
      const float lerp = end - diff * 0.5f;
      interp[i] = torchExpF32(lerp);
    }
    // Both interleaved: [0], then [1:] twice each, then [-1].
    auto interleave = [](const std::vector<float> &v) {
      std::vector<float> out(1, v.front());
      for (size_t i = 1; i < v.size(); ++i)
        out.insert(out.end(), 2, v[i]);
      out.push_back(v.back());
      return out;
    };
    sigmas_ = interleave(base);
    interp_ = interleave(interp);
    // timesteps[:1], then (midpoint's timestep, timestep) for each later
    // step; the midpoints' from the float32 torch path of _sigma_to_t, cast
    // to the timesteps' dtype.
    timesteps_.assign(1, ts.front());
    for (size_t i = 1; i < ts.size(); ++i) {
      const float mid = float(sigmaToT(interp[i], tables_.logSigmas,
                                       /*torchFloat32=*/true));
      timesteps_.push_back(double(mid));
      timesteps_.push_back(ts[i]);
    }
    firstOrder_ = true;
    resetSteps(n);
  }

  /// sample / sqrt(sigma^2 + 1) at this call's sigma: the midpoint's on a
  /// correction call.
  void scaleModelInput(float *sample, int64_t n, int stepIndex) override {
    checkStepIndex(stepIndex, "scaleModelInput");
    const float sigma =
        firstOrder_ ? sigmas_[size_t(stepIndex)] : interp_[size_t(stepIndex)];
    const float sq = sigma * sigma + 1.0f;
    const float denom = std::sqrt(sq);
    for (int64_t i = 0; i < n; ++i)
      sample[i] = sample[i] / denom;
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const size_t i = size_t(stepIndex);
    if (firstOrder_) {
      const float sigma = sigmas_[i], mid = interp_[i + 1];
      const float dt = mid - sigma;
      const EulerDenoised denoised(prediction_, sigma);
      start_.assign(sample, sample + n);
      for (int64_t e = 0; e < n; ++e) {
        const float s = sample[e];
        const float diff = s - denoised(s, modelOutput[e]);
        const float d = diff / sigma;
        const float delta = d * dt;
        sample[e] = s + delta;
      }
      firstOrder_ = false;
      return;
    }
    check(int64_t(start_.size()) == n, name_, ": step ", stepIndex, " has ", n,
          " values but the step before had ", start_.size());
    const float sigma = sigmas_[i - 1], mid = interp_[i], next = sigmas_[i];
    const float dt = next - sigma;
    const EulerDenoised denoised(prediction_, mid);
    for (int64_t e = 0; e < n; ++e) {
      const float s = sample[e];
      const float diff = s - denoised(s, modelOutput[e]);
      const float d = diff / mid;
      const float delta = d * dt;
      sample[e] = start_[size_t(e)] + delta;
    }
    firstOrder_ = true;
  }

  /// set_begin_index (t_start * order): a first-order call comes first.
  void setBeginIndex(int stepIndex) override {
    EulerFamilyBase::setBeginIndex(stepIndex);
    firstOrder_ = true;
  }

private:
  KarrasConfig karras_;
  std::vector<float> interp_; ///< the midpoints' sigmas, interleaved
  /// On a correction call: the sample the step started from (diffusers'
  /// self.sample).
  bool firstOrder_ = true;
  std::vector<float> start_;
};

} // namespace

std::unique_ptr<Scheduler> createKDPM2DiscreteScheduler(const Config &config) {
  return std::make_unique<KDPM2DiscreteScheduler>(config);
}

} // namespace sched
} // namespace fresco
