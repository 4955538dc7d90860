//===- CudaBackendKernels.cpp - The other CUDA kernels --------------------===//
//
// Norms, elementwise, embeddings, rotary and layout calls: each checks its
// arguments and queues Fresco's kernel (CudaKernels.h) on the stream.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/GroupMoments.h"
#include "runtime/backends/cuda/CudaBackendImpl.h"

#include <cmath>

namespace fresco::cudabackend {

void CudaBackend::layerNorm(const float *x, const float *gamma,
                            const float *beta, float *y, int64_t rows,
                            int64_t cols, float eps) {
  cuda::layerNorm(x, gamma, beta, y, rows, cols, eps, storage_, stream_);
}

void CudaBackend::rmsNorm(const float *x, const float *gamma, float *y,
                          int64_t rows, int64_t cols, float eps) {
  cuda::rmsNorm(x, gamma, y, rows, cols, eps, storage_, stream_);
}

void CudaBackend::groupNorm(const float *x, const float *gamma,
                            const float *beta, float *y, int64_t N, int64_t C,
                            int64_t S, int64_t groups, float eps) {
  check(groups > 0 && C % groups == 0, "groupNorm: ", C,
        " channels are not divisible into ", groups, " groups");
  cuda::groupNorm(x, gamma, beta, y, N, C, S, groups, eps, storage_, stream_);
}

void CudaBackend::groupNormStats(const float *x, float *stats, int64_t N,
                                 int64_t C, int64_t S, int64_t groups,
                                 int64_t valid) {
  check(groups > 0 && C % groups == 0, "groupNormStats: ", C,
        " channels are not divisible into ", groups, " groups");
  check(valid >= 0 && valid <= S, "groupNormStats: ", valid,
        " valid positions per plane, outside [0, ", S, "]");
  cuda::groupNormStats(x, stats, N, C, S, groups, valid, storage_, stream_);
}

void CudaBackend::groupNormApply(const float *x, const float *partials,
                                 int64_t parts, const int64_t *valid,
                                 const float *gamma, const float *beta,
                                 float *y, int64_t N, int64_t C, int64_t S,
                                 int64_t groups, float eps) {
  check(groups > 0 && C % groups == 0, "groupNormApply: ", C,
        " channels are not divisible into ", groups, " groups");
  check(parts > 0, "groupNormApply: no partial statistics");
  if (valid) {
    // The kernel gets the counts by value (GroupPartCounts).
    check(parts <= kMaxGroupParts, "groupNormApply: ", parts,
          " blocks of unequal counts (valid_rows), more than the ",
          kMaxGroupParts, " the CUDA kernel takes");
    for (int64_t p = 0; p < parts; ++p)
      check(valid[p] >= 0 && valid[p] <= S, "groupNormApply: block ", p,
            " has ", valid[p], " valid positions per plane, outside [0, ", S,
            "]");
  }
  cuda::groupNormApply(x, partials, parts, valid, gamma, beta, y, N, C, S,
                       groups, eps, storage_, stream_);
}

void CudaBackend::upsampleNearest(const float *x, float *y, int64_t N,
                                  int64_t C, int64_t H, int64_t W, int64_t sh,
                                  int64_t sw) {
  cuda::upsampleNearest(x, y, N, C, H, W, sh, sw, storage_, stream_);
}

void CudaBackend::modulate(const float *x, const float *shift,
                           const float *scale, float *y, int64_t B, int64_t T,
                           int64_t D) {
  cuda::modulate(x, shift, scale, y, B, T, D, storage_, stream_);
}

void CudaBackend::layerNormModulate(const float *x, const float *gamma,
                                    const float *beta, const float *shift,
                                    const float *scale, float *y, int64_t B,
                                    int64_t T, int64_t D, float eps) {
  cuda::layerNormModulate(x, gamma, beta, shift, scale, y, B, T, D, eps,
                          storage_, stream_);
}

void CudaBackend::storeFloats(const float *src, float *dst, int64_t n) {
  cuda::storeFloats(src, dst, n, storage_, stream_);
}

void CudaBackend::unary(UnaryKind kind, const float *x, float *y, int64_t n) {
  cuda::unary(kind, x, y, n, storage_, stream_);
}

void CudaBackend::binary(BinaryKind kind, const float *a, const float *b,
                         float *out, int rank, const int64_t *outShape,
                         const int64_t *aStrides, const int64_t *bStrides) {
  cuda::binary(kind, a, b, out, rank, outShape, aStrides, bStrides, storage_,
               stream_);
}

void CudaBackend::mulAdd(const float *a, const float *b, const float *c,
                         float *out, int rank, const int64_t *outShape,
                         const int64_t *aStrides, const int64_t *bStrides) {
  cuda::mulAdd(a, b, c, out, rank, outShape, aStrides, bStrides, storage_,
               stream_);
}

void CudaBackend::timestepEmbedding(const float *tF32, const int64_t *tI64,
                                    float *out, int64_t B, int64_t dim,
                                    bool flipSinToCos, float shift, float scale,
                                    float maxPeriod) {
  check((tF32 == nullptr) != (tI64 == nullptr),
        "timestepEmbedding: exactly one of the f32 / i64 inputs must be set");
  check(dim >= 0, "timestepEmbedding: negative dim ", dim);
  // The float32 scalars of diffusers' expression, as the CPU computes them.
  const float negLogPeriod = float(-std::log(double(maxPeriod)));
  const float denom = float(double(dim / 2) - double(shift));
  cuda::timestepEmbedding(tF32, tI64, out, B, dim, flipSinToCos, negLogPeriod,
                          denom, scale, storage_, stream_);
}

void CudaBackend::ropeTable(const float *ids, float *out, int64_t T,
                            int64_t nAxes, const int64_t *axesDim,
                            double theta) {
  check(nAxes >= 0 && nAxes <= cuda::RopeAxes::kMax, "ropeTable: ", nAxes,
        " axes, more than the ", cuda::RopeAxes::kMax, " supported");
  cuda::RopeAxes axes;
  axes.n = int(nAxes);
  for (int64_t a = 0; a < nAxes; ++a)
    axes.dim[a] = axesDim[a];
  cuda::ropeTable(ids, out, T, axes, theta, storage_, stream_);
}

void CudaBackend::rope(const float *x, const float *table,
                       const float *normWeight, float *y, int64_t B, int64_t T,
                       int64_t H, int64_t Dh, float eps) {
  if (normWeight)
    cuda::ropeNorm(x, table, normWeight, y, B, T, H, Dh, eps, storage_,
                   stream_);
  else
    cuda::rope(x, table, y, B, T, H, Dh, storage_, stream_);
}

void CudaBackend::relativePositionBias(const float *table, float *out,
                                       int64_t H, int64_t Tq, int64_t Tk,
                                       int64_t numBuckets, int64_t maxDistance,
                                       bool bidirectional) {
  cuda::relativePositionBias(table, out, H, Tq, Tk, numBuckets, maxDistance,
                             bidirectional, storage_, stream_);
}

void CudaBackend::eosPool(const float *x, const int64_t *ids, float *out,
                          int64_t B, int64_t T, int64_t D, int64_t tokenId,
                          bool argmax) {
  cuda::eosPool(x, ids, out, B, T, D, tokenId, argmax, storage_, stream_);
}

void CudaBackend::embedding(const float *table, const int64_t *ids, float *out,
                            int64_t n, int64_t V, int64_t D) {
  cuda::embedding(table, ids, out, n, V, D, fault_, storage_, stream_);
  embeddingPending_ = true;
}

void CudaBackend::transpose(const void *x, void *out, int rank,
                            const int64_t *shape, const int64_t *perm,
                            size_t elemSize) {
  cuda::transpose(x, out, rank, shape, perm, elemSize, stream_);
}

void CudaBackend::posEmbed2d(float *out, const PosGrid &g, int64_t dim,
                             double baseSize, double interpolationScale) {
  check(dim > 0 && dim % 4 == 0, "posEmbed2d: dim ", dim,
        " must be a positive multiple of 4");
  check(baseSize > 0 && interpolationScale > 0,
        "posEmbed2d: base size and interpolation scale must be positive");
  check(g.valid(), "posEmbed2d: window ", g.rows, " x ", g.cols, " at (",
        g.rowStart, ", ", g.colStart, ") is not inside the ", g.gridH, " x ",
        g.gridW, " grid");
  cuda::posEmbed2d(out, g, dim, baseSize, interpolationScale, storage_,
                   stream_);
}

} // namespace fresco::cudabackend
