//===- DPMSolverCommon.cpp - DPM-Solver updates both solvers share --------===//
//
// Float32 throughout, in diffusers' order of operations: the per-step
// coefficients are 0-d float32 tensors there (alpha, sigma, lambda, h,
// exp(-h)), then one elementwise pass.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/DPMSolverCommon.h"
#include "runtime/core/Error.h"

#include <cmath>

namespace fresco {
namespace sched {
namespace {

/// The SDE variants' coefficients at one step: x_t = cs x + c0 D0 (+ c1 D1)
/// + cn noise for sde-dpmsolver++; x_t = cs x - c0 D0 - c1 D1 + cn noise for
/// sde-dpmsolver.
struct SdeCoefficients {
  float cs, c0, c1, cn;
};

SdeCoefficients sdeCoefficients(const DpmVariant &v, const AlphaSigma &t,
                                const AlphaSigma &s, float h) {
  SdeCoefficients k;
  if (v.plusPlus) {
    const float e = torchExpF32(-h), e2 = torchExpF32(-2.0f * h);
    k.cs = (t.sigma / s.sigma) * e;
    const float oneMinus = 1.0f - e2;
    k.c0 = t.alpha * oneMinus;
    k.c1 = v.heun ? t.alpha * (oneMinus / (-2.0f * h) + 1.0f) : 0.5f * k.c0;
    k.cn = t.sigma * std::sqrt(oneMinus);
  } else {
    const float e = torchExpF32(h) - 1.0f, e2 = torchExpF32(2.0f * h) - 1.0f;
    k.cs = t.alpha / s.alpha;
    const float c = t.sigma * e;
    k.c0 = 2.0f * c;
    k.c1 = v.heun ? 2.0f * (t.sigma * (e / h - 1.0f)) : c;
    k.cn = t.sigma * std::sqrt(e2);
  }
  return k;
}

} // namespace

AlphaSigma dpmAlphaSigma(const DpmVariant &v, float sigma) {
  if (!v.edm)
    return alphaSigma(sigma);
  return {1.0f, sigma, 0.0f - torchLogF32(sigma)};
}

DpmVariant readDpmVariant(const Config &c, bool singlestep, bool edm) {
  DpmVariant v;
  if (edm) {
    v.edm = readEdmConfig(c);
    v.prediction = v.edm->vPrediction ? Prediction::V : Prediction::Epsilon;
  } else {
    v.prediction = readPrediction(c, "epsilon, sample or v_prediction");
  }
  c.requireFalse("thresholding");
  const std::string algo = c.getString("algorithm_type", "dpmsolver++");
  if (algo == "dpmsolver++" || algo == "deis") // diffusers maps deis to ++
    v.plusPlus = true;
  else if (algo == "dpmsolver" && !edm)
    v.plusPlus = false;
  else if (algo == "sde-dpmsolver++" ||
           (algo == "sde-dpmsolver" && !singlestep && !edm))
    v.plusPlus = algo == "sde-dpmsolver++", v.sde = true;
  else
    c.invalid("algorithm_type", "\"" + algo + "\"",
              edm ? "dpmsolver++ or sde-dpmsolver++"
              : singlestep
                  ? "dpmsolver++, dpmsolver or sde-dpmsolver++"
                  : "dpmsolver++, dpmsolver, sde-dpmsolver++ or sde-dpmsolver");

  const std::string solver = c.getString("solver_type", "midpoint");
  if (solver == "heun")
    v.heun = true;
  else if (solver == "midpoint" || solver == "logrho" || solver == "bh1" ||
           solver == "bh2") // diffusers maps the UniPC/DEIS names
    v.heun = false;
  else
    c.invalid("solver_type", "\"" + solver + "\"", "midpoint or heun");

  if (edm) // no variance_type key
    return v;
  const std::string variance = c.getString("variance_type", "");
  if (variance == "learned" || variance == "learned_range")
    c.unsupported("variance_type", "\"" + variance + "\"",
                  "null; split learned-sigma channels off the model output "
                  "before the scheduler");
  return v;
}

bool readDpmFinalZero(const Config &c, const std::string &name) {
  const bool zero = !readFinalSigmaMin(c);
  const std::string algo = c.getString("algorithm_type", "dpmsolver++");
  if (algo != "dpmsolver++" && algo != "sde-dpmsolver++" && zero)
    fail(name,
         ": scheduler config key 'final_sigmas_type' = \"zero\" is "
         "not valid with algorithm_type \"",
         algo, "\" (use \"sigma_min\")");
  return zero;
}

int64_t lambdaClippedCount(const SigmaTables &tables, double lambdaMinClipped) {
  const float bound = float(lambdaMinClipped);
  int64_t clipped = 0;
  for (size_t i = tables.alphasCumprod.size(); i-- > 0;) {
    const float a = std::sqrt(tables.alphasCumprod[i]);
    const float s = std::sqrt(1.0f - tables.alphasCumprod[i]);
    const float lambda = torchLogF32(a) - torchLogF32(s);
    if (lambda < bound)
      ++clipped;
    else
      break;
  }
  return clipped;
}

void dpmAddNoise(float sigma, const float *original, const float *noise,
                 float *out, int64_t n) {
  const AlphaSigma as = alphaSigma(sigma);
  for (int64_t i = 0; i < n; ++i) {
    const float x = as.alpha * original[i], e = as.sigma * noise[i];
    out[i] = x + e;
  }
}

void dpmConvertModelOutput(const DpmVariant &v, const float *mo,
                           const float *sample, int64_t n, float sigma,
                           float *out) {
  if (v.edm) { // precondition_outputs; thresholding is refused
    edmPreconditionOutputs(*v.edm, sigma, sample, mo, out, n);
    return;
  }
  const AlphaSigma as = alphaSigma(sigma);
  for (int64_t k = 0; k < n; ++k) {
    const float s = sample[k], m = mo[k];
    float r = 0;
    if (v.plusPlus) { // the data prediction x0
      switch (v.prediction) {
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
      switch (v.prediction) {
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

void dpmFirstOrder(const DpmVariant &v, float to, float from, const float *m0,
                   float *sample, int64_t n, const float *noise) {
  const AlphaSigma t = dpmAlphaSigma(v, to);
  const AlphaSigma s = dpmAlphaSigma(v, from);
  const float h = t.lambda - s.lambda;
  if (v.sde) {
    const SdeCoefficients k = sdeCoefficients(v, t, s, h);
    for (int64_t e = 0; e < n; ++e) {
      const float a = k.cs * sample[e], b = k.c0 * m0[e];
      const float x = v.plusPlus ? a + b : a - b;
      const float c = k.cn * noise[e];
      sample[e] = x + c;
    }
    return;
  }
  float cs, cm;
  if (v.plusPlus) {
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

void dpmSecondOrder(const DpmVariant &v, float to, float base, float h,
                    float r0, const float *d0, const float *m0, const float *m1,
                    float *sample, int64_t n, const float *noise) {
  const AlphaSigma t = dpmAlphaSigma(v, to);
  const AlphaSigma s = dpmAlphaSigma(v, base);
  const float invR0 = 1.0f / r0;
  if (v.sde) {
    const SdeCoefficients k = sdeCoefficients(v, t, s, h);
    for (int64_t e = 0; e < n; ++e) {
      const float diff = m0[e] - m1[e];
      const float d1 = invR0 * diff;
      const float a = k.cs * sample[e], b = k.c0 * d0[e];
      const float x = v.plusPlus ? a + b : a - b;
      const float c = k.c1 * d1;
      const float y = v.plusPlus ? x + c : x - c;
      const float d = k.cn * noise[e];
      sample[e] = y + d;
    }
    return;
  }
  float cs, c0, c1;
  bool addD1; // x_t = cs*x - c0*D0 (+|-) c1*D1
  if (v.plusPlus) {
    const float e = torchExpF32(-h) - 1.0f;
    cs = t.sigma / s.sigma;
    c0 = t.alpha * e;
    if (v.heun) {
      c1 = t.alpha * (e / h + 1.0f);
      addD1 = true;
    } else {
      c1 = 0.5f * c0;
      addD1 = false;
    }
  } else {
    const float e = torchExpF32(h) - 1.0f;
    cs = t.alpha / s.alpha;
    c0 = t.sigma * e;
    c1 = v.heun ? t.sigma * (e / h - 1.0f) : 0.5f * c0;
    addD1 = false;
  }
  for (int64_t k = 0; k < n; ++k) {
    const float diff = m0[k] - m1[k];
    const float d1 = invR0 * diff;
    const float a = cs * sample[k], b = c0 * d0[k];
    const float x = a - b;
    const float c = c1 * d1;
    sample[k] = addD1 ? x + c : x - c;
  }
}

} // namespace sched
} // namespace fresco
