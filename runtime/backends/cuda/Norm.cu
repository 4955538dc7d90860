//===- Norm.cu - Layer norm, group norm, adaLN modulation -----------------===//
//
// Statistics are two-pass (mean, then squared deviations) as on the CPU: a
// one-pass E[x^2] - E[x]^2 loses digits on activations with a large mean.
// Layer norm gives each row to one warp (DiT rows are ~1K wide), and so
// does layer norm + adaLN modulation, which modulates the row before writing
// it; group norm gives each (image, group) to one block, accumulating in
// double since a group spans up to a few hundred thousand values in the VAE
// decoder.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaKernels.h"
#include "runtime/backends/cuda/CudaUtil.cuh"

namespace fresco {
namespace cuda {
namespace {

constexpr int kRowsPerBlock = 8; // warps per layer-norm block

/// Mean and 1/sqrt(var + eps) of the row xr[0, cols), computed by the
/// calling warp; every lane gets both.
__device__ inline void rowStats(const float *xr, int64_t cols, float eps,
                                int lane, float &mean, float &rstd) {
  double sum = 0.0; // exact enough for rows with a large mean
  for (int64_t c = lane; c < cols; c += 32)
    sum += xr[c];
  mean = float(warpSum(sum) / double(cols));
  float sq = 0.0f;
  for (int64_t c = lane; c < cols; c += 32) {
    const float d = xr[c] - mean;
    sq += d * d;
  }
  const float var = warpSum(sq) / float(cols); // biased, as torch's
  rstd = 1.0f / sqrtf(var + eps);
}

/// One warp per row. With shift and scale (else both null) the adaLN
/// modulation is applied to the normalised row before it is written: rows
/// are (b, t) pairs of x [B, T, D], shift and scale [B, D].
__global__ void layerNormKernel(const float *x, const float *__restrict__ gamma,
                                const float *__restrict__ beta,
                                const float *__restrict__ shift,
                                const float *__restrict__ scale, float *y,
                                int64_t rows, int64_t T, int64_t cols,
                                float eps) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows)
    return; // the whole warp leaves together
  const int lane = threadIdx.x & 31;
  const float *xr = x + row * cols;
  float *yr = y + row * cols;
  float mean, rstd;
  rowStats(xr, cols, eps, lane, mean, rstd);
  const float *sh = shift ? shift + (row / T) * cols : nullptr;
  const float *sc = scale ? scale + (row / T) * cols : nullptr;
  // y may alias x: each lane reads an element before writing it, and the
  // statistics above are complete before the first write.
  for (int64_t c = lane; c < cols; c += 32) {
    float v = (xr[c] - mean) * rstd;
    if (gamma)
      v *= gamma[c];
    if (beta)
      v += beta[c];
    // Same association as modulateKernel: v * (1 + scale) + shift.
    yr[c] = sc ? v * (1.0f + sc[c]) + sh[c] : v;
  }
}

constexpr int kGroupThreads = 512;

__global__ void groupNormKernel(const float *x, const float *__restrict__ gamma,
                                const float *__restrict__ beta, float *y,
                                int64_t groups, int64_t cpg, int64_t S,
                                float eps) {
  __shared__ double scratch[32];
  const int64_t ng = blockIdx.x, span = cpg * S;
  const float *xg = x + ng * span;
  float *yg = y + ng * span;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < span; i += blockDim.x)
    sum += xg[i];
  const double mean = blockSum(sum, scratch) / double(span);
  double sq = 0.0;
  for (int64_t i = threadIdx.x; i < span; i += blockDim.x) {
    const double d = double(xg[i]) - mean;
    sq += d * d;
  }
  const double var = blockSum(sq, scratch) / double(span);
  const float meanF = float(mean);
  const float rstd = float(1.0 / sqrt(var + double(eps)));
  const int64_t c0 = (ng % groups) * cpg;
  for (int64_t i = threadIdx.x; i < span; i += blockDim.x) {
    const int64_t c = c0 + i / S;
    const float g = gamma ? gamma[c] * rstd : rstd;
    const float b = (beta ? beta[c] : 0.0f) - meanF * g;
    yg[i] = xg[i] * g + b;
  }
}

__global__ void modulateKernel(const float *x, const float *__restrict__ shift,
                               const float *__restrict__ scale, float *y,
                               int64_t n, int64_t TD, int64_t D) {
  for (int64_t i = globalIndex(); i < n; i += gridStride()) {
    const int64_t b = i / TD, d = i % D;
    // Same association as diffusers: x * (1 + scale) + shift.
    y[i] = x[i] * (1.0f + scale[b * D + d]) + shift[b * D + d];
  }
}

} // namespace

void layerNorm(const float *x, const float *gamma, const float *beta, float *y,
               int64_t rows, int64_t cols, float eps, cudaStream_t s) {
  if (rows == 0 || cols == 0)
    return;
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  layerNormKernel<<<unsigned(blocks), kRowsPerBlock * 32, 0, s>>>(
      x, gamma, beta, nullptr, nullptr, y, rows, 1, cols, eps);
  checkLaunch("layer_norm", s);
}

void layerNormModulate(const float *x, const float *gamma, const float *beta,
                       const float *shift, const float *scale, float *y,
                       int64_t B, int64_t T, int64_t D, float eps,
                       cudaStream_t s) {
  const int64_t rows = B * T;
  if (rows == 0 || D == 0)
    return;
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  layerNormKernel<<<unsigned(blocks), kRowsPerBlock * 32, 0, s>>>(
      x, gamma, beta, shift, scale, y, rows, T, D, eps);
  checkLaunch("layer_norm_modulate", s);
}

void groupNorm(const float *x, const float *gamma, const float *beta, float *y,
               int64_t N, int64_t C, int64_t S, int64_t groups, float eps,
               cudaStream_t s) {
  if (N == 0 || C == 0 || S == 0)
    return;
  groupNormKernel<<<unsigned(N * groups), kGroupThreads, 0, s>>>(
      x, gamma, beta, y, groups, C / groups, S, eps);
  checkLaunch("group_norm", s);
}

void modulate(const float *x, const float *shift, const float *scale, float *y,
              int64_t B, int64_t T, int64_t D, cudaStream_t s) {
  const int64_t n = B * T * D;
  if (n == 0)
    return;
  modulateKernel<<<blocksFor(n), kThreads, 0, s>>>(x, shift, scale, y, n, T * D,
                                                   D);
  checkLaunch("modulate", s);
}

} // namespace cuda
} // namespace fresco
