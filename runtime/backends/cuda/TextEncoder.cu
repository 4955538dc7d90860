//===- TextEncoder.cu - Masked attention, T5's bias, CLIP's EOS pooling ---===//
//
// The text encoders' kernels, written for clarity over speed: the encoders
// run once per prompt, on sequences of at most a few hundred tokens.
// Masked attention is one block per (batch, head, query row): the row's
// scores live in shared memory (Tk floats), then a max, the exps and their
// sum, and P V with a thread per output column. These kernels have been
// compiled but not yet run on a GPU; the Conformance tests cover them where
// one is present.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/RelativeBucket.h"
#include "runtime/backends/cuda/CudaUtil.cuh"

#include <cfloat>

namespace fresco {
namespace cuda {
namespace {

constexpr int kRowThreads = 128;

/// Reduces `v` over the block with `op`; every thread gets the result.
/// `scratch` holds kRowThreads floats.
template <typename Op>
__device__ float blockReduce(float v, float *scratch, Op op) {
  scratch[threadIdx.x] = v;
  __syncthreads();
  for (int stride = kRowThreads / 2; stride > 0; stride /= 2) {
    if (int(threadIdx.x) < stride)
      scratch[threadIdx.x] =
          op(scratch[threadIdx.x], scratch[threadIdx.x + stride]);
    __syncthreads();
  }
  const float r = scratch[0];
  __syncthreads();
  return r;
}

template <typename T>
__global__ void __launch_bounds__(kRowThreads)
    attentionMaskedKernel(const T *q, const T *k, const T *v, const T *bias,
                          T *o, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
                          float scale, bool causal) {
  extern __shared__ float shared[];
  float *scores = shared;         // [Tk]
  float *scratch = shared + Tk;   // [kRowThreads]
  const int64_t row = blockIdx.x; // (b * H + h) * Tq + i
  const int64_t i = row % Tq, h = (row / Tq) % H, b = row / (Tq * H);
  const int64_t ld = H * Dh;
  const T *qr = q + (b * Tq + i) * ld + h * Dh;
  const int64_t n = causal ? (i + 1 < Tk ? i + 1 : Tk) : Tk;
  float mx = -FLT_MAX;
  for (int64_t j = threadIdx.x; j < n; j += kRowThreads) {
    const T *kr = k + (b * Tk + j) * ld + h * Dh;
    float s = 0.0f;
    for (int64_t d = 0; d < Dh; ++d)
      s += toFloat(qr[d]) * toFloat(kr[d]);
    s *= scale;
    if (bias)
      s += toFloat(bias[(h * Tq + i) * Tk + j]);
    scores[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = blockReduce(mx, scratch, [](float a, float c) { return fmaxf(a, c); });
  float sum = 0.0f;
  for (int64_t j = threadIdx.x; j < n; j += kRowThreads) {
    const float e = expf(scores[j] - mx);
    scores[j] = e;
    sum += e;
  }
  sum = blockReduce(sum, scratch, [](float a, float c) { return a + c; });
  const float inv = 1.0f / sum;
  T *orow = o + (b * Tq + i) * ld + h * Dh;
  for (int64_t d = threadIdx.x; d < Dh; d += kRowThreads) {
    float acc = 0.0f;
    for (int64_t j = 0; j < n; ++j)
      acc += scores[j] * toFloat(v[(b * Tk + j) * ld + h * Dh + d]);
    orow[d] = fromFloat<T>(acc * inv);
  }
}

template <typename T>
__global__ void
relativePositionBiasKernel(const T *table, T *out, int64_t H, int64_t Tq,
                           int64_t Tk, int64_t numBuckets, int64_t maxDistance,
                           bool bidirectional) {
  const int64_t n = H * Tq * Tk;
  for (int64_t e = globalIndex(); e < n; e += gridStride()) {
    const int64_t j = e % Tk, i = (e / Tk) % Tq, h = e / (Tq * Tk);
    const int64_t bucket =
        relativeBucket(j - i, numBuckets, maxDistance, bidirectional);
    out[e] = table[bucket * H + h];
  }
}

template <typename T>
__global__ void eosPoolKernel(const T *x, const int64_t *ids, T *out, int64_t B,
                              int64_t T_, int64_t D, int64_t tokenId,
                              bool argmax) {
  for (int64_t e = globalIndex(); e < B * D; e += gridStride()) {
    const int64_t b = e / D, d = e % D;
    const int64_t *row = ids + b * T_;
    int64_t p = 0;
    if (argmax) {
      for (int64_t t = 1; t < T_; ++t)
        if (row[t] > row[p])
          p = t;
    } else {
      for (int64_t t = 0; t < T_; ++t)
        if (row[t] == tokenId) {
          p = t;
          break;
        }
    }
    out[e] = x[(b * T_ + p) * D + d];
  }
}

} // namespace

void attentionMasked(const void *q, const void *k, const void *v,
                     const void *bias, void *o, int64_t B, int64_t Tq,
                     int64_t Tk, int64_t H, int64_t Dh, float scale,
                     bool causal, DType storage, cudaStream_t s) {
  const int64_t rows = B * H * Tq;
  if (rows == 0 || Dh == 0)
    return;
  check(Tk > 0, "attention: no keys to attend to (Tk = 0)");
  check(!causal || Tq == Tk, "causal attention needs Tq == Tk, got ", Tq,
        " and ", Tk);
  // One row's scores in shared memory: up to 96 KiB of keys.
  const size_t bytes = size_t(Tk + kRowThreads) * sizeof(float);
  check(Tk <= 24 * 1024, "masked attention over ", Tk,
        " keys: more than the 24576 the cuda kernel holds");
  check(rows < (int64_t(1) << 31), "masked attention: too many rows");
  withStorage(storage, "attention_masked", [&](auto t) {
    using T = typename decltype(t)::type;
    auto kernel = attentionMaskedKernel<T>;
    if (bytes > 48 * 1024)
      allowSharedMemory(kernel, bytes, "attention_masked");
    kernel<<<unsigned(rows), kRowThreads, bytes, s>>>(
        static_cast<const T *>(q), static_cast<const T *>(k),
        static_cast<const T *>(v), static_cast<const T *>(bias),
        static_cast<T *>(o), Tq, Tk, H, Dh, scale, causal);
  });
  checkLaunch("attention_masked", s);
}

void relativePositionBias(const void *table, void *out, int64_t H, int64_t Tq,
                          int64_t Tk, int64_t numBuckets, int64_t maxDistance,
                          bool bidirectional, DType storage, cudaStream_t s) {
  const int64_t n = H * Tq * Tk;
  if (n == 0)
    return;
  withStorage(storage, "relative_position_bias", [&](auto t) {
    using T = typename decltype(t)::type;
    relativePositionBiasKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<const T *>(table), static_cast<T *>(out), H, Tq, Tk,
        numBuckets, maxDistance, bidirectional);
  });
  checkLaunch("relative_position_bias", s);
}

void eosPool(const void *x, const int64_t *ids, void *out, int64_t B, int64_t T,
             int64_t D, int64_t tokenId, bool argmax, DType storage,
             cudaStream_t s) {
  if (B * D == 0)
    return;
  withStorage(storage, "eos_pool", [&](auto t) {
    using E = typename decltype(t)::type;
    eosPoolKernel<E><<<blocksFor(B * D), kThreads, 0, s>>>(
        static_cast<const E *>(x), ids, static_cast<E *>(out), B, T, D, tokenId,
        argmax);
  });
  checkLaunch("eos_pool", s);
}

} // namespace cuda
} // namespace fresco
