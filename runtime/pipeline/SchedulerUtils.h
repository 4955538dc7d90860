//===- SchedulerUtils.h - Shared parts of the schedulers --------*- C++ -*-===//
//
// Private to runtime/pipeline. diffusers computes its schedules with a mix
// of float32 torch tensors (betas, alphas_cumprod, sigmas, per-step scalars)
// and float64 numpy arrays (timestep grids, interpolated sigmas, Karras
// sigmas). Matching it to ~1e-6 means replaying each intermediate in the
// same dtype and, where numpy or torch round in a particular way, the same
// order of operations; the helpers here name the numpy/torch function they
// mirror.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_SCHEDULERUTILS_H
#define FRESCO_RUNTIME_PIPELINE_SCHEDULERUTILS_H

#include "runtime/pipeline/Scheduler.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace fresco {
namespace sched {

/// A parsed scheduler_config.json as diffusers' from_config sees it: keys
/// starting with '_' and those listed in "_use_default_values" are dropped,
/// a missing or null key takes the class default, unknown keys are ignored.
class Config {
public:
  Config(std::string className, const std::string &json);

  const std::string &className() const { return className_; }
  /// True when `key` is present with a non-null value.
  bool has(const char *key) const;
  /// True when `key` is present with the value null.
  bool isNull(const char *key) const;

  int64_t getInt(const char *key, int64_t def) const;
  double getDouble(const char *key, double def) const;
  bool getBool(const char *key, bool def) const;
  std::string getString(const char *key, const std::string &def) const;
  /// A string key that must be one of `values` (default `def`); the message
  /// of a bad value lists them in this order.
  std::string getChoice(const char *key, const std::string &def,
                        const std::vector<std::string> &values) const;
  std::optional<double> getOptionalDouble(const char *key) const;
  std::optional<std::vector<double>> getDoubleList(const char *key) const;

  /// Throws `unsupported` when the boolean `key` is true (default false).
  void requireFalse(const char *key) const;
  /// Throws: `key` has a value diffusers accepts but Fresco does not.
  [[noreturn]] void unsupported(const char *key, const std::string &value,
                                const std::string &supported) const;
  /// Throws: `key` has a value diffusers itself rejects.
  [[noreturn]] void invalid(const char *key, const std::string &value,
                            const std::string &allowed) const;

private:
  const nlohmann::json *find(const char *key) const;
  std::string className_;
  nlohmann::json json_;
};

/// Common step bookkeeping: step() must follow setTimesteps() and be called
/// with stepIndex 0, 1, ... in order, as diffusers' internal step counter
/// assumes.
class SchedulerBase : public Scheduler {
protected:
  explicit SchedulerBase(std::string name) : name_(std::move(name)) {}

public:
  std::string name() const override { return name_; }
  /// The identity (DDIM, DPM-Solver), with the index still checked.
  void scaleModelInput(float *sample, int64_t n, int stepIndex) override {
    (void)sample, (void)n;
    checkStepIndex(stepIndex, "scaleModelInput");
  }

protected:
  /// Validates a step() call and advances the counter.
  void beginStep(int stepIndex, int64_t n);
  /// Validates a scale_model_input() index (no ordering: it keeps no state).
  void checkStepIndex(int stepIndex, const char *what) const;
  /// Checks set_timesteps' step count (at least 1).
  void checkNumInferenceSteps(int n) const;
  /// Resets the counter after set_timesteps; checks the schedule is usable.
  void resetSteps(int numInferenceSteps);

  std::string name_;
  bool timestepsSet_ = false;
  int nextStep_ = 0;
};

/// The schedulers that read alphas_cumprod at integer timesteps (DDIM, DDPM,
/// LCM, TCD): add_noise at timesteps()[stepIndex], and a set_begin_index
/// that only moves the counter (their steps keep no history).
class AlphasCumprodScheduler : public SchedulerBase {
protected:
  using SchedulerBase::SchedulerBase;

  /// alphas_cumprod[t], a negative t from the end as Python indexes (trailing
  /// spacing may end on -1).
  float alphaAt(int64_t t) const {
    const int64_t size = int64_t(alphasCumprod_.size());
    return alphasCumprod_[size_t(t < 0 ? t + size : t)];
  }

public:
  /// sqrt(alpha_t) x + sqrt(1 - alpha_t) noise, float32.
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override;
  void setBeginIndex(int stepIndex) override {
    checkStepIndex(stepIndex, "setBeginIndex");
    nextStep_ = stepIndex;
  }

protected:
  std::vector<float> alphasCumprod_;
};

/// randn_tensor(model_output.shape) in a stochastic step (Euler ancestral,
/// LCM) at schedule index `stepIndex` over n values: one draw for the whole
/// sample from a torch generator (or one per image from a list), else
/// Fresco's stream of each image and step (Noise.h stepNoise). `torchF32`:
/// torch draws in float32 whatever the pipeline's dtype (randn_tensor's
/// dtype fixed by the class), else in the generators' dtype. Throws,
/// naming `name`, without the noise's seed or for a partial image.
std::vector<float> drawStepNoise(const std::string &name,
                                 const std::optional<StepNoise> &noise,
                                 int64_t n, int stepIndex,
                                 bool torchF32 = false);

//===----------------------------------------------------------------------===//
// Config keys the schedulers share
//===----------------------------------------------------------------------===//

/// What the model predicts (prediction_type).
enum class Prediction { Epsilon, Sample, V };

/// prediction_type: "epsilon", "sample" or "v_prediction" (and
/// "original_sample", a synonym of "sample", where `originalSampleAlias`, as
/// in EulerDiscreteScheduler); `allowed` lists them in the message of a bad
/// value.
Prediction readPrediction(const Config &config, const char *allowed,
                          bool originalSampleAlias = false);

/// num_train_timesteps (default 1000), at least 2.
int64_t readNumTrainTimesteps(const Config &config);

/// Most num_train_timesteps a config may ask for: the tables are that long,
/// real schedulers train on 1000, and a corrupt value must not allocate
/// terabytes.
constexpr int64_t kMaxNumTrainTimesteps = 1000000;
/// Throws unless numTrain <= kMaxNumTrainTimesteps.
void checkNumTrainTimestepsLimit(const Config &config, int64_t numTrain);

/// steps_offset (default 0), within +-kMaxNumTrainTimesteps: "leading"
/// spacing adds it to every timestep, and a larger one would overflow there
/// (an offset past num_train_timesteps leaves the schedule anyway).
int64_t readStepsOffset(const Config &config);

/// solver_order (default 2), checked as a 64-bit value before it narrows:
/// below 1 it is invalid, above `maxOrder` unsupported (`aboveUnsupported`:
/// diffusers runs it, Fresco does not) or invalid; `allowed` goes in the
/// message.
int readSolverOrder(const Config &config, int64_t maxOrder,
                    const std::string &allowed, bool aboveUnsupported);

/// timestep_spacing: "leading", "trailing" or "linspace" (default `def`).
std::string readTimestepSpacing(const Config &config, const std::string &def);

/// The use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas keys (at
/// most one true; only Karras is supported) and the sigma_min / sigma_max
/// bounds the Karras conversion reads when present.
struct KarrasConfig {
  bool enabled = false;
  std::optional<double> sigmaMin, sigmaMax;
};
KarrasConfig readKarrasConfig(const Config &config);

/// final_sigmas_type: true for "sigma_min", false for "zero" (the default).
bool readFinalSigmaMin(const Config &config);

//===----------------------------------------------------------------------===//
// The noise schedule (torch, float32)
//===----------------------------------------------------------------------===//

/// torch.linspace(start, end, steps, dtype=torch.float32) bit for bit, as
/// the AVX2 CPU kernel of PyTorch computes it.
std::vector<float> torchLinspaceF32(double start, double end, int64_t steps);

/// torch.cumprod over float32: PyTorch's CPU kernel accumulates in double
/// and rounds each partial product to float32.
std::vector<float> torchCumprodF32(const std::vector<float> &x);

/// The class defaults of beta_start, beta_end and beta_schedule.
struct BetaDefaults {
  double start = 0.0001, end = 0.02;
  const char *schedule = "linear";
  bool exp = false;     ///< the class also takes beta_schedule "exp" (Heun)
  bool sigmoid = false; ///< and "sigmoid" (DDPM)
};

/// The k-diffusion ports' defaults (Heun, KDPM2): linear betas from 0.00085
/// to 0.012; `exp` as above.
inline BetaDefaults kDiffusionBetas(bool exp) {
  BetaDefaults d;
  d.start = 0.00085;
  d.end = 0.012;
  d.exp = exp;
  return d;
}

/// The betas of `config` (trained_betas / beta_schedule / beta_start /
/// beta_end / num_train_timesteps, then rescale_betas_zero_snr unless
/// `readRescaleZeroSnr` is false, for classes without that key), float32.
std::vector<float> makeBetas(const Config &config, int64_t numTrainTimesteps,
                             bool readRescaleZeroSnr = true,
                             const BetaDefaults &defaults = {});

/// alphas_cumprod = cumprod(1 - betas) in float32.
std::vector<float> alphasCumprod(const std::vector<float> &betas);

/// ((1 - ac) / ac) ** 0.5 in float32, per train timestep.
std::vector<float> trainSigmas(const std::vector<float> &alphasCumprod);

/// The training tables of the sigma-based schedulers (Euler, DPM-Solver):
/// alphas_cumprod (its last entry 2**-24 under rescale_betas_zero_snr, so
/// that the last sigma stays finite), the sigmas, and np.log of them.
struct SigmaTables {
  std::vector<float> alphasCumprod, trainSigmas, logSigmas;
};
SigmaTables makeSigmaTables(const Config &config, int64_t numTrainTimesteps,
                            bool readRescaleZeroSnr = true,
                            const BetaDefaults &defaults = {});

/// clip_sample's torch.clamp(x, -range, range) on float32: NaN stays NaN.
inline float torchClamp(float x, float range) {
  return std::isnan(x) ? x : std::min(std::max(x, -range), range);
}

/// add_noise of the schedulers that noise with alphas_cumprod (DDIM, PNDM):
/// out = sqrt(alphaT) * original + sqrt(1 - alphaT) * noise over n values,
/// float32 in torch's order (`** 0.5` is a square root there).
inline void ddpmAddNoise(float alphaT, const float *original,
                         const float *noise, float *out, int64_t n) {
  const float a = std::sqrt(alphaT), b = std::sqrt(1.0f - alphaT);
  for (int64_t i = 0; i < n; ++i) {
    const float x = a * original[i], e = b * noise[i];
    out[i] = x + e;
  }
}

/// alpha_t, sigma_t and lambda_t = log(alpha_t) - log(sigma_t) of a float32
/// sigma, as the multistep solvers' _sigma_to_alpha_sigma_t computes them on
/// 0-d float32 tensors (DPM-Solver, UniPC).
struct AlphaSigma {
  float alpha, sigma, lambda;
};
AlphaSigma alphaSigma(float sigma);

//===----------------------------------------------------------------------===//
// numpy (float64) helpers
//===----------------------------------------------------------------------===//

/// np.linspace(start, stop, num) in float64.
std::vector<double> npLinspace(double start, double stop, int64_t num);

/// np.arange(start, stop, step) with a float step, float64, including
/// numpy's length rounding (ceil((stop - start) / step)) and fill rule.
std::vector<double> npArange(double start, double stop, double step);

/// np.round (half to even).
inline double npRound(double x) { return std::nearbyint(x); }

/// np.interp(x, arange(len(fp)), fp) for float32 fp, float64 result.
std::vector<double> npInterpArange(const std::vector<double> &x,
                                   const std::vector<float> &fp);

/// torch.log / torch.exp on float32 CPU tensors: PyTorch evaluates them with
/// SLEEF's 1-ulp vector functions (Sleef_logf8_u10 / Sleef_expf8_u10), not
/// correctly rounded, so these replay SLEEF's algorithms (FMA variant).
float torchLogF32(float x);
float torchExpF32(float x);
/// torch.expm1 on float32 CPU tensors (Sleef_expm1f8_u10), replayed.
float torchExpm1F32(float x);
/// Sleef_powf8_u10: the vector lanes of torch.pow on float32 CPU tensors.
float torchPowF32(float x, float y);
/// tensor ** exp on a float32 CPU tensor (exp >= 0, a Python float), as
/// PyTorch's AVX2 kernel splits it between SLEEF lanes and a scalar tail.
std::vector<float> torchPowScalarF32(std::vector<float> x, double exp);
/// torch.sigmoid on a float32 CPU tensor: 1 / (1 + exp(-x)) with SLEEF's
/// exp over whole blocks of 16 values and std::exp on the tail.
std::vector<float> torchSigmoidF32(std::vector<float> x);

/// np.log on a float32 array: numpy's AVX2/AVX512F kernel (a rational
/// approximation, up to ~4 ulp off), replayed.
float npLogF32(float x);

/// diffusers' _sigma_to_t(sigma, log_sigmas) with log_sigmas float32 (the
/// float32/float64 mix of numpy's value-based casting replayed).
/// `torchFloat32`: log_sigmas a float32 torch tensor (KDPM2's interpolated
/// timesteps), whose final interpolation stays in float32.
double sigmaToT(double sigma, const std::vector<float> &logSigmas,
                bool torchFloat32 = false);

/// diffusers' _convert_to_karras: rho = 7 ramp between sigmaMax and
/// sigmaMin, n points, float64.
std::vector<double> karrasSigmas(double sigmaMin, double sigmaMax, int64_t n);

/// DDIM's and DDPM's set_timesteps(n) grid: linspace (rounded), leading
/// (plus steps_offset) or trailing (numpy may give n + 1, the last maybe
/// -1, which indexes the table's end as Python does); a timestep outside
/// -numTrain..numTrain-1 is refused, naming `name`.
std::vector<double> ddimTimesteps(const std::string &name,
                                  const std::string &spacing, int64_t numTrain,
                                  int n, int64_t stepsOffset);

/// LCM's and TCD's set_timesteps(n) (no strength, no custom timesteps): n
/// of the original_inference_steps distillation timesteps k - 1, 2k - 1,
/// ..., noisiest first, evenly by index; the step counts diffusers refuses
/// are refused, naming `name`.
std::vector<double> lcmTimesteps(const std::string &name, int64_t numTrain,
                                 int64_t originalSteps, int n);

/// The integer timesteps of the multistep solvers' set_timesteps (DPM-Solver,
/// UniPC) for n steps, noisiest first: `spacing` linspace, leading (plus
/// stepsOffset; a timestep outside the table is refused, naming `name`) or
/// trailing (numpy may give n + 1), over the first `last` of numTrain
/// training timesteps (DPM-Solver's lambda_min_clipped cuts the rest).
std::vector<double> integerTimesteps(const std::string &name,
                                     const std::string &spacing,
                                     int64_t numTrain, int64_t last, int n,
                                     int64_t stepsOffset);

/// use_karras_sigmas in the multistep solvers: n Karras sigmas between the
/// training table's ends (or sigma_min / sigma_max) and their timesteps
/// (_sigma_to_t, rounded), float64.
void karrasSchedule(const KarrasConfig &karras, const SigmaTables &tables,
                    int n, std::vector<double> &sigmas,
                    std::vector<double> &timesteps);

/// "a, b, c": lists names in messages.
std::string joinNames(const std::vector<std::string> &values);

//===----------------------------------------------------------------------===//
// The Euler family (EulerFamily.cpp)
//===----------------------------------------------------------------------===//

/// What diffusers' EulerDiscreteScheduler and EulerAncestralDiscreteScheduler
/// share: num_train_timesteps and the training sigma tables, prediction_type
/// (readPrediction's `allowed` and `originalSampleAlias`), the float32
/// timestep grid of each timestep_spacing (default linspace) with
/// steps_offset, the float32 sigmas (one per timestep, then the final one),
/// init_noise_sigma and scale_model_input.
class EulerFamilyBase : public SchedulerBase {
protected:
  EulerFamilyBase(std::string name, const Config &config,
                  const char *allowedPredictions, bool originalSampleAlias,
                  bool readRescaleZeroSnr = true,
                  const BetaDefaults &defaults = {});

  /// set_timesteps' float32 timesteps before any sigma conversion,
  /// noisiest first (trailing may give n + 1, as numpy does).
  std::vector<float> timestepGrid(int n) const;
  /// The training sigmas interpolated at `timesteps` (np.interp, float64).
  std::vector<double> interpolatedSigmas(const std::vector<float> &ts) const;
  /// What set_timesteps builds on: the grid's timesteps and interpolated
  /// sigmas or, with `karras` enabled, n Karras sigmas between their ends
  /// (or the config's sigma_min / sigma_max) and those sigmas' timesteps
  /// (_sigma_to_t, float64; rounded when `roundTimesteps`).
  void baseSchedule(int n, const KarrasConfig &karras, bool roundTimesteps,
                    std::vector<double> &sigmas,
                    std::vector<double> &timesteps) const;

public:
  double initNoiseSigma() const override;
  /// sample / sqrt(sigma^2 + 1), float32.
  void scaleModelInput(float *sample, int64_t n, int stepIndex) override;
  /// add_noise with the begin index set (image-to-image): original + noise
  /// * sigmas[stepIndex], float32.
  void addNoise(const float *original, const float *noise, float *out,
                int64_t n, int stepIndex) const override;
  /// set_begin_index: scale_model_input and step read the sigmas by index
  /// and keep no history, so only the counter moves (the ancestral noise
  /// stays keyed by the schedule's step index).
  void setBeginIndex(int stepIndex) override;

protected:
  int64_t numTrain_ = 1000;
  SigmaTables tables_;
  Prediction prediction_ = Prediction::Epsilon;
  std::string spacing_;
  int64_t stepsOffset_ = 0;
  std::vector<float> sigmas_; ///< the schedule's, then the final sigma
};

/// The Euler family's pred_original_sample at one sigma, for any
/// Prediction, with diffusers' float32 order of operations (the
/// v_prediction coefficients are 0-d float32 tensors there, computed once).
class EulerDenoised {
public:
  EulerDenoised(Prediction prediction, float sigma)
      : prediction_(prediction), sigma_(sigma), sq_(sigma * sigma + 1.0f),
        vOut_(-sigma / std::sqrt(sq_)) {}

  float operator()(float sample, float modelOutput) const {
    switch (prediction_) {
    case Prediction::Epsilon: {
      const float u = sigma_ * modelOutput;
      return sample - u;
    }
    case Prediction::Sample:
      return modelOutput;
    case Prediction::V: {
      const float a = modelOutput * vOut_;
      const float b = sample / sq_;
      return a + b;
    }
    }
    return 0.0f;
  }

private:
  Prediction prediction_;
  float sigma_, sq_, vOut_;
};

//===----------------------------------------------------------------------===//
// Per-class factories (defined in each scheduler's .cpp)
//===----------------------------------------------------------------------===//

std::unique_ptr<Scheduler> createDDIMScheduler(const Config &config);
std::unique_ptr<Scheduler> createEulerDiscreteScheduler(const Config &config);
std::unique_ptr<Scheduler>
createEulerAncestralDiscreteScheduler(const Config &config);
std::unique_ptr<Scheduler>
createDPMSolverMultistepScheduler(const Config &config);
std::unique_ptr<Scheduler>
createFlowMatchEulerDiscreteScheduler(const Config &config);
std::unique_ptr<Scheduler> createPNDMScheduler(const Config &config);
std::unique_ptr<Scheduler> createUniPCMultistepScheduler(const Config &config);
std::unique_ptr<Scheduler> createLCMScheduler(const Config &config);
std::unique_ptr<Scheduler> createHeunDiscreteScheduler(const Config &config);
std::unique_ptr<Scheduler> createLMSDiscreteScheduler(const Config &config);
std::unique_ptr<Scheduler>
createDPMSolverSinglestepScheduler(const Config &config);
std::unique_ptr<Scheduler> createKDPM2DiscreteScheduler(const Config &config);
std::unique_ptr<Scheduler>
createKDPM2AncestralDiscreteScheduler(const Config &config);
std::unique_ptr<Scheduler> createEDMEulerScheduler(const Config &config);
std::unique_ptr<Scheduler> createDDPMScheduler(const Config &config);
std::unique_ptr<Scheduler> createTCDScheduler(const Config &config);
std::unique_ptr<Scheduler>
createEDMDPMSolverMultistepScheduler(const Config &config);

} // namespace sched
} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_SCHEDULERUTILS_H
