//===- DPMSolverSinglestepScheduler.cpp - diffusers' singlestep DPM-Solver ===//
//
// diffusers 0.31.0 scheduling_dpmsolver_singlestep.py: DPM-Solver(++) in
// groups of model calls (orders 1, 2, 3, 1, 2, 3, ... from get_order_list),
// each group stepping from the sample at its first call with the outputs of
// all its calls; sde-dpmsolver++ (orders 1 and 2) adds fresh noise every
// step. Its timesteps are always linspace over the lambda-clipped range.
// The first- and second-order updates are DPMSolverCommon's, the third
// order's formulas are this class's own.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/DPMSolverCommon.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fresco {
namespace sched {
namespace {

class DPMSolverSinglestepScheduler final : public SchedulerBase {
public:
  explicit DPMSolverSinglestepScheduler(const Config &c)
      : SchedulerBase("DPMSolverSinglestepScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    // No rescale_betas_zero_snr key in this class.
    tables_ = makeSigmaTables(c, numTrain_, /*readRescaleZeroSnr=*/false);
    order_ = readSolverOrder(c, 3,
                             "1, 2 or 3 (diffusers: \"Order > 3 is not "
                             "supported\")",
                             /*aboveUnsupported=*/false);
    variant_ = readDpmVariant(c, /*singlestep=*/true);
    lowerOrderFinal_ = c.getBool("lower_order_final", false);
    karras_ = readKarrasConfig(c);
    finalZero_ = readDpmFinalZero(c, name_);
    lambdaMinClipped_ = c.getDouble("lambda_min_clipped",
                                    -std::numeric_limits<double>::infinity());
  }

  bool drawsStepNoise() const override { return variant_.sde; }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    const int64_t last =
        numTrain_ - lambdaClippedCount(tables_, lambdaMinClipped_);
    std::vector<double> ts =
        integerTimesteps(name_, "linspace", numTrain_, last, n, 0);
    std::vector<double> sigmas;
    if (karras_.enabled)
      karrasSchedule(karras_, tables_, n, sigmas, ts);
    else
      sigmas = npInterpArange(ts, tables_.trainSigmas);
    sigmas_.clear();
    for (double s : sigmas)
      sigmas_.push_back(float(s));
    sigmas_.push_back(finalZero_ ? 0.0f : tables_.trainSigmas[0]);
    timesteps_ = ts;

    // diffusers registers lower_order_final = true for an uneven step count
    // or a final sigma of 0, and the config keeps it from then on.
    if (n % order_ != 0 || finalZero_)
      lowerOrderFinal_ = true;
    orders_ = orderList(n);
    history_.assign(size_t(order_), {});
    groupStart_.clear();
    resetSteps(n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const size_t i = size_t(stepIndex);
    check(i < orders_.size(), name_, ": step ", stepIndex, " of ",
          timesteps_.size(),
          " has no order (diffusers' order list is shorter: use an even "
          "step count or lower_order_final)");
    for (const auto &h : history_)
      check(h.empty() || int64_t(h.size()) == n, name_, ": step ", stepIndex,
            " has ", n, " values but earlier steps had ", h.size());
    std::rotate(history_.begin(), history_.begin() + 1, history_.end());
    std::vector<float> &m0 = history_.back();
    m0.resize(size_t(n));
    dpmConvertModelOutput(variant_, modelOutput, sample, n, sigmas_[i],
                          m0.data());
    std::vector<float> noise;
    if (variant_.sde) // randn_tensor in the model output's dtype
      noise = drawStepNoise(name_, stepNoise_, n, stepIndex);

    // A group may only reach back to outputs this run has (image-to-image
    // starts with none).
    int order = orders_[i];
    while (history_[history_.size() - size_t(order)].empty())
      --order;
    if (order == 1)
      groupStart_.assign(sample, sample + n);
    check(int64_t(groupStart_.size()) == n, name_, ": step ", stepIndex,
          " has ", n, " values but its group started with ",
          groupStart_.size());
    std::vector<float> x = groupStart_;
    const size_t last = history_.size() - 1;
    if (order == 1) {
      dpmFirstOrder(variant_, sigmas_[i + 1], sigmas_[i], m0.data(), x.data(),
                    n, noise.data());
    } else if (order == 2) {
      const AlphaSigma t = alphaSigma(sigmas_[i + 1]);
      const AlphaSigma s0 = alphaSigma(sigmas_[i]);
      const AlphaSigma s1 = alphaSigma(sigmas_[i - 1]);
      const float h = t.lambda - s1.lambda, h0 = s0.lambda - s1.lambda;
      const float *m1 = history_[last - 1].data();
      dpmSecondOrder(variant_, sigmas_[i + 1], sigmas_[i - 1], h, h0 / h, m1,
                     m0.data(), m1, x.data(), n, noise.data());
    } else {
      // diffusers 0.31's third-order update has no SDE branch.
      check(!variant_.sde, name_, ": step ", stepIndex,
            " would take a third-order SDE update, which diffusers 0.31 does "
            "not have (its step fails there, x_t unbound); use solver_order "
            "2 or fewer steps");
      thirdOrder(x.data(), n, i);
    }
    std::copy(x.begin(), x.end(), sample);
  }

  /// add_noise with the begin index set: alpha_t x + sigma_t noise at
  /// sigmas[stepIndex], float32.
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override {
    checkStepIndex(stepIndex, "addNoise");
    dpmAddNoise(sigmas_[size_t(stepIndex)], original, noise, out, n);
  }

  /// set_begin_index: no model outputs and no group sample yet; the order
  /// list still counts from the schedule's start, and each group falls
  /// back to the outputs there are.
  void setBeginIndex(int stepIndex) override {
    checkStepIndex(stepIndex, "setBeginIndex");
    history_.assign(size_t(order_), {});
    groupStart_.clear();
    nextStep_ = stepIndex;
  }

private:
  /// get_order_list(n).
  std::vector<int> orderList(int steps) const {
    std::vector<int> out;
    auto repeat = [&](std::initializer_list<int> group, int times) {
      for (int k = 0; k < times; ++k)
        out.insert(out.end(), group);
    };
    if (order_ == 1) {
      out.assign(size_t(steps), 1);
    } else if (!lowerOrderFinal_) {
      if (order_ == 3)
        repeat({1, 2, 3}, steps / 3);
      else
        repeat({1, 2}, steps / 2);
    } else if (order_ == 3) {
      if (steps % 3 == 0) {
        repeat({1, 2, 3}, steps / 3 - 1);
        out.insert(out.end(), {1, 2, 1});
      } else if (steps % 3 == 1) {
        repeat({1, 2, 3}, steps / 3);
        out.push_back(1);
      } else {
        repeat({1, 2, 3}, steps / 3);
        out.insert(out.end(), {1, 2});
      }
    } else if (steps % 2 == 0) {
      repeat({1, 2}, steps / 2 - 1);
      out.insert(out.end(), {1, 1});
    } else {
      repeat({1, 2}, steps / 2);
      out.push_back(1);
    }
    return out;
  }

  /// singlestep_dpm_solver_third_order_update from the group's first sample
  /// (at sigmas[i - 2]) with its three outputs.
  void thirdOrder(float *sample, int64_t n, size_t i) const {
    const AlphaSigma t = alphaSigma(sigmas_[i + 1]);
    const AlphaSigma s0 = alphaSigma(sigmas_[i]);
    const AlphaSigma s1 = alphaSigma(sigmas_[i - 1]);
    const AlphaSigma s2 = alphaSigma(sigmas_[i - 2]);
    const size_t last = history_.size() - 1;
    const float *m0 = history_[last].data();
    const float *m1 = history_[last - 1].data();
    const float *m2 = history_[last - 2].data();
    const float h = t.lambda - s2.lambda, h0 = s0.lambda - s2.lambda,
                h1 = s1.lambda - s2.lambda;
    const float r0 = h0 / h, r1 = h1 / h;
    const float invR1 = 1.0f / r1, invR0 = 1.0f / r0;
    const float rDiff = r0 - r1;
    const bool pp = variant_.plusPlus;
    const float e = pp ? torchExpF32(-h) - 1.0f : torchExpF32(h) - 1.0f;
    const float scale = pp ? t.sigma / s2.sigma : t.alpha / s2.alpha;
    const float c0 = pp ? t.alpha * e : t.sigma * e;
    const float c1 = pp ? t.alpha * (e / h + 1.0f) : t.sigma * (e / h - 1.0f);
    float c2 = 0.0f;
    if (variant_.heun) {
      const float hh = h * h;
      c2 = pp ? t.alpha * ((e + h) / hh - 0.5f)
              : t.sigma * ((e - h) / hh - 0.5f);
    }
    for (int64_t k = 0; k < n; ++k) {
      const float d10 = invR1 * (m1[k] - m2[k]);
      const float d11 = invR0 * (m0[k] - m2[k]);
      const float a = scale * sample[k], b = c0 * m2[k];
      const float x = a - b;
      if (!variant_.heun) { // midpoint: D1_1
        const float c = c1 * d11;
        sample[k] = pp ? x + c : x - c;
        continue;
      }
      const float p = r0 * d10, q = r1 * d11;
      const float d1 = (p - q) / rDiff;
      const float diff = d11 - d10;
      const float d2 = (2.0f * diff) / rDiff;
      const float c = c1 * d1, d = c2 * d2;
      sample[k] = pp ? (x + c) - d : (x - c) - d;
    }
  }

  int64_t numTrain_ = 1000;
  SigmaTables tables_;
  int order_ = 2;
  DpmVariant variant_;
  bool lowerOrderFinal_ = false;
  KarrasConfig karras_;
  bool finalZero_ = true;
  double lambdaMinClipped_ = 0;

  std::vector<float> sigmas_; ///< n + 1 values, the last 0 or sigma_min
  std::vector<int> orders_;   ///< get_order_list
  /// The converted model outputs of the last order_ steps, oldest first.
  std::vector<std::vector<float>> history_;
  /// The sample at the current group's first call (diffusers' self.sample).
  std::vector<float> groupStart_;
};

} // namespace

std::unique_ptr<Scheduler>
createDPMSolverSinglestepScheduler(const Config &config) {
  return std::make_unique<DPMSolverSinglestepScheduler>(config);
}

} // namespace sched
} // namespace fresco
