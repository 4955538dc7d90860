//===- Elementwise.cu - Activations, broadcasting binary ops, embeddings --===//
//
// binary() first canonicalises the strided problem on the host as the CPU
// backend does (size-1 dims dropped, dims contiguous for out, a and b alike
// merged), so most broadcasts reach the kernel with one or two dims. Dense
// and by-rows problems move 16 bytes per access where VectorPlan.h allows
// (aligned pointers, rows a whole number of vectors); the rest take the
// scalar kernels.
//
// The sinusoidal embeddings follow diffusers' float32 roundings step by
// step, like the CPU kernels; their exp, sin and cos are taken in double
// and rounded, because a timestep of 999 scaled by 1000 turns one ulp of
// exp into a visible phase error, and CUDA's float exp is not correctly
// rounded. These kernels are tiny, so double costs nothing measurable.
//
// embedding() validates ids on the device: an id outside the table writes a
// zero row and records itself in an EmbeddingFault that synchronize() reads
// back and reports. That keeps a device-to-host round trip (and a stall of
// the stream) out of every call and keeps the step capturable in a CUDA
// graph; the cost is that the error surfaces at the end of the run.
//
// Float tensors are in the storage type T (float, bf16 or f16), read into
// f32 and rounded once on store; timestep embedding's tF32 input is f32 in
// every storage (999 has no bf16 value).
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaKernels.h"
#include "runtime/backends/cuda/CudaUtil.cuh"
#include "runtime/backends/cuda/VectorPlan.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

namespace fresco {
namespace cuda {
namespace {

//===----------------------------------------------------------------------===//
// Unary
//===----------------------------------------------------------------------===//

struct GeluTanh {
  __device__ static float apply(float x) {
    // 0.5 x (1 + tanh(z)) == x / (1 + exp(-2z)), as on the CPU.
    constexpr float kAlpha = 0.7978845608028654f; // sqrt(2/pi)
    const float z = kAlpha * (x + 0.044715f * x * x * x);
    return x / (1.0f + expf(-2.0f * z));
  }
};
struct GeluErf {
  __device__ static float apply(float x) {
    constexpr float kInvSqrt2 = 0.7071067811865476f;
    return 0.5f * x * (1.0f + erff(x * kInvSqrt2));
  }
};
struct Silu {
  __device__ static float apply(float x) { return x / (1.0f + expf(-x)); }
};
// CLIP's quick_gelu, x * sigmoid(1.702 x).
struct QuickGelu {
  __device__ static float apply(float x) {
    return x / (1.0f + expf(-1.702f * x));
  }
};

template <typename F, typename T>
__global__ void unaryKernel(const T *x, T *y, int64_t n) {
  for (int64_t i = globalIndex(); i < n; i += gridStride())
    y[i] = fromFloat<T>(F::apply(toFloat(x[i])));
}

template <typename T>
__global__ void storeFloatsKernel(const float *x, T *y, int64_t n) {
  for (int64_t i = globalIndex(); i < n; i += gridStride())
    y[i] = fromFloat<T>(x[i]);
}

/// A gated GEMM's vectors: alpha = g in f32 (cuBLASLt's scale type), and
/// the bias scaled by the gate, g * b per sample, in the storage type.
template <typename T>
__global__ void gateVectorsKernel(const T *g, const T *bias, float *alpha,
                                  T *scaledBias, int64_t n, int64_t count) {
  for (int64_t i = globalIndex(); i < n; i += gridStride()) {
    const float gi = toFloat(g[i]);
    alpha[i] = gi;
    if (bias)
      scaledBias[i] = fromFloat<T>(gi * toFloat(bias[i % count]));
  }
}

struct Identity {
  __device__ static float apply(float x) { return x; }
};

/// As cuBLASLt's bias + activation epilogue: f32 in, one rounding out.
template <typename F, typename T>
__global__ void biasActivationKernel(const float *x, const T *bias, T *y,
                                     int64_t n, int64_t count) {
  for (int64_t i = globalIndex(); i < n; i += gridStride()) {
    float v = x[i];
    if (bias)
      v += toFloat(bias[i % count]);
    y[i] = fromFloat<T>(F::apply(v));
  }
}

//===----------------------------------------------------------------------===//
// Binary
//===----------------------------------------------------------------------===//

template <BinaryKind K> __device__ float applyBinary(float a, float b) {
  switch (K) {
  case BinaryKind::Add:
    return a + b;
  case BinaryKind::Sub:
    return a - b;
  case BinaryKind::Mul:
    return a * b;
  case BinaryKind::Div:
    return a / b;
  }
  return 0.0f;
}

/// a op b, plus the addend c[i] (contiguous like out) when c is non-null:
/// MulAdd's one rounding to the storage type. c[i] is read before out[i] is
/// written by the same thread, so out may alias c. __fadd_rn keeps nvcc from
/// contracting the product and the sum into an fma: f32 results stay those
/// of the CPU backend and of a separate mul and add.
template <BinaryKind K, typename T>
__device__ inline T combine(float a, float b, const T *c, int64_t i) {
  float v = applyBinary<K>(a, b);
  if (c)
    v = __fadd_rn(v, toFloat(c[i]));
  return fromFloat<T>(v);
}

/// The offsets in a and b of the index `i` over dimensions 0..last of the
/// output (the innermost first).
__device__ inline void offsets(const Strided &s, int64_t i, int last,
                               int64_t &ia, int64_t &ib) {
  int64_t rest = i;
  ia = ib = 0;
  for (int d = last; d >= 0; --d) {
    const int64_t idx = rest % s.shape[d];
    rest /= s.shape[d];
    ia += idx * s.a[d];
    ib += idx * s.b[d];
  }
}

/// out is contiguous; a and b are addressed through their strides.
template <BinaryKind K, typename T>
__global__ void binaryKernel(const T *a, const T *b, const T *c, T *out,
                             int64_t n, Strided s) {
  for (int64_t i = globalIndex(); i < n; i += gridStride()) {
    int64_t ia, ib;
    offsets(s, i, s.rank - 1, ia, ib);
    out[i] = combine<K>(toFloat(a[ia]), toFloat(b[ib]), c, i);
  }
}

/// The offsets of row `row` (every dimension but the innermost) in a and b.
__device__ inline void rowOffsets(const Strided &s, int64_t row, int64_t &ia,
                                  int64_t &ib) {
  offsets(s, row, s.rank - 2, ia, ib);
}

/// The same by rows of the innermost dimension (at least kRowMin long):
/// the row's offsets are worked out once per row rather than with a
/// division per dimension for every element (DiT's gates, [B, T, D] times
/// [B, 1, D], spent far more time on 64-bit divisions than on memory).
/// blockIdx.x strides over the rows, blockIdx.y over chunks of a row, so
/// that a few long rows (a rank-1 broadcast is one row) still fill the GPU.
constexpr int64_t kRowMin = 64;
/// Threads of a by-rows vector block: a Flux row (3072 bf16, 384 vectors)
/// is three of them.
constexpr int kRowVecThreads = 128;
template <BinaryKind K, typename T>
__global__ void binaryRowsKernel(const T *a, const T *b, const T *c, T *out,
                                 int64_t rows, Strided s) {
  const int last = s.rank - 1;
  const int64_t inner = s.shape[last], sa = s.a[last], sb = s.b[last];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    int64_t ia, ib;
    rowOffsets(s, row, ia, ib);
    T *o = out + row * inner;
    for (int64_t j = int64_t(blockIdx.y) * blockDim.x + threadIdx.x; j < inner;
         j += int64_t(gridDim.y) * blockDim.x)
      o[j] = combine<K>(toFloat(a[ia + j * sa]), toFloat(b[ib + j * sb]), c,
                        row * inner + j);
  }
}

/// Same shapes, both contiguous: the common residual add.
template <BinaryKind K, typename T>
__global__ void binaryDenseKernel(const T *a, const T *b, const T *c, T *out,
                                  int64_t n) {
  for (int64_t i = globalIndex(); i < n; i += gridStride())
    out[i] = combine<K>(toFloat(a[i]), toFloat(b[i]), c, i);
}

/// 16-byte loads and stores where VectorPlan.h allows (the scalar kernels
/// above take the rest). Each vector of out is read from the same
/// positions of c (and of a and b where they step with out) by the thread
/// that writes it, so the aliasing rules above still hold.
template <BinaryKind K, typename T>
__device__ inline void combineVector(const Vec16<T> &a, const Vec16<T> &b,
                                     const T *c, T *out) {
  Vec16<T> r;
  if (c) {
    const Vec16<T> cv = Vec16<T>::load(c);
    for (int i = 0; i < Vec16<T>::kWidth; ++i)
      r.set(i, __fadd_rn(applyBinary<K>(a.get(i), b.get(i)), cv.get(i)));
  } else {
    for (int i = 0; i < Vec16<T>::kWidth; ++i)
      r.set(i, applyBinary<K>(a.get(i), b.get(i)));
  }
  r.store(out);
}

template <BinaryKind K, typename T>
__global__ void binaryDenseVecKernel(const T *a, const T *b, const T *c, T *out,
                                     int64_t n) {
  constexpr int W = Vec16<T>::kWidth;
  vec::forEachDense(
      n, W, globalIndex(), gridStride(), [&](int64_t e, int count) {
        if (count == W)
          combineVector<K>(Vec16<T>::load(a + e), Vec16<T>::load(b + e),
                           c ? c + e : c, out + e);
        else
          out[e] = combine<K>(toFloat(a[e]), toFloat(b[e]), c, e);
      });
}

/// By rows as binaryRowsKernel, a vector at a time. An operand with inner
/// stride 0 (a column broadcast) is one value per row, read once; the
/// [B, 1, D] gate of [B, T, D] is a vector load that stays in cache.
template <BinaryKind K, typename T>
__global__ void binaryRowsVecKernel(const T *a, const T *b, const T *c, T *out,
                                    int64_t rows, Strided s) {
  constexpr int W = Vec16<T>::kWidth;
  const int last = s.rank - 1;
  const int inner = int(s.shape[last]);
  const bool aRow = s.a[last] != 0, bRow = s.b[last] != 0;
  const T *ar = a, *br = b;
  Vec16<T> aSplat, bSplat;
  vec::forEachRowVector(
      rows, inner, W, vec::Launch{gridDim.x, gridDim.y, int(blockDim.x)},
      vec::Coord{blockIdx.x, blockIdx.y, int(threadIdx.x)},
      [&](int64_t row) {
        int64_t ia, ib;
        rowOffsets(s, row, ia, ib);
        ar = a + ia;
        br = b + ib;
        if (!aRow)
          aSplat = Vec16<T>::splat(*ar);
        if (!bRow)
          bSplat = Vec16<T>::splat(*br);
      },
      [&](int64_t row, int j) {
        const int64_t o = row * inner + j;
        combineVector<K>(aRow ? Vec16<T>::load(ar + j) : aSplat,
                         bRow ? Vec16<T>::load(br + j) : bSplat, c ? c + o : c,
                         out + o);
      });
}

template <BinaryKind K>
void launchBinary(const void *a, const void *b, const void *c, void *out,
                  int64_t n, const Strided &s, DType storage,
                  cudaStream_t stream) {
  withStorage(storage, "binary", [&](auto t) {
    using T = typename decltype(t)::type;
    const T *at = static_cast<const T *>(a), *bt = static_cast<const T *>(b),
            *ct = static_cast<const T *>(c);
    T *ot = static_cast<T *>(out);
    const int64_t inner = s.shape[s.rank - 1];
    constexpr int W = Vec16<T>::kWidth;
    const bool dense = s.rank == 1 && s.a[0] == 1 && s.b[0] == 1;
    if (dense && vec::denseVectorizable(a, b, c, out))
      binaryDenseVecKernel<K, T>
          <<<blocksFor((n + W - 1) / W), kThreads, 0, stream>>>(at, bt, ct, ot,
                                                                n);
    else if (dense)
      binaryDenseKernel<K, T>
          <<<blocksFor(n), kThreads, 0, stream>>>(at, bt, ct, ot, n);
    else if (inner >= kRowMin &&
             vec::rowsVectorizable(s, a, b, c, out, int(sizeof(T)))) {
      const vec::Launch l =
          vec::rowsLaunch(n / inner, inner / W, kRowVecThreads, kMaxBlocks);
      binaryRowsVecKernel<K, T>
          <<<dim3(unsigned(l.gridX), unsigned(l.gridY)), l.threads, 0,
             stream>>>(at, bt, ct, ot, n / inner, s);
    } else if (inner >= kRowMin) {
      const int64_t rows = n / inner, x = std::min<int64_t>(rows, kMaxBlocks),
                    y = std::min<int64_t>({(inner + kThreads - 1) / kThreads,
                                           std::max<int64_t>(kMaxBlocks / x, 1),
                                           65535});
      binaryRowsKernel<K, T>
          <<<dim3(unsigned(x), unsigned(y)), kThreads, 0, stream>>>(
              at, bt, ct, ot, rows, s);
    } else
      binaryKernel<K, T>
          <<<blocksFor(n), kThreads, 0, stream>>>(at, bt, ct, ot, n, s);
  });
}

//===----------------------------------------------------------------------===//
// Embeddings
//===----------------------------------------------------------------------===//

template <typename T>
__global__ void timestepKernel(const float *tF32, const int64_t *tI64, T *out,
                               int64_t B, int64_t dim, int64_t half,
                               int64_t sinAt, int64_t cosAt, float negLogPeriod,
                               float denom, float scale) {
  const int64_t n = B * half;
  for (int64_t e = globalIndex(); e < n; e += gridStride()) {
    const int64_t b = e / half, i = e % half;
    const float t = tF32 ? tF32[b] : float(tI64[b]); // timesteps.float()
    const float exponent = negLogPeriod * float(i) / denom;
    const float freq = float(exp(double(exponent)));
    const float arg = (scale * t) * freq; // Flux: (timestep * 1000) * freq
    out[b * dim + sinAt + i] = fromFloat<T>(float(sin(double(arg))));
    out[b * dim + cosAt + i] = fromFloat<T>(float(cos(double(arg))));
  }
  if (dim % 2 == 1)
    for (int64_t b = globalIndex(); b < B; b += gridStride())
      out[b * dim + dim - 1] = fromFloat<T>(0.0f);
}

template <typename T>
__global__ void embeddingKernel(const T *__restrict__ table,
                                const int64_t *__restrict__ ids, T *out,
                                int64_t n, int64_t V, int64_t D,
                                EmbeddingFault *fault) {
  for (int64_t e = globalIndex(); e < n * D; e += gridStride()) {
    const int64_t i = e / D, c = e % D;
    const int64_t id = ids[i];
    if (id < 0 || id >= V) {
      out[e] = fromFloat<T>(0.0f);
      if (atomicCAS(&fault->flag, 0ull, 1ull) == 0ull) {
        fault->position = i;
        fault->id = id;
        fault->tableRows = V;
      }
      continue;
    }
    out[e] = table[id * D + c];
  }
}

/// np.arange(n, dtype=float32) / (n / baseSize) / interpolationScale, with
/// the Python floats rounded to float32 as numpy does.
__device__ float gridPosition(int64_t i, int64_t n, double baseSize,
                              double interpolationScale) {
  const float step = float(double(n) / baseSize);
  return float(i) / step / float(interpolationScale);
}

template <typename T>
__global__ void posEmbedKernel(T *out, PosGrid g, int64_t dim, double baseSize,
                               double interpolationScale) {
  const int64_t halfDim = dim / 2, quarter = dim / 4;
  const int64_t n = g.rows * g.cols * dim;
  for (int64_t e = globalIndex(); e < n; e += gridStride()) {
    const int64_t m = e / dim, c = e % dim;
    // Token i*cols + j is [emb(w_{colStart+j}) | emb(h_{rowStart+i})]
    // (meshgrid(grid_w, grid_h)); the whole grid's extent scales positions.
    const bool wHalf = c < halfDim;
    const int64_t pos =
        wHalf ? g.colStart + m % g.cols : g.rowStart + m / g.cols;
    const int64_t extent = wHalf ? g.gridW : g.gridH;
    const float p = gridPosition(pos, extent, baseSize, interpolationScale);
    const int64_t k = wHalf ? c : c - halfDim; // within the half
    const int64_t f = k < quarter ? k : k - quarter;
    const double omega = 1.0 / pow(10000.0, double(f) / double(quarter));
    const double arg = double(p) * omega;
    out[e] = fromFloat<T>(float(k < quarter ? sin(arg) : cos(arg)));
  }
}

} // namespace

void unary(UnaryKind kind, const void *x, void *y, int64_t n, DType storage,
           cudaStream_t s) {
  if (n == 0)
    return;
  const char *name = kind == UnaryKind::GeluTanh    ? "gelu_tanh"
                     : kind == UnaryKind::GeluErf   ? "gelu_erf"
                     : kind == UnaryKind::Silu      ? "silu"
                     : kind == UnaryKind::QuickGelu ? "quick_gelu"
                                                    : nullptr;
  if (!name)
    fail("unary: unknown kind ", int(kind));
  withStorage(storage, name, [&](auto t) {
    using T = typename decltype(t)::type;
    const T *xt = static_cast<const T *>(x);
    T *yt = static_cast<T *>(y);
    switch (kind) {
    case UnaryKind::GeluTanh:
      unaryKernel<GeluTanh, T><<<blocksFor(n), kThreads, 0, s>>>(xt, yt, n);
      break;
    case UnaryKind::GeluErf:
      unaryKernel<GeluErf, T><<<blocksFor(n), kThreads, 0, s>>>(xt, yt, n);
      break;
    case UnaryKind::Silu:
      unaryKernel<Silu, T><<<blocksFor(n), kThreads, 0, s>>>(xt, yt, n);
      break;
    case UnaryKind::QuickGelu:
      unaryKernel<QuickGelu, T><<<blocksFor(n), kThreads, 0, s>>>(xt, yt, n);
      break;
    }
  });
  checkLaunch(name, s);
}

void storeFloats(const float *x, void *y, int64_t n, DType storage,
                 cudaStream_t s) {
  if (n == 0)
    return;
  withStorage(storage, "store_floats", [&](auto t) {
    using T = typename decltype(t)::type;
    storeFloatsKernel<T>
        <<<blocksFor(n), kThreads, 0, s>>>(x, static_cast<T *>(y), n);
  });
  checkLaunch("store_floats", s);
}

void gateVectors(const void *g, const void *bias, float *alpha,
                 void *scaledBias, int64_t n, int64_t count, DType storage,
                 cudaStream_t s) {
  if (n == 0)
    return;
  withStorage(storage, "gate_vectors", [&](auto t) {
    using T = typename decltype(t)::type;
    gateVectorsKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<const T *>(g), static_cast<const T *>(bias), alpha,
        static_cast<T *>(scaledBias), n, count);
  });
  checkLaunch("gate_vectors", s);
}

void biasActivation(UnaryKind kind, const float *x, const void *bias, void *y,
                    int64_t n, int64_t count, DType storage, cudaStream_t s) {
  if (n == 0)
    return;
  const char *name = "linear_activation";
  if (kind != UnaryKind::GeluTanh && kind != UnaryKind::GeluErf &&
      kind != UnaryKind::Silu)
    fail("linear activation: unknown kind ", int(kind));
  withStorage(storage, name, [&](auto t) {
    using T = typename decltype(t)::type;
    const T *bt = static_cast<const T *>(bias);
    T *yt = static_cast<T *>(y);
    const unsigned blocks = blocksFor(n);
    switch (kind) {
    case UnaryKind::GeluTanh:
      biasActivationKernel<GeluTanh, T>
          <<<blocks, kThreads, 0, s>>>(x, bt, yt, n, count);
      break;
    case UnaryKind::GeluErf:
      biasActivationKernel<GeluErf, T>
          <<<blocks, kThreads, 0, s>>>(x, bt, yt, n, count);
      break;
    case UnaryKind::Silu:
      biasActivationKernel<Silu, T>
          <<<blocks, kThreads, 0, s>>>(x, bt, yt, n, count);
      break;
    }
  });
  checkLaunch(name, s);
}

void biasRound(const float *x, const void *bias, void *y, int64_t n,
               int64_t count, DType storage, cudaStream_t s) {
  if (n == 0)
    return;
  const char *name = "linear_bias";
  withStorage(storage, name, [&](auto t) {
    using T = typename decltype(t)::type;
    biasActivationKernel<Identity, T><<<blocksFor(n), kThreads, 0, s>>>(
        x, static_cast<const T *>(bias), static_cast<T *>(y), n, count);
  });
  checkLaunch(name, s);
}

namespace {
/// The output shape without its size-1 dims, dim d merged into d-1 where
/// both inputs step through them contiguously (out always does).
Strided collapse(int rank, const int64_t *outShape, const int64_t *aStrides,
                 const int64_t *bStrides) {
  Strided s{};
  for (int d = 0; d < rank; ++d) {
    if (outShape[d] == 1)
      continue;
    if (s.rank > 0) {
      const int last = s.rank - 1;
      if (s.a[last] == aStrides[d] * outShape[d] &&
          s.b[last] == bStrides[d] * outShape[d]) {
        s.shape[last] *= outShape[d];
        s.a[last] = aStrides[d];
        s.b[last] = bStrides[d];
        continue;
      }
    }
    s.shape[s.rank] = outShape[d];
    s.a[s.rank] = aStrides[d];
    s.b[s.rank] = bStrides[d];
    ++s.rank;
  }
  if (s.rank == 0) { // a single element
    s.rank = 1;
    s.shape[0] = 1;
    s.a[0] = s.b[0] = 1;
  }
  return s;
}

int64_t elementCount(int rank, const int64_t *outShape, const char *what) {
  check(rank >= 0 && rank <= kMaxRank, what, ": rank ", rank, " outside [0, ",
        kMaxRank, "]");
  int64_t n = 1;
  for (int d = 0; d < rank; ++d)
    n *= outShape[d];
  return n;
}
} // namespace

void binary(BinaryKind kind, const void *a, const void *b, void *out, int rank,
            const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides, DType storage, cudaStream_t stream) {
  const int64_t n = elementCount(rank, outShape, "binary");
  if (n == 0)
    return;
  const Strided s = collapse(rank, outShape, aStrides, bStrides);
  switch (kind) {
  case BinaryKind::Add:
    launchBinary<BinaryKind::Add>(a, b, nullptr, out, n, s, storage, stream);
    return checkLaunch("add", stream);
  case BinaryKind::Sub:
    launchBinary<BinaryKind::Sub>(a, b, nullptr, out, n, s, storage, stream);
    return checkLaunch("sub", stream);
  case BinaryKind::Mul:
    launchBinary<BinaryKind::Mul>(a, b, nullptr, out, n, s, storage, stream);
    return checkLaunch("mul", stream);
  case BinaryKind::Div:
    launchBinary<BinaryKind::Div>(a, b, nullptr, out, n, s, storage, stream);
    return checkLaunch("div", stream);
  }
  fail("binary: unknown kind ", int(kind));
}

void mulAdd(const void *a, const void *b, const void *c, void *out, int rank,
            const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides, DType storage, cudaStream_t stream) {
  const int64_t n = elementCount(rank, outShape, "mul_add");
  if (n == 0)
    return;
  launchBinary<BinaryKind::Mul>(a, b, c, out, n,
                                collapse(rank, outShape, aStrides, bStrides),
                                storage, stream);
  checkLaunch("mul_add", stream);
}

void timestepEmbedding(const float *tF32, const int64_t *tI64, void *out,
                       int64_t B, int64_t dim, bool flipSinToCos,
                       float negLogPeriod, float denom, float scale,
                       DType storage, cudaStream_t s) {
  const int64_t half = dim / 2;
  const int64_t work = B * (half > 0 ? half : 1);
  if (B == 0 || dim == 0)
    return;
  withStorage(storage, "timestep_embedding", [&](auto t) {
    using T = typename decltype(t)::type;
    timestepKernel<T><<<blocksFor(work), kThreads, 0, s>>>(
        tF32, tI64, static_cast<T *>(out), B, dim, half,
        flipSinToCos ? half : 0, flipSinToCos ? 0 : half, negLogPeriod, denom,
        scale);
  });
  checkLaunch("timestep_embedding", s);
}

void embedding(const void *table, const int64_t *ids, void *out, int64_t n,
               int64_t V, int64_t D, EmbeddingFault *fault, DType storage,
               cudaStream_t s) {
  if (n == 0 || D == 0)
    return;
  withStorage(storage, "embedding", [&](auto t) {
    using T = typename decltype(t)::type;
    embeddingKernel<T><<<blocksFor(n * D), kThreads, 0, s>>>(
        static_cast<const T *>(table), ids, static_cast<T *>(out), n, V, D,
        fault);
  });
  checkLaunch("embedding", s);
}

void posEmbed2d(void *out, const PosGrid &g, int64_t dim, double baseSize,
                double interpolationScale, DType storage, cudaStream_t s) {
  const int64_t n = g.rows * g.cols * dim;
  if (n == 0)
    return;
  withStorage(storage, "pos_embed_2d", [&](auto t) {
    using T = typename decltype(t)::type;
    posEmbedKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<T *>(out), g, dim, baseSize, interpolationScale);
  });
  checkLaunch("pos_embed_2d", s);
}

} // namespace cuda
} // namespace fresco
