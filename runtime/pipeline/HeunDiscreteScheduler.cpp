//===- HeunDiscreteScheduler.cpp - diffusers' Heun sampler ----------------===//
//
// diffusers 0.31.0 scheduling_heun_discrete.py: Heun's method (Karras et al.
// 2022, Algorithm 1) on Euler's sigma schedule. Each step but the last takes
// two model calls: an Euler step to the next sigma, then a correction with
// the average of the two slopes, so the schedule repeats every timestep but
// the first (2n - 1 entries for n steps, diffusers' `order` 2) and its
// sigmas every one but the first and the last 0. Float32 throughout, in
// diffusers' order of operations.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <algorithm>
#include <cmath>

namespace fresco {
namespace sched {
namespace {

class HeunDiscreteScheduler final : public EulerFamilyBase {
public:
  explicit HeunDiscreteScheduler(const Config &c)
      : EulerFamilyBase(
            "HeunDiscreteScheduler", c, "epsilon, v_prediction or sample",
            /*originalSampleAlias=*/false,
            /*readRescaleZeroSnr=*/false, kDiffusionBetas(/*exp=*/true)) {
    // sigma_min / sigma_max are not Heun's __init__ keys, but from_config
    // keeps them in the config, where the Karras conversion reads them.
    karras_ = readKarrasConfig(c);
    clipSample_ = c.getBool("clip_sample", false);
    clipRange_ = float(c.getDouble("clip_sample_range", 1.0));
  }

  int order() const override { return 2; }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    std::vector<double> sigmas, ts; // Karras timesteps stay float64 here
    baseSchedule(n, karras_, /*roundTimesteps=*/false, sigmas, ts);
    // sigmas[:1], sigmas[1:-1] twice each, then the final 0; timesteps[:1],
    // then timesteps[1:] twice each.
    std::vector<float> base;
    for (double s : sigmas)
      base.push_back(float(s));
    base.push_back(0.0f);
    sigmas_.assign(1, base.front());
    for (size_t i = 1; i + 1 < base.size(); ++i)
      sigmas_.insert(sigmas_.end(), 2, base[i]);
    sigmas_.push_back(base.back());
    timesteps_.assign(1, ts.front());
    for (size_t i = 1; i < ts.size(); ++i)
      timesteps_.insert(timesteps_.end(), 2, ts[i]);
    firstOrder_ = true;
    resetSteps(n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const size_t i = size_t(stepIndex);
    if (firstOrder_) {
      const float sigma = sigmas_[i], sigmaNext = sigmas_[i + 1];
      const float dt = sigmaNext - sigma;
      const EulerDenoised denoised(prediction_, sigma);
      derivative_.resize(size_t(n));
      start_.assign(sample, sample + n);
      for (int64_t e = 0; e < n; ++e) {
        const float s = sample[e];
        const float diff = s - x0(denoised, s, modelOutput[e]);
        const float d = diff / sigma;
        derivative_[size_t(e)] = d;
        const float delta = d * dt;
        sample[e] = s + delta;
      }
      dt_ = dt;
      firstOrder_ = false;
      return;
    }
    check(int64_t(start_.size()) == n, name_, ": step ", stepIndex, " has ", n,
          " values but the step before had ", start_.size());
    const float sigmaNext = sigmas_[i];
    const EulerDenoised denoised(prediction_, sigmaNext);
    for (int64_t e = 0; e < n; ++e) {
      const float s = sample[e];
      const float diff = s - x0(denoised, s, modelOutput[e]);
      const float d2 = diff / sigmaNext;
      const float sum = derivative_[size_t(e)] + d2;
      const float d = sum / 2.0f;
      const float delta = d * dt_;
      sample[e] = start_[size_t(e)] + delta;
    }
    firstOrder_ = true;
  }

  /// set_begin_index (t_start * order): a first-order step comes first.
  void setBeginIndex(int stepIndex) override {
    EulerFamilyBase::setBeginIndex(stepIndex);
    firstOrder_ = true;
  }

private:
  float x0(const EulerDenoised &denoised, float sample, float out) const {
    const float v = denoised(sample, out);
    return clipSample_ ? torchClamp(v, clipRange_) : v;
  }

  KarrasConfig karras_;
  bool clipSample_ = false;
  float clipRange_ = 1.0f;
  /// The Euler half of a step: its slope, start sample and dt (diffusers'
  /// prev_derivative, sample, dt), read by the correction after it.
  bool firstOrder_ = true;
  std::vector<float> derivative_, start_;
  float dt_ = 0.0f;
};

} // namespace

std::unique_ptr<Scheduler> createHeunDiscreteScheduler(const Config &config) {
  return std::make_unique<HeunDiscreteScheduler>(config);
}

} // namespace sched
} // namespace fresco
