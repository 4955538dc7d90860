//===- Attention.cu - Fused multi-head attention (flash style) ------------===//
//
// softmax(q k^T * scale) v without materialising the [Tq, Tk] scores: each
// block owns kRowsPerWarp query rows per warp of one (batch, head) and walks
// the keys in tiles of 32, keeping a running max and sum per row (online
// softmax) and rescaling its output accumulators when the max moves.
//
// Inside a tile, lane j scores key j against the warp's rows (K is stored
// transposed in shared memory, rows padded to 33 floats so that neither the
// transposing store nor the per-lane read has bank conflicts; Q is read as
// float4 broadcasts), then each lane accumulates output columns
// lane, lane+32, ... from the probabilities the warp wrote to shared memory.
// Heads are column ranges [h*Dh, (h+1)*Dh) of the [B, T, H*Dh] activations,
// addressed with the row stride H*Dh, so nothing is copied or transposed.
//
// The head width is a template parameter in chunks of 32 columns (DC), so
// that the accumulators stay in registers: DiT heads (64, 72) use 2 and 3,
// the VAE's single 512-wide head 16. f32 FMAs throughout: f32 runs use
// this kernel; bf16/f16 runs use the tensor-core one (AttentionTC.cu) for
// heads up to 128 wide. q, k, v and o are in the float storage T (read into
// f32 shared memory, o rounded once when written); lse is always f32.
//
// attentionBlock (one block of ring attention) is the same kernel with the
// row's log-sum-exp m + log(l) written at the end and, when merging, the
// online softmax started from the running result: m = lse, l = 1 and the
// accumulators = o is exactly the state after the blocks seen so far. The
// mode is a template parameter, so plain attention() is unchanged.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaKernels.h"
#include "runtime/backends/cuda/CudaUtil.cuh"

#include <cmath>
#include <type_traits>

namespace fresco {
namespace cuda {
namespace {

constexpr int kWarps = 4;
constexpr int kKeys = 32; // keys per tile: one per lane
constexpr int kKtStride = kKeys + 1;

/// Plain attention(); one ring attention block that writes lse (First);
/// one that also starts from the running (o, lse) (Merge).
enum class Mode { Plain, First, Merge };

template <int DC, int R> struct Geometry {
  static constexpr int DP = DC * 32;    // padded head width
  static constexpr int RB = kWarps * R; // query rows per block
  static constexpr size_t floats = size_t(RB) * DP + size_t(DP) * kKtStride +
                                   size_t(kKeys) * DP +
                                   size_t(kWarps) * R * kKeys;
  static constexpr size_t bytes = floats * sizeof(float);
};

/// The output's element type: the storage's for plain attention, f32 for
/// ring attention's running output (a block merges into it; rounding it at
/// every merge would add one rounding per block).
template <Mode M, typename T>
using OutT = std::conditional_t<M == Mode::Plain, T, float>;

template <int DC, int R, Mode M, typename T>
__global__ void __launch_bounds__(kWarps * 32)
    attentionKernel(const T *__restrict__ q, const T *__restrict__ k,
                    const T *__restrict__ v, OutT<M, T> *__restrict__ o,
                    float *__restrict__ lse, int64_t Tq, int64_t Tk, int64_t H,
                    int Dh, int Dh4, float scale) {
  using G = Geometry<DC, R>;
  constexpr int DP = G::DP, RB = G::RB;
  extern __shared__ float4 smem4[];
  float *Qs = reinterpret_cast<float *>(smem4); // [RB][DP], pre-scaled
  float *Kt = Qs + RB * DP;                     // [DP][kKtStride]
  float *Vs = Kt + DP * kKtStride;              // [kKeys][DP]
  float *Ps = Vs + kKeys * DP;                  // [RB][kKeys]

  const int64_t b = blockIdx.z, h = blockIdx.y, q0 = int64_t(blockIdx.x) * RB;
  const int64_t ld = H * Dh;
  const T *qb = q + b * Tq * ld + h * Dh;
  const T *kb = k + b * Tk * ld + h * Dh;
  const T *vb = v + b * Tk * ld + h * Dh;
  OutT<M, T> *ob = o + b * Tq * ld + h * Dh;
  const int tid = threadIdx.x, warp = tid >> 5, lane = tid & 31;

  for (int e = tid; e < RB * DP; e += kWarps * 32) {
    const int r = e / DP, d = e % DP;
    const int64_t row = q0 + r;
    Qs[e] = (row < Tq && d < Dh) ? toFloat(qb[row * ld + d]) * scale : 0.0f;
  }

  float m[R], l[R], acc[R][DC];
#pragma unroll
  for (int i = 0; i < R; ++i) {
    m[i] = -INFINITY;
    l[i] = 0.0f;
#pragma unroll
    for (int c = 0; c < DC; ++c)
      acc[i][c] = 0.0f;
    if constexpr (M == Mode::Merge) {
      // The running o is normalised, so its weight is l = 1 at m = lse
      // (lse = -inf, the empty state, weighs nothing).
      const int64_t row = q0 + warp * R + i;
      if (row < Tq) {
        m[i] = lse[(b * H + h) * Tq + row];
        l[i] = 1.0f;
#pragma unroll
        for (int c = 0; c < DC; ++c) {
          const int d = c * 32 + lane;
          if (d < Dh)
            acc[i][c] = toFloat(ob[row * ld + d]);
        }
      }
    }
  }
  const float *Qw = Qs + warp * R * DP;
  float *Pw = Ps + warp * R * kKeys;

  for (int64_t k0 = 0; k0 < Tk; k0 += kKeys) {
    __syncthreads(); // the previous tile is consumed (and Qs is written)
    for (int e = tid; e < kKeys * DP; e += kWarps * 32) {
      const int j = e / DP, d = e % DP;
      const int64_t key = k0 + j;
      const bool ok = key < Tk && d < Dh;
      Kt[d * kKtStride + j] = ok ? toFloat(kb[key * ld + d]) : 0.0f;
      Vs[e] = ok ? toFloat(vb[key * ld + d]) : 0.0f;
    }
    __syncthreads();

    // Scores of key k0 + lane against the warp's R rows.
    float s[R];
#pragma unroll
    for (int i = 0; i < R; ++i)
      s[i] = 0.0f;
    for (int d = 0; d < Dh4; d += 4) {
      const float k0v = Kt[d * kKtStride + lane];
      const float k1v = Kt[(d + 1) * kKtStride + lane];
      const float k2v = Kt[(d + 2) * kKtStride + lane];
      const float k3v = Kt[(d + 3) * kKtStride + lane];
#pragma unroll
      for (int i = 0; i < R; ++i) {
        const float4 qv = *reinterpret_cast<const float4 *>(Qw + i * DP + d);
        s[i] = fmaf(qv.x, k0v, s[i]);
        s[i] = fmaf(qv.y, k1v, s[i]);
        s[i] = fmaf(qv.z, k2v, s[i]);
        s[i] = fmaf(qv.w, k3v, s[i]);
      }
    }

    // Online softmax: lane 0's key is always valid, so each tile max is
    // finite and exp(-inf - max) = 0 handles the initial (or empty) state.
    const bool valid = k0 + lane < Tk;
#pragma unroll
    for (int i = 0; i < R; ++i) {
      const float si = valid ? s[i] : -INFINITY;
      const float mNew = fmaxf(m[i], warpMax(si));
      const float corr = __expf(m[i] - mNew);
      const float p = valid ? __expf(si - mNew) : 0.0f;
      l[i] = l[i] * corr + warpSum(p);
      m[i] = mNew;
#pragma unroll
      for (int c = 0; c < DC; ++c)
        acc[i][c] *= corr;
      Pw[i * kKeys + lane] = p;
    }
    __syncwarp();

    const int jmax = Tk - k0 < kKeys ? int(Tk - k0) : kKeys;
    for (int j = 0; j < jmax; ++j) {
      float pj[R];
#pragma unroll
      for (int i = 0; i < R; ++i)
        pj[i] = Pw[i * kKeys + j];
#pragma unroll
      for (int c = 0; c < DC; ++c) {
        const float vv = Vs[j * DP + c * 32 + lane];
#pragma unroll
        for (int i = 0; i < R; ++i)
          acc[i][c] = fmaf(pj[i], vv, acc[i][c]);
      }
    }
    __syncwarp(); // Pw is rewritten by the next tile
  }

#pragma unroll
  for (int i = 0; i < R; ++i) {
    const int64_t row = q0 + warp * R + i;
    if (row >= Tq)
      continue;
    const float inv = l[i] > 0.0f ? 1.0f / l[i] : 0.0f;
#pragma unroll
    for (int c = 0; c < DC; ++c) {
      const int d = c * 32 + lane;
      if (d < Dh)
        ob[row * ld + d] = fromFloat<OutT<M, T>>(acc[i][c] * inv);
    }
    // m and l are warp-uniform. Without keys (l = 0) this is -inf.
    if constexpr (M != Mode::Plain)
      if (lane == 0)
        lse[(b * H + h) * Tq + row] = m[i] + logf(l[i]);
  }
}

template <int DC, int R, Mode M, typename T>
void launch(const void *q, const void *k, const void *v, void *o, float *lse,
            int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
            float scale, cudaStream_t s) {
  using G = Geometry<DC, R>;
  allowSharedMemory(attentionKernel<DC, R, M, T>, G::bytes,
                    "attention (shared memory limit)");
  const dim3 grid(unsigned((Tq + G::RB - 1) / G::RB), unsigned(H), unsigned(B));
  const int Dh4 = int((Dh + 3) / 4 * 4);
  attentionKernel<DC, R, M, T><<<grid, kWarps * 32, G::bytes, s>>>(
      static_cast<const T *>(q), static_cast<const T *>(k),
      static_cast<const T *>(v), static_cast<OutT<M, T> *>(o), lse, Tq, Tk, H,
      int(Dh), Dh4, scale);
}

/// Picks the instantiation for the head width and the storage.
template <Mode M>
void dispatch(const char *what, const void *q, const void *k, const void *v,
              void *o, float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
              int64_t Dh, float scale, DType storage, cudaStream_t s) {
  check(B <= 65535 && H <= 65535, what, ": batch ", B, " or heads ", H,
        " above the CUDA grid limit of 65535");
  const int64_t chunks = (Dh + 31) / 32;
  if (chunks > 16)
    fail(what, ": head width ", Dh,
         " is above the CUDA backend's 512 (not implemented yet)");
  withStorage(storage, what, [&](auto t) {
    using T = typename decltype(t)::type;
    if (chunks <= 1)
      launch<1, 4, M, T>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
    else if (chunks <= 2)
      launch<2, 4, M, T>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
    else if (chunks <= 3)
      launch<3, 4, M, T>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
    else if (chunks <= 4)
      launch<4, 4, M, T>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
    else if (chunks <= 8)
      launch<8, 4, M, T>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
    else
      launch<16, 2, M, T>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
  });
  checkLaunch(what, s);
}

} // namespace

void attention(const void *q, const void *k, const void *v, void *o, int64_t B,
               int64_t Tq, int64_t Tk, int64_t H, int64_t Dh, float scale,
               DType storage, cudaStream_t s) {
  if (B == 0 || Tq == 0 || H == 0 || Dh == 0)
    return;
  // A softmax over nothing is undefined; the CPU backend refuses it too.
  check(Tk > 0, "attention: no keys to attend to (Tk = 0)");
  dispatch<Mode::Plain>("attention", q, k, v, o, nullptr, B, Tq, Tk, H, Dh,
                        scale, storage, s);
}

void attentionBlock(const void *q, const void *k, const void *v, void *o,
                    float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                    int64_t Dh, float scale, bool first, DType storage,
                    cudaStream_t s) {
  // Dh = 0 still runs: lse changes even though o has no columns.
  if (B == 0 || Tq == 0 || H == 0)
    return;
  if (first) // without keys, this leaves o = 0 and lse = -inf
    dispatch<Mode::First>("attentionBlock", q, k, v, o, lse, B, Tq, Tk, H, Dh,
                          scale, storage, s);
  else if (Tk > 0) // an empty block merges nothing
    dispatch<Mode::Merge>("attentionBlock", q, k, v, o, lse, B, Tq, Tk, H, Dh,
                          scale, storage, s);
}

} // namespace cuda
} // namespace fresco
