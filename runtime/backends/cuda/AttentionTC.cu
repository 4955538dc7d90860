//===- AttentionTC.cu - Fused attention on tensor cores (bf16/f16) --------===//
//
// The flash-style attention of Attention.cu with both products on tensor
// cores, for runs whose GEMMs are bf16 or f16 (--dtype): q, k, v and the
// softmax probabilities are rounded to that type (to nearest even), scores,
// sums and the output are accumulated in f32. Activations stay f32 in
// memory ([B, T, H*Dh], heads as column ranges); tiles are converted while
// they are copied into shared memory.
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

/// Two f32 values as a packed pair of T (round to nearest even).
template <typename T> struct Pack;
template <> struct Pack<__nv_bfloat16> {
  static __device__ uint32_t two(float a, float b) {
    __nv_bfloat162 v = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<uint32_t *>(&v);
  }
  static __device__ __nv_bfloat16 one(float a) {
    return __float2bfloat16_rn(a);
  }
};
template <> struct Pack<half> {
  static __device__ uint32_t two(float a, float b) {
    half2 v = __floats2half2_rn(a, b);
    return *reinterpret_cast<uint32_t *>(&v);
  }
  static __device__ half one(float a) { return __float2half_rn(a); }
};

template <int DP> struct Geometry {
  static constexpr int LD = DP + 8; // T row stride: 16-byte padding per row
  static constexpr size_t tileBytes = size_t(kKeys) * LD * 2;
  // K (Q before the loop), V, the S/P strips, one f32 per row.
  static constexpr size_t bytes =
      2 * tileBytes + size_t(kRows) * kSLd * 4 + size_t(kRows) * 4;
};

/// 64 rows of [rows][Dh] f32 (row stride ld) into dst [64][DP + 8] as T,
/// zero beyond `rows` and Dh. `vec`: Dh % 4 == 0 and src 16-byte aligned.
template <int DP, typename T>
__device__ void loadTile(T *dst, const float *src, int64_t rows, int64_t ld,
                         int Dh, bool vec) {
  constexpr int LD = Geometry<DP>::LD, C4 = DP / 4;
  for (int e = threadIdx.x; e < kKeys * C4; e += kThreads) {
    const int r = e / C4, d = (e % C4) * 4;
    float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);
    if (r < rows) {
      const float *p = src + r * ld + d;
      if (vec) {
        if (d < Dh)
          x = *reinterpret_cast<const float4 *>(p);
      } else {
        x.x = d < Dh ? p[0] : 0.0f;
        x.y = d + 1 < Dh ? p[1] : 0.0f;
        x.z = d + 2 < Dh ? p[2] : 0.0f;
        x.w = d + 3 < Dh ? p[3] : 0.0f;
      }
    }
    // 8-byte store: the row stride and d keep it aligned.
    *reinterpret_cast<uint2 *>(dst + r * LD + d) =
        make_uint2(Pack<T>::two(x.x, x.y), Pack<T>::two(x.z, x.w));
  }
}

template <int DP, typename T, Mode M>
__global__ void __launch_bounds__(kThreads)
    attentionTCKernel(const float *__restrict__ q, const float *__restrict__ k,
                      const float *__restrict__ v, float *__restrict__ o,
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
  const float *qb = q + b * Tq * ld + h * Dh;
  const float *kb = k + b * Tk * ld + h * Dh;
  const float *vb = v + b * Tk * ld + h * Dh;
  float *ob = o + b * Tq * ld + h * Dh;
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

  loadTile<DP, T>(Ks, qb + q0 * ld, Tq - q0, ld, Dh, vec);
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
          acc[f].x[i] = ob[gr * ld + c];
      }
  }

  for (int64_t k0 = 0; k0 < Tk; k0 += kKeys) {
    __syncthreads(); // the previous tile (or Q's fragments) is read
    loadTile<DP, T>(Ks, kb + k0 * ld, Tk - k0, ld, Dh, vec);
    loadTile<DP, T>(Vs, vb + k0 * ld, Tk - k0, ld, Dh, vec);
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
      Pw[r * 2 * kSLd + j] = Pack<T>::one(p[c]);
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
        ob[gr * ld + c] = acc[f].x[i] * inv;
    }
  }
}

template <int DP, typename T, Mode M>
void launch(const float *q, const float *k, const float *v, float *o,
            float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
            int64_t Dh, float scale, cudaStream_t s) {
  using G = Geometry<DP>;
  allowSharedMemory(attentionTCKernel<DP, T, M>, G::bytes,
                    "attention (tensor cores, shared memory limit)");
  auto aligned = [](const float *p) {
    return reinterpret_cast<uintptr_t>(p) % 16 == 0;
  };
  const bool vec = Dh % 4 == 0 && aligned(q) && aligned(k) && aligned(v);
  const dim3 grid(unsigned((Tq + kRows - 1) / kRows), unsigned(H), unsigned(B));
  attentionTCKernel<DP, T, M><<<grid, kThreads, G::bytes, s>>>(
      q, k, v, o, lse, Tq, Tk, H, int(Dh), scale, vec);
}

template <typename T, Mode M>
void dispatchWidth(const float *q, const float *k, const float *v, float *o,
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
void dispatch(const char *what, const float *q, const float *k, const float *v,
              float *o, float *lse, int64_t B, int64_t Tq, int64_t Tk,
              int64_t H, int64_t Dh, float scale, bool bf16, cudaStream_t s) {
  check(B <= 65535 && H <= 65535, what, ": batch ", B, " or heads ", H,
        " above the CUDA grid limit of 65535");
  check(attentionTensorCoreSupported(Dh), what, ": head width ", Dh,
        " has no tensor-core kernel");
  if (bf16)
    dispatchWidth<__nv_bfloat16, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale,
                                    s);
  else
    dispatchWidth<half, M>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, s);
  checkLaunch(what, s);
}

} // namespace

bool attentionTensorCoreSupported(int64_t Dh) {
  return Dh >= 1 && Dh <= kMaxDh;
}

bool attentionTensorCoreAllowed(std::string *error) {
  const char *v = std::getenv("FRESCO_CUDA_ATTENTION");
  if (!v || !*v || std::strcmp(v, "auto") == 0)
    return true;
  if (std::strcmp(v, "f32") != 0)
    *error = std::string("FRESCO_CUDA_ATTENTION=") + v +
             ": expected 'f32' or 'auto'";
  return false;
}

void attentionTensorCore(const float *q, const float *k, const float *v,
                         float *o, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                         int64_t Dh, float scale, bool bf16, cudaStream_t s) {
  if (B == 0 || Tq == 0 || H == 0 || Dh == 0)
    return;
  check(Tk > 0, "attention: no keys to attend to (Tk = 0)");
  dispatch<Mode::Plain>("attention (tensor cores)", q, k, v, o, nullptr, B, Tq,
                        Tk, H, Dh, scale, bf16, s);
}

void attentionBlockTensorCore(const float *q, const float *k, const float *v,
                              float *o, float *lse, int64_t B, int64_t Tq,
                              int64_t Tk, int64_t H, int64_t Dh, float scale,
                              bool first, bool bf16, cudaStream_t s) {
  if (B == 0 || Tq == 0 || H == 0)
    return;
  if (first) // without keys, this leaves o = 0 and lse = -inf
    dispatch<Mode::First>("attentionBlock (tensor cores)", q, k, v, o, lse, B,
                          Tq, Tk, H, Dh, scale, bf16, s);
  else if (Tk > 0) // an empty block merges nothing
    dispatch<Mode::Merge>("attentionBlock (tensor cores)", q, k, v, o, lse, B,
                          Tq, Tk, H, Dh, scale, bf16, s);
}

} // namespace cuda
} // namespace fresco
