//===- UniPCMultistepScheduler.cpp - diffusers' UniPC ---------------------===//
//
// diffusers 0.31.0 scheduling_unipc_multistep.py: the unified predictor
// (UniP, orders 1 to solver_order) and corrector (UniC) of Zhao et al. 2023,
// B(h) = h (bh1) or e^h - 1 (bh2), on the data prediction (predict_x0, the
// default) or the noise prediction. Each step first corrects the sample the
// previous predictor produced, with the model output at that sample, then
// predicts the next one. As in DPM-Solver, the per-step coefficients are
// 0-d float32 tensors in diffusers, so they are float32 here too, and so is
// every elementwise operation; the small linear systems of orders >= 3
// (torch.linalg.solve) are solved as torch solves them on OpenBLAS.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/DPMSolverCommon.h"

#include <algorithm>
#include <cmath>

namespace fresco {
namespace sched {
namespace {

/// torch.linalg.solve(A, b) for a small row-major float32 A (k <= 4), as
/// PyTorch 1.13 computes it with OpenBLAS: LAPACK reads the row-major
/// buffer as A^T (column-major), so torch factors A^T with sgetf2's
/// left-looking elimination and solves with getrs' transposed triangular
/// solves. Each dot product and multiply-subtract is replayed in OpenBLAS's
/// order: products rounded to float32, the triangular solves' dot products
/// summed in double. Throws when A is singular, as torch does.
std::vector<float> torchSolve(const std::vector<float> &a, std::vector<float> b,
                              size_t k, const std::string &name) {
  // m holds M = A^T column-major: M(i, j) = m[j * k + i].
  std::vector<float> m = a;
  std::vector<size_t> piv(k);
  auto at = [&](size_t i, size_t j) -> float & { return m[j * k + i]; };
  for (size_t j = 0; j < k; ++j) {
    float *col = &m[j * k];
    for (size_t i = 0; i < j; ++i)
      if (piv[i] != i)
        std::swap(col[i], col[piv[i]]);
    for (size_t i = 1; i < j; ++i) { // DOTU_K over row i, stride k
      double dot = 0.0;
      size_t c = 0;
      for (; c + 1 < i; c += 2) {
        const float p0 = at(i, c) * col[c], p1 = at(i, c + 1) * col[c + 1];
        dot += double(p0 + p1);
      }
      for (; c < i; ++c)
        dot += double(at(i, c) * col[c]);
      col[i] = col[i] - float(dot);
    }
    for (size_t r = j; r < k && j > 0; ++r) { // GEMV_N's remainder rows
      float t = 0.0f;
      for (size_t c = 0; c < j; ++c)
        t += at(r, c) * col[c];
      col[r] = col[r] - t;
    }
    size_t p = j;
    for (size_t r = j + 1; r < k; ++r)
      if (std::fabs(col[r]) > std::fabs(col[p]))
        p = r;
    piv[j] = p;
    check(col[p] != 0.0f && std::isfinite(col[p]), name,
          ": the solver's linear system is singular (torch.linalg.solve "
          "fails there too); use another step count or solver_order");
    const float inv = 1.0f / col[p];
    if (p != j)
      for (size_t c = 0; c <= j; ++c)
        std::swap(at(j, c), at(p, c));
    for (size_t r = j + 1; r < k; ++r)
      col[r] = col[r] * inv;
  }
  // U^T y = b, forward; then L^T z = y, backward (unit diagonal).
  for (size_t i = 0; i < k; ++i) {
    double dot = 0.0;
    for (size_t c = 0; c < i; ++c)
      dot += double(at(c, i) * b[c]);
    if (i > 0)
      b[i] = b[i] - float(dot);
    b[i] = b[i] / at(i, i);
  }
  for (size_t i = k; i-- > 0;) {
    double dot = 0.0;
    for (size_t c = i + 1; c < k; ++c)
      dot += double(at(c, i) * b[c]);
    if (i + 1 < k)
      b[i] = b[i] - float(dot);
  }
  for (size_t i = k; i-- > 0;)
    if (piv[i] != i)
      std::swap(b[i], b[piv[i]]);
  return b;
}

/// torch.pow(x, e) on float32 for a small integer e: torch special-cases
/// 0 (ones), 1, 2 (x * x) and 3 (x * x * x).
float torchPow(float x, size_t e) {
  switch (e) {
  case 0:
    return 1.0f;
  case 1:
    return x;
  case 2:
    return x * x;
  case 3:
    return x * x * x;
  default:
    return std::pow(x, float(e));
  }
}

class UniPCMultistepScheduler final : public SchedulerBase {
public:
  explicit UniPCMultistepScheduler(const Config &c)
      : SchedulerBase("UniPCMultistepScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    tables_ = makeSigmaTables(c, numTrain_);

    // Real configs use 1 to 3; torchSolve replays torch's solver up to 4
    // unknowns, and higher orders only make its Vandermonde systems
    // ill-conditioned.
    order_ = readSolverOrder(c, 4, "1 to 4", /*aboveUnsupported=*/true);

    prediction_ = readPrediction(c, "epsilon, sample or v_prediction");
    c.requireFalse("thresholding");
    predictX0_ = c.getBool("predict_x0", true);

    const std::string solver = c.getString("solver_type", "bh2");
    if (solver == "bh1")
      bh1_ = true;
    else if (solver == "bh2" || solver == "midpoint" || solver == "heun" ||
             solver == "logrho") // diffusers maps the DPM-Solver names to bh2
      bh1_ = false;
    else
      c.invalid("solver_type", "\"" + solver + "\"",
                "bh1, bh2, midpoint, heun or logrho");

    lowerOrderFinal_ = c.getBool("lower_order_final", true);
    if (auto list = c.getDoubleList("disable_corrector")) {
      for (double v : *list) {
        if (v != std::floor(v) || std::fabs(v) > 1e9)
          c.invalid("disable_corrector", std::to_string(v),
                    "a list of step indices");
        disableCorrector_.push_back(int64_t(v));
      }
    }
    // solver_p is a scheduler object in diffusers; a config can only hold
    // null there (getDoubleList reads a non-list as an error above).
    check(!c.has("solver_p"), name_,
          ": scheduler config key 'solver_p' (a second scheduler as the "
          "predictor) is not supported by Fresco; remove it");

    karras_ = readKarrasConfig(c);
    finalSigmaMin_ = readFinalSigmaMin(c);
    // With the noise prediction, the last step to sigma 0 multiplies 0 by
    // e^inf: diffusers returns NaN latents.
    if (!predictX0_ && !finalSigmaMin_)
      fail(name_,
           ": scheduler config key 'predict_x0' = false needs "
           "'final_sigmas_type' \"sigma_min\": with \"zero\" the last step "
           "gives NaN latents in diffusers");
    // B(h) = h is infinite on that last step too, and 0 * inf is NaN.
    if (bh1_ && !finalSigmaMin_)
      fail(name_,
           ": scheduler config key 'solver_type' = \"bh1\" needs "
           "'final_sigmas_type' \"sigma_min\": with \"zero\" the last step "
           "gives NaN latents in diffusers");
    spacing_ = readTimestepSpacing(c, "linspace");
    stepsOffset_ = readStepsOffset(c);
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    std::vector<double> ts = integerTimesteps(name_, spacing_, numTrain_,
                                              numTrain_, n, stepsOffset_);
    std::vector<double> sigmas;
    float last;
    if (karras_.enabled) {
      karrasSchedule(karras_, tables_, n, sigmas, ts);
      // Unlike DPM-Solver, UniPC ends a Karras schedule on its own last
      // sigma, not the table's.
      last = finalSigmaMin_ ? float(sigmas.back()) : 0.0f;
    } else {
      sigmas = npInterpArange(ts, tables_.trainSigmas);
      last = finalSigmaMin_ ? tables_.trainSigmas[0] : 0.0f;
    }
    sigmas_.clear();
    for (double s : sigmas)
      sigmas_.push_back(float(s));
    sigmas_.push_back(last);

    timesteps_ = ts; // int64 in diffusers: integral values
    resetHistory();
    resetSteps(n);
  }

  std::vector<double> sigmas() const override {
    return std::vector<double>(sigmas_.begin(), sigmas_.end());
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    for (const auto &h : history_)
      check(h.empty() || int64_t(h.size()) == n, name_, ": step ", stepIndex,
            " has ", n, " values but earlier steps had ", h.size());
    const size_t i = size_t(stepIndex);

    std::vector<float> converted(static_cast<size_t>(n));
    // The data prediction (predict_x0) or the noise prediction, as
    // DPM-Solver++ and DPM-Solver convert them.
    DpmVariant variant;
    variant.prediction = prediction_;
    variant.plusPlus = predictX0_;
    dpmConvertModelOutput(variant, modelOutput, sample, n, sigmas_[i],
                          converted.data());

    const bool corrector =
        i > 0 && !lastSample_.empty() &&
        std::find(disableCorrector_.begin(), disableCorrector_.end(),
                  int64_t(i) - 1) == disableCorrector_.end();
    if (corrector)
      correct(converted.data(), sample, n, i);

    std::rotate(history_.begin(), history_.begin() + 1, history_.end());
    history_.back() = std::move(converted);

    int order = order_;
    if (lowerOrderFinal_)
      order = std::min<int>(order, int(timesteps_.size() - i));
    thisOrder_ = std::min(order, lowerOrderNums_ + 1);
    // A multistep prediction to a final sigma of 0 divides by r_k = 0:
    // diffusers gives inf latents at order 2 and a singular system from
    // order 3 (lower_order_final false; one kept step is first order).
    check(thisOrder_ == 1 || i + 1 < timesteps_.size() || finalSigmaMin_, name_,
          ": scheduler config key 'lower_order_final' = false with "
          "'final_sigmas_type' \"zero\" makes the last step (",
          stepIndex,
          ") a multistep prediction to sigma 0, which divides by zero in "
          "diffusers; use final_sigmas_type \"sigma_min\" or "
          "lower_order_final");
    lastSample_.assign(sample, sample + n);
    predict(sample, n, i);
    if (lowerOrderNums_ < order_)
      ++lowerOrderNums_;
  }

  /// add_noise with the begin index set: alpha_t x + sigma_t noise at
  /// sigmas[stepIndex], float32.
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override {
    checkStepIndex(stepIndex, "addNoise");
    dpmAddNoise(sigmas_[size_t(stepIndex)], original, noise, out, n);
  }

  /// set_begin_index: the first kept step has no model outputs and no last
  /// sample (no corrector; first order), as diffusers leaves them after
  /// set_timesteps.
  void setBeginIndex(int stepIndex) override {
    checkStepIndex(stepIndex, "setBeginIndex");
    resetHistory();
    nextStep_ = stepIndex;
  }

private:
  void resetHistory() {
    history_.assign(size_t(order_), {});
    lastSample_.clear();
    lowerOrderNums_ = 0;
    thisOrder_ = 0;
  }

  /// What the predictor and the corrector share for a step from sigma index
  /// `from` to `to` at `order`, with the earlier outputs at `from` - k:
  /// the first-order update's coefficients, the ratios r_k, and the system
  /// R rhos = b (R's rows the powers 0..order-1 of (r_1, ..., 1)).
  struct Update {
    float stateScale;       // sigma_t / sigma_s0 (or alpha_t / alpha_s0)
    float outScale;         // alpha_t * h_phi_1 (or sigma_t * h_phi_1)
    float resScale;         // alpha_t * B(h) (or sigma_t * B(h))
    std::vector<float> rks; // r_1 .. r_{order-1}, then 1
    std::vector<float> r, b;
  };

  Update coefficients(size_t to, size_t from, int order) const {
    const AlphaSigma t = alphaSigma(sigmas_[to]);
    const AlphaSigma s0 = alphaSigma(sigmas_[from]);
    const float h = t.lambda - s0.lambda;
    Update u;
    for (int k = 1; k < order; ++k) {
      const AlphaSigma sk = alphaSigma(sigmas_[from - size_t(k)]);
      u.rks.push_back((sk.lambda - s0.lambda) / h);
    }
    u.rks.push_back(1.0f);

    const float hh = predictX0_ ? -h : h;
    const float hPhi1 = torchExpm1F32(hh);
    float hPhiK = hPhi1 / hh - 1.0f;
    const float bh = bh1_ ? hh : torchExpm1F32(hh);
    int64_t factorial = 1;
    const size_t k = size_t(order);
    u.r.assign(k * k, 0.0f);
    for (size_t row = 0; row < k; ++row) {
      for (size_t col = 0; col < k; ++col)
        u.r[row * k + col] = torchPow(u.rks[col], row);
      const float scaled = hPhiK * float(factorial);
      u.b.push_back(scaled / bh);
      factorial *= int64_t(row) + 2;
      hPhiK = hPhiK / hh - float(1.0 / double(factorial));
    }
    if (predictX0_) {
      u.stateScale = t.sigma / s0.sigma;
      u.outScale = t.alpha * hPhi1;
      u.resScale = t.alpha * bh;
    } else {
      u.stateScale = t.alpha / s0.alpha;
      u.outScale = t.sigma * hPhi1;
      u.resScale = t.sigma * bh;
    }
    return u;
  }

  /// UniP (multistep_uni_p_bh_update) at step i, order thisOrder_, from
  /// the history just updated with this step's output.
  void predict(float *sample, int64_t n, size_t i) const {
    const int order = thisOrder_;
    const Update u = coefficients(i + 1, i, order);
    const size_t last = history_.size() - 1;
    const float *m0 = history_[last].data();
    // rhos_p: 0.5 at order 2, the (order-1)-system beyond.
    std::vector<float> rhos;
    if (order == 2) {
      rhos = {0.5f};
    } else if (order > 2) {
      const size_t k = size_t(order - 1);
      std::vector<float> r(k * k), b(u.b.begin(), u.b.begin() + long(k));
      for (size_t row = 0; row < k; ++row)
        for (size_t col = 0; col < k; ++col)
          r[row * k + col] = u.r[row * size_t(order) + col];
      rhos = torchSolve(r, b, k, name_);
    }
    for (int64_t e = 0; e < n; ++e) {
      const float a = u.stateScale * sample[e], b = u.outScale * m0[e];
      const float x = a - b;
      if (rhos.empty()) {
        sample[e] = x;
        continue;
      }
      float res = 0.0f;
      for (size_t k = 0; k < rhos.size(); ++k) {
        const float d = (history_[last - k - 1][size_t(e)] - m0[e]) / u.rks[k];
        res = k == 0 ? rhos[k] * d : res + rhos[k] * d;
      }
      const float c = u.resScale * res;
      sample[e] = x - c;
    }
  }

  /// UniC (multistep_uni_c_bh_update) at step i: corrects `sample`, the
  /// previous predictor's result, with `converted`, the model's output
  /// there, at the previous step's order; the history is not updated yet.
  void correct(const float *converted, float *sample, int64_t n,
               size_t i) const {
    const int order = thisOrder_;
    const Update u = coefficients(i, i - 1, order);
    const size_t last = history_.size() - 1;
    const float *m0 = history_[last].data();
    const std::vector<float> rhos =
        order == 1 ? std::vector<float>{0.5f}
                   : torchSolve(u.r, u.b, size_t(order), name_);
    const float rhoT = rhos.back();
    for (int64_t e = 0; e < n; ++e) {
      const float a = u.stateScale * lastSample_[size_t(e)],
                  b = u.outScale * m0[e];
      const float x = a - b;
      float res = 0.0f;
      for (size_t k = 0; k + 1 < rhos.size(); ++k) {
        const float d = (history_[last - k - 1][size_t(e)] - m0[e]) / u.rks[k];
        res = k == 0 ? rhos[k] * d : res + rhos[k] * d;
      }
      const float dT = converted[e] - m0[e];
      const float t = rhoT * dT;
      const float total = rhos.size() > 1 ? res + t : t;
      const float c = u.resScale * total;
      sample[e] = x - c;
    }
  }

  int64_t numTrain_ = 1000;
  SigmaTables tables_;
  int order_ = 2;
  Prediction prediction_ = Prediction::Epsilon;
  bool predictX0_ = true;
  bool bh1_ = false;
  bool lowerOrderFinal_ = true;
  std::vector<int64_t> disableCorrector_;
  KarrasConfig karras_;
  bool finalSigmaMin_ = false;
  std::string spacing_;
  int64_t stepsOffset_ = 0;

  std::vector<float> sigmas_; ///< n + 1 values, the last 0 or sigma_min
  /// The converted model outputs of the last order_ steps, oldest first.
  std::vector<std::vector<float>> history_;
  /// The sample the last predictor started from (diffusers' last_sample).
  std::vector<float> lastSample_;
  int lowerOrderNums_ = 0;
  int thisOrder_ = 0; ///< the order of the last predictor
};

} // namespace

std::unique_ptr<Scheduler> createUniPCMultistepScheduler(const Config &config) {
  return std::make_unique<UniPCMultistepScheduler>(config);
}

} // namespace sched
} // namespace fresco
