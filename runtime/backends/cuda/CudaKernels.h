//===- CudaKernels.h - CUDA kernel launchers (internal) ---------*- C++ -*-===//
//
// Host-side entry points of the kernels in the .cu files, one group per
// file, and the error helpers they share with CudaBackend.cpp. Every
// launcher runs on the given stream, returns at once and checks its launch
// with checkLaunch(), which names the kernel in the error.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_CUDAKERNELS_H
#define FRESCO_RUNTIME_BACKENDS_CUDA_CUDAKERNELS_H

#include "runtime/core/Backend.h"
#include "runtime/core/Error.h"

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace fresco {
namespace cuda {

/// Throws fresco::Error "CUDA error in <what>: <driver message>" unless `e`
/// is cudaSuccess.
void checkCuda(cudaError_t e, const char *what);

/// Checks the launch of `kernel` just issued on `stream` (bad configuration,
/// no kernel image for this GPU). When FRESCO_CUDA_SYNC=1 is set it also
/// waits for the kernel, so that a fault it causes names it; otherwise
/// faults surface at the next synchronize().
void checkLaunch(const char *kernel, cudaStream_t stream);

/// Where the embedding kernel records an id outside the table (device
/// memory; `flag` is 0 until one is seen). Read back by synchronize().
struct EmbeddingFault {
  unsigned long long flag;
  long long position, id, tableRows;
};

// Norm.cu
void layerNorm(const float *x, const float *gamma, const float *beta, float *y,
               int64_t rows, int64_t cols, float eps, cudaStream_t s);
void groupNorm(const float *x, const float *gamma, const float *beta, float *y,
               int64_t N, int64_t C, int64_t S, int64_t groups, float eps,
               cudaStream_t s);
void modulate(const float *x, const float *shift, const float *scale, float *y,
              int64_t B, int64_t T, int64_t D, cudaStream_t s);
void layerNormModulate(const float *x, const float *gamma, const float *beta,
                       const float *shift, const float *scale, float *y,
                       int64_t B, int64_t T, int64_t D, float eps,
                       cudaStream_t s);

// Elementwise.cu
void unary(UnaryKind kind, const float *x, float *y, int64_t n, cudaStream_t s);
/// y[i] = x[i] rounded to bf16 (else f16), to nearest even; y holds n
/// 2-byte values.
void toHalfPrecision(const float *x, void *y, int64_t n, bool bf16,
                     cudaStream_t s);
/// The arrays are host memory, as in Backend::binary.
void binary(BinaryKind kind, const float *a, const float *b, float *out,
            int rank, const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides, cudaStream_t s);
/// negLogPeriod and denom are diffusers' float32 scalars, computed on the
/// host exactly as the CPU backend does.
void timestepEmbedding(const float *tF32, const int64_t *tI64, float *out,
                       int64_t B, int64_t dim, bool flipSinToCos,
                       float negLogPeriod, float denom, float scale,
                       cudaStream_t s);
void embedding(const float *table, const int64_t *ids, float *out, int64_t n,
               int64_t V, int64_t D, EmbeddingFault *fault, cudaStream_t s);
void posEmbed2d(float *out, int64_t gridH, int64_t gridW, int64_t dim,
                double baseSize, double interpolationScale, cudaStream_t s);

// Layout.cu
void transpose(const void *x, void *out, int rank, const int64_t *shape,
               const int64_t *perm, size_t elemSize, cudaStream_t s);
void upsampleNearest(const float *x, float *y, int64_t N, int64_t C, int64_t H,
                     int64_t W, int64_t sh, int64_t sw, cudaStream_t s);
/// col [C*KH*KW, P] of one image x [C, H, W] (zero padding): the patches
/// of output positions [p0, p0 + P) of the OH x OW output.
void im2col(const float *x, float *col, int64_t C, int64_t H, int64_t W,
            int64_t KH, int64_t KW, int64_t strideH, int64_t strideW,
            int64_t padH, int64_t padW, int64_t OH, int64_t OW, int64_t p0,
            int64_t P, cudaStream_t s);
/// y[i] = bias[(i / inner) % count] for i < n: the bias of a linear
/// (inner = 1, count = N) or of a conv (inner = OH*OW, count = O).
void fillBias(float *y, const float *bias, int64_t n, int64_t inner,
              int64_t count, cudaStream_t s);

// Attention.cu
void attention(const float *q, const float *k, const float *v, float *o,
               int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
               float scale, cudaStream_t s);
/// Backend::attentionBlock. A block without keys (Tk = 0) merges nothing;
/// first, it leaves o = 0 and lse = -inf, the state that merges start from.
void attentionBlock(const float *q, const float *k, const float *v, float *o,
                    float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                    int64_t Dh, float scale, bool first, cudaStream_t s);

// AttentionTC.cu: the same on tensor cores, q, k, v and the probabilities
// rounded to bf16 (else f16), f32 accumulation; for runs with bf16/f16
// GEMMs. Head widths 1 to 128 (attentionTensorCoreSupported); the others
// take the f32 kernels above.
bool attentionTensorCoreSupported(int64_t Dh);
/// False when FRESCO_CUDA_ATTENTION=f32 forces the f32 kernels (unset or
/// "auto": true); any other value is false with the reason in `error`. The
/// backend reads it once, when it is made.
bool attentionTensorCoreAllowed(std::string *error);
void attentionTensorCore(const float *q, const float *k, const float *v,
                         float *o, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                         int64_t Dh, float scale, bool bf16, cudaStream_t s);
void attentionBlockTensorCore(const float *q, const float *k, const float *v,
                              float *o, float *lse, int64_t B, int64_t Tq,
                              int64_t Tk, int64_t H, int64_t Dh, float scale,
                              bool first, bool bf16, cudaStream_t s);

} // namespace cuda
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_CUDAKERNELS_H
