//===- Norm.cpp - Layer normalisation and adaLN modulation ----------------===//
//
// Row-wise kernels, parallel over rows. Layer norm takes its statistics in
// double over two passes (mean, then squared deviations): a one-pass float
// E[x^2] - E[x]^2 loses digits on activations with a large mean. The fused
// layer norm + modulation writes each row once instead of twice and never
// rereads it from memory. Group norm over positions split across ranks
// shares the group norm's moments and normalisation: each block's mean and
// M2 out, every block's combined in (Chan et al.); where a block's rows
// are partly padding (GroupNormAttrs.valid_rows) its moments cover the real
// positions only and the combination weighs each block by their count.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/GroupMoments.h"
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/Parallel.h"
#include "runtime/core/Error.h"

#include <algorithm>
#include <cmath>

namespace fresco {
namespace cpu {
namespace {

/// Mean and M2 (the sum of squared deviations from the mean) of x[0, n),
/// in double over two passes.
struct Moments {
  double mean, m2;
};
Moments momentsOf(const float *x, int64_t n) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i)
    sum += x[i];
  const double mean = sum / double(n);
  double sq = 0.0;
#pragma omp simd reduction(+ : sq)
  for (int64_t i = 0; i < n; ++i) {
    const double d = double(x[i]) - mean;
    sq += d * d;
  }
  return {mean, sq};
}

/// momentsOf over the first `valid` positions of each of `planes` planes of
/// S positions (x contiguous); no positions: both 0.
Moments momentsOfPlanes(const float *x, int64_t planes, int64_t S,
                        int64_t valid) {
  if (planes == 0 || valid == 0)
    return {0.0, 0.0};
  double sum = 0.0;
  for (int64_t c = 0; c < planes; ++c) {
    const float *xc = x + c * S;
#pragma omp simd reduction(+ : sum)
    for (int64_t i = 0; i < valid; ++i)
      sum += xc[i];
  }
  const double mean = sum / double(planes * valid);
  double sq = 0.0;
  for (int64_t c = 0; c < planes; ++c) {
    const float *xc = x + c * S;
#pragma omp simd reduction(+ : sq)
    for (int64_t i = 0; i < valid; ++i) {
      const double d = double(xc[i]) - mean;
      sq += d * d;
    }
  }
  return {mean, sq};
}

/// Mean and 1/sqrt(var + eps) of x[0, n), var biased as torch's norms.
struct Stats {
  float mean, rstd;
};
Stats statsOf(const Moments &m, int64_t n, float eps) {
  return {float(m.mean),
          float(1.0 / std::sqrt(m.m2 / double(n) + double(eps)))};
}
Stats statsOf(const float *x, int64_t n, float eps) {
  return statsOf(momentsOf(x, n), n, eps);
}

/// Normalises group `ng` (its cpg channels of S positions each, contiguous)
/// by `st`, then applies gamma/beta (optional [C]).
void normaliseGroup(const float *xg, float *yg, Stats st, const float *gamma,
                    const float *beta, int64_t ng, int64_t groups, int64_t cpg,
                    int64_t S) {
  const int64_t c0 = (ng % groups) * cpg;
  for (int64_t c = 0; c < cpg; ++c) {
    // Fold the affine transform into one multiply-add per element.
    const float g = gamma ? gamma[c0 + c] * st.rstd : st.rstd;
    const float b = (beta ? beta[c0 + c] : 0.0f) - st.mean * g;
    const float *xc = xg + c * S;
    float *yc = yg + c * S;
    for (int64_t i = 0; i < S; ++i)
      yc[i] = xc[i] * g + b;
  }
}

} // namespace

void layerNorm(const float *x, const float *gamma, const float *beta, float *y,
               int64_t rows, int64_t cols, float eps) {
  if (rows == 0 || cols == 0)
    return;
#pragma omp parallel for schedule(static) if (worthParallel(rows * cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    const auto [meanF, rstd] = statsOf(xr, cols, eps);
    if (gamma && beta) {
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = (xr[c] - meanF) * rstd * gamma[c] + beta[c];
    } else if (gamma) {
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = (xr[c] - meanF) * rstd * gamma[c];
    } else if (beta) {
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = (xr[c] - meanF) * rstd + beta[c];
    } else {
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = (xr[c] - meanF) * rstd;
    }
  }
}

float rmsRstd(const float *x, int64_t n, float eps) {
  double sq = 0.0;
#pragma omp simd reduction(+ : sq)
  for (int64_t c = 0; c < n; ++c)
    sq += double(x[c]) * double(x[c]);
  return float(1.0 / std::sqrt(sq / double(n) + double(eps)));
}

void rmsNorm(const float *x, const float *gamma, float *y, int64_t rows,
             int64_t cols, float eps) {
  if (rows == 0 || cols == 0)
    return;
#pragma omp parallel for schedule(static) if (worthParallel(rows * cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * cols;
    float *yr = y + r * cols;
    const float rstd = rmsRstd(xr, cols, eps);
    if (gamma)
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = xr[c] * rstd * gamma[c];
    else
      for (int64_t c = 0; c < cols; ++c)
        yr[c] = xr[c] * rstd;
  }
}

void layerNormModulate(const float *x, const float *gamma, const float *beta,
                       const float *shift, const float *scale, float *y,
                       int64_t B, int64_t T, int64_t D, float eps) {
  const int64_t rows = B * T;
  if (rows == 0 || D == 0)
    return;
#pragma omp parallel for schedule(static) if (worthParallel(rows * D))
  for (int64_t r = 0; r < rows; ++r) {
    const float *xr = x + r * D;
    const float *sh = shift + (r / T) * D;
    const float *sc = scale + (r / T) * D;
    float *yr = y + r * D;
    const auto [meanF, rstd] = statsOf(xr, D, eps);
    // One pass for the norm and the modulation, in the unfused order:
    // ((x - mean) * rstd [* gamma + beta]) * (1 + scale) + shift. y may
    // alias x: each element is read before it is written. Branch-free
    // loops for the two forms plans use, so they vectorise.
    if (gamma && beta) {
      for (int64_t c = 0; c < D; ++c)
        yr[c] = ((xr[c] - meanF) * rstd * gamma[c] + beta[c]) * (1.0f + sc[c]) +
                sh[c];
    } else if (!gamma && !beta) {
      for (int64_t c = 0; c < D; ++c)
        yr[c] = (xr[c] - meanF) * rstd * (1.0f + sc[c]) + sh[c];
    } else {
      for (int64_t c = 0; c < D; ++c) {
        float v = (xr[c] - meanF) * rstd;
        if (gamma)
          v *= gamma[c];
        if (beta)
          v += beta[c];
        yr[c] = v * (1.0f + sc[c]) + sh[c];
      }
    }
  }
}

void groupNorm(const float *x, const float *gamma, const float *beta, float *y,
               int64_t N, int64_t C, int64_t S, int64_t groups, float eps) {
  if (N == 0 || C == 0 || S == 0)
    return;
  const int64_t cpg = C / groups, span = cpg * S; // one group is contiguous
#pragma omp parallel for schedule(static) if (worthParallel(N * C * S))
  for (int64_t ng = 0; ng < N * groups; ++ng)
    normaliseGroup(x + ng * span, y + ng * span,
                   statsOf(x + ng * span, span, eps), gamma, beta, ng, groups,
                   cpg, S);
}

void groupNormStats(const float *x, float *stats, int64_t N, int64_t C,
                    int64_t S, int64_t groups, int64_t valid) {
  check(valid >= 0 && valid <= S, "groupNormStats: ", valid,
        " valid positions per plane, outside [0, ", S, "]");
  const int64_t cpg = C / groups, span = cpg * S;
  if (span == 0) { // an empty block: a count of 0 weighs nothing
    std::fill(stats, stats + 2 * N * groups, 0.0f);
    return;
  }
#pragma omp parallel for schedule(static) if (worthParallel(N * C * S))
  for (int64_t ng = 0; ng < N * groups; ++ng) {
    // Every position real: the unsplit kernel's own pass over the span.
    const Moments m = valid == S
                          ? momentsOf(x + ng * span, span)
                          : momentsOfPlanes(x + ng * span, cpg, S, valid);
    stats[2 * ng] = float(m.mean);
    stats[2 * ng + 1] = float(m.m2);
  }
}

void groupNormApply(const float *x, const float *partials, int64_t parts,
                    const int64_t *valid, const float *gamma, const float *beta,
                    float *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                    float eps) {
  if (N == 0 || C == 0 || S == 0)
    return;
  check(parts > 0, "groupNormApply: no partial statistics");
  if (valid)
    for (int64_t p = 0; p < parts; ++p)
      check(valid[p] >= 0 && valid[p] <= S, "groupNormApply: block ", p,
            " has ", valid[p], " valid positions per plane, outside [0, ", S,
            "]");
  const int64_t cpg = C / groups, span = cpg * S, stride = 2 * N * groups;
#pragma omp parallel for schedule(static) if (worthParallel(N * C * S))
  for (int64_t ng = 0; ng < N * groups; ++ng) {
    double mean, m2, total = double(parts * span);
    if (valid)
      combineGroupMomentsWeighted(partials, parts, stride, ng, cpg, valid, mean,
                                  m2, total);
    else
      combineGroupMoments(partials, parts, stride, ng, span, mean, m2);
    // No real position at all (not a plan's: its first band has some):
    // M2 is 0, so any count keeps the result finite.
    const int64_t n = total > 0.0 ? int64_t(total) : 1;
    normaliseGroup(x + ng * span, y + ng * span,
                   statsOf(Moments{mean, m2}, n, eps), gamma, beta, ng, groups,
                   cpg, S);
  }
}

void modulate(const float *x, const float *shift, const float *scale, float *y,
              int64_t B, int64_t T, int64_t D) {
  const int64_t rows = B * T;
  if (rows == 0 || D == 0)
    return;
#pragma omp parallel for schedule(static) if (worthParallel(rows * D))
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t b = r / T;
    const float *xr = x + r * D;
    const float *sh = shift + b * D;
    const float *sc = scale + b * D;
    float *yr = y + r * D;
    // Same association as diffusers: x * (1 + scale) + shift.
    for (int64_t d = 0; d < D; ++d)
      yr[d] = xr[d] * (1.0f + sc[d]) + sh[d];
  }
}

} // namespace cpu
} // namespace fresco
