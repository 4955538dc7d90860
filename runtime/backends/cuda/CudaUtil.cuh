//===- CudaUtil.cuh - Device helpers shared by the kernels ------*- CUDA
//-*-===//
//
// Warp and block reductions and the launch geometry of the elementwise
// kernels (grid-stride loops over at most kMaxBlocks blocks, so any element
// count fits in one launch).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_CUDAUTIL_CUH
#define FRESCO_RUNTIME_BACKENDS_CUDA_CUDAUTIL_CUH

#include <cstdint>

namespace fresco {
namespace cuda {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;

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
