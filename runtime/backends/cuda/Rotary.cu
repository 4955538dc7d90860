//===- Rotary.cu - Rotary position embedding (Flux) -----------------------===//
//
// As the CPU kernels: the table's frequencies and angles in double, cos and
// sin rounded once; the rotation in f32, each product and the sum rounded
// (no contracted FMA), so CUDA and CPU agree to the last bit but for the
// double pow/cos/sin's own last-ulp differences. rope() moves 16 bytes a
// load where heads are a whole number of vectors (VectorPlan.h).
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

} // namespace cuda
} // namespace fresco
