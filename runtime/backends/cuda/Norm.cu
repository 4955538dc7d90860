//===- Norm.cu - Layer norm, group norm, adaLN modulation -----------------===//
//
// Statistics are two-pass (mean, then squared deviations) as on the CPU: a
// one-pass E[x^2] - E[x]^2 loses digits on activations with a large mean.
// Layer norm gives each row to one warp (DiT rows are ~1K wide), and so
// does layer norm + adaLN modulation, which modulates the row before writing
// it; group norm gives each (image, group) to one block, accumulating in
// double since a group spans up to a few hundred thousand values in the VAE
// decoder. Every tensor is in the float storage T; statistics and the
// normalised values are f32, rounded once when y is written.
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
template <typename T>
__device__ inline void rowStats(const T *xr, int64_t cols, float eps, int lane,
                                float &mean, float &rstd) {
  double sum = 0.0; // exact enough for rows with a large mean
  for (int64_t c = lane; c < cols; c += 32)
    sum += toFloat(xr[c]);
  mean = float(warpSum(sum) / double(cols));
  float sq = 0.0f;
  for (int64_t c = lane; c < cols; c += 32) {
    const float d = toFloat(xr[c]) - mean;
    sq += d * d;
  }
  const float var = warpSum(sq) / float(cols); // biased, as torch's
  rstd = 1.0f / sqrtf(var + eps);
}

/// One warp per row. With shift and scale (else both null) the adaLN
/// modulation is applied to the normalised row before it is written: rows
/// are (b, t) pairs of x [B, T, D], shift and scale [B, D].
template <typename T>
__global__ void layerNormKernel(const T *x, const T *__restrict__ gamma,
                                const T *__restrict__ beta,
                                const T *__restrict__ shift,
                                const T *__restrict__ scale, T *y, int64_t rows,
                                int64_t tokens, int64_t cols, float eps) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows)
    return; // the whole warp leaves together
  const int lane = threadIdx.x & 31;
  const T *xr = x + row * cols;
  T *yr = y + row * cols;
  float mean, rstd;
  rowStats(xr, cols, eps, lane, mean, rstd);
  const T *sh = shift ? shift + (row / tokens) * cols : nullptr;
  const T *sc = scale ? scale + (row / tokens) * cols : nullptr;
  // y may alias x: each lane reads an element before writing it, and the
  // statistics above are complete before the first write.
  for (int64_t c = lane; c < cols; c += 32) {
    float v = (toFloat(xr[c]) - mean) * rstd;
    if (gamma)
      v *= toFloat(gamma[c]);
    if (beta)
      v += toFloat(beta[c]);
    // Same association as modulateKernel: v * (1 + scale) + shift.
    if (sc)
      v = v * (1.0f + toFloat(sc[c])) + toFloat(sh[c]);
    yr[c] = fromFloat<T>(v);
  }
}

/// One warp per row, as layerNormKernel: the mean square in double.
template <typename T>
__global__ void rmsNormKernel(const T *x, const T *__restrict__ gamma, T *y,
                              int64_t rows, int64_t cols, float eps) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows)
    return; // the whole warp leaves together
  const int lane = threadIdx.x & 31;
  const T *xr = x + row * cols;
  T *yr = y + row * cols;
  double sq = 0.0;
  for (int64_t c = lane; c < cols; c += 32) {
    const double v = toFloat(xr[c]);
    sq += v * v;
  }
  const float rstd = float(rsqrt(warpSum(sq) / double(cols) + double(eps)));
  // y may alias x: the sum is complete before the first write.
  for (int64_t c = lane; c < cols; c += 32) {
    float v = toFloat(xr[c]) * rstd;
    if (gamma)
      v *= toFloat(gamma[c]);
    yr[c] = fromFloat<T>(v);
  }
}

constexpr int kGroupThreads = 512;

template <typename T>
__global__ void groupNormKernel(const T *x, const T *__restrict__ gamma,
                                const T *__restrict__ beta, T *y,
                                int64_t groups, int64_t cpg, int64_t S,
                                float eps) {
  __shared__ double scratch[32];
  const int64_t ng = blockIdx.x, span = cpg * S;
  const T *xg = x + ng * span;
  T *yg = y + ng * span;
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < span; i += blockDim.x)
    sum += toFloat(xg[i]);
  const double mean = blockSum(sum, scratch) / double(span);
  double sq = 0.0;
  for (int64_t i = threadIdx.x; i < span; i += blockDim.x) {
    const double d = double(toFloat(xg[i])) - mean;
    sq += d * d;
  }
  const double var = blockSum(sq, scratch) / double(span);
  const float meanF = float(mean);
  const float rstd = float(1.0 / sqrt(var + double(eps)));
  const int64_t c0 = (ng % groups) * cpg;
  for (int64_t i = threadIdx.x; i < span; i += blockDim.x) {
    const int64_t c = c0 + i / S;
    const float g = gamma ? toFloat(gamma[c]) * rstd : rstd;
    const float b = (beta ? toFloat(beta[c]) : 0.0f) - meanF * g;
    yg[i] = fromFloat<T>(toFloat(xg[i]) * g + b);
  }
}

template <typename T>
__global__ void modulateKernel(const T *x, const T *__restrict__ shift,
                               const T *__restrict__ scale, T *y, int64_t n,
                               int64_t TD, int64_t D) {
  for (int64_t i = globalIndex(); i < n; i += gridStride()) {
    const int64_t b = i / TD, d = i % D;
    // Same association as diffusers: x * (1 + scale) + shift.
    y[i] = fromFloat<T>(toFloat(x[i]) * (1.0f + toFloat(scale[b * D + d])) +
                        toFloat(shift[b * D + d]));
  }
}

} // namespace

void layerNorm(const void *x, const void *gamma, const void *beta, void *y,
               int64_t rows, int64_t cols, float eps, DType storage,
               cudaStream_t s) {
  if (rows == 0 || cols == 0)
    return;
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  withStorage(storage, "layer_norm", [&](auto t) {
    using T = typename decltype(t)::type;
    layerNormKernel<T><<<unsigned(blocks), kRowsPerBlock * 32, 0, s>>>(
        static_cast<const T *>(x), static_cast<const T *>(gamma),
        static_cast<const T *>(beta), nullptr, nullptr, static_cast<T *>(y),
        rows, 1, cols, eps);
  });
  checkLaunch("layer_norm", s);
}

void rmsNorm(const void *x, const void *gamma, void *y, int64_t rows,
             int64_t cols, float eps, DType storage, cudaStream_t s) {
  if (rows == 0 || cols == 0)
    return;
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  withStorage(storage, "rms_norm", [&](auto t) {
    using T = typename decltype(t)::type;
    rmsNormKernel<T><<<unsigned(blocks), kRowsPerBlock * 32, 0, s>>>(
        static_cast<const T *>(x), static_cast<const T *>(gamma),
        static_cast<T *>(y), rows, cols, eps);
  });
  checkLaunch("rms_norm", s);
}

void layerNormModulate(const void *x, const void *gamma, const void *beta,
                       const void *shift, const void *scale, void *y, int64_t B,
                       int64_t T, int64_t D, float eps, DType storage,
                       cudaStream_t s) {
  const int64_t rows = B * T;
  if (rows == 0 || D == 0)
    return;
  const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
  withStorage(storage, "layer_norm_modulate", [&](auto t) {
    using E = typename decltype(t)::type;
    layerNormKernel<E><<<unsigned(blocks), kRowsPerBlock * 32, 0, s>>>(
        static_cast<const E *>(x), static_cast<const E *>(gamma),
        static_cast<const E *>(beta), static_cast<const E *>(shift),
        static_cast<const E *>(scale), static_cast<E *>(y), rows, T, D, eps);
  });
  checkLaunch("layer_norm_modulate", s);
}

void groupNorm(const void *x, const void *gamma, const void *beta, void *y,
               int64_t N, int64_t C, int64_t S, int64_t groups, float eps,
               DType storage, cudaStream_t s) {
  if (N == 0 || C == 0 || S == 0)
    return;
  withStorage(storage, "group_norm", [&](auto t) {
    using T = typename decltype(t)::type;
    groupNormKernel<T><<<unsigned(N * groups), kGroupThreads, 0, s>>>(
        static_cast<const T *>(x), static_cast<const T *>(gamma),
        static_cast<const T *>(beta), static_cast<T *>(y), groups, C / groups,
        S, eps);
  });
  checkLaunch("group_norm", s);
}

void modulate(const void *x, const void *shift, const void *scale, void *y,
              int64_t B, int64_t T, int64_t D, DType storage, cudaStream_t s) {
  const int64_t n = B * T * D;
  if (n == 0)
    return;
  withStorage(storage, "modulate", [&](auto t) {
    using E = typename decltype(t)::type;
    modulateKernel<E><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<const E *>(x), static_cast<const E *>(shift),
        static_cast<const E *>(scale), static_cast<E *>(y), n, T * D, D);
  });
  checkLaunch("modulate", s);
}

} // namespace cuda
} // namespace fresco
