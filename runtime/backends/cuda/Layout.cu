//===- Layout.cu - Transpose, upsampling, im2col, bias broadcast ----------===//
//
// Data movement kernels, one thread per output element so that writes are
// coalesced. transpose() is the general rank-8 gather; the plans only
// transpose small tensors (patchify, unpatchify), so it is not tiled.
// transpose moves elements of 1, 2, 4 or 8 bytes as they are; the others
// are templates on the float storage type T and copy T as it is (fillBias,
// upsampling, im2col's padding writes T's zero).
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaKernels.h"
#include "runtime/backends/cuda/CudaUtil.cuh"

namespace fresco {
namespace cuda {
namespace {

struct Gather {
  int rank;
  int64_t outShape[kMaxRank];
  int64_t inStride[kMaxRank]; // input stride of each output dim
};

template <typename T>
__global__ void transposeKernel(const T *__restrict__ x, T *__restrict__ out,
                                int64_t n, Gather g) {
  for (int64_t i = globalIndex(); i < n; i += gridStride()) {
    int64_t rest = i, src = 0;
    for (int d = g.rank - 1; d >= 0; --d) {
      src += (rest % g.outShape[d]) * g.inStride[d];
      rest /= g.outShape[d];
    }
    out[i] = x[src];
  }
}

template <typename T>
__global__ void upsampleKernel(const T *__restrict__ x, T *__restrict__ y,
                               int64_t n, int64_t H, int64_t W, int64_t sh,
                               int64_t sw) {
  const int64_t OW = W * sw, OH = H * sh;
  for (int64_t i = globalIndex(); i < n; i += gridStride()) {
    const int64_t j = i % OW, r = (i / OW) % OH, plane = i / (OW * OH);
    y[i] = x[(plane * H + r / sh) * W + j / sw];
  }
}

template <typename T>
__global__ void im2colKernel(const T *__restrict__ x, T *__restrict__ col,
                             int64_t H, int64_t W, int64_t KH, int64_t KW,
                             int64_t sh, int64_t sw, int64_t ph, int64_t pw,
                             int64_t OW, int64_t p0, int64_t P, int64_t n) {
  for (int64_t i = globalIndex(); i < n; i += gridStride()) {
    const int64_t p = p0 + i % P, q = i / P;
    const int64_t kw = q % KW, kh = (q / KW) % KH, c = q / (KW * KH);
    const int64_t ih = (p / OW) * sh - ph + kh, iw = (p % OW) * sw - pw + kw;
    col[i] = (ih >= 0 && ih < H && iw >= 0 && iw < W) ? x[(c * H + ih) * W + iw]
                                                      : fromFloat<T>(0.0f);
  }
}

template <typename T>
__global__ void fillBiasKernel(T *__restrict__ y, const T *__restrict__ bias,
                               int64_t n, int64_t inner, int64_t count) {
  for (int64_t i = globalIndex(); i < n; i += gridStride())
    y[i] = bias[(i / inner) % count];
}

template <typename T>
void launchTranspose(const void *x, void *out, int64_t n, const Gather &g,
                     cudaStream_t s) {
  transposeKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
      static_cast<const T *>(x), static_cast<T *>(out), n, g);
}

} // namespace

void transpose(const void *x, void *out, int rank, const int64_t *shape,
               const int64_t *perm, size_t elemSize, cudaStream_t s) {
  check(rank >= 0 && rank <= kMaxRank, "transpose: rank ", rank,
        " outside [0, ", kMaxRank, "]");
  bool seen[kMaxRank] = {};
  int64_t n = 1;
  bool identity = true;
  for (int d = 0; d < rank; ++d) {
    check(perm[d] >= 0 && perm[d] < rank && !seen[perm[d]],
          "transpose: perm is not a permutation of ", rank, " dims");
    seen[perm[d]] = true;
    identity &= perm[d] == d;
    n *= shape[d];
  }
  if (n == 0)
    return;
  if (identity) {
    checkCuda(cudaMemcpyAsync(out, x, size_t(n) * elemSize,
                              cudaMemcpyDeviceToDevice, s),
              "transpose (copy)");
    return;
  }
  int64_t inStride[kMaxRank];
  int64_t stride = 1;
  for (int d = rank - 1; d >= 0; --d) {
    inStride[d] = stride;
    stride *= shape[d];
  }
  Gather g{};
  g.rank = rank;
  for (int d = 0; d < rank; ++d) {
    g.outShape[d] = shape[perm[d]];
    g.inStride[d] = inStride[perm[d]];
  }
  switch (elemSize) {
  case 1:
    launchTranspose<uint8_t>(x, out, n, g, s);
    return checkLaunch("transpose", s);
  case 2:
    launchTranspose<uint16_t>(x, out, n, g, s);
    return checkLaunch("transpose", s);
  case 4:
    launchTranspose<uint32_t>(x, out, n, g, s);
    return checkLaunch("transpose", s);
  case 8:
    launchTranspose<unsigned long long>(x, out, n, g, s);
    return checkLaunch("transpose", s);
  }
  fail("transpose: unsupported element size ", elemSize);
}

void upsampleNearest(const void *x, void *y, int64_t N, int64_t C, int64_t H,
                     int64_t W, int64_t sh, int64_t sw, DType storage,
                     cudaStream_t s) {
  const int64_t n = N * C * H * sh * W * sw;
  if (n == 0)
    return;
  withStorage(storage, "upsample_nearest", [&](auto t) {
    using T = typename decltype(t)::type;
    upsampleKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<const T *>(x), static_cast<T *>(y), n, H, W, sh, sw);
  });
  checkLaunch("upsample_nearest", s);
}

void im2col(const void *x, void *col, int64_t C, int64_t H, int64_t W,
            int64_t KH, int64_t KW, int64_t strideH, int64_t strideW,
            int64_t padH, int64_t padW, int64_t OH, int64_t OW, int64_t p0,
            int64_t P, DType storage, cudaStream_t s) {
  (void)OH; // the band [p0, p0 + P) lies inside OH * OW
  const int64_t n = C * KH * KW * P;
  if (n == 0)
    return;
  withStorage(storage, "im2col", [&](auto t) {
    using T = typename decltype(t)::type;
    im2colKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<const T *>(x), static_cast<T *>(col), H, W, KH, KW, strideH,
        strideW, padH, padW, OW, p0, P, n);
  });
  checkLaunch("im2col", s);
}

void fillBias(void *y, const void *bias, int64_t n, int64_t inner,
              int64_t count, DType storage, cudaStream_t s) {
  if (n == 0)
    return;
  withStorage(storage, "fill_bias", [&](auto t) {
    using T = typename decltype(t)::type;
    fillBiasKernel<T><<<blocksFor(n), kThreads, 0, s>>>(
        static_cast<T *>(y), static_cast<const T *>(bias), n, inner, count);
  });
  checkLaunch("fill_bias", s);
}

} // namespace cuda
} // namespace fresco
