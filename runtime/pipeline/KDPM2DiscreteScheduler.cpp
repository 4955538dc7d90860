//===- KDPM2DiscreteScheduler.cpp - diffusers' DPM2 and DPM2 ancestral ----===//
//
// diffusers 0.31.0 scheduling_k_dpm_2_discrete.py ("DPM2", Karras et al.
// 2022's second-order sampler) and scheduling_k_dpm_2_ancestral_discrete.py
// ("DPM2 a"): each step but the last takes two model calls, an Euler step to
// a midpoint sigma (the geometric mean, exp of the mean of the logs, of this
// sigma and the next, or for the ancestral class of this sigma and its
// sigma_down), then a full step with the slope found there; the ancestral
// class steps to sigma_down and adds fresh noise times sigma_up. The
// schedule interleaves the midpoints' timesteps (diffusers' `order` 2:
// 2n - 1 calls for n steps). Float32 throughout, torch's log, exp and lerp
// replayed.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <cmath>

namespace fresco {
namespace sched {
namespace {

/// torch's exp(lerp(log(a), log(b), 0.5)) in float32: weight 0.5 takes
/// lerp's `end - (end - start) * (1 - weight)` form.
float torchGeometricMid(float a, float b) {
  const float start = torchLogF32(a), end = torchLogF32(b);
  const float diff = end - start;
  const float lerp = end - diff * 0.5f;
  return torchExpF32(lerp);
}

/// [v[0]], then v[1:] twice each, then [v[-1]], as diffusers interleaves.
std::vector<float> interleave(const std::vector<float> &v) {
  std::vector<float> out(1, v.front());
  for (size_t i = 1; i < v.size(); ++i)
    out.insert(out.end(), 2, v[i]);
  out.push_back(v.back());
  return out;
}

class KDPM2DiscreteScheduler final : public EulerFamilyBase {
public:
  KDPM2DiscreteScheduler(const Config &c, bool ancestral)
      : EulerFamilyBase(ancestral ? "KDPM2AncestralDiscreteScheduler"
                                  : "KDPM2DiscreteScheduler",
                        c, "epsilon or v_prediction",
                        /*originalSampleAlias=*/false,
                        /*readRescaleZeroSnr=*/false,
                        kDiffusionBetas(/*exp=*/false)),
        ancestral_(ancestral) {
    // diffusers accepts "sample" and raises NotImplementedError in step.
    if (prediction_ == Prediction::Sample)
      c.invalid("prediction_type", "\"sample\"",
                "epsilon or v_prediction; diffusers' step does not "
                "implement sample either");
    karras_ = readKarrasConfig(c);
  }

  int order() const override { return 2; }
  bool drawsStepNoise() const override { return ancestral_; }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    std::vector<double> sigmas, ts; // Karras: rounded, float64 here
    baseSchedule(n, karras_, /*roundTimesteps=*/true, sigmas, ts);
    std::vector<float> base;
    for (double s : sigmas)
      base.push_back(float(s));
    base.push_back(0.0f);
    const size_t count = base.size(); // n + 1
    std::vector<float> interp(count), up(count, 0.0f), down(count, 0.0f);
    if (ancestral_) {
      // sigma_up^2 = next^2 (sigma^2 - next^2) / sigma^2, sigma_down^2 =
      // next^2 - sigma_up^2; the last down is 0, the last two midpoints 0.
      for (size_t i = 0; i < count; ++i) {
        const float s = base[i], next = i + 1 < count ? base[i + 1] : 0.0f;
        const float next2 = next * next, s2 = s * s;
        const float gap = s2 - next2;
        const float num = next2 * gap;
        up[i] = std::sqrt(num / s2);
        const float upSq = up[i] * up[i];
        down[i] = i + 1 < count ? std::sqrt(next2 - upSq) : 0.0f;
        interp[i] = i + 2 < count ? torchGeometricMid(s, down[i]) : 0.0f;
      }
    } else {
      // sigmas.log().lerp(sigmas.roll(1).log(), 0.5).exp()
      for (size_t i = 0; i < count; ++i)
        interp[i] =
            torchGeometricMid(base[i], base[i == 0 ? count - 1 : i - 1]);
    }
    sigmas_ = interleave(base);
    interp_ = interleave(interp);
    up_ = interleave(up);
    down_ = interleave(down);
    // timesteps[:1], then (a midpoint's timestep, the next timestep) per
    // later step: DPM2 pairs timestep i with the midpoint before it, DPM2 a
    // with the midpoint of step i - 1. The midpoints' come from the float32
    // torch path of _sigma_to_t, cast to the timesteps' dtype.
    timesteps_.assign(1, ts.front());
    for (size_t i = 1; i < ts.size(); ++i) {
      const float mid = interp[ancestral_ ? i - 1 : i];
      timesteps_.push_back(
          float(sigmaToT(mid, tables_.logSigmas, /*torchFloat32=*/true)));
      timesteps_.push_back(ts[i]);
    }
    firstOrder_ = true;
    resetSteps(n);
  }

  /// sample / sqrt(sigma^2 + 1) at this call's sigma: the midpoint's on a
  /// correction call.
  void scaleModelInput(float *sample, int64_t n, int stepIndex) override {
    checkStepIndex(stepIndex, "scaleModelInput");
    // Which sigma depends on the half the step is in: only the next step's
    // input can be scaled.
    check(stepIndex == nextStep_, name_, ": scaleModelInput for step ",
          stepIndex, " but the next step is ", nextStep_);
    const size_t i = size_t(stepIndex);
    const float sigma = firstOrder_  ? sigmas_[i]
                        : ancestral_ ? interp_[i - 1]
                                     : interp_[i];
    const float sq = sigma * sigma + 1.0f;
    const float denom = std::sqrt(sq);
    for (int64_t k = 0; k < n; ++k)
      sample[k] = sample[k] / denom;
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const size_t i = size_t(stepIndex);
    if (firstOrder_) {
      const float sigma = sigmas_[i];
      const float mid = ancestral_ ? interp_[i] : interp_[i + 1];
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
    const float sigma = sigmas_[i - 1];
    const float mid = ancestral_ ? interp_[i - 1] : interp_[i];
    const float to = ancestral_ ? down_[i - 1] : sigmas_[i];
    const float dt = to - sigma;
    std::vector<float> noise;
    if (ancestral_)
      noise = drawStepNoise(name_, stepNoise_, n, stepIndex);
    const float sigmaUp = ancestral_ ? up_[i - 1] : 0.0f;
    const EulerDenoised denoised(prediction_, mid);
    for (int64_t e = 0; e < n; ++e) {
      const float s = sample[e];
      const float diff = s - denoised(s, modelOutput[e]);
      const float d = diff / mid;
      const float delta = d * dt;
      const float prev = start_[size_t(e)] + delta;
      if (!ancestral_) {
        sample[e] = prev;
        continue;
      }
      const float added = noise[size_t(e)] * sigmaUp;
      sample[e] = prev + added;
    }
    firstOrder_ = true;
  }

  /// set_begin_index (t_start * order): a first-order call comes first.
  void setBeginIndex(int stepIndex) override {
    EulerFamilyBase::setBeginIndex(stepIndex);
    firstOrder_ = true;
  }

private:
  bool ancestral_;
  KarrasConfig karras_;
  /// Interleaved as the sigmas: the midpoints, and the ancestral class's
  /// sigma_up and sigma_down.
  std::vector<float> interp_, up_, down_;
  /// On a correction call: the sample the step started from (diffusers'
  /// self.sample).
  bool firstOrder_ = true;
  std::vector<float> start_;
};

} // namespace

std::unique_ptr<Scheduler> createKDPM2DiscreteScheduler(const Config &config) {
  return std::make_unique<KDPM2DiscreteScheduler>(config, /*ancestral=*/false);
}

std::unique_ptr<Scheduler>
createKDPM2AncestralDiscreteScheduler(const Config &config) {
  return std::make_unique<KDPM2DiscreteScheduler>(config, /*ancestral=*/true);
}

} // namespace sched
} // namespace fresco
