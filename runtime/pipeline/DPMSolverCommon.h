//===- DPMSolverCommon.h - DPM-Solver updates both solvers share -*- C++
//-*-===//
//
// Private to runtime/pipeline. diffusers' multistep and singlestep
// DPM-Solver classes convert the model output and take first- and
// second-order steps with the same float32 formulas; they differ in which
// sigmas and model outputs they pass (the multistep update starts from the
// newest output's sigma, the singlestep one from its group's first).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_DPMSOLVERCOMMON_H
#define FRESCO_RUNTIME_PIPELINE_DPMSOLVERCOMMON_H

#include "runtime/pipeline/EDMCommon.h"

#include <optional>

namespace fresco {
namespace sched {

/// Which DPM-Solver a config asks for.
struct DpmVariant {
  Prediction prediction = Prediction::Epsilon;
  bool plusPlus = true; ///< dpmsolver++ (data prediction) or dpmsolver
  bool sde = false;     ///< the SDE variant: fresh noise every step
  bool heun = false;    ///< solver_type heun (else midpoint)
  /// EDMDPMSolverMultistepScheduler: alpha 1, the model output
  /// preconditioned (EDMCommon.h) into the data prediction.
  std::optional<EdmConfig> edm;
};

/// _sigma_to_alpha_sigma_t with lambda, for `v`: alphaSigma, or with EDM
/// alpha_t = 1 (an int64 tensor there, whose log is 0) and sigma_t = sigma.
AlphaSigma dpmAlphaSigma(const DpmVariant &v, float sigma);

/// algorithm_type (dpmsolver++, dpmsolver, sde-dpmsolver++; deis runs as
/// dpmsolver++; sde-dpmsolver too unless `singlestep`), solver_type
/// (midpoint, heun; the UniPC/DEIS names run as midpoint), prediction_type,
/// thresholding and variance_type (both refused) of `c`. `edm`: the EDM
/// class's keys (EdmConfig; dpmsolver++ and sde-dpmsolver++ only).
DpmVariant readDpmVariant(const Config &c, bool singlestep, bool edm = false);

/// final_sigmas_type: true for "zero", which diffusers refuses with any
/// algorithm_type but dpmsolver++ and sde-dpmsolver++ (checked by its
/// configured name: "deis" too).
bool readDpmFinalZero(const Config &c, const std::string &name);

/// How many of the noisiest training timesteps lambda_min_clipped cuts:
/// torch.searchsorted over the ascending flipped lambdas (log alpha - log
/// sigma, float32), the bound rounded to float32 as torch does.
int64_t lambdaClippedCount(const SigmaTables &tables, double lambdaMinClipped);

/// add_noise of the alpha/sigma schedulers (DPM-Solver, UniPC) at `sigma`:
/// alpha_t x + sigma_t noise (_sigma_to_alpha_sigma_t), float32.
void dpmAddNoise(float sigma, const float *original, const float *noise,
                 float *out, int64_t n);

/// convert_model_output at `sigma`: x0 for DPM-Solver++ (with EDM, the
/// preconditioned output), epsilon for DPM-Solver, into out[0..n).
void dpmConvertModelOutput(const DpmVariant &v, const float *modelOutput,
                           const float *sample, int64_t n, float sigma,
                           float *out);

/// dpm_solver_first_order_update from sigma `from` to `to` with the
/// converted output m; `noise` only for the SDE variants.
void dpmFirstOrder(const DpmVariant &v, float to, float from, const float *m,
                   float *sample, int64_t n, const float *noise);

/// The second-order update to sigma `to` of a sample at sigma `base`, with
/// h = lambda_to - lambda_base, r0 = h_0 / h, D0 = d0 and D1 = (m0 - m1) /
/// r0 (multistep: base and d0 the newest output's; singlestep: its group's
/// first).
void dpmSecondOrder(const DpmVariant &v, float to, float base, float h,
                    float r0, const float *d0, const float *m0, const float *m1,
                    float *sample, int64_t n, const float *noise);

} // namespace sched
} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_DPMSOLVERCOMMON_H
