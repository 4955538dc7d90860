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

// Every float tensor is in the backend's float storage `storage` (F32,
// BF16 or F16; Backend::floatStorage()), whatever its nominal pointer type:
// the launchers take it as void pointers. Kernels compute in f32 and round
// once on store. Pointers typed float are f32 in every storage.

// Fp8.cu
/// Rounds x [rows, cols] to e4m3 row by row (runtime/core/Fp8.h's rule):
/// codes [rows, cols] (one byte each), scales [rows] f32 (amax/448).
void quantizeRowsE4M3(const void *x, int64_t rows, int64_t cols, void *codes,
                      float *scales, DType storage, cudaStream_t s);

// Norm.cu
void layerNorm(const void *x, const void *gamma, const void *beta, void *y,
               int64_t rows, int64_t cols, float eps, DType storage,
               cudaStream_t s);
void rmsNorm(const void *x, const void *gamma, void *y, int64_t rows,
             int64_t cols, float eps, DType storage, cudaStream_t s);
void groupNorm(const void *x, const void *gamma, const void *beta, void *y,
               int64_t N, int64_t C, int64_t S, int64_t groups, float eps,
               DType storage, cudaStream_t s);
/// Backend::groupNormStats and groupNormApply: stats and partials f32;
/// `valid` (host memory, at most kMaxGroupParts entries, or null) as there.
void groupNormStats(const void *x, float *stats, int64_t N, int64_t C,
                    int64_t S, int64_t groups, int64_t valid, DType storage,
                    cudaStream_t s);
void groupNormApply(const void *x, const float *partials, int64_t parts,
                    const int64_t *valid, const void *gamma, const void *beta,
                    void *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                    float eps, DType storage, cudaStream_t s);
void modulate(const void *x, const void *shift, const void *scale, void *y,
              int64_t B, int64_t T, int64_t D, DType storage, cudaStream_t s);
void layerNormModulate(const void *x, const void *gamma, const void *beta,
                       const void *shift, const void *scale, void *y, int64_t B,
                       int64_t T, int64_t D, float eps, DType storage,
                       cudaStream_t s);

// Elementwise.cu
void unary(UnaryKind kind, const void *x, void *y, int64_t n, DType storage,
           cudaStream_t s);
/// y[i] = x[i] (f32) rounded to the storage type.
void storeFloats(const float *x, void *y, int64_t n, DType storage,
                 cudaStream_t s);
/// y[i] = kind(x[i] + bias[i % count]) rounded once to the storage type:
/// x is f32 (a GEMM's unrounded output), bias (optional, [count]) and y
/// are in the storage.
void biasActivation(UnaryKind kind, const float *x, const void *bias, void *y,
                    int64_t n, int64_t count, DType storage, cudaStream_t s);
/// The same without an activation: y[i] = x[i] + bias[i % count] (bias
/// optional) rounded once.
void biasRound(const float *x, const void *bias, void *y, int64_t n,
               int64_t count, DType storage, cudaStream_t s);
/// For a gated GEMM (CudaBackend::linearGated): alpha[i] = g[i] widened to
/// f32, and with a bias scaledBias[i] = g[i] * bias[i % count] rounded to
/// the storage type; g and scaledBias [n], bias [count].
void gateVectors(const void *g, const void *bias, float *alpha,
                 void *scaledBias, int64_t n, int64_t count, DType storage,
                 cudaStream_t s);
/// The arrays are host memory, as in Backend::binary.
void binary(BinaryKind kind, const void *a, const void *b, void *out, int rank,
            const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides, DType storage, cudaStream_t s);
/// out = a * b + c, a and b as binary's, c contiguous with out's shape;
/// out may alias c.
void mulAdd(const void *a, const void *b, const void *c, void *out, int rank,
            const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides, DType storage, cudaStream_t s);
/// negLogPeriod and denom are diffusers' float32 scalars, computed on the
/// host exactly as the CPU backend does. tF32 is f32 in every storage.
void timestepEmbedding(const float *tF32, const int64_t *tI64, void *out,
                       int64_t B, int64_t dim, bool flipSinToCos,
                       float negLogPeriod, float denom, float scale,
                       DType storage, cudaStream_t s);
void embedding(const void *table, const int64_t *ids, void *out, int64_t n,
               int64_t V, int64_t D, EmbeddingFault *fault, DType storage,
               cudaStream_t s);
void posEmbed2d(void *out, const PosGrid &g, int64_t dim, double baseSize,
                double interpolationScale, DType storage, cudaStream_t s);

// Rotary.cu
/// A rotary table's axes, passed by value to the kernel.
struct RopeAxes {
  static constexpr int kMax = 64;
  int n = 0;
  int64_t dim[kMax] = {};
};
void ropeTable(const void *ids, void *out, int64_t T, const RopeAxes &axes,
               double theta, DType storage, cudaStream_t s);
void rope(const void *x, const void *table, void *y, int64_t B, int64_t T,
          int64_t H, int64_t Dh, DType storage, cudaStream_t s);
/// rope with each head's row RMS-normalised first (weight [Dh]).
void ropeNorm(const void *x, const void *table, const void *weight, void *y,
              int64_t B, int64_t T, int64_t H, int64_t Dh, float eps,
              DType storage, cudaStream_t s);

// TextEncoder.cu
/// Backend::attentionMasked: bias [H, Tq, Tk] or null; at most 24576 keys.
void attentionMasked(const void *q, const void *k, const void *v,
                     const void *bias, void *o, int64_t B, int64_t Tq,
                     int64_t Tk, int64_t H, int64_t Dh, float scale,
                     bool causal, DType storage, cudaStream_t s);
/// Backend::relativePositionBias.
void relativePositionBias(const void *table, void *out, int64_t H, int64_t Tq,
                          int64_t Tk, int64_t numBuckets, int64_t maxDistance,
                          bool bidirectional, DType storage, cudaStream_t s);
/// Backend::eosPool.
void eosPool(const void *x, const int64_t *ids, void *out, int64_t B, int64_t T,
             int64_t D, int64_t tokenId, bool argmax, DType storage,
             cudaStream_t s);

// Layout.cu
/// Element size 1, 2, 4 or 8 bytes (a pure copy: no storage type).
void transpose(const void *x, void *out, int rank, const int64_t *shape,
               const int64_t *perm, size_t elemSize, cudaStream_t s);
void upsampleNearest(const void *x, void *y, int64_t N, int64_t C, int64_t H,
                     int64_t W, int64_t sh, int64_t sw, DType storage,
                     cudaStream_t s);
/// col [C*KH*KW, P] of one image x [C, H, W] (zero padding): the patches
/// of output positions [p0, p0 + P) of the OH x OW output.
void im2col(const void *x, void *col, int64_t C, int64_t H, int64_t W,
            int64_t KH, int64_t KW, int64_t strideH, int64_t strideW,
            int64_t padH, int64_t padW, int64_t OH, int64_t OW, int64_t p0,
            int64_t P, DType storage, cudaStream_t s);
/// y[i] = bias[(i / inner) % count] for i < n: the bias of a linear
/// (inner = 1, count = N) or of a conv (inner = OH*OW, count = O).
void fillBias(void *y, const void *bias, int64_t n, int64_t inner,
              int64_t count, DType storage, cudaStream_t s);

// Attention.cu: f32 arithmetic on q, k, v and o of any storage; lse is f32.
void attention(const void *q, const void *k, const void *v, void *o, int64_t B,
               int64_t Tq, int64_t Tk, int64_t H, int64_t Dh, float scale,
               DType storage, cudaStream_t s);
/// Backend::attentionBlock: q, k, v in the storage type, the running output
/// o and lse in f32. A block without keys (Tk = 0) merges nothing; first,
/// it leaves o = 0 and lse = -inf, the state that merges start from.
void attentionBlock(const void *q, const void *k, const void *v, void *o,
                    float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                    int64_t Dh, float scale, bool first, DType storage,
                    cudaStream_t s);

// AttentionTC.cu: the same on tensor cores for bf16/f16 storage (F32 is
// refused): q, k, v read as stored, the probabilities rounded to the
// storage type, f32 accumulation, o stored as the storage type (f32 for
// attentionBlock's running output). Head widths
// 1 to 128 (attentionTensorCoreSupported); the others take the kernels
// above.
bool attentionTensorCoreSupported(int64_t Dh);
void attentionTensorCore(const void *q, const void *k, const void *v, void *o,
                         int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                         int64_t Dh, float scale, DType storage,
                         cudaStream_t s);
void attentionBlockTensorCore(const void *q, const void *k, const void *v,
                              void *o, float *lse, int64_t B, int64_t Tq,
                              int64_t Tk, int64_t H, int64_t Dh, float scale,
                              bool first, DType storage, cudaStream_t s);

// AttentionMerge.cu: one key block's attention from cuDNN (ob in the
// storage type, lseb f32 [B, H, Tq]) into ring attention's running f32 o
// and lse; `first` overwrites them.
void attentionMergeBlock(const void *ob, const float *lseb, float *o,
                         float *lse, int64_t B, int64_t Tq, int64_t H,
                         int64_t Dh, bool first, DType storage, cudaStream_t s);

} // namespace cuda
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_CUDAKERNELS_H
