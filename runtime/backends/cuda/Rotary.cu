//===- Rotary.cu - Rotary position embedding (Flux) -----------------------===//
//
// As the CPU kernels: the table's frequencies and angles in double, cos and
// sin rounded once; the rotation in f32, each product and the sum rounded
// (no contracted FMA), so CUDA and CPU agree to the last bit but for the
// double pow/cos/sin's own last-ulp differences. rope() moves 16 bytes a
// load where heads are a whole number of vectors (VectorPlan.h). ropeNorm()
// (Flux's q/k norm fused in) reads each head's row once into registers,
// sums its squares in double as rmsNorm does and rotates the normalised
// values without rounding them to the storage type.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaUtil.cuh"
#include "runtime/backends/cuda/VectorPlan.h"

namespace fresco {
namespace cuda {
namespace {

template <typename T>
__global__ void ropeTableKernel(const T *__restrict__ ids, T *out, int64_t T_,
                                RopeAxes axes, int64_t pairs, double theta) {
  const int64_t n = T_ * pairs;
  for (int64_t e = globalIndex(); e < n; e += gridStride()) {
    const int64_t t = e / pairs;
    int64_t p = e % pairs, a = 0;
    while (p >= axes.dim[a] / 2) { // the axis whose share holds pair p
      p -= axes.dim[a] / 2;
      ++a;
    }
    const double freq = 1.0 / pow(theta, double(2 * p) / double(axes.dim[a]));
    const double angle = double(toFloat(ids[t * axes.n + a])) * freq;
    out[2 * e] = fromFloat<T>(float(cos(angle)));
    out[2 * e + 1] = fromFloat<T>(float(sin(angle)));
  }
}

template <typename T>
__global__ void ropeKernel(const T *x, const T *__restrict__ table, T *y,
                           int64_t T_, int64_t H, int64_t P, int64_t n) {
  for (int64_t e = globalIndex(); e < n; e += gridStride()) {
    // e indexes pairs: ((b * T + t) * H + h) * P + p, as laid out in x.
    const int64_t p = e % P, t = (e / (P * H)) % T_;
    const float x0 = toFloat(x[2 * e]), x1 = toFloat(x[2 * e + 1]);
    const float c = toFloat(table[(t * P + p) * 2]),
                s = toFloat(table[(t * P + p) * 2 + 1]);
    y[2 * e] = fromFloat<T>(__fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)));
    y[2 * e + 1] = fromFloat<T>(__fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s)));
  }
}

/// As ropeKernel, a vector of x (W/2 pairs) and the table's matching
/// vector at a time; x viewed as rows of Dh, the table as [T, Dh].
/// ropeVectorizable makes n a multiple of W: there is no tail. I is the
/// type of the index math: 32 bits where n allows (a 64-bit division
/// costs several times a 32-bit one).
template <typename T, typename I>
__global__ void ropeVecKernel(const T *x, const T *__restrict__ table, T *y,
                              I T_, I H, I Dh, int64_t n) {
  constexpr int W = Vec16<T>::kWidth;
  vec::forEachDense(n, W, globalIndex(), gridStride(), [&](int64_t e64, int) {
    const I e = I(e64), row = e / Dh, t = (row / H) % T_;
    const Vec16<T> xv = Vec16<T>::load(x + e),
                   cs = Vec16<T>::load(table + t * Dh + e % Dh);
    Vec16<T> out;
    for (int i = 0; i < W; i += 2) {
      const float x0 = xv.get(i), x1 = xv.get(i + 1);
      const float c = cs.get(i), s = cs.get(i + 1);
      out.set(i, __fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)));
      out.set(i + 1, __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s)));
    }
    out.store(y + e);
  });
}

/// The fused norm's scaled pair (x0, x1) * rstd * (w0, w1), rotated:
/// rmsNorm's then rope's roundings, in f32.
__device__ inline float2 normRotate(float x0, float x1, float rstd, float w0,
                                    float w1, float c, float s) {
  x0 = x0 * rstd * w0;
  x1 = x1 * rstd * w1;
  return {__fsub_rn(__fmul_rn(x0, c), __fmul_rn(x1, s)),
          __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s))};
}

/// One warp per (token, head) row of x viewed as [rows, Dh]: the squares
/// summed over the lanes, then each lane's pairs normalised and rotated
/// (their second read comes from cache). y may alias x: the sum is
/// complete before the first write.
template <typename T>
__global__ void ropeNormKernel(const T *x, const T *__restrict__ table,
                               const T *__restrict__ w, T *y, int64_t rows,
                               int64_t T_, int64_t H, int64_t Dh, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t warps = gridStride() / 32;
  for (int64_t row = globalIndex() / 32; row < rows; row += warps) {
    const T *xr = x + row * Dh;
    T *yr = y + row * Dh;
    const float rstd = warpRowRstd(xr, Dh, lane, eps);
    const T *cs = table + ((row / H) % T_) * Dh;
    for (int64_t p = lane; p < Dh / 2; p += 32) {
      const float2 r = normRotate(
          toFloat(xr[2 * p]), toFloat(xr[2 * p + 1]), rstd, toFloat(w[2 * p]),
          toFloat(w[2 * p + 1]), toFloat(cs[2 * p]), toFloat(cs[2 * p + 1]));
      yr[2 * p] = fromFloat<T>(r.x);
      yr[2 * p + 1] = fromFloat<T>(r.y);
    }
  }
}

/// The vector path (vec::RopeNormPlan): a lane group holds a row in
/// registers, read once with 16-byte loads; the group's sum by shuffles.
/// Lanes past the last row join the shuffles holding nothing.
template <typename T>
__global__ void ropeNormVecKernel(const T *x, const T *__restrict__ table,
                                  const T *__restrict__ w, T *y, int64_t rows,
                                  int64_t T_, int64_t H, int Dh, float eps,
                                  vec::RopeNormPlan plan) {
  constexpr int W = Vec16<T>::kWidth;
  const int lane = threadIdx.x & 31;
  vec::forEachRopeNormRow(
      rows, plan, globalIndex() / 32, gridStride() / 32, lane,
      [&](int64_t row, bool valid) {
        Vec16<T> held[vec::kRopeNormMaxSlots];
        double sq = 0.0;
        FRESCO_UNROLL
        for (int k = 0; k < vec::kRopeNormMaxSlots; ++k)
          if (valid && k < plan.slots) {
            held[k] = Vec16<T>::load(x + row * Dh +
                                     vec::ropeNormColumn(plan, W, lane, k));
            for (int i = 0; i < W; ++i) {
              const double v = held[k].get(i);
              sq += v * v;
            }
          }
        for (int o = plan.lanes / 2; o > 0; o >>= 1)
          sq += __shfl_xor_sync(0xffffffffu, sq, o);
        const float rstd = float(rsqrt(sq / double(Dh) + double(eps)));
        if (!valid)
          return;
        const T *cs = table + ((row / H) % T_) * Dh;
        FRESCO_UNROLL
        for (int k = 0; k < vec::kRopeNormMaxSlots; ++k)
          if (k < plan.slots) {
            const int64_t c = vec::ropeNormColumn(plan, W, lane, k);
            const Vec16<T> wv = Vec16<T>::load(w + c),
                           tv = Vec16<T>::load(cs + c);
            Vec16<T> out;
            for (int i = 0; i < W; i += 2) {
              const float2 r = normRotate(held[k].get(i), held[k].get(i + 1),
                                          rstd, wv.get(i), wv.get(i + 1),
                                          tv.get(i), tv.get(i + 1));
              out.set(i, r.x);
              out.set(i + 1, r.y);
            }
            out.store(y + row * Dh + c);
          }
      });
}

} // namespace

void ropeTable(const void *ids, void *out, int64_t T, const RopeAxes &axes,
               double theta, DType storage, cudaStream_t s) {
  int64_t pairs = 0;
  for (int a = 0; a < axes.n; ++a)
    pairs += axes.dim[a] / 2;
  if (T == 0 || pairs == 0)
    return;
  withStorage(storage, "rope_table", [&](auto t) {
    using E = typename decltype(t)::type;
    ropeTableKernel<E><<<blocksFor(T * pairs), kThreads, 0, s>>>(
        static_cast<const E *>(ids), static_cast<E *>(out), T, axes, pairs,
        theta);
  });
  checkLaunch("rope_table", s);
}

void rope(const void *x, const void *table, void *y, int64_t B, int64_t T,
          int64_t H, int64_t Dh, DType storage, cudaStream_t s) {
  const int64_t n = B * T * H * (Dh / 2);
  if (n == 0)
    return;
  withStorage(storage, "rope", [&](auto t) {
    using E = typename decltype(t)::type;
    constexpr int W = Vec16<E>::kWidth;
    if (vec::ropeVectorizable(Dh, W, x, table, y)) {
      const int64_t elems = 2 * n;
      const E *xt = static_cast<const E *>(x),
              *tt = static_cast<const E *>(table);
      E *yt = static_cast<E *>(y);
      if (elems <= int64_t(UINT32_MAX))
        ropeVecKernel<E, uint32_t><<<blocksFor(elems / W), kThreads, 0, s>>>(
            xt, tt, yt, uint32_t(T), uint32_t(H), uint32_t(Dh), elems);
      else
        ropeVecKernel<E, int64_t><<<blocksFor(elems / W), kThreads, 0, s>>>(
            xt, tt, yt, T, H, Dh, elems);
      return;
    }
    ropeKernel<E><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<const E *>(x), static_cast<const E *>(table),
        static_cast<E *>(y), T, H, Dh / 2, n);
  });
  checkLaunch("rope", s);
}

void ropeNorm(const void *x, const void *table, const void *weight, void *y,
              int64_t B, int64_t T, int64_t H, int64_t Dh, float eps,
              DType storage, cudaStream_t s) {
  const int64_t rows = B * T * H;
  if (rows == 0 || Dh == 0)
    return;
  withStorage(storage, "rope", [&](auto t) {
    using E = typename decltype(t)::type;
    const E *xt = static_cast<const E *>(x),
            *tt = static_cast<const E *>(table),
            *wt = static_cast<const E *>(weight);
    E *yt = static_cast<E *>(y);
    const vec::RopeNormPlan p =
        vec::ropeNormPlan(Dh, Vec16<E>::kWidth, x, table, weight, y);
    if (p.lanes) {
      const int64_t warps = (rows + p.rowsPerWarp() - 1) / p.rowsPerWarp();
      ropeNormVecKernel<E><<<blocksFor(warps * 32), kThreads, 0, s>>>(
          xt, tt, wt, yt, rows, T, H, int(Dh), eps, p);
      return;
    }
    ropeNormKernel<E><<<blocksFor(rows * 32), kThreads, 0, s>>>(
        xt, tt, wt, yt, rows, T, H, Dh, eps);
  });
  checkLaunch("rope", s);
}

} // namespace cuda
} // namespace fresco
