//===- Fp8.cu - Rounding rows to e4m3 with their scales -------------------===//
//
// The FP8 GEMMs' quantizer (runtime/core/Fp8.h has the rule and the host
// reference): one warp per row finds the row's largest magnitude, then
// writes x * (448 / amax) rounded to e4m3 (to nearest even, saturating:
// cvt.rn.satfinite) and the row's scale amax / 448. Used on the weights once
// at bind and on each FP8 linear's input per call. With 2-byte storage and
// rows of a multiple of 8 elements at 16-byte alignment, each lane moves 8
// elements (16 bytes in, 8 out) per access; otherwise one at a time.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaUtil.cuh"

#include <cuda_fp8.h>

#include <cfloat>

namespace fresco {
namespace cuda {
namespace {

constexpr int kFp8RowsPerBlock = 8; // one warp each

// A non-finite amax (an inf in the row) gives NaN, as the host's: the
// overflow stays visible instead of saturating to finite values. A row so
// small that its scale would be subnormal is a zero row (scale 1), as the
// host's.
__device__ inline bool scaled(float amax) {
  return amax > 0.0f && amax / 448.0f >= FLT_MIN;
}
__device__ inline float inverseScaleOf(float amax) {
  return !isfinite(amax) ? __int_as_float(0x7fc00000)
         : scaled(amax)  ? 448.0f / amax
                         : 1.0f;
}
__device__ inline float scaleOf(float amax) {
  return !isfinite(amax) ? __int_as_float(0x7fc00000)
         : scaled(amax)  ? amax / 448.0f
                         : 1.0f;
}
__device__ inline __nv_fp8_storage_t toE4M3(float v) {
  return __nv_cvt_float_to_fp8(v, __NV_SATFINITE, __NV_E4M3);
}

template <typename T, bool kVector>
__global__ void quantizeRowsKernel(const T *__restrict__ x, int64_t rows,
                                   int64_t cols,
                                   __nv_fp8_storage_t *__restrict__ codes,
                                   float *__restrict__ scales) {
  const int64_t row =
      int64_t(blockIdx.x) * kFp8RowsPerBlock + (threadIdx.x >> 5);
  if (row >= rows)
    return; // the whole warp leaves together
  const int lane = threadIdx.x & 31;
  const T *xr = x + row * cols;
  __nv_fp8_storage_t *qr = codes + row * cols;
  float amax = 0.0f;
  if constexpr (kVector) {
    // 8 two-byte elements per 16-byte load.
    const uint4 *xv = reinterpret_cast<const uint4 *>(xr);
    for (int64_t c = lane; c < cols / 8; c += 32) {
      uint4 pack = xv[c];
      const T *e = reinterpret_cast<const T *>(&pack);
#pragma unroll
      for (int i = 0; i < 8; ++i)
        amax = fmaxf(amax, fabsf(toFloat(e[i])));
    }
  } else {
    for (int64_t c = lane; c < cols; c += 32)
      amax = fmaxf(amax, fabsf(toFloat(xr[c]))); // fmaxf passes NaNs over
  }
  amax = warpMax(amax);
  const float inv = inverseScaleOf(amax);
  if (lane == 0)
    scales[row] = scaleOf(amax);
  if constexpr (kVector) {
    const uint4 *xv = reinterpret_cast<const uint4 *>(xr);
    uint2 *qv = reinterpret_cast<uint2 *>(qr);
    for (int64_t c = lane; c < cols / 8; c += 32) {
      uint4 pack = xv[c];
      const T *e = reinterpret_cast<const T *>(&pack);
      uint2 out;
      __nv_fp8_storage_t *o = reinterpret_cast<__nv_fp8_storage_t *>(&out);
#pragma unroll
      for (int i = 0; i < 8; ++i)
        o[i] = toE4M3(toFloat(e[i]) * inv);
      qv[c] = out;
    }
  } else {
    for (int64_t c = lane; c < cols; c += 32)
      qr[c] = toE4M3(toFloat(xr[c]) * inv);
  }
}

} // namespace

void quantizeRowsE4M3(const void *x, int64_t rows, int64_t cols, void *codes,
                      float *scales, DType storage, cudaStream_t s) {
  if (rows == 0)
    return;
  const unsigned blocks =
      unsigned((rows + kFp8RowsPerBlock - 1) / kFp8RowsPerBlock);
  const bool vector = storage != DType::F32 && cols % 8 == 0 &&
                      reinterpret_cast<uintptr_t>(x) % 16 == 0 &&
                      reinterpret_cast<uintptr_t>(codes) % 8 == 0;
  withStorage(storage, "fp8_quantize", [&](auto t) {
    using T = typename decltype(t)::type;
    auto *q = static_cast<__nv_fp8_storage_t *>(codes);
    if constexpr (sizeof(T) == 2) {
      if (vector) {
        quantizeRowsKernel<T, true><<<blocks, kFp8RowsPerBlock * 32, 0, s>>>(
            static_cast<const T *>(x), rows, cols, q, scales);
        return;
      }
    }
    quantizeRowsKernel<T, false><<<blocks, kFp8RowsPerBlock * 32, 0, s>>>(
        static_cast<const T *>(x), rows, cols, q, scales);
  });
  checkLaunch("fp8_quantize", s);
}

} // namespace cuda
} // namespace fresco
