//===- CpuBackend.cpp - The Backend implementation for the host -----------===//
//
// A thin adapter from the Backend interface to the free kernel functions in
// CpuKernels.h. It owns the scratch buffers so that a running step reuses
// them rather than allocating per call.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/core/Error.h"
#include "runtime/core/Fp8.h"

#include <cblas.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace fresco {
namespace {

class CpuBackend final : public Backend {
public:
  // The kernels thread with OpenMP and call OpenBLAS from inside their
  // parallel regions; OpenBLAS's own pool would only compete for the cores
  // (Gemm.cpp has the measurements), so it is switched off process-wide.
  explicit CpuBackend(bool staged) : staged_(staged) {
    openblas_set_num_threads(1);
  }

  std::string name() const override { return staged_ ? "cpu-staged" : "cpu"; }

  // Host memory: allocations are 64-byte aligned for vector loads, copies
  // are memcpy and nothing is ever pending.
  // Staged, it claims otherwise, so the executor takes the path of a device
  // backend (weights copied in, collectives staged through the host).
  bool usesHostMemory() const override { return !staged_; }

  // Staged, it also records as a device backend would (without running the
  // kernels; replay issues them), so the executor's recording path is
  // tested too.
  std::unique_ptr<Recording>
  record(const std::function<void()> &issue) override {
    if (!staged_)
      return nullptr;
    struct Replay final : Recording {
      explicit Replay(std::function<void()> f) : f(std::move(f)) {}
      void replay() override { f(); }
      std::function<void()> f;
    };
    return std::make_unique<Replay>(issue);
  }
  void *allocate(size_t bytes) override {
    // aligned_alloc wants a multiple of the alignment.
    size_t rounded = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
    void *p = std::aligned_alloc(64, rounded);
    check(p != nullptr, "cannot allocate ", bytes, " bytes of host memory");
    return p;
  }
  void release(void *p) override { std::free(p); }
  void copyToDevice(void *dst, const void *host, size_t bytes) override {
    if (bytes)
      std::memcpy(dst, host, bytes);
  }
  void copyToHost(void *host, const void *src, size_t bytes) override {
    if (bytes)
      std::memcpy(host, src, bytes);
  }
  void synchronize() override {}

  void linear(const float *x, const float *w, const float *b, float *y,
              int64_t M, int64_t K, int64_t N) override {
    cpu::linear(x, w, b, nullptr, y, M, K, N);
  }
  void linearResidual(const float *x, const float *w, const float *b,
                      const float *r, float *y, int64_t M, int64_t K,
                      int64_t N) override {
    cpu::linear(x, w, b, r, y, M, K, N);
  }
  void linearGated(const float *x, const float *w, const float *b,
                   const float *g, int64_t G, const float *r, float *y,
                   int64_t M, int64_t K, int64_t N) override {
    cpu::linearGated(x, w, b, g, G, r, y, M, K, N);
  }

  // FP8 is emulated (Fp8Gemm.cpp): the weight's e4m3 values are kept as
  // f32 for the sgemm.
  std::shared_ptr<const Fp8Weight> prepareFp8Weight(const float *w, int64_t N,
                                                    int64_t K) override {
    struct Owned : Fp8Weight {
      std::vector<float> v, s;
    };
    auto p = std::make_shared<Owned>();
    p->v.resize(size_t(N * K));
    p->s.resize(size_t(N));
    fp8::quantizeRows(w, N, K, p->v.data(), p->s.data());
    p->values = p->v.data();
    p->scales = p->s.data();
    p->N = N, p->K = K;
    return p;
  }
  void reserveFp8Activations(int64_t M, int64_t K) override {
    fp8Values_.get(size_t(std::max<int64_t>(M * K, 1)));
    fp8RowScales_.get(size_t(std::max<int64_t>(M, 1)));
  }
  void linearFp8(const float *x, const Fp8Weight &w, const float *b, float *y,
                 int64_t M, int64_t K, int64_t N,
                 const UnaryKind *act) override {
    cpu::linearFp8(x, w, b, y, M, K, N, act, fp8Values_, fp8RowScales_);
  }

  void conv2d(const float *x, const float *w, const float *b, float *y,
              int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
              int64_t KW, int64_t strideH, int64_t strideW, int64_t padH,
              int64_t padW) override {
    cpu::conv2d(x, w, b, y, N, C, H, W, O, KH, KW, strideH, strideW, padH, padW,
                convScratch_);
  }

  void layerNorm(const float *x, const float *gamma, const float *beta,
                 float *y, int64_t rows, int64_t cols, float eps) override {
    cpu::layerNorm(x, gamma, beta, y, rows, cols, eps);
  }

  void rmsNorm(const float *x, const float *gamma, float *y, int64_t rows,
               int64_t cols, float eps) override {
    cpu::rmsNorm(x, gamma, y, rows, cols, eps);
  }

  void groupNorm(const float *x, const float *gamma, const float *beta,
                 float *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                 float eps) override {
    cpu::groupNorm(x, gamma, beta, y, N, C, S, groups, eps);
  }

  void groupNormStats(const float *x, float *stats, int64_t N, int64_t C,
                      int64_t S, int64_t groups, int64_t valid) override {
    cpu::groupNormStats(x, stats, N, C, S, groups, valid);
  }

  void groupNormApply(const float *x, const float *partials, int64_t parts,
                      const int64_t *valid, const float *gamma,
                      const float *beta, float *y, int64_t N, int64_t C,
                      int64_t S, int64_t groups, float eps) override {
    cpu::groupNormApply(x, partials, parts, valid, gamma, beta, y, N, C, S,
                        groups, eps);
  }

  void upsampleNearest(const float *x, float *y, int64_t N, int64_t C,
                       int64_t H, int64_t W, int64_t sh, int64_t sw) override {
    cpu::upsampleNearest(x, y, N, C, H, W, sh, sw);
  }

  void modulate(const float *x, const float *shift, const float *scale,
                float *y, int64_t B, int64_t T, int64_t D) override {
    cpu::modulate(x, shift, scale, y, B, T, D);
  }

  void layerNormModulate(const float *x, const float *gamma, const float *beta,
                         const float *shift, const float *scale, float *y,
                         int64_t B, int64_t T, int64_t D, float eps) override {
    cpu::layerNormModulate(x, gamma, beta, shift, scale, y, B, T, D, eps);
  }

  void attention(const float *q, const float *k, const float *v, float *o,
                 int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
                 float scale) override {
    cpu::attention(q, k, v, o, B, Tq, Tk, H, Dh, scale, attentionScratch_);
  }

  bool implements(OptionalKernel) const override { return true; }

  void attentionMasked(const float *q, const float *k, const float *v,
                       const float *bias, float *o, int64_t B, int64_t Tq,
                       int64_t Tk, int64_t H, int64_t Dh, float scale,
                       bool causal) override {
    cpu::attentionMasked(q, k, v, bias, o, B, Tq, Tk, H, Dh, scale, causal,
                         attentionScratch_);
  }

  void relativePositionBias(const float *table, float *out, int64_t H,
                            int64_t Tq, int64_t Tk, int64_t numBuckets,
                            int64_t maxDistance, bool bidirectional) override {
    cpu::relativePositionBias(table, out, H, Tq, Tk, numBuckets, maxDistance,
                              bidirectional);
  }

  void eosPool(const float *x, const int64_t *ids, float *out, int64_t B,
               int64_t T, int64_t D, int64_t tokenId, bool argmax) override {
    cpu::eosPool(x, ids, out, B, T, D, tokenId, argmax);
  }

  void attentionBlock(const float *q, const float *k, const float *v, float *o,
                      float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                      int64_t Dh, float scale, bool first) override {
    cpu::attentionBlock(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, first,
                        attentionScratch_);
  }

  void unary(UnaryKind kind, const float *x, float *y, int64_t n) override {
    cpu::unary(kind, x, y, n);
  }

  void binary(BinaryKind kind, const float *a, const float *b, float *out,
              int rank, const int64_t *outShape, const int64_t *aStrides,
              const int64_t *bStrides) override {
    cpu::binary(kind, a, b, out, rank, outShape, aStrides, bStrides);
  }

  void ropeTable(const float *ids, float *out, int64_t T, int64_t nAxes,
                 const int64_t *axesDim, double theta) override {
    cpu::ropeTable(ids, out, T, nAxes, axesDim, theta);
  }

  void rope(const float *x, const float *table, const float *normWeight,
            float *y, int64_t B, int64_t T, int64_t H, int64_t Dh,
            float eps) override {
    cpu::rope(x, table, normWeight, y, B, T, H, Dh, eps);
  }

  void mulAdd(const float *a, const float *b, const float *c, float *out,
              int rank, const int64_t *outShape, const int64_t *aStrides,
              const int64_t *bStrides) override {
    cpu::mulAdd(a, b, c, out, rank, outShape, aStrides, bStrides);
  }

  void timestepEmbedding(const float *tF32, const int64_t *tI64, float *out,
                         int64_t B, int64_t dim, bool flipSinToCos, float shift,
                         float scale, float maxPeriod) override {
    cpu::timestepEmbedding(tF32, tI64, out, B, dim, flipSinToCos, shift, scale,
                           maxPeriod);
  }

  void embedding(const float *table, const int64_t *ids, float *out, int64_t n,
                 int64_t V, int64_t D) override {
    cpu::embedding(table, ids, out, n, V, D);
  }

  void transpose(const void *x, void *out, int rank, const int64_t *shape,
                 const int64_t *perm, size_t elemSize) override {
    cpu::transpose(x, out, rank, shape, perm, elemSize);
  }

  void copyStrided(const void *src, int64_t srcRowElems, void *dst,
                   int64_t dstRowElems, int64_t rows, int64_t rowElems,
                   size_t elemSize) override {
    cpu::copyStrided(src, srcRowElems, dst, dstRowElems, rows, rowElems,
                     elemSize);
  }

  void fillZero(void *dst, size_t bytes) override {
    if (bytes)
      std::memset(dst, 0, bytes);
  }

  void posEmbed2d(float *out, const PosGrid &g, int64_t dim, double baseSize,
                  double interpolationScale) override {
    cpu::posEmbed2d(out, g, dim, baseSize, interpolationScale);
  }

private:
  bool staged_;
  cpu::Scratch convScratch_;
  cpu::Scratch attentionScratch_;
  cpu::Scratch fp8Values_, fp8RowScales_;
};

} // namespace

// StoredCpuBackend.cpp.
std::unique_ptr<Backend> createStoredCpuBackend(std::unique_ptr<Backend> f32,
                                                DType storage);

std::unique_ptr<Backend> createCpuBackend() {
  return std::make_unique<CpuBackend>(/*staged=*/false);
}

std::unique_ptr<Backend> createStagedCpuBackend(GemmPrecision precision) {
  auto staged = std::make_unique<CpuBackend>(/*staged=*/true);
  if (precision == GemmPrecision::F32)
    return staged;
  return createStoredCpuBackend(std::move(staged), storageOf(precision));
}

} // namespace fresco
