//===- AttentionMerge.cu - Ring blocks merged into the running result ----===//
//
// cuDNN's attention gives one key block's output (in the storage type) and
// its log-sum-exps; ring attention keeps the running output and lse in f32.
// Merging is the convex combination weighted by each side's softmax mass.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaUtil.cuh"

namespace fresco {
namespace cuda {
namespace {

constexpr int kRowsPerBlock = kThreads / 32;

/// One warp per (b, t, h) row: every lane reads both lses before lane 0
/// replaces the running one.
template <typename T>
__global__ void
mergeBlockKernel(const T *__restrict__ ob, const float *__restrict__ lseb,
                 float *__restrict__ o, float *__restrict__ lse, int64_t B,
                 int64_t Tq, int64_t H, int64_t Dh, bool first) {
  const int64_t row = int64_t(blockIdx.x) * kRowsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= B * Tq * H)
    return;
  const int64_t h = row % H, t = (row / H) % Tq, b = row / (H * Tq);
  const int64_t s = (b * H + h) * Tq + t; // lse's [B, H, Tq] layout
  const T *src = ob + row * Dh;           // [B, Tq, H*Dh]: row-major rows
  float *dst = o + row * Dh;
  const float l1 = lseb[s];
  if (first) {
    for (int64_t d = lane; d < Dh; d += 32)
      dst[d] = toFloat(src[d]);
    if (lane == 0)
      lse[s] = l1;
    return;
  }
  const float l0 = lse[s];
  __syncwarp();
  // Rescaled by the larger side, so exp() cannot overflow; a running
  // state without keys (lse = -inf) gets weight 0.
  const float m = fmaxf(l0, l1);
  if (m == -INFINITY) // neither side has a key yet (padded blocks)
    return;
  const float w0 = __expf(l0 - m), w1 = __expf(l1 - m);
  const float inv = 1.0f / (w0 + w1);
  for (int64_t d = lane; d < Dh; d += 32)
    dst[d] = (dst[d] * w0 + toFloat(src[d]) * w1) * inv;
  if (lane == 0)
    lse[s] = m + logf(w0 + w1);
}

} // namespace

void attentionMergeBlock(const void *ob, const float *lseb, float *o,
                         float *lse, int64_t B, int64_t Tq, int64_t H,
                         int64_t Dh, bool first, DType storage,
                         cudaStream_t s) {
  const int64_t rows = B * Tq * H;
  if (rows == 0)
    return;
  withStorage(storage, "attention merge", [&](auto type) {
    using T = typename decltype(type)::type;
    const int64_t blocks = (rows + kRowsPerBlock - 1) / kRowsPerBlock;
    mergeBlockKernel<T><<<unsigned(blocks), kThreads, 0, s>>>(
        static_cast<const T *>(ob), lseb, o, lse, B, Tq, H, Dh, first);
  });
  checkLaunch("attention merge", s);
}

} // namespace cuda
} // namespace fresco
