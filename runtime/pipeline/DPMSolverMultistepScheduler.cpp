//===- DPMSolverMultistepScheduler.cpp - diffusers' DPM-Solver(++) --------===//
//
// diffusers 0.31.0 scheduling_dpmsolver_multistep.py: DPM-Solver++ (the
// default; "2M" with solver_order 2) and the older DPM-Solver, orders 1 to
// 3, midpoint or heun second-order updates, and their SDE variants (orders
// 1 and 2; "DPM++ 2M SDE"), which add fresh noise every step (Fresco's
// stepNoise, or torch.randn's with --generator torch). Per-step
// coefficients are
// 0-d float32 tensors in diffusers (alpha, sigma, lambda, h, exp(-h)), so
// they are float32 here too, and so is every elementwise operation.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace fresco {
namespace sched {
namespace {

class DPMSolverMultistepScheduler final : public SchedulerBase {
public:
  explicit DPMSolverMultistepScheduler(const Config &c)
      : SchedulerBase("DPMSolverMultistepScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    tables_ = makeSigmaTables(c, numTrain_);

    // Orders above 3 run the third-order update in diffusers too.
    order_ = int(c.getInt("solver_order", 2));
    if (order_ < 1 || order_ > 16)
      c.invalid("solver_order", std::to_string(order_), "1, 2 or 3");

    prediction_ = readPrediction(c, "epsilon, sample or v_prediction");
    c.requireFalse("thresholding");

    const std::string algo = c.getString("algorithm_type", "dpmsolver++");
    if (algo == "dpmsolver++" || algo == "deis") // diffusers maps deis to ++
      plusPlus_ = true;
    else if (algo == "dpmsolver")
      plusPlus_ = false;
    else if (algo == "sde-dpmsolver++" || algo == "sde-dpmsolver")
      plusPlus_ = algo == "sde-dpmsolver++", sde_ = true;
    else
      c.invalid("algorithm_type", "\"" + algo + "\"",
                "dpmsolver++, dpmsolver, sde-dpmsolver++ or sde-dpmsolver");

    // diffusers 0.31's third-order update has no SDE branch: its third
    // step fails (x_t unbound).
    if (sde_ && order_ >= 3)
      c.invalid("solver_order", std::to_string(order_),
                "1 or 2 with algorithm_type \"" + algo +
                    "\" (diffusers has no third-order SDE update)");

    const std::string solver = c.getString("solver_type", "midpoint");
    if (solver == "heun")
      heun_ = true;
    else if (solver == "midpoint" || solver == "logrho" || solver == "bh1" ||
             solver == "bh2") // diffusers maps the UniPC/DEIS names
      heun_ = false;
    else
      c.invalid("solver_type", "\"" + solver + "\"", "midpoint or heun");

    lowerOrderFinal_ = c.getBool("lower_order_final", true);
    eulerAtFinal_ = c.getBool("euler_at_final", false);

    // sigma_min and sigma_max are not DPM-Solver keys, but from_config keeps
    // them and the Karras conversion reads them when present.
    karras_ = readKarrasConfig(c);
    c.requireFalse("use_lu_lambdas");

    finalZero_ = !readFinalSigmaMin(c);
    // diffusers checks the configured name, so "deis" (run as dpmsolver++)
    // is refused here too.
    if (algo != "dpmsolver++" && algo != "sde-dpmsolver++" && finalZero_)
      fail(name_,
           ": scheduler config key 'final_sigmas_type' = \"zero\" is "
           "not valid with algorithm_type \"",
           algo, "\" (use \"sigma_min\")");

    lambdaMinClipped_ = c.getDouble("lambda_min_clipped",
                                    -std::numeric_limits<double>::infinity());
    const std::string variance = c.getString("variance_type", "");
    if (variance == "learned" || variance == "learned_range")
      c.unsupported("variance_type", "\"" + variance + "\"",
                    "null; split learned-sigma channels off the model output "
                    "before the scheduler");

    spacing_ = readTimestepSpacing(c, "linspace");
    stepsOffset_ = readStepsOffset(c);
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    // lambda_min_clipped cuts the noisiest end: searchsorted over the
    // ascending flipped lambdas, the bound rounded to float32 as torch does.
    const float bound = float(lambdaMinClipped_);
    int64_t clipped = 0;
    for (int64_t i = numTrain_ - 1; i >= 0; --i) {
      const float a = std::sqrt(tables_.alphasCumprod[size_t(i)]);
      const float s = std::sqrt(1.0f - tables_.alphasCumprod[size_t(i)]);
      const float lambda = torchLogF32(a) - torchLogF32(s);
      if (lambda < bound)
        ++clipped;
      else
        break;
    }
    const int64_t last = numTrain_ - clipped;

    std::vector<double> ts =
        integerTimesteps(name_, spacing_, numTrain_, last, n, stepsOffset_);
    std::vector<double> sigmas;
    if (karras_.enabled)
      karrasSchedule(karras_, tables_, n, sigmas, ts);
    else
      sigmas = npInterpArange(ts, tables_.trainSigmas);
    sigmas_.clear();
    for (double s : sigmas)
      sigmas_.push_back(float(s));
    sigmas_.push_back(finalZero_ ? 0.0f : tables_.trainSigmas[0]);

    timesteps_ = ts; // int64 in diffusers: integral values
    history_.assign(size_t(order_), {});
    lowerOrderNums_ = 0;
    resetSteps(n);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const size_t i = size_t(stepIndex);
    const size_t count = timesteps_.size();
    const bool lowerOrderFinal =
        i == count - 1 &&
        (eulerAtFinal_ || (lowerOrderFinal_ && count < 15) || finalZero_);
    const bool lowerOrderSecond =
        i + 2 == count && lowerOrderFinal_ && count < 15;

    for (const auto &h : history_)
      check(h.empty() || int64_t(h.size()) == n, name_, ": step ", stepIndex,
            " has ", n, " values but earlier steps had ", h.size());
    // convert_model_output, into the newest history slot.
    std::rotate(history_.begin(), history_.begin() + 1, history_.end());
    std::vector<float> &m0 = history_.back();
    m0.resize(size_t(n));
    convertModelOutput(modelOutput, sample, n, sigmas_[i], m0.data());
    std::vector<float> noise;
    if (sde_)
      noise = drawStepNoise(name_, stepNoise_, n, stepIndex,
                            /*torchF32=*/true); // dtype=torch.float32 there

    if (order_ == 1 || lowerOrderNums_ < 1 || lowerOrderFinal)
      firstOrder(m0.data(), sample, n, i, noise.data());
    else if (order_ == 2 || lowerOrderNums_ < 2 || lowerOrderSecond)
      secondOrder(sample, n, i, noise.data());
    else
      thirdOrder(sample, n, i);
    if (lowerOrderNums_ < order_)
      ++lowerOrderNums_;
  }

  bool drawsStepNoise() const override { return sde_; }

  /// add_noise with the begin index set (image-to-image): alpha_t x +
  /// sigma_t noise at sigmas[stepIndex] (_sigma_to_alpha_sigma_t), float32.
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override {
    checkStepIndex(stepIndex, "addNoise");
    const AlphaSigma as = alphaSigma(sigmas_[size_t(stepIndex)]);
    for (int64_t i = 0; i < n; ++i) {
      const float x = as.alpha * original[i], e = as.sigma * noise[i];
      out[i] = x + e;
    }
  }

  /// set_begin_index: diffusers' step_index starts there with no model
  /// outputs yet (lower_order_nums 0), so the first kept step is first
  /// order and the history builds up from it; the final-step rules still
  /// look at the whole schedule, as they do there.
  void setBeginIndex(int stepIndex) override {
    checkStepIndex(stepIndex, "setBeginIndex");
    history_.assign(size_t(order_), {});
    lowerOrderNums_ = 0;
    nextStep_ = stepIndex;
  }

private:
  void convertModelOutput(const float *mo, const float *sample, int64_t n,
                          float sigma, float *out) const {
    const AlphaSigma as = alphaSigma(sigma);
    for (int64_t k = 0; k < n; ++k) {
      const float s = sample[k], m = mo[k];
      float r = 0;
      if (plusPlus_) { // the data prediction x0
        switch (prediction_) {
        case Prediction::Epsilon: {
          const float u = as.sigma * m;
          r = (s - u) / as.alpha;
          break;
        }
        case Prediction::Sample:
          r = m;
          break;
        case Prediction::V: {
          const float a = as.alpha * s, b = as.sigma * m;
          r = a - b;
          break;
        }
        }
      } else { // the noise prediction epsilon
        switch (prediction_) {
        case Prediction::Epsilon:
          r = m;
          break;
        case Prediction::Sample: {
          const float u = as.alpha * m;
          r = (s - u) / as.sigma;
          break;
        }
        case Prediction::V: {
          const float a = as.alpha * m, b = as.sigma * s;
          r = a + b;
          break;
        }
        }
      }
      out[k] = r;
    }
  }

  /// The SDE variants' coefficients at one step: x_t = cs x + c0 D0 (+ c1
  /// D1) + cn noise for sde-dpmsolver++; x_t = cs x - c0 D0 - c1 D1 + cn
  /// noise for sde-dpmsolver (c1 = c0 / 2 of the first-order c0 at midpoint).
  struct SdeCoefficients {
    float cs, c0, c1, cn;
  };

  SdeCoefficients sde(const AlphaSigma &t, const AlphaSigma &s, float h) const {
    SdeCoefficients k;
    if (plusPlus_) {
      const float e = torchExpF32(-h), e2 = torchExpF32(-2.0f * h);
      k.cs = (t.sigma / s.sigma) * e;
      const float oneMinus = 1.0f - e2;
      k.c0 = t.alpha * oneMinus;
      k.c1 = heun_ ? t.alpha * (oneMinus / (-2.0f * h) + 1.0f) : 0.5f * k.c0;
      k.cn = t.sigma * std::sqrt(oneMinus);
    } else {
      const float e = torchExpF32(h) - 1.0f, e2 = torchExpF32(2.0f * h) - 1.0f;
      k.cs = t.alpha / s.alpha;
      const float c = t.sigma * e;
      k.c0 = 2.0f * c;
      k.c1 = heun_ ? 2.0f * (t.sigma * (e / h - 1.0f)) : c;
      k.cn = t.sigma * std::sqrt(e2);
    }
    return k;
  }

  void firstOrder(const float *m0, float *sample, int64_t n, size_t i,
                  const float *noise) const {
    const AlphaSigma t = alphaSigma(sigmas_[i + 1]);
    const AlphaSigma s = alphaSigma(sigmas_[i]);
    const float h = t.lambda - s.lambda;
    if (sde_) {
      const SdeCoefficients k = sde(t, s, h);
      for (int64_t e = 0; e < n; ++e) {
        const float a = k.cs * sample[e], b = k.c0 * m0[e];
        const float x = plusPlus_ ? a + b : a - b;
        const float c = k.cn * noise[e];
        sample[e] = x + c;
      }
      return;
    }
    float cs, cm;
    if (plusPlus_) {
      cs = t.sigma / s.sigma;
      cm = t.alpha * (torchExpF32(-h) - 1.0f);
    } else {
      cs = t.alpha / s.alpha;
      cm = t.sigma * (torchExpF32(h) - 1.0f);
    }
    for (int64_t k = 0; k < n; ++k) {
      const float a = cs * sample[k], b = cm * m0[k];
      sample[k] = a - b;
    }
  }

  void secondOrder(float *sample, int64_t n, size_t i,
                   const float *noise) const {
    const AlphaSigma t = alphaSigma(sigmas_[i + 1]);
    const AlphaSigma s0 = alphaSigma(sigmas_[i]);
    const AlphaSigma s1 = alphaSigma(sigmas_[i - 1]);
    const float *m0 = history_[history_.size() - 1].data();
    const float *m1 = history_[history_.size() - 2].data();
    const float h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda;
    const float r0 = h0 / h;
    const float invR0 = 1.0f / r0;
    if (sde_) {
      const SdeCoefficients k = sde(t, s0, h);
      for (int64_t e = 0; e < n; ++e) {
        const float diff = m0[e] - m1[e];
        const float d1 = invR0 * diff;
        const float a = k.cs * sample[e], b = k.c0 * m0[e];
        const float x = plusPlus_ ? a + b : a - b;
        const float c = k.c1 * d1;
        const float y = plusPlus_ ? x + c : x - c;
        const float d = k.cn * noise[e];
        sample[e] = y + d;
      }
      return;
    }
    float cs, c0, c1;
    bool addD1; // x_t = cs*x - c0*D0 (+|-) c1*D1
    if (plusPlus_) {
      const float e = torchExpF32(-h) - 1.0f;
      cs = t.sigma / s0.sigma;
      c0 = t.alpha * e;
      if (heun_) {
        c1 = t.alpha * (e / h + 1.0f);
        addD1 = true;
      } else {
        c1 = 0.5f * c0;
        addD1 = false;
      }
    } else {
      const float e = torchExpF32(h) - 1.0f;
      cs = t.alpha / s0.alpha;
      c0 = t.sigma * e;
      c1 = heun_ ? t.sigma * (e / h - 1.0f) : 0.5f * c0;
      addD1 = false;
    }
    for (int64_t k = 0; k < n; ++k) {
      const float diff = m0[k] - m1[k];
      const float d1 = invR0 * diff;
      const float a = cs * sample[k], b = c0 * m0[k];
      const float x = a - b;
      const float c = c1 * d1;
      sample[k] = addD1 ? x + c : x - c;
    }
  }

  void thirdOrder(float *sample, int64_t n, size_t i) const {
    const AlphaSigma t = alphaSigma(sigmas_[i + 1]);
    const AlphaSigma s0 = alphaSigma(sigmas_[i]);
    const AlphaSigma s1 = alphaSigma(sigmas_[i - 1]);
    const AlphaSigma s2 = alphaSigma(sigmas_[i - 2]);
    const size_t last = history_.size() - 1;
    const float *m0 = history_[last].data();
    const float *m1 = history_[last - 1].data();
    const float *m2 = history_[last - 2].data();
    const float h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda,
                h1 = s1.lambda - s2.lambda;
    const float r0 = h0 / h, r1 = h1 / h;
    const float invR0 = 1.0f / r0, invR1 = 1.0f / r1;
    const float rSum = r0 + r1;
    const float w1 = r0 / rSum, invRSum = 1.0f / rSum;
    const float hh = h * h;
    float cs, c0, c1, c2;
    if (plusPlus_) {
      const float e = torchExpF32(-h) - 1.0f;
      cs = t.sigma / s0.sigma;
      c0 = t.alpha * e;
      c1 = t.alpha * (e / h + 1.0f);
      c2 = t.alpha * ((e + h) / hh - 0.5f);
    } else {
      const float e = torchExpF32(h) - 1.0f;
      cs = t.alpha / s0.alpha;
      c0 = t.sigma * e;
      c1 = t.sigma * (e / h - 1.0f);
      c2 = t.sigma * ((e - h) / hh - 0.5f);
    }
    for (int64_t k = 0; k < n; ++k) {
      const float dA = m0[k] - m1[k], dB = m1[k] - m2[k];
      const float d10 = invR0 * dA, d11 = invR1 * dB;
      const float dd = d10 - d11;
      const float w = w1 * dd;
      const float d1 = d10 + w;
      const float d2 = invRSum * dd;
      const float a = cs * sample[k], b = c0 * m0[k];
      const float x = a - b;
      const float c = c1 * d1, d = c2 * d2;
      sample[k] = plusPlus_ ? (x + c) - d : (x - c) - d;
    }
  }

  int64_t numTrain_ = 1000;
  SigmaTables tables_;
  int order_ = 2;
  Prediction prediction_ = Prediction::Epsilon;
  bool plusPlus_ = true;
  bool sde_ = false; ///< sde-dpmsolver(++): fresh noise every step
  bool heun_ = false;
  bool lowerOrderFinal_ = true;
  bool eulerAtFinal_ = false;
  KarrasConfig karras_;
  bool finalZero_ = true;
  double lambdaMinClipped_ = 0;
  std::string spacing_;
  int64_t stepsOffset_ = 0;

  std::vector<float> sigmas_; ///< n + 1 values, the last 0 or sigma_min
  /// The converted model outputs of the last order_ steps, oldest first.
  std::vector<std::vector<float>> history_;
  int lowerOrderNums_ = 0;
};

} // namespace

std::unique_ptr<Scheduler>
createDPMSolverMultistepScheduler(const Config &config) {
  return std::make_unique<DPMSolverMultistepScheduler>(config);
}

} // namespace sched
} // namespace fresco
