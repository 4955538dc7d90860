//===- EDMCommon.h - The EDM preconditioning both EDM schedulers share ----===//
//
// Private to runtime/pipeline. diffusers' EDMEulerScheduler and
// EDMDPMSolverMultistepScheduler (0.31.0) follow Karras et al. 2022: a
// sigma grid from sigma_max down to sigma_min (Karras' rho ramp or a
// log-linear one), computed on float32 torch tensors; the model sees
// c_in * x and c_noise = log(sigma) / 4 as its timestep; its output F
// becomes the denoised sample c_skip * x + c_out * F.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_EDMCOMMON_H
#define FRESCO_RUNTIME_PIPELINE_EDMCOMMON_H

#include "runtime/pipeline/SchedulerUtils.h"

namespace fresco {
namespace sched {

/// The EDM keys of a scheduler config.
struct EdmConfig {
  double sigmaMin = 0.002, sigmaMax = 80.0, sigmaData = 0.5, rho = 7.0;
  bool exponential = false; ///< sigma_schedule "exponential" (else karras)
  bool vPrediction = false; ///< prediction_type v_prediction (else epsilon)
};

/// sigma_min, sigma_max, sigma_data, rho (each finite and positive, else
/// diffusers' sigmas are NaN or infinite; null, on which diffusers fails,
/// is refused too; sigma_min below sigma_max, since a rising grid is a
/// config error diffusers would run), sigma_schedule, prediction_type and
/// num_train_timesteps of `c`.
EdmConfig readEdmConfig(const Config &c);

/// set_timesteps' sigmas for n steps, noisiest first, without the final
/// one: _compute_karras_sigmas / _compute_exponential_sigmas over
/// torch.linspace(0, 1, n), float32. Throws, naming the class `name`, for
/// a grid float32 cannot hold.
std::vector<float> edmSigmas(const EdmConfig &e, int n,
                             const std::string &name);

/// precondition_noise: the model's timestep 0.25 * torch.log(sigma).
inline float edmNoise(float sigma) { return 0.25f * torchLogF32(sigma); }

/// set_timesteps(n) of both EDM classes: `sigmas` the grid then
/// `finalSigma`, `timesteps` precondition_noise of the grid.
void edmSchedule(const EdmConfig &e, int n, const std::string &name,
                 float finalSigma, std::vector<float> &sigmas,
                 std::vector<double> &timesteps);

/// init_noise_sigma: (sigma_max**2 + 1) ** 0.5 in Python floats.
double edmInitNoiseSigma(const EdmConfig &e);

/// precondition_inputs at `sigma`, in place over n values.
void edmPreconditionInputs(const EdmConfig &e, float sigma, float *sample,
                           int64_t n);

/// precondition_outputs at `sigma`: the denoised sample into out[0..n).
void edmPreconditionOutputs(const EdmConfig &e, float sigma,
                            const float *sample, const float *modelOutput,
                            float *out, int64_t n);

/// add_noise with the begin index set: original + noise * sigma, float32.
void edmAddNoise(float sigma, const float *original, const float *noise,
                 float *out, int64_t n);

} // namespace sched
} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_EDMCOMMON_H
