//===- CudaUtil.cuh - Device helpers shared by the kernels ------*- CUDA
//-*-===//
//
// Warp and block reductions, the shared-memory opt-in of large kernels,
// the launch geometry of the elementwise kernels (grid-stride loops over at
// most kMaxBlocks blocks, so any element count fits in one launch), and the
// float storage types: kernels are templates on the element type T (float,
// __nv_bfloat16 or __half), load with toFloat, compute in f32 and round once
// with fromFloat<T> when they store.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_CUDAUTIL_CUH
#define FRESCO_RUNTIME_BACKENDS_CUDA_CUDAUTIL_CUH

#include "runtime/backends/cuda/CudaKernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <map>
#include <mutex>
#include <utility>

namespace fresco {
namespace cuda {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;

/// Lets `kernel` use `bytes` of dynamic shared memory: above 48 KiB a
/// kernel must opt in, per kernel and device (the attribute is per
/// device). The largest size set so far is kept: a kernel whose size
/// depends on its call (masked attention's key count) is raised when a
/// later call needs more.
template <typename Kernel>
void allowSharedMemory(Kernel kernel, size_t bytes, const char *what) {
  static std::mutex mutex;
  static std::map<std::pair<int, const void *>, size_t> allowed;
  int device = 0;
  checkCuda(cudaGetDevice(&device), what);
  std::pair<int, const void *> key{device,
                                   reinterpret_cast<const void *>(kernel)};
  std::lock_guard<std::mutex> lock(mutex);
  auto it = allowed.find(key);
  if (it != allowed.end() && it->second >= bytes)
    return;
  checkCuda(cudaFuncSetAttribute(kernel,
                                 cudaFuncAttributeMaxDynamicSharedMemorySize,
                                 int(bytes)),
            what);
  allowed[key] = bytes;
}

/// A type as a value, for withStorage's generic lambdas.
template <typename T> struct Type { using type = T; };

/// Calls f(Type<T>()) with T the element type of the float storage
/// `storage`: float, __nv_bfloat16 or __half.
template <typename F> void withStorage(DType storage, const char *what, F &&f) {
  switch (storage) {
  case DType::F32:
    f(Type<float>());
    return;
  case DType::BF16:
    f(Type<__nv_bfloat16>());
    return;
  case DType::F16:
    f(Type<__half>());
    return;
  default:
    break;
  }
  fail(what, ": float storage ", dtypeName(storage),
       " is not f32, bf16 or f16");
}

__device__ inline float toFloat(float v) { return v; }
__device__ inline float toFloat(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ inline float toFloat(__half v) { return __half2float(v); }

/// v rounded to T, to nearest even.
template <typename T> __device__ inline T fromFloat(float v);
template <> __device__ inline float fromFloat<float>(float v) { return v; }
template <> __device__ inline __nv_bfloat16 fromFloat<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <> __device__ inline __half fromFloat<__half>(float v) {
  return __float2half_rn(v);
}

/// 16 bytes of elements of T (8 bf16/f16 or 4 f32), loaded and stored as
/// one: the vector paths of VectorPlan.h. Pointers must be 16-byte
/// aligned.
template <typename T> struct alignas(16) Vec16 {
  static constexpr int kWidth = 16 / int(sizeof(T));
  T v[kWidth];

  __device__ static Vec16 load(const T *p) {
    return *reinterpret_cast<const Vec16 *>(p);
  }
  __device__ static Vec16 splat(T x) {
    Vec16 r;
    for (int i = 0; i < kWidth; ++i)
      r.v[i] = x;
    return r;
  }
  /// Through __stwb (one st.global.v4): nvcc splits a plain 16-byte store
  /// of 2-byte elements into 4-byte ones in some kernels.
  __device__ void store(T *p) const {
    uint4 u;
    memcpy(&u, v, sizeof(u));
    __stwb(reinterpret_cast<uint4 *>(p), u);
  }
  __device__ float get(int i) const { return toFloat(v[i]); }
  /// Element i := x rounded to T.
  __device__ void set(int i, float x) { v[i] = fromFloat<T>(x); }
};

/// Blocks of kThreads for a grid-stride loop over n elements (n > 0).
inline unsigned blocksFor(int64_t n) {
  int64_t b = (n + kThreads - 1) / kThreads;
  return unsigned(b < kMaxBlocks ? b : kMaxBlocks);
}

__device__ inline int64_t globalIndex() {
  return int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
}
__device__ inline int64_t gridStride() {
  return int64_t(gridDim.x) * blockDim.x;
}

template <typename T> __device__ inline T warpSum(T v) {
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/// RMS norm's 1 / sqrt(mean(x^2) + eps) of row xr [cols], read by the 32
/// lanes of a warp; the squares summed in double. Every lane gets it.
template <typename T>
__device__ inline float warpRowRstd(const T *xr, int64_t cols, int lane,
                                    float eps) {
  double sq = 0.0;
  for (int64_t c = lane; c < cols; c += 32) {
    const double v = toFloat(xr[c]);
    sq += v * v;
  }
  return float(rsqrt(warpSum(sq) / double(cols) + double(eps)));
}

__device__ inline float warpMax(float v) {
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

/// Sum over the block (blockDim.x a multiple of 32, at most 1024); every
/// thread gets the total. `scratch` holds 32 values; the call ends with a
/// barrier, so it can be reused by the next call.
template <typename T> __device__ T blockSum(T v, T *scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = blockDim.x >> 5;
  v = warpSum(v);
  if (lane == 0)
    scratch[warp] = v;
  __syncthreads();
  T total = lane < warps ? scratch[lane] : T(0);
  total = warpSum(total);
  __syncthreads();
  return total;
}

} // namespace cuda
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_CUDAUTIL_CUH
