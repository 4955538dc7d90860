//===- Fp8Gemm.cpp - FP8 linear, emulated exactly on the CPU --------------===//
//
// The CPU backends' FP8 GEMM is an emulation for numerics, not a faster
// path: every operand is rounded to e4m3 as a GPU's FP8 GEMM sees it
// (runtime/core/Fp8.h), but the products run in an f32 sgemm over the
// e4m3 values. Products of two e4m3 values are exact in f32 and the sums
// are f32, as on the GPU (only the order of the additions differs), so
// the errors measured here are those of the FP8 format, not of this code.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/Parallel.h"
#include "runtime/core/Fp8.h"

#include <algorithm>

namespace fresco {
namespace cpu {

void linearFp8(const float *x, const Fp8Weight &w, const float *b, float *y,
               int64_t M, int64_t K, int64_t N, const UnaryKind *act,
               Scratch &values, Scratch &rowScales) {
  if (M == 0 || N == 0)
    return;
  float *q = values.get(size_t(std::max<int64_t>(M * K, 1)));
  float *sx = rowScales.get(size_t(M));
  // Per-token scales: each row of x on its own (quantizeRows per row).
#pragma omp parallel for schedule(static) if (worthParallel(M * K))
  for (int64_t m = 0; m < M; ++m)
    fp8::quantizeRows(x + m * K, 1, K, q + m * K, sx + m);
  // y = q w^T over the e4m3 values, then both scales and the bias in f32.
  linear(q, static_cast<const float *>(w.values), nullptr, nullptr, y, M, K, N);
  const float *sw = w.scales;
#pragma omp parallel for schedule(static) if (worthParallel(M * N))
  for (int64_t m = 0; m < M; ++m) {
    float *row = y + m * N;
    for (int64_t n = 0; n < N; ++n)
      row[n] = row[n] * (sx[m] * sw[n]) + (b ? b[n] : 0.0f);
  }
  if (act)
    unary(*act, y, y, M * N);
}

} // namespace cpu
} // namespace fresco
