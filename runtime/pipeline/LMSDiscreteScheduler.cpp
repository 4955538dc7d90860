//===- LMSDiscreteScheduler.cpp - diffusers' linear multistep sampler -----===//
//
// diffusers 0.31.0 scheduling_lms_discrete.py ("k-LMS"): Euler's sigma
// schedule, and a linear multistep update over the last (up to 4)
// derivatives, each weighted by the integral of its Lagrange basis
// polynomial between this sigma and the next. diffusers integrates with
// scipy.integrate.quad on an integrand it evaluates in float32 torch
// arithmetic; QUADPACK's first 21-point Gauss-Kronrod pass already meets
// its tolerance there, so that pass is replayed (nodes, weights and
// summation order of dqk21), the integrand in float32 as torch computes it.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <algorithm>
#include <cmath>
#include <deque>

namespace fresco {
namespace sched {
namespace {

// QUADPACK dqk21: the Kronrod abscissae (odd positions are the 10-point
// Gauss rule's) and weights; the centre is the last.
constexpr double kXgk[11] = {0.995657163025808080735527280689003,
                             0.973906528517171720077964012084452,
                             0.930157491355708226001207180059508,
                             0.865063366688984510732096688423493,
                             0.780817726586416897063717578345042,
                             0.679409568299024406234327365114874,
                             0.562757134668604683339000099272694,
                             0.433395394129247190799265943165784,
                             0.294392862701460198131126603103866,
                             0.148874338981631210884826001129720,
                             0.0};
constexpr double kWgk[11] = {
    0.011694638867371874278064396062192, 0.032558162307964727478818972459390,
    0.054755896574351996031381300244580, 0.075039674810919952767043140916190,
    0.093125454583697605535065465083366, 0.109387158802297641899210590325805,
    0.123491976262065851077208632947475, 0.134709217311473325928054001771707,
    0.142775938577060080797094273138717, 0.147739104901338491374841515972068,
    0.149445554002916905664936468389821};

/// dqk21's Kronrod sum times the half length: the integral of f over
/// [a, b] (the value quad returns when its first pass meets epsrel 1e-4).
template <typename F> double kronrod21(F f, double a, double b) {
  const double centre = 0.5 * (a + b), half = 0.5 * (b - a);
  double resk = kWgk[10] * f(centre);
  for (int j = 1; j <= 5; ++j) { // the Gauss nodes, then the others
    const int i = 2 * j - 1;
    const double x = half * kXgk[i];
    resk += kWgk[i] * (f(centre - x) + f(centre + x));
  }
  for (int j = 1; j <= 5; ++j) {
    const int i = 2 * j - 2;
    const double x = half * kXgk[i];
    resk += kWgk[i] * (f(centre - x) + f(centre + x));
  }
  return resk * half;
}

class LMSDiscreteScheduler final : public EulerFamilyBase {
public:
  explicit LMSDiscreteScheduler(const Config &c)
      : EulerFamilyBase("LMSDiscreteScheduler", c,
                        "epsilon, v_prediction or sample",
                        /*originalSampleAlias=*/false,
                        /*readRescaleZeroSnr=*/false) {
    // The Karras range is the schedule's own: LMS reads no sigma_min /
    // sigma_max.
    karras_ = readKarrasConfig(c).enabled;
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    std::vector<float> grid = timestepGrid(n);
    std::vector<double> sigmas = interpolatedSigmas(grid);
    std::vector<double> ts(grid.begin(), grid.end());
    if (karras_) {
      sigmas = karrasSigmas(sigmas.back(), sigmas.front(), n);
      ts.clear(); // float64 in diffusers here
      for (double s : sigmas)
        ts.push_back(sigmaToT(s, tables_.logSigmas));
    }
    sigmas_.clear();
    for (double s : sigmas)
      sigmas_.push_back(float(s));
    sigmas_.push_back(0.0f);
    timesteps_ = ts;
    derivatives_.clear();
    resetSteps(n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    for (const auto &d : derivatives_)
      check(int64_t(d.size()) == n, name_, ": step ", stepIndex, " has ", n,
            " values but earlier steps had ", d.size());
    const size_t i = size_t(stepIndex);
    const float sigma = sigmas_[i];
    const EulerDenoised denoised(prediction_, sigma);
    std::vector<float> derivative(static_cast<size_t>(n));
    for (int64_t e = 0; e < n; ++e) {
      const float s = sample[e];
      const float diff = s - denoised(s, modelOutput[e]);
      derivative[size_t(e)] = diff / sigma;
    }
    derivatives_.push_back(std::move(derivative));
    if (derivatives_.size() > kOrder)
      derivatives_.pop_front();
    // The coefficients of the order the step index allows; zip() pairs them
    // with the derivatives there are (fewer after set_begin_index).
    const int order = std::min<int>(stepIndex + 1, int(kOrder));
    std::vector<float> coeffs;
    for (int current = 0; current < order; ++current)
      coeffs.push_back(float(coefficient(order, i, current)));
    const size_t used = std::min(coeffs.size(), derivatives_.size());
    for (int64_t e = 0; e < n; ++e) {
      float sum = 0.0f;
      for (size_t k = 0; k < used; ++k) {
        const float term =
            coeffs[k] * derivatives_[derivatives_.size() - 1 - k][size_t(e)];
        sum = k == 0 ? term : sum + term;
      }
      sample[e] = sample[e] + sum;
    }
  }

  /// set_begin_index: no derivatives yet (set_timesteps cleared them), but
  /// the order still counts from the schedule's start, as in diffusers.
  void setBeginIndex(int stepIndex) override {
    EulerFamilyBase::setBeginIndex(stepIndex);
    derivatives_.clear();
  }

private:
  static constexpr size_t kOrder = 4; ///< step()'s order argument

  /// get_lms_coefficient(order, t, current): the integral over [sigma_t,
  /// sigma_t+1] of the Lagrange basis polynomial of sigma_{t-current} on
  /// the nodes sigma_t .. sigma_{t-order+1}, evaluated in float32.
  double coefficient(int order, size_t t, int current) const {
    auto basis = [&](double tau) -> double {
      if (order == 1)
        return 1.0; // the Python float: no tensor factor
      float prod = 1.0f;
      for (int k = 0; k < order; ++k) {
        if (k == current)
          continue;
        const float num = float(tau) - sigmas_[t - size_t(k)];
        const float den = sigmas_[t - size_t(current)] - sigmas_[t - size_t(k)];
        const float q = num / den;
        prod = prod * q;
      }
      return double(prod);
    };
    return kronrod21(basis, double(sigmas_[t]), double(sigmas_[t + 1]));
  }

  bool karras_ = false;
  /// The last (up to 4) derivatives (sample - x0) / sigma, oldest first.
  std::deque<std::vector<float>> derivatives_;
};

} // namespace

std::unique_ptr<Scheduler> createLMSDiscreteScheduler(const Config &config) {
  return std::make_unique<LMSDiscreteScheduler>(config);
}

} // namespace sched
} // namespace fresco
