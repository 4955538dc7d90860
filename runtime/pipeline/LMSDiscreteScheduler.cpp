//===- LMSDiscreteScheduler.cpp - diffusers' linear multistep sampler -----===//
//
// diffusers 0.31.0 scheduling_lms_discrete.py ("k-LMS"): Euler's sigma
// schedule, and a linear multistep update over the last (up to 4)
// derivatives, each weighted by the integral of its Lagrange basis
// polynomial between this sigma and the next. diffusers integrates with
// scipy.integrate.quad on an integrand it evaluates in float32 torch
// arithmetic; QUADPACK's first 21-point Gauss-Kronrod pass meets its
// tolerance there for the step counts people use, so that pass is replayed
// (nodes, weights and summation order of dqk21), the integrand in float32 as
// torch computes it, and a coefficient quad would refine (from about 700
// steps) is refused.
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

constexpr double kWg[5] = {
    0.066671344308688137593568809893332, 0.149451349150580593145776339657697,
    0.219086362515982043995534934228163, 0.269266719309996355091226921569469,
    0.295524224714752870173892994651338};

/// QUADPACK dqk21 over [a, b], and whether dqagse stops after it with
/// scipy.integrate.quad's epsabs 1.49e-8 and diffusers' epsrel 1e-4 (it
/// otherwise subdivides, which is not replayed).
struct Kronrod21 {
  double result;
  bool firstPassAccepted;
};

template <typename F> Kronrod21 kronrod21(F f, double a, double b) {
  constexpr double epmach = 2.220446049250313e-16;  // d1mach(4)
  constexpr double uflow = 2.2250738585072014e-308; // d1mach(1)
  const double centre = 0.5 * (a + b), half = 0.5 * (b - a);
  const double dhalf = std::fabs(half);
  double fv1[10], fv2[10];
  const double fc = f(centre);
  double resg = 0.0, resk = kWgk[10] * fc, resabs = std::fabs(resk);
  for (int j = 1; j <= 5; ++j) { // the Gauss nodes, then the others
    const int i = 2 * j - 1;
    const double x = half * kXgk[i];
    fv1[i] = f(centre - x), fv2[i] = f(centre + x);
    const double sum = fv1[i] + fv2[i];
    resg += kWg[j - 1] * sum;
    resk += kWgk[i] * sum;
    resabs += kWgk[i] * (std::fabs(fv1[i]) + std::fabs(fv2[i]));
  }
  for (int j = 1; j <= 5; ++j) {
    const int i = 2 * j - 2;
    const double x = half * kXgk[i];
    fv1[i] = f(centre - x), fv2[i] = f(centre + x);
    const double sum = fv1[i] + fv2[i];
    resk += kWgk[i] * sum;
    resabs += kWgk[i] * (std::fabs(fv1[i]) + std::fabs(fv2[i]));
  }
  const double reskh = resk * 0.5;
  double resasc = kWgk[10] * std::fabs(fc - reskh);
  for (int i = 0; i < 10; ++i)
    resasc += kWgk[i] * (std::fabs(fv1[i] - reskh) + std::fabs(fv2[i] - reskh));
  const double result = resk * half;
  resabs *= dhalf;
  resasc *= dhalf;
  double abserr = std::fabs((resk - resg) * half);
  if (resasc != 0.0 && abserr != 0.0)
    abserr = resasc * std::min(1.0, std::pow(200.0 * abserr / resasc, 1.5));
  if (resabs > uflow / (50.0 * epmach))
    abserr = std::max((epmach * 50.0) * resabs, abserr);
  // dqagse: stop on a roundoff verdict, a met tolerance, or no error.
  const double errbnd = std::max(1.49e-8, 1e-4 * std::fabs(result));
  const bool roundoff = abserr <= 100.0 * epmach * resabs && abserr > errbnd;
  const bool met = abserr <= errbnd && abserr != resasc;
  return {result, roundoff || met || abserr == 0.0};
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
    karras_.enabled = readKarrasConfig(c).enabled;
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    std::vector<double> sigmas, ts; // Karras timesteps stay float64 here
    baseSchedule(n, karras_, /*roundTimesteps=*/false, sigmas, ts);
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
    const Kronrod21 k =
        kronrod21(basis, double(sigmas_[t]), double(sigmas_[t + 1]));
    check(k.firstPassAccepted, name_, ": the coefficient ", current,
          " of step ", t, " is one scipy.integrate.quad refines by ",
          "subdivision (long schedules: seen from about 700 steps), which "
          "Fresco does not replay; use fewer steps");
    return k.result;
  }

  KarrasConfig karras_;
  /// The last (up to 4) derivatives (sample - x0) / sigma, oldest first.
  std::deque<std::vector<float>> derivatives_;
};

} // namespace

std::unique_ptr<Scheduler> createLMSDiscreteScheduler(const Config &config) {
  return std::make_unique<LMSDiscreteScheduler>(config);
}

} // namespace sched
} // namespace fresco
