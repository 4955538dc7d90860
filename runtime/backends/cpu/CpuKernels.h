//===- CpuKernels.h - CPU kernel entry points (internal) --------*- C++ -*-===//
//
// Free functions behind CpuBackend, one group per source file. Kernels that
// need temporary memory take a Scratch owned by the backend, so a step reuses
// the same buffers instead of allocating.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CPU_CPUKERNELS_H
#define FRESCO_RUNTIME_BACKENDS_CPU_CPUKERNELS_H

#include "runtime/core/Backend.h"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace fresco {
namespace cpu {

/// A float buffer that only ever grows; its contents do not survive get().
class Scratch {
public:
  float *get(size_t n) {
    if (n > capacity_) {
      data_.reset(new float[n]);
      capacity_ = n;
    }
    return data_.get();
  }

private:
  std::unique_ptr<float[]> data_;
  size_t capacity_ = 0;
};

// Gemm.cpp
/// y = x w^T (+ b) (+ r): the residual r [M,N] (null: none) and the bias
/// are written first and the GEMM accumulates onto them.
void linear(const float *x, const float *w, const float *b, const float *r,
            float *y, int64_t M, int64_t K, int64_t N);
/// y = r + g * (x w^T + b) (r null: g * (x w^T + b)), g [G,N] per sample of
/// M/G rows: the GEMM (with the bias), then one pass over y.
void linearGated(const float *x, const float *w, const float *b, const float *g,
                 int64_t G, const float *r, float *y, int64_t M, int64_t K,
                 int64_t N);
void conv2d(const float *x, const float *w, const float *b, float *y, int64_t N,
            int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
            int64_t strideH, int64_t strideW, int64_t padH, int64_t padW,
            Scratch &scratch);

// Fp8Gemm.cpp
/// Backend::linearFp8 emulated: x rounded to e4m3 per row into `values`
/// (its scales in `rowScales`), an f32 sgemm over the e4m3 values of x and
/// of w (w.values: f32 [N,K]), both scales and the bias applied in f32.
void linearFp8(const float *x, const Fp8Weight &w, const float *b, float *y,
               int64_t M, int64_t K, int64_t N, const UnaryKind *act,
               Scratch &values, Scratch &rowScales);

// Winograd.cpp
/// Whether conv2d takes the Winograd F(2x2, 3x3) path: 3x3, stride 1,
/// padding up to 2, at least 16 input and output channels, at least 1024
/// output positions (N * OH * OW) over which to repay the weights'
/// transform, and not turned off with FRESCO_CPU_WINOGRAD=0.
bool winogradApplies(int64_t N, int64_t C, int64_t O, int64_t KH, int64_t KW,
                     int64_t strideH, int64_t strideW, int64_t padH,
                     int64_t padW, int64_t OH, int64_t OW);
void conv2dWinograd(const float *x, const float *w, const float *b, float *y,
                    int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                    int64_t padH, int64_t padW, Scratch &scratch);

// Attention.cpp
void attention(const float *q, const float *k, const float *v, float *o,
               int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
               float scale, Scratch &scratch);
/// Backend::attentionMasked.
void attentionMasked(const float *q, const float *k, const float *v,
                     const float *bias, float *o, int64_t B, int64_t Tq,
                     int64_t Tk, int64_t H, int64_t Dh, float scale,
                     bool causal, Scratch &scratch);
/// Backend::attentionBlock. A block without keys (Tk = 0) merges nothing;
/// first, it leaves o = 0 and lse = -inf, the state that merges start from.
void attentionBlock(const float *q, const float *k, const float *v, float *o,
                    float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                    int64_t Dh, float scale, bool first, Scratch &scratch);

// Norm.cpp
void layerNorm(const float *x, const float *gamma, const float *beta, float *y,
               int64_t rows, int64_t cols, float eps);
void rmsNorm(const float *x, const float *gamma, float *y, int64_t rows,
             int64_t cols, float eps);
/// rmsNorm's 1/sqrt(mean(x^2) + eps) of x[0, n), the squares summed in
/// double: one function, so that the rope's fused norm (Rotary.cpp) scales
/// its rows exactly as rmsNorm does.
float rmsRstd(const float *x, int64_t n, float eps);
void groupNorm(const float *x, const float *gamma, const float *beta, float *y,
               int64_t N, int64_t C, int64_t S, int64_t groups, float eps);
/// groupNorm's halves for positions split across ranks, `valid` the real
/// positions per channel plane (Backend.h).
void groupNormStats(const float *x, float *stats, int64_t N, int64_t C,
                    int64_t S, int64_t groups, int64_t valid);
void groupNormApply(const float *x, const float *partials, int64_t parts,
                    const int64_t *valid, const float *gamma, const float *beta,
                    float *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                    float eps);
void upsampleNearest(const float *x, float *y, int64_t N, int64_t C, int64_t H,
                     int64_t W, int64_t sh, int64_t sw);
void modulate(const float *x, const float *shift, const float *scale, float *y,
              int64_t B, int64_t T, int64_t D);
void layerNormModulate(const float *x, const float *gamma, const float *beta,
                       const float *shift, const float *scale, float *y,
                       int64_t B, int64_t T, int64_t D, float eps);

// Elementwise.cpp
void unary(UnaryKind kind, const float *x, float *y, int64_t n);
void binary(BinaryKind kind, const float *a, const float *b, float *out,
            int rank, const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides);
/// out = a * b + c (Backend::mulAdd); out may alias c.
void mulAdd(const float *a, const float *b, const float *c, float *out,
            int rank, const int64_t *outShape, const int64_t *aStrides,
            const int64_t *bStrides);

// Embedding.cpp
void timestepEmbedding(const float *tF32, const int64_t *tI64, float *out,
                       int64_t B, int64_t dim, bool flipSinToCos, float shift,
                       float scale, float maxPeriod);
void embedding(const float *table, const int64_t *ids, float *out, int64_t n,
               int64_t V, int64_t D);
/// Backend::relativePositionBias.
void relativePositionBias(const float *table, float *out, int64_t H, int64_t Tq,
                          int64_t Tk, int64_t numBuckets, int64_t maxDistance,
                          bool bidirectional);
/// Backend::eosPool.
void eosPool(const float *x, const int64_t *ids, float *out, int64_t B,
             int64_t T, int64_t D, int64_t tokenId, bool argmax);
void posEmbed2d(float *out, const PosGrid &g, int64_t dim, double baseSize,
                double interpolationScale);

// Rotary.cpp
void ropeTable(const float *ids, float *out, int64_t T, int64_t nAxes,
               const int64_t *axesDim, double theta);
/// Backend::rope; normWeight null: no norm.
void rope(const float *x, const float *table, const float *normWeight, float *y,
          int64_t B, int64_t T, int64_t H, int64_t Dh, float eps);

// Layout.cpp
void transpose(const void *x, void *out, int rank, const int64_t *shape,
               const int64_t *perm, size_t elemSize);
void copyStrided(const void *src, int64_t srcRowElems, void *dst,
                 int64_t dstRowElems, int64_t rows, int64_t rowElems,
                 size_t elemSize);

} // namespace cpu
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CPU_CPUKERNELS_H
