//===- Norm.cu - Layer norm, group norm, adaLN modulation -----------------===//
//
// Statistics are two-pass (mean, then squared deviations) as on the CPU: a
// one-pass E[x^2] - E[x]^2 loses digits on activations with a large mean.
// Layer norm (+ adaLN modulation, which modulates the row before writing
// it) and RMS norm read each row once into registers, 16 bytes a load,
// a block per wide row or a group of lanes per narrow one (VectorPlan.h:
// rows a whole number of vectors, aligned pointers, at most 2048 vectors
// wide); other rows take one warp each, reading x once per pass. Group
// norm gives each (image, group) to one block, accumulating in double
// since a group spans up to a few hundred thousand values in the VAE
// decoder; split across ranks (GroupNormAttrs.stats_members) one kernel
// writes each block's mean and M2, another combines every block's and
// normalises; where a block's rows are partly padding
// (GroupNormAttrs.valid_rows) its moments cover the real positions only
// and the combination weighs the blocks by their counts, passed by value
// (GroupPartCounts). Every tensor is in the float storage T; statistics
// and the normalised values are f32, rounded once when y is written.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/GroupMoments.h"
#include "runtime/backends/cuda/CudaKernels.h"
#include "runtime/backends/cuda/CudaUtil.cuh"
#include "runtime/backends/cuda/VectorPlan.h"

#include <algorithm>

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

/// The fallback of layerNormVecKernel: one warp per row. With shift and
/// scale (else both null) the adaLN modulation is applied to the normalised
/// row before it is written: rows are (b, t) pairs of x [B, T, D], shift
/// and scale [B, D].
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
  const float rstd = warpRowRstd(xr, cols, lane, eps);
  // y may alias x: the sum is complete before the first write.
  for (int64_t c = lane; c < cols; c += 32) {
    float v = toFloat(xr[c]) * rstd;
    if (gamma)
      v *= toFloat(gamma[c]);
    yr[c] = fromFloat<T>(v);
  }
}

/// The vector path's sum over the threads holding a row (NormPlan): lane
/// groups of a warp by shuffles, a whole block through `scratch`.
template <typename V>
__device__ inline V rowSum(V v, int rowThreads, V *scratch) {
  if (rowThreads > 32)
    return blockSum(v, scratch);
  for (int o = rowThreads / 2; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/// The vector path: each row is read once into registers by its threads
/// (vec::forEachNormSlot) and the two-pass statistics are taken from
/// there. Rows past the end still join the reductions, holding nothing.
/// Loads this thread's vectors of row xr into `held` (when `valid`) and
/// returns its part of the row's sum of f(element), in double, for rowSum.
template <typename T, typename F>
__device__ inline double holdRow(const T *xr, int cols, int rt, int tid,
                                 bool valid, Vec16<T> *held, F f) {
  constexpr int W = Vec16<T>::kWidth;
  double s = 0.0;
  if (valid)
    vec::forEachNormSlot(cols, W, rt, tid, [&](int k, int c) {
      held[k] = Vec16<T>::load(xr + c);
      for (int i = 0; i < W; ++i)
        s += f(held[k].get(i));
    });
  return s;
}

/// __launch_bounds__: blocks have up to kNormMaxThreads threads (bf16
/// layer norm then takes 96 registers; capped at 64 it spills).
template <typename T>
__global__ void __launch_bounds__(vec::kNormMaxThreads)
    layerNormVecKernel(const T *x, const T *__restrict__ gamma,
                       const T *__restrict__ beta, const T *__restrict__ shift,
                       const T *__restrict__ scale, T *y, int64_t rows,
                       int64_t tokens, int cols, float eps,
                       vec::NormPlan plan) {
  constexpr int W = Vec16<T>::kWidth;
  __shared__ double scratchD[32];
  __shared__ float scratchF[32];
  const int rt = plan.rowThreads;
  vec::forEachNormRow(
      rows, plan, blockIdx.x, gridDim.x, threadIdx.x,
      [&](int64_t row, bool valid, int tid) {
        const T *xr = x + row * cols;
        T *yr = y + row * cols;
        Vec16<T> held[vec::kNormSlots];
        // In double, as rowStats.
        const double sum = holdRow(xr, cols, rt, tid, valid, held,
                                   [](float v) { return double(v); });
        const float mean = float(rowSum(sum, rt, scratchD) / double(cols));
        float sq = 0.0f;
        if (valid)
          vec::forEachNormSlot(cols, W, rt, tid, [&](int k, int) {
            for (int i = 0; i < W; ++i) {
              const float d = held[k].get(i) - mean;
              sq += d * d;
            }
          });
        const float var = rowSum(sq, rt, scratchF) / float(cols); // biased
        const float rstd = 1.0f / sqrtf(var + eps);
        if (!valid)
          return;
        const T *sh = shift ? shift + (row / tokens) * cols : nullptr;
        const T *sc = scale ? scale + (row / tokens) * cols : nullptr;
        // y may alias x: the row is in registers before the first write.
        vec::forEachNormSlot(cols, W, rt, tid, [&](int k, int c) {
          Vec16<T> g, b, shv, scv, out;
          if (gamma)
            g = Vec16<T>::load(gamma + c);
          if (beta)
            b = Vec16<T>::load(beta + c);
          if (sc) {
            shv = Vec16<T>::load(sh + c);
            scv = Vec16<T>::load(sc + c);
          }
          for (int i = 0; i < W; ++i) {
            float v = (held[k].get(i) - mean) * rstd;
            if (gamma)
              v *= g.get(i);
            if (beta)
              v += b.get(i);
            if (sc) // as layerNormKernel
              v = v * (1.0f + scv.get(i)) + shv.get(i);
            out.set(i, v);
          }
          out.store(yr + c);
        });
      });
}

/// RMS norm by the same plan; the mean square in double, as rmsNormKernel.
template <typename T>
__global__ void __launch_bounds__(vec::kNormMaxThreads)
    rmsNormVecKernel(const T *x, const T *__restrict__ gamma, T *y,
                     int64_t rows, int cols, float eps, vec::NormPlan plan) {
  constexpr int W = Vec16<T>::kWidth;
  __shared__ double scratch[32];
  const int rt = plan.rowThreads;
  vec::forEachNormRow(
      rows, plan, blockIdx.x, gridDim.x, threadIdx.x,
      [&](int64_t row, bool valid, int tid) {
        const T *xr = x + row * cols;
        T *yr = y + row * cols;
        Vec16<T> held[vec::kNormSlots];
        const double sq =
            holdRow(xr, cols, rt, tid, valid, held, [](float v) {
              const double d = v;
              return d * d;
            });
        const float rstd =
            float(rsqrt(rowSum(sq, rt, scratch) / double(cols) + double(eps)));
        if (!valid)
          return;
        vec::forEachNormSlot(cols, W, rt, tid, [&](int k, int c) {
          Vec16<T> g, out;
          if (gamma)
            g = Vec16<T>::load(gamma + c);
          for (int i = 0; i < W; ++i) {
            float v = held[k].get(i) * rstd;
            if (gamma)
              v *= g.get(i);
            out.set(i, v);
          }
          out.store(yr + c);
        });
      });
}

/// The vector path's plan for these rows and pointers (rowThreads 0: the
/// warp kernels), and its grid.
template <typename T>
vec::NormPlan normVectorPlan(int64_t cols, const void *x, const void *y,
                             const void *gamma, const void *beta,
                             const void *shift, const void *scale) {
  if (!vec::normVectorizable(x, y, gamma, beta, shift, scale))
    return {};
  return vec::normPlan(cols, Vec16<T>::kWidth);
}
unsigned normBlocks(int64_t rows, const vec::NormPlan &p) {
  return unsigned(
      std::min((rows + p.rowsPerBlock - 1) / p.rowsPerBlock, kMaxBlocks));
}

constexpr int kGroupThreads = 512;

/// Mean and M2 (the sum of squared deviations from the mean) of xg[0,
/// span), in double, computed by the whole block; every thread gets both.
template <typename T>
__device__ void groupMoments(const T *xg, int64_t span, double *scratch,
                             double &mean, double &m2) {
  double sum = 0.0;
  for (int64_t i = threadIdx.x; i < span; i += blockDim.x)
    sum += toFloat(xg[i]);
  mean = blockSum(sum, scratch) / double(span);
  double sq = 0.0;
  for (int64_t i = threadIdx.x; i < span; i += blockDim.x) {
    const double d = double(toFloat(xg[i])) - mean;
    sq += d * d;
  }
  m2 = blockSum(sq, scratch);
}

/// Calls f(i / n, i % n) for this thread's i = threadIdx.x + k blockDim.x
/// below `count`, stepping the quotient and remainder instead of a 64-bit
/// division per element (one per thread, up front).
template <typename F>
__device__ inline void forEachSplit(int64_t count, int64_t n, F f) {
  const int64_t stepQ = blockDim.x / n, stepR = blockDim.x % n;
  int64_t q = threadIdx.x / n, r = threadIdx.x % n;
  for (int64_t i = threadIdx.x; i < count; i += blockDim.x) {
    f(q, r);
    q += stepQ, r += stepR;
    if (r >= n) // stepR < n: one carry at most
      r -= n, ++q;
  }
}

/// groupMoments over the first `valid` positions of each of xg's cpg
/// planes of S positions (0 < valid < S).
template <typename T>
__device__ void groupMomentsValid(const T *xg, int64_t cpg, int64_t S,
                                  int64_t valid, double *scratch, double &mean,
                                  double &m2) {
  const int64_t count = cpg * valid;
  double sum = 0.0;
  forEachSplit(count, valid, [&](int64_t plane, int64_t pos) {
    sum += toFloat(xg[plane * S + pos]);
  });
  mean = blockSum(sum, scratch) / double(count);
  double sq = 0.0;
  forEachSplit(count, valid, [&](int64_t plane, int64_t pos) {
    const double d = double(toFloat(xg[plane * S + pos])) - mean;
    sq += d * d;
  });
  m2 = blockSum(sq, scratch);
}

/// y = (x - mean) * rstd [* gamma + beta] over group ng's span.
template <typename T>
__device__ void normaliseGroup(const T *xg, T *yg, const T *__restrict__ gamma,
                               const T *__restrict__ beta, int64_t ng,
                               int64_t groups, int64_t cpg, int64_t S,
                               double mean, double var, float eps) {
  const float meanF = float(mean);
  const float rstd = float(1.0 / sqrt(var + double(eps)));
  const int64_t c0 = (ng % groups) * cpg;
  forEachSplit(cpg * S, S, [&](int64_t plane, int64_t pos) {
    const int64_t c = c0 + plane, i = plane * S + pos;
    const float g = gamma ? toFloat(gamma[c]) * rstd : rstd;
    const float b = (beta ? toFloat(beta[c]) : 0.0f) - meanF * g;
    yg[i] = fromFloat<T>(toFloat(xg[i]) * g + b);
  });
}

template <typename T>
__global__ void groupNormKernel(const T *x, const T *__restrict__ gamma,
                                const T *__restrict__ beta, T *y,
                                int64_t groups, int64_t cpg, int64_t S,
                                float eps) {
  __shared__ double scratch[32];
  const int64_t ng = blockIdx.x, span = cpg * S;
  double mean, m2;
  groupMoments(x + ng * span, span, scratch, mean, m2);
  normaliseGroup(x + ng * span, y + ng * span, gamma, beta, ng, groups, cpg, S,
                 mean, m2 / double(span), eps);
}

/// One block per (n, group): stats[2 ng] = mean, stats[2 ng + 1] = M2, over
/// the first `valid` positions of each plane (0 < valid <= S).
template <typename T>
__global__ void groupNormStatsKernel(const T *x, float *stats, int64_t cpg,
                                     int64_t S, int64_t valid) {
  __shared__ double scratch[32];
  const int64_t ng = blockIdx.x, span = cpg * S;
  double mean, m2;
  if (valid == S) // every position real: the unsplit kernel's pass
    groupMoments(x + ng * span, span, scratch, mean, m2);
  else
    groupMomentsValid(x + ng * span, cpg, S, valid, scratch, mean, m2);
  if (threadIdx.x == 0) {
    stats[2 * ng] = float(mean);
    stats[2 * ng + 1] = float(m2);
  }
}

/// groupNormKernel with the statistics combined from `parts` blocks' stats
/// (Chan et al.): equal counts of `span` each, or with `weighted` each
/// block's real positions per plane in counts.valid.
template <typename T>
__global__ void
groupNormApplyKernel(const T *x, const float *partials, int64_t parts,
                     int64_t stride, const T *__restrict__ gamma,
                     const T *__restrict__ beta, T *y, int64_t groups,
                     int64_t cpg, int64_t S, float eps, bool weighted,
                     GroupPartCounts counts) {
  const int64_t ng = blockIdx.x, span = cpg * S;
  // Every thread combines the few partials itself: no shared memory.
  double mean, m2, total = double(parts * span);
  if (weighted)
    combineGroupMomentsWeighted(partials, parts, stride, ng, cpg, counts.valid,
                                mean, m2, total);
  else
    combineGroupMoments(partials, parts, stride, ng, span, mean, m2);
  // No real position at all: M2 is 0, any count keeps the result finite.
  normaliseGroup(x + ng * span, y + ng * span, gamma, beta, ng, groups, cpg, S,
                 mean, total > 0.0 ? m2 / total : 0.0, eps);
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
    const vec::NormPlan p =
        normVectorPlan<T>(cols, x, y, gamma, beta, nullptr, nullptr);
    if (p.rowThreads) {
      layerNormVecKernel<T><<<normBlocks(rows, p), p.blockThreads(), 0, s>>>(
          static_cast<const T *>(x), static_cast<const T *>(gamma),
          static_cast<const T *>(beta), nullptr, nullptr, static_cast<T *>(y),
          rows, 1, int(cols), eps, p);
      return;
    }
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
    const vec::NormPlan p =
        normVectorPlan<T>(cols, x, y, gamma, nullptr, nullptr, nullptr);
    if (p.rowThreads) {
      rmsNormVecKernel<T><<<normBlocks(rows, p), p.blockThreads(), 0, s>>>(
          static_cast<const T *>(x), static_cast<const T *>(gamma),
          static_cast<T *>(y), rows, int(cols), eps, p);
      return;
    }
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
    const vec::NormPlan p =
        normVectorPlan<E>(D, x, y, gamma, beta, shift, scale);
    if (p.rowThreads) {
      layerNormVecKernel<E><<<normBlocks(rows, p), p.blockThreads(), 0, s>>>(
          static_cast<const E *>(x), static_cast<const E *>(gamma),
          static_cast<const E *>(beta), static_cast<const E *>(shift),
          static_cast<const E *>(scale), static_cast<E *>(y), rows, T, int(D),
          eps, p);
      return;
    }
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

void groupNormStats(const void *x, float *stats, int64_t N, int64_t C,
                    int64_t S, int64_t groups, int64_t valid, DType storage,
                    cudaStream_t s) {
  if (N == 0 || groups == 0)
    return;
  if (C == 0 || valid == 0) { // no positions: a count of 0 weighs nothing
    checkCuda(
        cudaMemsetAsync(stats, 0, size_t(2 * N * groups) * sizeof(float), s),
        "group_norm_stats of an empty block");
    return;
  }
  withStorage(storage, "group_norm_stats", [&](auto t) {
    using T = typename decltype(t)::type;
    groupNormStatsKernel<T><<<unsigned(N * groups), kGroupThreads, 0, s>>>(
        static_cast<const T *>(x), stats, C / groups, S, valid);
  });
  checkLaunch("group_norm_stats", s);
}

void groupNormApply(const void *x, const float *partials, int64_t parts,
                    const int64_t *valid, const void *gamma, const void *beta,
                    void *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                    float eps, DType storage, cudaStream_t s) {
  if (N == 0 || C == 0 || S == 0)
    return;
  GroupPartCounts counts{};
  if (valid)
    std::copy(valid, valid + parts, counts.valid);
  withStorage(storage, "group_norm_apply", [&](auto t) {
    using T = typename decltype(t)::type;
    groupNormApplyKernel<T><<<unsigned(N * groups), kGroupThreads, 0, s>>>(
        static_cast<const T *>(x), partials, parts, 2 * N * groups,
        static_cast<const T *>(gamma), static_cast<const T *>(beta),
        static_cast<T *>(y), groups, C / groups, S, eps, valid != nullptr,
        counts);
  });
  checkLaunch("group_norm_apply", s);
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
