//===- AttentionTC.cu - Fused attention on tensor cores (bf16/f16) --------===//
//
// The flash-style attention of Attention.cu with both products on tensor
// cores, for backends storing floats in bf16 or f16 (--dtype): q, k and v
// are read as stored ([B, T, H*Dh], heads as column ranges; tiles copied
// into shared memory unchanged, 16 bytes at a time where aligned), the
// softmax probabilities are rounded to the storage type (to nearest even),
// scores, sums and the output are accumulated in f32, and o is rounded
// once when it is written. lse stays f32.
//
// A block of 4 warps owns 64 query rows of one (batch, head), 16 per warp,
// and walks the keys in tiles of 64. Per tile, with nvcuda::wmma
// (16x16x16, bf16/f16 in, f32 accumulate):
//   - S = Q K^T: the warp's Q fragments stay in registers for the whole
//     kernel; K is read as a column-major B operand straight from the
//     row-major [key][d] tile. S (f32) goes to the warp's strip of shared
//     memory, where a pair of lanes runs the online softmax of each row (max
//     and sum over a pair shuffle) and overwrites the strip with P in
//     bf16/f16, in place.
//   - O += P V: the O accumulators stay in registers (Dh/16 fragments per
//     warp). wmma leaves the fragment layout unspecified, so the rows of
//     each accumulator slot are learnt once, by loading a 16x16 matrix
//     holding each element's own index into an accumulator fragment; the
//     per-row rescale exp(m_old - m_new), the final 1/l, and the reads and
//     writes of o (Merge) then go slot by slot through that map.
// Head widths are padded with zeros to the instantiated width DP (a multiple
// of 16: 32, 48, 64, 80, 96 or 128), so DiT's 72 runs as 80 and Flux's 128
// as is. Wider heads (the VAE's 512) and Dh = 0 take the f32 kernel.
//
// Keys beyond Tk in the last tile are zero in shared memory and masked out
// of the softmax (p = 0); query rows beyond Tq compute but are not written.
// The modes are Attention.cu's: Plain; First writes the rows' log-sum-exp;
// Merge starts the online softmax from the running (o, lse).
//
// A first version: loads are not overlapped with compute within a block
// (2-4 blocks per SM hide part of that), and mma.sync through wmma, not
// Hopper's wgmma.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaKernels.h"
#include "runtime/backends/cuda/CudaUtil.cuh"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

namespace fresco {
namespace cuda {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kRows = kWarps * 16; // query rows per block
constexpr int kKeys = 64;          // keys per tile
// f32 row stride of the S strips: a multiple of 4 (wmma's ldm for f32),
// and 4 mod 32 so that the softmax's reads spread over the banks.
constexpr int kSLd = kKeys + 4;
constexpr int kMaxDh = 128;

enum class Mode { Plain, First, Merge };

using Acc = wmma::fragment<wmma::accumulator, 16, 16, 16, float>;

template <int DP> struct Geometry {
  static constexpr int LD = DP + 8; // T row stride: 16-byte padding per row
  static constexpr size_t tileBytes = size_t(kKeys) * LD * 2;
  // K (Q before the loop), V, the S/P strips, one f32 per row.
  static constexpr size_t bytes =
      2 * tileBytes + size_t(kRows) * kSLd * 4 + size_t(kRows) * 4;
};

/// 64 rows of [rows][Dh] 2-byte values (row stride ld) copied bit for bit
/// into dst [64][DP + 8], zero (+0 in bf16 and f16 alike) beyond `rows` and
/// Dh. `vec`: Dh % 8 == 0 and src 16-byte aligned, so that each row's
/// chunks of 8 are 16-byte aligned and lie wholly inside or outside Dh.
template <int DP>
__device__ void loadTile(uint16_t *dst, const uint16_t *src, int64_t rows,
                         int64_t ld, int Dh, bool vec) {
  constexpr int LD = Geometry<DP>::LD, C8 = DP / 8;
  for (int e = threadIdx.x; e < kKeys * C8; e += kThreads) {
    const int r = e / C8, d = (e % C8) * 8;
    uint4 x = make_uint4(0u, 0u, 0u, 0u);
    if (r < rows) {
      const uint16_t *p = src + r * ld + d;
      if (vec) {
        if (d < Dh)
          x = *reinterpret_cast<const uint4 *>(p);
      } else {
        uint32_t w[4];
#pragma unroll
        for (int i = 0; i < 4; ++i) {
          const uint32_t lo = d + 2 * i < Dh ? p[2 * i] : 0u;
          const uint32_t hi = d + 2 * i + 1 < Dh ? p[2 * i + 1] : 0u;
          w[i] = lo | (hi << 16); // little-endian: element 2i is the low half
        }
        x = make_uint4(w[0], w[1], w[2], w[3]);
      }
    }
    // 16-byte store: LD and d are multiples of 8 elements.
    *reinterpret_cast<uint4 *>(dst + r * LD + d) = x;
  }
}

/// The output's element type: the storage's for plain attention, f32 for
/// ring attention's running output (a block merges into it; rounding it at
/// every merge would add one rounding per block).
template <Mode M, typename T>
using OutT = std::conditional_t<M == Mode::Plain, T, float>;

template <int DP, typename T, Mode M>
__global__ void __launch_bounds__(kThreads)
    attentionTCKernel(const T *__restrict__ q, const T *__restrict__ k,
                      const T *__restrict__ v, OutT<M, T> *__restrict__ o,
                      float *__restrict__ lse, int64_t Tq, int64_t Tk,
                      int64_t H, int Dh, float scale, bool vec) {
  using G = Geometry<DP>;
  constexpr int LD = G::LD, KD = DP / 16, NE = Acc::num_elements;
  extern __shared__ __align__(128) unsigned char smem[];
  T *Ks = reinterpret_cast<T *>(smem); // [kKeys][LD]; Q before the loop
  T *Vs = Ks + kKeys * LD;             // [kKeys][LD]
  float *Ss = reinterpret_cast<float *>(smem + 2 * G::tileBytes);
  float *rowScale = Ss + kRows * kSLd; // [kRows]

  const int64_t b = blockIdx.z, h = blockIdx.y,
                q0 = int64_t(blockIdx.x) * kRows;
  const int64_t ld = H * Dh;
  const T *qb = q + b * Tq * ld + h * Dh;
  const T *kb = k + b * Tk * ld + h * Dh;
  const T *vb = v + b * Tk * ld + h * Dh;
  OutT<M, T> *ob = o + b * Tq * ld + h * Dh;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  float *Sw = Ss + warp * 16 * kSLd;    // this warp's S strip [16][kSLd]
  T *Pw = reinterpret_cast<T *>(Sw);    // P over it: [16][2 * kSLd]
  float *scaleW = rowScale + warp * 16; // per-row factor of this warp
  const int64_t r0 = q0 + warp * 16;    // the warp's first query row

  // Which row and column of the 16x16 tile each accumulator slot holds:
  // element (r, c) of the loaded matrix is r * 16 + c.
  int slotRow[NE], slotCol[NE];
  {
    for (int e = lane; e < 256; e += 32)
      Sw[e] = float(e);
    __syncwarp();
    Acc idx;
    wmma::load_matrix_sync(idx, Sw, 16, wmma::mem_row_major);
#pragma unroll
    for (int i = 0; i < NE; ++i) {
      const int e = int(idx.x[i]);
      slotRow[i] = e >> 4;
      slotCol[i] = e & 15;
    }
  }

  // Tiles are copied as raw 2-byte values: T's bits are what wmma loads.
  auto bits = [](const T *p) { return reinterpret_cast<const uint16_t *>(p); };
  loadTile<DP>(reinterpret_cast<uint16_t *>(Ks), bits(qb + q0 * ld), Tq - q0,
               ld, Dh, vec);
  __syncthreads();
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> qf[KD];
#pragma unroll
  for (int kd = 0; kd < KD; ++kd)
    wmma::load_matrix_sync(qf[kd], Ks + warp * 16 * LD + kd * 16, LD);

  // Lanes 2r and 2r + 1 own row r of the strip: its running max and sum.
  const int r = lane >> 1, half = lane & 1;
  const int64_t row = r0 + r;
  float m = -INFINITY, l = 0.0f;
  Acc acc[KD];
#pragma unroll
  for (int f = 0; f < KD; ++f)
    wmma::fill_fragment(acc[f], 0.0f);
  if constexpr (M == Mode::Merge) {
    // The running o is normalised: weight l = 1 at m = lse (lse = -inf,
    // the empty state, weighs nothing).
    if (row < Tq) {
      m = lse[(b * H + h) * Tq + row];
      l = 1.0f;
    }
#pragma unroll
    for (int f = 0; f < KD; ++f)
#pragma unroll
      for (int i = 0; i < NE; ++i) {
        const int64_t gr = r0 + slotRow[i];
        const int c = f * 16 + slotCol[i];
        if (gr < Tq && c < Dh)
          acc[f].x[i] = toFloat(ob[gr * ld + c]);
      }
  }

  for (int64_t k0 = 0; k0 < Tk; k0 += kKeys) {
    __syncthreads(); // the previous tile (or Q's fragments) is read
    loadTile<DP>(reinterpret_cast<uint16_t *>(Ks), bits(kb + k0 * ld), Tk - k0,
                 ld, Dh, vec);
    loadTile<DP>(reinterpret_cast<uint16_t *>(Vs), bits(vb + k0 * ld), Tk - k0,
                 ld, Dh, vec);
    __syncthreads();
    const int valid = Tk - k0 < kKeys ? int(Tk - k0) : kKeys;

    // S = Q K^T: K's rows [key][d] are K^T's columns.
#pragma unroll
    for (int n = 0; n < kKeys / 16; ++n) {
      Acc s;
      wmma::fill_fragment(s, 0.0f);
#pragma unroll
      for (int kd = 0; kd < KD; ++kd) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> kf;
        wmma::load_matrix_sync(kf, Ks + n * 16 * LD + kd * 16, LD);
        wmma::mma_sync(s, qf[kd], kf, s);
      }
      wmma::store_matrix_sync(Sw + n * 16, s, kSLd, wmma::mem_row_major);
    }
    __syncwarp();

    // Online softmax of row r; this lane takes the columns of parity
    // `half`, visited in an order rotated by r / 8 so that the warp's 32
    // reads of each step fall in 32 different banks. Column 0 is valid, so
    // the pair's max is finite and exp(-inf - max) = 0 covers the empty
    // state.
    float p[kKeys / 2];
    float mx = -INFINITY;
#pragma unroll
    for (int c = 0; c < kKeys / 2; ++c) {
      const int j = 2 * ((c + (r >> 3)) & (kKeys / 2 - 1)) + half;
      p[c] = j < valid ? Sw[r * kSLd + j] * scale : -INFINITY;
      mx = fmaxf(mx, p[c]);
    }
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1));
    const float mNew = fmaxf(m, mx);
    const float corr = __expf(m - mNew);
    float sum = 0.0f;
#pragma unroll
    for (int c = 0; c < kKeys / 2; ++c) {
      p[c] = __expf(p[c] - mNew);
      sum += p[c];
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    // l sums the unrounded p: the rounding of P then moves o by at most
    // the unit roundoff times max|v| (see the conformance test's bound).
    l = l * corr + sum;
    m = mNew;
    __syncwarp(); // every S read is done before P overwrites the strip
#pragma unroll
    for (int c = 0; c < kKeys / 2; ++c) {
      const int j = 2 * ((c + (r >> 3)) & (kKeys / 2 - 1)) + half;
      Pw[r * 2 * kSLd + j] = fromFloat<T>(p[c]);
    }
    if (half == 0)
      scaleW[r] = corr;
    __syncwarp();

    // O = O * corr (per row) + P V.
#pragma unroll
    for (int i = 0; i < NE; ++i) {
      const float cf = scaleW[slotRow[i]];
#pragma unroll
      for (int f = 0; f < KD; ++f)
        acc[f].x[i] *= cf;
    }
#pragma unroll
    for (int kk = 0; kk < kKeys / 16; ++kk) {
      if (kk * 16 >= valid) // only masked keys (p = 0, v = 0) are left
        break;
      wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> pf;
      wmma::load_matrix_sync(pf, Pw + kk * 16, 2 * kSLd);
#pragma unroll
      for (int f = 0; f < KD; ++f) {
        wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> vf;
        wmma::load_matrix_sync(vf, Vs + kk * 16 * LD + f * 16, LD);
        wmma::mma_sync(acc[f], pf, vf, acc[f]);
      }
    }
    // The next tile's barrier orders these reads of Pw and scaleW before
    // they are rewritten.
  }

  // m and l are the same in both lanes of a pair. Without keys (l = 0)
  // o = 0 and lse = -inf.
  __syncwarp();
  if (half == 0) {
    scaleW[r] = l > 0.0f ? 1.0f / l : 0.0f;
    if constexpr (M != Mode::Plain)
      if (row < Tq)
        lse[(b * H + h) * Tq + row] = m + logf(l);
  }
  __syncwarp();
#pragma unroll
  for (int i = 0; i < NE; ++i) {
    const int64_t gr = r0 + slotRow[i];
    const float inv = scaleW[slotRow[i]];
#pragma unroll
    for (int f = 0; f < KD; ++f) {
      const int c = f * 16 + slotCol[i];
      if (gr < Tq && c < Dh)
        ob[gr * ld + c] = fromFloat<OutT<M, T>>(acc[f].x[i] * inv);
    }
  }
}

template <int DP, typename T, Mode M>
void launch(const void *q, const void *k, const void *v, void *o, float *lse,
            int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
            float scale, cudaStream_t s) {
  using G = Geometry<DP>;
  allowSharedMemory(attentionTCKernel<DP, T, M>, G::bytes,
                    "attention (tensor cores, shared memory limit)");
  auto aligned = [](const void *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
  };
  // Dh % 8 == 0 makes every row and head start (multiples of Dh elements)
  // 16-byte aligned when the base pointers are.
  const bool vec = Dh % 8 == 0 && aligned(q) && aligned(k) && aligned(v);
  const dim3 grid(unsigned((Tq + kRows - 1) / kRows), unsigned(H), unsigned(B));
  attentionTCKernel<DP, T, M><<<grid, kThreads, G::bytes, s>>>(
      static_cast<const T *>(q), static_cast<const T *>(k),
      static_cast<const T *>(v), static_cast<OutT<M, T> *>(o), lse, Tq, Tk, H,
      int(Dh), scale, vec);
}

template <typename T, Mode M>
void dispatchWidth(const void *q, const void *k, const void *v, void *o,
                   float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                   int64_t Dh, float scale, cudaStream_t s) {
  if (Dh <= 32)
    launch<32, T, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
  else if (Dh <= 48)
    launch<48, T, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
  else if (Dh <= 64)
    launch<64, T, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
  else if (Dh <= 80)
    launch<80, T, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
  else if (Dh <= 96)
    launch<96, T, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
  else
    launch<kMaxDh, T, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
}

template <Mode M>
void dispatch(const char *what, const void *q, const void *k, const void *v,
              void *o, float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
              int64_t Dh, float scale, DType storage, cudaStream_t s) {
  check(B <= 65535 && H <= 65535, what, ": batch ", B, " or heads ", H,
        " above the CUDA grid limit of 65535");
  check(attentionTensorCoreSupported(Dh), what, ": head width ", Dh,
        " has no tensor-core kernel");
  if (storage == DType::BF16)
    dispatchWidth<__nv_bfloat16, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale,
                                    s);
  else if (storage == DType::F16)
    dispatchWidth<half, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
  else
    fail(what, ": no tensor-core kernel for ", dtypeName(storage),
         " storage (bf16 or f16 only)");
  checkLaunch(what, s);
}

} // namespace

bool attentionTensorCoreSupported(int64_t Dh) {
  return Dh >= 1 && Dh <= kMaxDh;
}

void attentionTensorCore(const void *q, const void *k, const void *v, void *o,
                         int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                         int64_t Dh, float scale, DType storage,
                         cudaStream_t s) {
  if (B == 0 || Tq == 0 || H == 0 || Dh == 0)
    return;
  check(Tk > 0, "attention: no keys to attend to (Tk = 0)");
  dispatch<Mode::Plain>("attention (tensor cores)", q, k, v, o, nullptr, B, Tq,
                        Tk, H, Dh, scale, storage, s);
}

void attentionBlockTensorCore(const void *q, const void *k, const void *v,
                              void *o, float *lse, int64_t B, int64_t Tq,
                              int64_t Tk, int64_t H, int64_t Dh, float scale,
                              bool first, DType storage, cudaStream_t s) {
  if (B == 0 || Tq == 0 || H == 0)
    return;
  if (first) // without keys, this leaves o = 0 and lse = -inf
    dispatch<Mode::First>("attentionBlock (tensor cores)", q, k, v, o, lse, B,
                          Tq, Tk, H, Dh, scale, storage, s);
  else if (Tk > 0) // an empty block merges nothing
    dispatch<Mode::Merge>("attentionBlock (tensor cores)", q, k, v, o, lse, B,
                          Tq, Tk, H, Dh, scale, storage, s);
}

} // namespace cuda
} // namespace fresco
