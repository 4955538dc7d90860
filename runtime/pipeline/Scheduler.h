//===- Scheduler.h - Diffusion schedulers with diffusers' semantics -*- C++
//-*-===//
//
// A scheduler turns the model's output at one timestep into the next latents.
// Each implementation follows the diffusers class of the same name: the same
// config keys (scheduler_config.json), set_timesteps, scale_model_input,
// init_noise_sigma and step, computed so that results match diffusers on
// CPU to ~1e-6 relative.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_SCHEDULER_H
#define FRESCO_RUNTIME_PIPELINE_SCHEDULER_H

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fresco {

class TorchGenerator;

/// What set_timesteps takes beyond the step count; only flow-matching
/// schedulers use it (the others refuse non-empty options).
struct TimestepOptions {
  /// The dynamic shift (use_dynamic_shifting). FluxPipeline computes it from
  /// the image sequence length: see fluxTimestepOptions.
  std::optional<double> mu;
  /// Custom float64 sigmas (diffusers' `sigmas=`), replacing the scheduler's
  /// own grid; empty: none.
  std::vector<double> sigmas;
};

/// Where a stochastic step draws the fresh noise that diffusers' step takes
/// from randn_tensor: image i of the sample (values [i * valuesPerImage,
/// (i + 1) * valuesPerImage), C-order [C, H, W] for image latents) at step
/// index s gets Noise.h's stepNoise(seed, i, s) in that order, so that it
/// depends only on (seed, i, s). generate() passes --seed. With torch
/// generators (--generator torch) the step instead draws as diffusers'
/// randn_tensor does: one generator, the whole sample's noise in one
/// torch.randn; one per image, each image's from its own.
struct StepNoise {
  uint64_t seed = 0;
  int64_t valuesPerImage = 0;
  std::vector<TorchGenerator> *torch = nullptr;
};

class Scheduler {
public:
  virtual ~Scheduler() = default;

  /// The diffusers class name, e.g. "DDIMScheduler".
  virtual std::string name() const = 0;

  /// diffusers' set_timesteps(num_inference_steps); resets multistep state.
  virtual void setTimesteps(int numInferenceSteps) = 0;

  /// diffusers' set_timesteps(num_inference_steps, sigmas=, mu=). With custom
  /// sigmas, numInferenceSteps must be their count. The default refuses
  /// non-empty options (the classes Fresco implements take neither).
  virtual void setTimestepsWith(int numInferenceSteps,
                                const TimestepOptions &options);

  /// True for flow-matching schedulers, whose step treats the model output
  /// as a velocity: a noise-predicting denoiser (DiT) must not run with one.
  virtual bool flowMatching() const { return false; }

  /// The sigmas of the schedule (one per timestep, then the final one) where
  /// the harness compares them; empty otherwise.
  virtual std::vector<double> sigmas() const { return {}; }

  /// The timesteps of the schedule, in order, as diffusers passes them to
  /// the model (integers for DDIM/DPM-Solver, floats for Euler).
  const std::vector<double> &timesteps() const { return timesteps_; }

  /// Multiplier for the initial Gaussian noise (diffusers' init_noise_sigma).
  virtual double initNoiseSigma() const { return 1.0; }

  /// diffusers' scale_model_input at step `stepIndex`, in place over n values.
  virtual void scaleModelInput(float *sample, int64_t n, int stepIndex) {
    (void)sample, (void)n, (void)stepIndex;
  }

  /// diffusers' step(model_output, timesteps()[stepIndex], sample) for the
  /// step with index `stepIndex` (called in order 0, 1, ...): replaces
  /// `sample` (n values) by prev_sample.
  virtual void step(const float *modelOutput, float *sample, int64_t n,
                    int stepIndex) = 0;

  /// diffusers' add_noise(original, noise, timesteps()[stepIndex]) over n
  /// values into `out`, after setBeginIndex(stepIndex) where the class reads
  /// its begin index (FlowMatchEulerDiscreteScheduler: scale_noise):
  /// image-to-image noises the encoded image to the first timestep it keeps.
  /// Every class Fresco has overrides it; the default fails, naming the
  /// class, for one that would not.
  virtual void addNoise(const float *original, const float *noise, float *out,
                        int64_t n, int stepIndex) const;

  /// What StableDiffusionImg2ImgPipeline's get_timesteps does to the
  /// scheduler: the next step() is step `stepIndex` (the ones before it
  /// skipped) with the multistep state fresh, as diffusers' set_begin_index
  /// (or, for PNDMScheduler, which has none, a loop over timesteps[begin:]
  /// from counter 0) leaves it. The default fails, as addNoise does.
  virtual void setBeginIndex(int stepIndex);

  /// True for a class whose step draws fresh noise (Euler ancestral).
  virtual bool drawsStepNoise() const { return false; }

  /// True for a class whose step takes diffusers' `eta` (DDIM's eta, TCD's
  /// gamma), which the Stable Diffusion pipelines pass (0 by default).
  virtual bool takesEta() const { return false; }
  /// The eta the next steps take, in [0, 1]; the default refuses any but 0,
  /// naming the class.
  virtual void setEta(double eta);
  /// The eta of diffusers' step when a pipeline passes none (DiTPipeline):
  /// 0, but TCD's 0.3.
  virtual double stepDefaultEta() const { return 0; }

  /// diffusers' `order`: model calls per step (2 for Heun's method, whose
  /// schedule repeats each timestep but the first). The img2img classes
  /// begin at t_start * order.
  virtual int order() const { return 1; }

  /// The noise of stochastic steps (Euler ancestral, which refuses to step
  /// without it); the deterministic schedulers ignore it.
  void setStepNoise(const StepNoise &noise) { stepNoise_ = noise; }

protected:
  std::vector<double> timesteps_;
  std::optional<StepNoise> stepNoise_;
};

/// The scheduler classes Fresco implements, for messages and --help.
const std::vector<std::string> &supportedSchedulers();

/// Creates `className` configured from the text of a diffusers
/// scheduler_config.json (unknown keys are ignored as diffusers does; a key
/// with an unsupported value is an error naming it). Throws fresco::Error
/// for an unknown class, listing the supported ones.
std::unique_ptr<Scheduler> createScheduler(const std::string &className,
                                           const std::string &configJson);

/// The config text with `overrides` (key, value) applied as diffusers'
/// `from_config(config, key=value, ...)` applies keyword arguments: each
/// value is JSON (true, 3.0, "trailing", null), or a bare word taken as a
/// string (trailing); it replaces the key's value and wins over the
/// config's `_use_default_values`. Throws fresco::Error, naming the key
/// and listing the class's, for a key that is not an __init__ parameter of
/// diffusers 0.31's `className` (diffusers would silently drop it), for
/// null (NaN), and for a value the class refuses.
std::string withConfigOverrides(
    const std::string &className, const std::string &configJson,
    const std::vector<std::pair<std::string, std::string>> &overrides);

/// What FluxPipeline (diffusers 0.31) passes to set_timesteps for
/// `numInferenceSteps` steps over `imageSeqLen` packed latent tokens:
/// sigmas np.linspace(1, 1 / n, n) and mu = calculate_shift(imageSeqLen,
/// base_image_seq_len, max_image_seq_len, base_shift, max_shift), those four
/// read from the FlowMatchEulerDiscreteScheduler config text `configJson`.
TimestepOptions fluxTimestepOptions(const std::string &configJson,
                                    int numInferenceSteps, int64_t imageSeqLen);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_SCHEDULER_H
