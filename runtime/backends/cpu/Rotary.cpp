//===- Rotary.cpp - Rotary position embedding (Flux) ----------------------===//
//
// The table is computed as diffusers' FluxPosEmbed does on CPU and CUDA
// (float64 frequencies and angles, cos/sin rounded once to float32); the
// rotation rounds each product and the sum in float32, as apply_rotary_emb's
// `x * cos + x_rotated * sin` does. A fused q/k norm scales each head's row
// as rmsNorm does (rmsRstd) before rotating it.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/Parallel.h"

#include <cmath>
#include <vector>

namespace fresco {
namespace cpu {

void ropeTable(const float *ids, float *out, int64_t T, int64_t nAxes,
               const int64_t *axesDim, double theta) {
  // Per pair (all axes together): the axis it reads and its frequency
  // 1 / theta^(2j / d), as torch's float64 `theta ** (arange(0, d, 2) / d)`.
  std::vector<int64_t> axisOf;
  std::vector<double> freq;
  for (int64_t a = 0; a < nAxes; ++a) {
    const int64_t d = axesDim[a];
    for (int64_t j = 0; j < d / 2; ++j) {
      axisOf.push_back(a);
      freq.push_back(1.0 / std::pow(theta, double(2 * j) / double(d)));
    }
  }
  const int64_t P = int64_t(freq.size());
#pragma omp parallel for schedule(static) if (worthParallel(T * P * 8))
  for (int64_t t = 0; t < T; ++t) {
    float *row = out + t * P * 2;
    for (int64_t p = 0; p < P; ++p) {
      const double angle =
          double(ids[t * nAxes + axisOf[size_t(p)]]) * freq[size_t(p)];
      row[2 * p] = float(std::cos(angle));
      row[2 * p + 1] = float(std::sin(angle));
    }
  }
}

void rope(const float *x, const float *table, const float *normWeight, float *y,
          int64_t B, int64_t T, int64_t H, int64_t Dh, float eps) {
  const int64_t P = Dh / 2, rows = B * T;
#pragma omp parallel for schedule(static) if (worthParallel(rows * H * Dh))
  for (int64_t r = 0; r < rows; ++r) {
    const float *cs = table + (r % T) * P * 2;
    const float *xr = x + r * H * Dh;
    float *yr = y + r * H * Dh;
    for (int64_t h = 0; h < H; ++h) {
      const float *xh = xr + h * Dh;
      float *yh = yr + h * Dh;
      if (!normWeight) {
        for (int64_t p = 0; p < P; ++p) {
          const float x0 = xh[2 * p], x1 = xh[2 * p + 1];
          const float c = cs[2 * p], s = cs[2 * p + 1];
          const float a0 = x0 * c, b0 = x1 * s, a1 = x1 * c, b1 = x0 * s;
          yh[2 * p] = a0 - b0;
          yh[2 * p + 1] = a1 + b1;
        }
        continue;
      }
      // The fused q/k norm: rmsNorm's rounding of x * rstd * w in f32,
      // rotated before any storage rounding. The head is summed before
      // its first write, so y may alias x.
      const float rstd = rmsRstd(xh, Dh, eps);
      for (int64_t p = 0; p < P; ++p) {
        const float x0 = xh[2 * p] * rstd * normWeight[2 * p],
                    x1 = xh[2 * p + 1] * rstd * normWeight[2 * p + 1];
        const float c = cs[2 * p], s = cs[2 * p + 1];
        const float a0 = x0 * c, b0 = x1 * s, a1 = x1 * c, b1 = x0 * s;
        yh[2 * p] = a0 - b0;
        yh[2 * p + 1] = a1 + b1;
      }
    }
  }
}

} // namespace cpu
} // namespace fresco
