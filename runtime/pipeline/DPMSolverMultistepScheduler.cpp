//===- DPMSolverMultistepScheduler.cpp - diffusers' DPM-Solver(++) --------===//
//
// diffusers 0.31.0 scheduling_dpmsolver_multistep.py: DPM-Solver++ (the
// default; "2M" with solver_order 2) and the older DPM-Solver, orders 1 to
// 3, midpoint or heun second-order updates, and their SDE variants (orders
// 1 and 2; "DPM++ 2M SDE"), which add fresh noise every step (Fresco's
// stepNoise, or torch.randn's with --generator torch); and the EDM class
// built on the same steps. Per-step coefficients are 0-d float32 tensors in
// diffusers (alpha, sigma, lambda, h, exp(-h)), so they are float32 here
// too, and so is every elementwise operation.
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

class DPMSolverMultistepScheduler : public SchedulerBase {
public:
  explicit DPMSolverMultistepScheduler(const Config &c)
      : SchedulerBase("DPMSolverMultistepScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    tables_ = makeSigmaTables(c, numTrain_);
    readSolverKeys(c, readDpmVariant(c, /*singlestep=*/false));

    // sigma_min and sigma_max are not DPM-Solver keys, but from_config keeps
    // them and the Karras conversion reads them when present.
    karras_ = readKarrasConfig(c);
    c.requireFalse("use_lu_lambdas");

    finalZero_ = readDpmFinalZero(c, name_);
    lambdaMinClipped_ = c.getDouble("lambda_min_clipped",
                                    -std::numeric_limits<double>::infinity());

    spacing_ = readTimestepSpacing(c, "linspace");
    stepsOffset_ = readStepsOffset(c);
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    const int64_t clipped = lambdaClippedCount(tables_, lambdaMinClipped_);
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
    restart(n);
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
    dpmConvertModelOutput(variant_, modelOutput, sample, n, sigmas_[i],
                          m0.data());
    std::vector<float> noise;
    if (variant_.sde)
      noise = drawStepNoise(name_, stepNoise_, n, stepIndex, noiseF32_);

    if (order_ == 1 || lowerOrderNums_ < 1 || lowerOrderFinal)
      firstOrder(m0.data(), sample, n, i, noise.data());
    else if (order_ == 2 || lowerOrderNums_ < 2 || lowerOrderSecond)
      secondOrder(sample, n, i, noise.data());
    else {
      // diffusers 0.31's third-order update has no SDE branch.
      check(!variant_.sde, name_, ": step ", stepIndex,
            " would take a third-order SDE update, which diffusers 0.31 does "
            "not have (its step fails there, x_t unbound); use solver_order "
            "2 or fewer steps");
      thirdOrder(sample, n, i);
    }
    if (lowerOrderNums_ < order_)
      ++lowerOrderNums_;
  }

  bool drawsStepNoise() const override { return variant_.sde; }

  /// add_noise with the begin index set (image-to-image): alpha_t x +
  /// sigma_t noise at sigmas[stepIndex] (_sigma_to_alpha_sigma_t), float32.
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override {
    checkStepIndex(stepIndex, "addNoise");
    dpmAddNoise(sigmas_[size_t(stepIndex)], original, noise, out, n);
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

protected:
  /// For a class that reads its own schedule keys (EDM).
  explicit DPMSolverMultistepScheduler(std::string name)
      : SchedulerBase(std::move(name)) {}

  /// solver_order, the step rules' keys and the variant.
  void readSolverKeys(const Config &c, DpmVariant variant) {
    // Orders above 3 run the third-order update in diffusers too.
    order_ = readSolverOrder(c, 16, "1, 2 or 3", /*aboveUnsupported=*/false);
    variant_ = std::move(variant);
    lowerOrderFinal_ = c.getBool("lower_order_final", true);
    eulerAtFinal_ = c.getBool("euler_at_final", false);
  }

  /// What set_timesteps resets once sigmas_ and timesteps_ hold n steps.
  void restart(int n) {
    history_.assign(size_t(order_), {});
    lowerOrderNums_ = 0;
    resetSteps(n);
  }

  DpmVariant variant_;
  bool finalZero_ = true;
  /// The SDE noise in float32 (dtype=torch.float32 there), not the
  /// generators' dtype.
  bool noiseF32_ = true;
  std::vector<float> sigmas_; ///< n + 1 values, the last 0 or sigma_min

private:
  void firstOrder(const float *m0, float *sample, int64_t n, size_t i,
                  const float *noise) const {
    dpmFirstOrder(variant_, sigmas_[i + 1], sigmas_[i], m0, sample, n, noise);
  }

  void secondOrder(float *sample, int64_t n, size_t i,
                   const float *noise) const {
    const AlphaSigma t = dpmAlphaSigma(variant_, sigmas_[i + 1]);
    const AlphaSigma s0 = dpmAlphaSigma(variant_, sigmas_[i]);
    const AlphaSigma s1 = dpmAlphaSigma(variant_, sigmas_[i - 1]);
    const float *m0 = history_[history_.size() - 1].data();
    const float *m1 = history_[history_.size() - 2].data();
    const float h = t.lambda - s0.lambda, h0 = s0.lambda - s1.lambda;
    dpmSecondOrder(variant_, sigmas_[i + 1], sigmas_[i], h, h0 / h, m0, m0, m1,
                   sample, n, noise);
  }

  void thirdOrder(float *sample, int64_t n, size_t i) const {
    const AlphaSigma t = dpmAlphaSigma(variant_, sigmas_[i + 1]);
    const AlphaSigma s0 = dpmAlphaSigma(variant_, sigmas_[i]);
    const AlphaSigma s1 = dpmAlphaSigma(variant_, sigmas_[i - 1]);
    const AlphaSigma s2 = dpmAlphaSigma(variant_, sigmas_[i - 2]);
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
    if (variant_.plusPlus) {
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
      sample[k] = variant_.plusPlus ? (x + c) - d : (x - c) - d;
    }
  }

  int64_t numTrain_ = 1000;
  SigmaTables tables_;
  int order_ = 2;
  bool lowerOrderFinal_ = true;
  bool eulerAtFinal_ = false;
  KarrasConfig karras_;
  double lambdaMinClipped_ = 0;
  std::string spacing_;
  int64_t stepsOffset_ = 0;

  /// The converted model outputs of the last order_ steps, oldest first.
  std::vector<std::vector<float>> history_;
  int lowerOrderNums_ = 0;
};

/// diffusers 0.31.0 scheduling_edm_dpmsolver_multistep.py: the same
/// DPM-Solver++ steps (orders 1 to 3, midpoint or heun, sde-dpmsolver++)
/// over the EDM sigma grid with alpha_t = 1, the model's input, timestep and
/// output preconditioned as EDMCommon.h says (Playground v2.5's sampler).
class EDMDPMSolverMultistepScheduler final
    : public DPMSolverMultistepScheduler {
public:
  explicit EDMDPMSolverMultistepScheduler(const Config &c)
      : DPMSolverMultistepScheduler("EDMDPMSolverMultistepScheduler") {
    readSolverKeys(c, readDpmVariant(c, /*singlestep=*/false, /*edm=*/true));
    finalZero_ = readDpmFinalZero(c, name_);
    noiseF32_ = false; // randn_tensor(dtype=model_output.dtype) here
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    const EdmConfig &e = *variant_.edm;
    edmSchedule(e, n, name_, finalZero_ ? 0.0f : float(e.sigmaMin), sigmas_,
                timesteps_);
    restart(n);
  }

  std::vector<double> sigmas() const override {
    return {sigmas_.begin(), sigmas_.end()};
  }

  double initNoiseSigma() const override {
    return edmInitNoiseSigma(*variant_.edm);
  }

  void scaleModelInput(float *sample, int64_t n, int stepIndex) override {
    checkStepIndex(stepIndex, "scaleModelInput");
    edmPreconditionInputs(*variant_.edm, sigmas_[size_t(stepIndex)], sample, n);
  }

  /// add_noise with the begin index set: original + noise * sigma.
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override {
    checkStepIndex(stepIndex, "addNoise");
    edmAddNoise(sigmas_[size_t(stepIndex)], original, noise, out, n);
  }
};

} // namespace

std::unique_ptr<Scheduler>
createDPMSolverMultistepScheduler(const Config &config) {
  return std::make_unique<DPMSolverMultistepScheduler>(config);
}

std::unique_ptr<Scheduler>
createEDMDPMSolverMultistepScheduler(const Config &config) {
  return std::make_unique<EDMDPMSolverMultistepScheduler>(config);
}

} // namespace sched
} // namespace fresco
