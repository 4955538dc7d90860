//===- PNDMScheduler.cpp - diffusers' PNDMScheduler -----------------------===//
//
// Pseudo numerical methods (F-PNDM, arXiv 2202.09778) following diffusers
// 0.31.0 scheduling_pndm.py: with skip_prk_steps (Stable Diffusion 1.x) the
// linear multistep (PLMS) steps only; without it, twelve Runge-Kutta (PRK)
// steps over the last four timesteps first. Both dispatch on the step
// counter, and diffusers' timesteps already hold one entry per model call
// (n + 1 with skip_prk_steps, n + 9 without), so one step() per entry of
// timesteps() is the whole sampler.
//
// Everything in step() is float32 like the torch original: the
// alphas_cumprod entries are 0-d float32 tensors, Python scalar factors
// (1 / 6, 23, 1 / 24) round to float32, and each elementwise operation
// rounds in the order diffusers writes it.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <cmath>

namespace fresco {
namespace sched {
namespace {

/// F-PNDM's order: the PRK warm-up covers the last 4 timesteps and PLMS
/// keeps 4 model outputs.
constexpr int kOrder = 4;
/// Model calls of the PRK warm-up: 3 timesteps of 4 Runge-Kutta stages.
constexpr int kPrkSteps = 12;

class PNDMScheduler final : public SchedulerBase {
public:
  explicit PNDMScheduler(const Config &c) : SchedulerBase("PNDMScheduler") {
    numTrain_ = readNumTrainTimesteps(c);
    // PNDMScheduler has no rescale_betas_zero_snr: diffusers ignores it.
    alphasCumprod_ =
        alphasCumprod(makeBetas(c, numTrain_, /*readRescaleZeroSnr=*/false));
    finalAlphaCumprod_ =
        c.getBool("set_alpha_to_one", false) ? 1.0f : alphasCumprod_[0];
    skipPrk_ = c.getBool("skip_prk_steps", false);
    stepsOffset_ = readStepsOffset(c);
    // diffusers accepts any prediction_type here and raises in step() for
    // one other than these two.
    vPrediction_ = c.getChoice("prediction_type", "epsilon",
                               {"epsilon", "v_prediction"}) == "v_prediction";
    spacing_ = readTimestepSpacing(c, "leading");
  }

  void setTimesteps(int n) override {
    checkNumInferenceSteps(n);
    check(n <= numTrain_, name_, ": ", n,
          " inference steps cannot be more than num_train_timesteps (",
          numTrain_, ")");
    ratio_ = numTrain_ / n;
    const std::vector<int64_t> grid = timestepGrid(n);
    const size_t g = grid.size();
    timestepsSet_ = false;
    timesteps_.clear();
    if (skipPrk_) {
      // The grid highest first, its second-highest point twice: the second
      // model call redoes the first step with the averaged model output.
      timesteps_.push_back(double(grid[g - 1]));
      if (g >= 2)
        timesteps_.push_back(double(grid[g - 2]));
      for (size_t i = g - 1; i-- > 0;)
        timesteps_.push_back(double(grid[i]));
    } else {
      // diffusers builds the PRK timesteps by broadcasting the last four
      // grid points against a length-8 pattern, which fails for fewer.
      check(g >= size_t(kOrder), name_, ": scheduler config key ",
            "'skip_prk_steps' = false needs at least ", kOrder,
            " inference steps (the Runge-Kutta warm-up spans the last ", kOrder,
            " timesteps), got ", n,
            " (diffusers fails too); use more steps or skip_prk_steps true");
      // Each of the last four timesteps t, and t + half a step, twice over,
      // highest first: t3, t2+h, t2+h, t2, t2, t1+h, t1+h, t1, t1, t0+h,
      // t0+h, t0.
      const int64_t h = ratio_ / 2;
      std::vector<int64_t> pairs;
      for (size_t i = g - kOrder; i < g; ++i) {
        pairs.push_back(grid[i]);
        pairs.push_back(grid[i] + h);
      }
      pairs.pop_back();
      std::vector<int64_t> prk;
      for (int64_t t : pairs)
        prk.insert(prk.end(), {t, t});
      for (size_t i = prk.size() - 2; i >= 1; --i)
        timesteps_.push_back(double(prk[i]));
      // PLMS then runs from the lowest PRK timestep, t0, down to grid[0].
      for (size_t i = g - 3; i-- > 0;)
        timesteps_.push_back(double(grid[i]));
    }
    numInferenceSteps_ = n;
    startAt(0);
    timestepsSet_ = true;
  }

  /// DDPM-style noising in float32, as diffusers: sqrt(alpha_t) x +
  /// sqrt(1 - alpha_t) noise at timesteps()[stepIndex].
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override {
    checkStepIndex(stepIndex, "addNoise");
    ddpmAddNoise(alphaAt(int64_t(timesteps_[size_t(stepIndex)])), original,
                 noise, out, n);
  }

  /// diffusers' PNDMScheduler has no set_begin_index: image-to-image passes
  /// it timesteps[begin:] with its counter at 0, so the PRK / PLMS warm-up
  /// runs on the kept timesteps as if they were a whole schedule (step 1
  /// redoes step 0 from one step ratio above the timestep it gets; PRK reads
  /// its own prk_timesteps by counter). The plan is rebuilt for that.
  void setBeginIndex(int stepIndex) override {
    checkStepIndex(stepIndex, "setBeginIndex");
    startAt(stepIndex);
  }

  void step(const float *modelOutput, float *sample, int64_t n,
            int stepIndex) override {
    beginStep(stepIndex, n);
    const int counter = stepIndex - begin_;
    check(counter == 0 || n == size_, name_, ": step ", stepIndex, " got ", n,
          " values, the earlier steps ", size_,
          " (the multistep history needs the same size)");
    size_ = n;
    if (isPrk(counter))
      stepPrk(modelOutput, sample, n, counter);
    else
      stepPlms(modelOutput, sample, n, counter);
  }

private:
  /// The timesteps step `i` reads: x goes from `t` to `prev` (prev < 0: the
  /// final alpha).
  struct StepPlan {
    int64_t t, prev;
  };

  /// diffusers' _timesteps: the spacing's integer grid, ascending.
  std::vector<int64_t> timestepGrid(int n) const {
    std::vector<int64_t> grid;
    if (spacing_ == "linspace") {
      for (double t : npLinspace(0, double(numTrain_ - 1), n))
        grid.push_back(int64_t(npRound(t)));
    } else if (spacing_ == "leading") {
      for (int64_t i = 0; i < n; ++i)
        grid.push_back(i * ratio_ + stepsOffset_);
    } else { // trailing
      // np.arange may yield n + 1 values (float length rounding); diffusers
      // keeps them all, the lowest then being -1.
      const std::vector<double> t =
          npArange(double(numTrain_), 0, -double(numTrain_) / double(n));
      for (auto it = t.rbegin(); it != t.rend(); ++it)
        grid.push_back(int64_t(npRound(*it)) - 1);
    }
    return grid;
  }

  /// The loop starts at step `begin` with diffusers' state fresh (counter
  /// 0, no ets): plans every step from there and clears the history.
  void startAt(int begin) {
    std::vector<StepPlan> plan;
    for (size_t i = size_t(begin); i < timesteps_.size(); ++i)
      plan.push_back(planStep(int(i) - begin, int(i), begin));
    plan_ = std::move(plan);
    begin_ = begin;
    nextStep_ = begin;
    ets_.clear();
    hasCurSample_ = false;
    size_ = 0;
  }

  /// diffusers' step counter: step `i` is its call number i - begin.
  bool isPrk(int counter) const { return !skipPrk_ && counter < kPrkSteps; }

  /// The (t, prev) diffusers' step_prk / step_plms compute at counter `c`
  /// for timesteps()[i], checked against the alphas_cumprod table so that a
  /// bad schedule fails before the loop, not mid-run (diffusers raises
  /// IndexError there).
  StepPlan planStep(int c, int i, int begin) const {
    const int64_t tau = int64_t(timesteps_[size_t(i)]);
    StepPlan p;
    if (isPrk(c)) {
      // prk_timesteps are the first 12 entries of the whole schedule.
      p.t = int64_t(timesteps_[size_t(c / 4 * 4)]);
      p.prev = tau - (c % 2 ? 0 : ratio_ / 2);
    } else if (c == 1) {
      // The second PLMS step redoes the first from its start with the
      // averaged model output: from the first timestep back up.
      p.t = tau + ratio_;
      p.prev = tau;
    } else {
      p.t = tau;
      p.prev = tau - ratio_;
    }
    // Python indexing: alphas_cumprod[-1] is the last entry (trailing
    // spacing can end on timestep -1).
    auto inTable = [&](int64_t t) { return t >= -numTrain_ && t < numTrain_; };
    check(inTable(p.t) && p.prev < numTrain_, name_, ": model call ", i, " of ",
          timesteps_.size(), " for ", numInferenceSteps_,
          " inference steps (counter ", c, " from step ", begin,
          ") reads timestep ", inTable(p.t) ? p.prev : p.t, ", outside 0..",
          numTrain_ - 1, " (steps_offset too large for this step count)");
    return p;
  }

  float alphaAt(int64_t t) const {
    return alphasCumprod_[size_t(t < 0 ? t + numTrain_ : t)];
  }

  /// diffusers' _get_prev_sample (formula (9) of the paper): out = x_prev
  /// from `x` at plan.t and the noise estimate `eps` (a v prediction is
  /// converted first, as diffusers does inside it).
  void prevSample(const float *x, const float *eps, float *out, int64_t n,
                  const StepPlan &p) const {
    const float alphaT = alphaAt(p.t);
    const float alphaPrev = p.prev >= 0 ? alphaAt(p.prev) : finalAlphaCumprod_;
    const float betaT = 1.0f - alphaT;
    const float betaPrev = 1.0f - alphaPrev;
    const float sqrtAlphaT = std::sqrt(alphaT), sqrtBetaT = std::sqrt(betaT);
    const float sampleCoeff = std::sqrt(alphaPrev / alphaT);
    const float denomA = alphaT * std::sqrt(betaPrev);
    const float denomB = std::sqrt((alphaT * betaT) * alphaPrev);
    const float denom = denomA + denomB;
    const float alphaDiff = alphaPrev - alphaT;
    for (int64_t i = 0; i < n; ++i) {
      float e = eps[i];
      if (vPrediction_) {
        const float a = sqrtAlphaT * e, b = sqrtBetaT * x[i];
        e = a + b;
      }
      const float scaled = sampleCoeff * x[i];
      const float num = alphaDiff * e;
      const float q = num / denom;
      out[i] = scaled - q;
    }
  }

  /// diffusers' step_prk at counter i: stage k = i % 4 of a Runge-Kutta
  /// step from the sample saved at stage 0, weights 1/6, 1/3, 1/3, 1/6.
  void stepPrk(const float *mo, float *sample, int64_t n, int i) {
    const float sixth = float(1.0 / 6.0), third = float(1.0 / 3.0);
    const int stage = i % 4;
    std::vector<float> combined;
    const float *eps = mo;
    if (stage == 0) {
      curModelOutput_.resize(size_t(n));
      for (int64_t k = 0; k < n; ++k)
        curModelOutput_[size_t(k)] = sixth * mo[k];
      pushEts(mo, n);
      curSample_.assign(sample, sample + n);
      hasCurSample_ = true;
    } else if (stage < 3) {
      for (int64_t k = 0; k < n; ++k) {
        const float w = third * mo[k];
        curModelOutput_[size_t(k)] = curModelOutput_[size_t(k)] + w;
      }
    } else {
      combined.resize(size_t(n));
      for (int64_t k = 0; k < n; ++k) {
        const float w = sixth * mo[k];
        combined[size_t(k)] = curModelOutput_[size_t(k)] + w;
      }
      eps = combined.data();
    }
    prevSample(curSample_.data(), eps, sample, n, plan_[size_t(i)]);
  }

  /// diffusers' step_plms at counter i: Adams-Bashforth over the last model
  /// outputs, of order 1 to 4 as they accumulate; counter 1 of a PLMS-only
  /// run instead averages the first two outputs and restarts from counter
  /// 0's sample.
  void stepPlms(const float *mo, float *sample, int64_t n, int i) {
    if (i != 1) {
      while (ets_.size() > size_t(kOrder - 1))
        ets_.erase(ets_.begin());
      pushEts(mo, n);
    }
    std::vector<float> eps(static_cast<size_t>(n));
    const float *x = sample;
    const size_t m = ets_.size();
    auto e = [&](size_t back, int64_t k) { return ets_[m - back][size_t(k)]; };
    if (m == 1 && i == 0) {
      eps.assign(mo, mo + n);
      curSample_.assign(sample, sample + n);
      hasCurSample_ = true;
    } else if (m == 1 && i == 1) {
      for (int64_t k = 0; k < n; ++k) {
        const float s = mo[k] + e(1, k);
        eps[size_t(k)] = s / 2.0f;
      }
      check(hasCurSample_, name_, ": internal error: no saved sample");
      x = curSample_.data();
    } else if (m == 2) {
      for (int64_t k = 0; k < n; ++k) {
        const float a = 3.0f * e(1, k);
        const float s = a - e(2, k);
        eps[size_t(k)] = s / 2.0f;
      }
    } else if (m == 3) {
      for (int64_t k = 0; k < n; ++k) {
        const float a = 23.0f * e(1, k), b = 16.0f * e(2, k);
        const float c = 5.0f * e(3, k);
        const float s = (a - b) + c;
        eps[size_t(k)] = s / 12.0f;
      }
    } else {
      const float w = float(1.0 / 24.0);
      for (int64_t k = 0; k < n; ++k) {
        const float a = 55.0f * e(1, k), b = 59.0f * e(2, k);
        const float c = 37.0f * e(3, k), d = 9.0f * e(4, k);
        const float s = ((a - b) + c) - d;
        eps[size_t(k)] = w * s;
      }
    }
    prevSample(x, eps.data(), sample, n, plan_[size_t(i)]);
    if (m == 1 && i == 1)
      hasCurSample_ = false; // diffusers: cur_sample = None
  }

  void pushEts(const float *mo, int64_t n) { ets_.emplace_back(mo, mo + n); }

  int64_t numTrain_ = 1000;
  std::vector<float> alphasCumprod_;
  float finalAlphaCumprod_ = 1.0f;
  bool skipPrk_ = false;
  int64_t stepsOffset_ = 0;
  bool vPrediction_ = false;
  std::string spacing_;

  // Per schedule.
  int64_t ratio_ = 0; // num_train_timesteps // num_inference_steps
  int numInferenceSteps_ = 0;
  int begin_ = 0;              // the first step run (image-to-image)
  std::vector<StepPlan> plan_; // per counter, from begin_

  // diffusers' running values: ets (model outputs PLMS extrapolates from),
  // cur_model_output (the PRK weighted sum) and cur_sample.
  std::vector<std::vector<float>> ets_;
  std::vector<float> curModelOutput_, curSample_;
  bool hasCurSample_ = false;
  int64_t size_ = 0;
};

} // namespace

std::unique_ptr<Scheduler> createPNDMScheduler(const Config &config) {
  return std::make_unique<PNDMScheduler>(config);
}

} // namespace sched
} // namespace fresco
