//===- EDMCommon.cpp - The EDM preconditioning both EDM schedulers share --===//
//
// Float32 in torch's order of operations: sigma is a 0-d float32 tensor and
// sigma_data a Python float, so `sigma_data**2 / t` is t.reciprocal() *
// sigma_data**2 (Tensor.__rtruediv__) and each Python scalar is rounded to
// float32 where it meets the tensor.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/EDMCommon.h"
#include "runtime/core/Error.h"

#include <cmath>

namespace fresco {
namespace sched {

EdmConfig readEdmConfig(const Config &c) {
  EdmConfig e;
  readNumTrainTimesteps(c); // only sizes the unused training grid
  auto positive = [&](const char *key, double def) {
    // from_config passes null on (an Euler config's sigma_min: null), and
    // diffusers then fails on None ** (1 / rho).
    if (c.isNull(key))
      c.invalid(key, "null",
                "a finite positive number (set it with --scheduler-config " +
                    std::string(key) + "=VALUE)");
    const double v = c.getDouble(key, def);
    if (!(std::isfinite(v) && v > 0))
      c.invalid(key, std::to_string(v), "a finite positive number");
    return v;
  };
  e.sigmaMin = positive("sigma_min", e.sigmaMin);
  e.sigmaMax = positive("sigma_max", e.sigmaMax);
  if (!(e.sigmaMin < e.sigmaMax))
    c.invalid("sigma_max", std::to_string(e.sigmaMax),
              "above sigma_min (" + std::to_string(e.sigmaMin) + ")");
  e.sigmaData = positive("sigma_data", e.sigmaData);
  e.rho = positive("rho", e.rho);
  e.exponential = c.getChoice("sigma_schedule", "karras",
                              {"karras", "exponential"}) == "exponential";
  e.vPrediction = c.getChoice("prediction_type", "epsilon",
                              {"epsilon", "v_prediction"}) == "v_prediction";
  return e;
}

namespace {
/// The grid as torch computes it; its values may leave float32's range.
std::vector<float> edmGrid(const EdmConfig &e, int n) {
  std::vector<float> sigmas;
  if (e.exponential) {
    // torch.linspace(log(min), log(max), n).exp().flip(0)
    for (float v :
         torchLinspaceF32(std::log(e.sigmaMin), std::log(e.sigmaMax), n))
      sigmas.push_back(torchExpF32(v));
    std::reverse(sigmas.begin(), sigmas.end());
    return sigmas;
  }
  // (max_inv_rho + ramp * (min_inv_rho - max_inv_rho)) ** rho, the inverse
  // powers in Python floats.
  const double minInv = std::pow(e.sigmaMin, 1.0 / e.rho);
  const double maxInv = std::pow(e.sigmaMax, 1.0 / e.rho);
  const float span = float(minInv - maxInv), start = float(maxInv);
  for (float r : torchLinspaceF32(0.0, 1.0, n)) {
    const float t = r * span;
    sigmas.push_back(start + t);
  }
  return torchPowScalarF32(std::move(sigmas), e.rho);
}
} // namespace

std::vector<float> edmSigmas(const EdmConfig &e, int n,
                             const std::string &name) {
  std::vector<float> sigmas = edmGrid(e, n);
  for (float v : sigmas)
    check(std::isfinite(v) && v > 0, name, ": the EDM sigma grid (sigma_min ",
          e.sigmaMin, ", sigma_max ", e.sigmaMax, ", rho ", e.rho,
          ") has a value float32 cannot hold: ", v);
  return sigmas;
}

void edmSchedule(const EdmConfig &e, int n, const std::string &name,
                 float finalSigma, std::vector<float> &sigmas,
                 std::vector<double> &timesteps) {
  sigmas = edmSigmas(e, n, name);
  timesteps.clear();
  for (float s : sigmas)
    timesteps.push_back(edmNoise(s));
  sigmas.push_back(finalSigma);
}

double edmInitNoiseSigma(const EdmConfig &e) {
  return std::pow(e.sigmaMax * e.sigmaMax + 1.0, 0.5);
}

namespace {
/// sigma**2 + sigma_data**2 on the 0-d float32 tensor.
float edmVariance(const EdmConfig &e, float sigma) {
  const float s2 = sigma * sigma;
  return s2 + float(e.sigmaData * e.sigmaData);
}
} // namespace

void edmPreconditionInputs(const EdmConfig &e, float sigma, float *sample,
                           int64_t n) {
  // 1 / (...)**0.5: reciprocal(sqrt(...)) * 1.
  const float cIn = 1.0f / std::sqrt(edmVariance(e, sigma));
  for (int64_t i = 0; i < n; ++i)
    sample[i] = sample[i] * cIn;
}

void edmPreconditionOutputs(const EdmConfig &e, float sigma,
                            const float *sample, const float *modelOutput,
                            float *out, int64_t n) {
  const float var = edmVariance(e, sigma);
  const float cSkip = (1.0f / var) * float(e.sigmaData * e.sigmaData);
  const float signedSigma = e.vPrediction ? -sigma : sigma;
  const float cOut = (signedSigma * float(e.sigmaData)) / std::sqrt(var);
  for (int64_t i = 0; i < n; ++i) {
    const float a = cSkip * sample[i], b = cOut * modelOutput[i];
    out[i] = a + b;
  }
}

void edmAddNoise(float sigma, const float *original, const float *noise,
                 float *out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float e = noise[i] * sigma;
    out[i] = original[i] + e;
  }
}

} // namespace sched
} // namespace fresco
