//===- StoredCpuBackend.cpp - cpu-staged with bf16/f16 float storage ------===//
//
// What a GPU backend does with --dtype bf16|f16, on the CPU: every float
// tensor is held in 2-byte elements, and each kernel reads its operands as
// f32, computes in f32 (the f32 CPU kernels) and rounds its result once when
// it stores it. So the executor's storage handling (element sizes, weight,
// input and output conversion, collectives of 2-byte elements, the f32
// timesteps) runs and is tested where there is no GPU, and the rounding a
// GPU run sees is reproduced up to what its kernels round inside (the
// tensor-core attention's probabilities).
//
// Each call widens its operands into f32 scratch and narrows the result:
// slow, and meant for tests.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Error.h"

#include <algorithm>
#include <vector>

namespace fresco {
namespace {

class StoredCpuBackend final : public Backend {
public:
  StoredCpuBackend(std::unique_ptr<Backend> f32, DType storage)
      : inner_(std::move(f32)), t_(storage) {}

  std::string name() const override { return inner_->name(); }
  DType floatStorage() const override { return t_; }
  bool usesHostMemory() const override { return false; }
  std::unique_ptr<Recording>
  record(const std::function<void()> &issue) override {
    return inner_->record(issue);
  }
  void *allocate(size_t bytes) override { return inner_->allocate(bytes); }
  void release(void *p) override { inner_->release(p); }
  void copyToDevice(void *dst, const void *host, size_t bytes) override {
    inner_->copyToDevice(dst, host, bytes);
  }
  void copyToHost(void *host, const void *src, size_t bytes) override {
    inner_->copyToHost(host, src, bytes);
  }
  void synchronize() override { inner_->synchronize(); }

  void linear(const float *x, const float *w, const float *b, float *y,
              int64_t M, int64_t K, int64_t N) override {
    Wide y32(*this, y, M * N, /*read=*/false);
    inner_->linear(in(0, x, M * K), in(1, w, N * K), in(2, b, N), y32.p, M, K,
                   N);
  }
  // The residual is added before the one rounding, as in a GEMM that
  // accumulates onto it.
  void linearResidual(const float *x, const float *w, const float *b,
                      const float *r, float *y, int64_t M, int64_t K,
                      int64_t N) override {
    const float *r32 = in(3, r, M * N);
    Wide y32(*this, y, M * N, false);
    inner_->linearResidual(in(0, x, M * K), in(1, w, N * K), in(2, b, N), r32,
                           y32.p, M, K, N);
  }
  // The gate and residual are applied before the one rounding, as in a
  // GEMM epilogue that scales by the gate and accumulates onto r.
  void linearGated(const float *x, const float *w, const float *b,
                   const float *g, int64_t G, const float *r, float *y,
                   int64_t M, int64_t K, int64_t N) override {
    const float *g32 = in(3, g, G * N), *r32 = in(4, r, M * N);
    Wide y32(*this, y, M * N, false);
    inner_->linearGated(in(0, x, M * K), in(1, w, N * K), in(2, b, N), g32, G,
                        r32, y32.p, M, K, N);
  }
  // The activation is applied before the one rounding, as in a fused
  // epilogue.
  void linearActivation(const float *x, const float *w, const float *b,
                        float *y, int64_t M, int64_t K, int64_t N,
                        UnaryKind act) override {
    Wide y32(*this, y, M * N, false);
    inner_->linearActivation(in(0, x, M * K), in(1, w, N * K), in(2, b, N),
                             y32.p, M, K, N, act);
  }
  std::shared_ptr<const Fp8Weight> prepareFp8Weight(const float *w, int64_t N,
                                                    int64_t K) override {
    return inner_->prepareFp8Weight(in(1, w, N * K), N, K);
  }
  void reserveFp8Activations(int64_t M, int64_t K) override {
    inner_->reserveFp8Activations(M, K);
  }
  void linearFp8(const float *x, const Fp8Weight &w, const float *b, float *y,
                 int64_t M, int64_t K, int64_t N,
                 const UnaryKind *act) override {
    Wide y32(*this, y, M * N, false);
    inner_->linearFp8(in(0, x, M * K), w, in(2, b, N), y32.p, M, K, N, act);
  }
  void conv2d(const float *x, const float *w, const float *b, float *y,
              int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
              int64_t KW, int64_t strideH, int64_t strideW, int64_t padH,
              int64_t padW) override {
    int64_t OH = (H + 2 * padH - KH) / strideH + 1,
            OW = (W + 2 * padW - KW) / strideW + 1;
    Wide y32(*this, y, N * O * OH * OW, false);
    inner_->conv2d(in(0, x, N * C * H * W), in(1, w, O * C * KH * KW),
                   in(2, b, O), y32.p, N, C, H, W, O, KH, KW, strideH, strideW,
                   padH, padW);
  }
  void layerNorm(const float *x, const float *gamma, const float *beta,
                 float *y, int64_t rows, int64_t cols, float eps) override {
    const float *x32 = in(0, x, rows * cols), *g = in(1, gamma, cols),
                *bt = in(2, beta, cols);
    Wide y32(*this, y, rows * cols, false);
    inner_->layerNorm(x32, g, bt, y32.p, rows, cols, eps);
  }
  void rmsNorm(const float *x, const float *gamma, float *y, int64_t rows,
               int64_t cols, float eps) override {
    const float *x32 = in(0, x, rows * cols), *g = in(1, gamma, cols);
    Wide y32(*this, y, rows * cols, false);
    inner_->rmsNorm(x32, g, y32.p, rows, cols, eps);
  }
  void groupNorm(const float *x, const float *gamma, const float *beta,
                 float *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                 float eps) override {
    const float *x32 = in(0, x, N * C * S), *g = in(1, gamma, C),
                *bt = in(2, beta, C);
    Wide y32(*this, y, N * C * S, false);
    inner_->groupNorm(x32, g, bt, y32.p, N, C, S, groups, eps);
  }
  // The statistics are f32 in any storage.
  void groupNormStats(const float *x, float *stats, int64_t N, int64_t C,
                      int64_t S, int64_t groups, int64_t valid) override {
    inner_->groupNormStats(in(0, x, N * C * S), stats, N, C, S, groups, valid);
  }
  void groupNormApply(const float *x, const float *partials, int64_t parts,
                      const int64_t *valid, const float *gamma,
                      const float *beta, float *y, int64_t N, int64_t C,
                      int64_t S, int64_t groups, float eps) override {
    const float *x32 = in(0, x, N * C * S), *g = in(1, gamma, C),
                *bt = in(2, beta, C);
    Wide y32(*this, y, N * C * S, false);
    inner_->groupNormApply(x32, partials, parts, valid, g, bt, y32.p, N, C, S,
                           groups, eps);
  }
  void upsampleNearest(const float *x, float *y, int64_t N, int64_t C,
                       int64_t H, int64_t W, int64_t sh, int64_t sw) override {
    const float *x32 = in(0, x, N * C * H * W);
    Wide y32(*this, y, N * C * H * sh * W * sw, false);
    inner_->upsampleNearest(x32, y32.p, N, C, H, W, sh, sw);
  }
  void modulate(const float *x, const float *shift, const float *scale,
                float *y, int64_t B, int64_t T, int64_t D) override {
    const float *x32 = in(0, x, B * T * D), *sh = in(1, shift, B * D),
                *sc = in(2, scale, B * D);
    Wide y32(*this, y, B * T * D, false);
    inner_->modulate(x32, sh, sc, y32.p, B, T, D);
  }
  void layerNormModulate(const float *x, const float *gamma, const float *beta,
                         const float *shift, const float *scale, float *y,
                         int64_t B, int64_t T, int64_t D, float eps) override {
    const float *x32 = in(0, x, B * T * D), *g = in(1, gamma, D),
                *bt = in(2, beta, D), *sh = in(3, shift, B * D),
                *sc = in(4, scale, B * D);
    Wide y32(*this, y, B * T * D, false);
    inner_->layerNormModulate(x32, g, bt, sh, sc, y32.p, B, T, D, eps);
  }
  void attention(const float *q, const float *k, const float *v, float *o,
                 int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
                 float scale) override {
    const float *q32 = in(0, q, B * Tq * H * Dh),
                *k32 = in(1, k, B * Tk * H * Dh),
                *v32 = in(2, v, B * Tk * H * Dh);
    Wide o32(*this, o, B * Tq * H * Dh, false);
    inner_->attention(q32, k32, v32, o32.p, B, Tq, Tk, H, Dh, scale);
  }
  bool implements(OptionalKernel k) const override {
    return inner_->implements(k);
  }
  void attentionMasked(const float *q, const float *k, const float *v,
                       const float *bias, float *o, int64_t B, int64_t Tq,
                       int64_t Tk, int64_t H, int64_t Dh, float scale,
                       bool causal) override {
    const float *q32 = in(0, q, B * Tq * H * Dh),
                *k32 = in(1, k, B * Tk * H * Dh),
                *v32 = in(2, v, B * Tk * H * Dh),
                *b32 = in(3, bias, H * Tq * Tk);
    Wide o32(*this, o, B * Tq * H * Dh, false);
    inner_->attentionMasked(q32, k32, v32, b32, o32.p, B, Tq, Tk, H, Dh, scale,
                            causal);
  }
  void relativePositionBias(const float *table, float *out, int64_t H,
                            int64_t Tq, int64_t Tk, int64_t numBuckets,
                            int64_t maxDistance, bool bidirectional) override {
    const float *t32 = in(0, table, numBuckets * H);
    Wide o32(*this, out, H * Tq * Tk, false);
    inner_->relativePositionBias(t32, o32.p, H, Tq, Tk, numBuckets, maxDistance,
                                 bidirectional);
  }
  void eosPool(const float *x, const int64_t *ids, float *out, int64_t B,
               int64_t T, int64_t D, int64_t tokenId, bool argmax) override {
    const float *x32 = in(0, x, B * T * D);
    Wide o32(*this, out, B * D, false);
    inner_->eosPool(x32, ids, o32.p, B, T, D, tokenId, argmax);
  }
  // The running output o and lse are f32 in any storage.
  void attentionBlock(const float *q, const float *k, const float *v, float *o,
                      float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                      int64_t Dh, float scale, bool first) override {
    const float *q32 = in(0, q, B * Tq * H * Dh),
                *k32 = in(1, k, B * Tk * H * Dh),
                *v32 = in(2, v, B * Tk * H * Dh);
    inner_->attentionBlock(q32, k32, v32, o, lse, B, Tq, Tk, H, Dh, scale,
                           first);
  }
  void storeFloats(const float *src, float *dst, int64_t n) override {
    narrowFloats(src, dst, size_t(n), t_);
  }
  void unary(UnaryKind kind, const float *x, float *y, int64_t n) override {
    const float *x32 = in(0, x, n);
    Wide y32(*this, y, n, false);
    inner_->unary(kind, x32, y32.p, n);
  }
  void binary(BinaryKind kind, const float *a, const float *b, float *out,
              int rank, const int64_t *outShape, const int64_t *aStrides,
              const int64_t *bStrides) override {
    strided(a, b, nullptr, out, rank, outShape, aStrides, bStrides,
            [&](const float *a32, const float *b32, const float *, float *o) {
              inner_->binary(kind, a32, b32, o, rank, outShape, aStrides,
                             bStrides);
            });
  }
  void mulAdd(const float *a, const float *b, const float *c, float *out,
              int rank, const int64_t *outShape, const int64_t *aStrides,
              const int64_t *bStrides) override {
    strided(
        a, b, c, out, rank, outShape, aStrides, bStrides,
        [&](const float *a32, const float *b32, const float *c32, float *o) {
          inner_->mulAdd(a32, b32, c32, o, rank, outShape, aStrides, bStrides);
        });
  }
  void timestepEmbedding(const float *tF32, const int64_t *tI64, float *out,
                         int64_t B, int64_t dim, bool flipSinToCos, float shift,
                         float scale, float maxPeriod) override {
    Wide o32(*this, out, B * dim, false);
    inner_->timestepEmbedding(tF32, tI64, o32.p, B, dim, flipSinToCos, shift,
                              scale, maxPeriod);
  }
  // The ids are stored floats too (exact integers up to 256 in bf16).
  void ropeTable(const float *ids, float *out, int64_t T, int64_t nAxes,
                 const int64_t *axesDim, double theta) override {
    int64_t pairs = 0;
    for (int64_t a = 0; a < nAxes; ++a)
      pairs += axesDim[a] / 2;
    const float *ids32 = in(0, ids, T * nAxes);
    Wide o32(*this, out, T * pairs * 2, false);
    inner_->ropeTable(ids32, o32.p, T, nAxes, axesDim, theta);
  }
  // The fused norm's normalised values stay f32 into the rotation: one
  // rounding of the result, as a GPU kernel holding them in registers.
  void rope(const float *x, const float *table, const float *normWeight,
            float *y, int64_t B, int64_t T, int64_t H, int64_t Dh,
            float eps) override {
    const float *x32 = in(0, x, B * T * H * Dh), *t32 = in(1, table, T * Dh),
                *w32 = in(2, normWeight, Dh);
    Wide y32(*this, y, B * T * H * Dh, false);
    inner_->rope(x32, t32, w32, y32.p, B, T, H, Dh, eps);
  }
  void embedding(const float *table, const int64_t *ids, float *out, int64_t n,
                 int64_t V, int64_t D) override {
    const float *t32 = in(0, table, V * D);
    Wide o32(*this, out, n * D, false);
    inner_->embedding(t32, ids, o32.p, n, V, D);
  }
  // Data movement copies the stored elements as they are.
  void transpose(const void *x, void *out, int rank, const int64_t *shape,
                 const int64_t *perm, size_t elemSize) override {
    inner_->transpose(x, out, rank, shape, perm, elemSize);
  }
  void copyStrided(const void *src, int64_t srcRowElems, void *dst,
                   int64_t dstRowElems, int64_t rows, int64_t rowElems,
                   size_t elemSize) override {
    inner_->copyStrided(src, srcRowElems, dst, dstRowElems, rows, rowElems,
                        elemSize);
  }
  void fillZero(void *dst, size_t bytes) override {
    inner_->fillZero(dst, bytes);
  }
  void posEmbed2d(float *out, const PosGrid &g, int64_t dim, double baseSize,
                  double interpolationScale) override {
    Wide o32(*this, out, g.rows * g.cols * dim, false);
    inner_->posEmbed2d(o32.p, g, dim, baseSize, interpolationScale);
  }

private:
  /// The elements a strided operand spans (up to its largest index; with
  /// null strides, the output's count).
  static int64_t spanOf(int rank, const int64_t *outShape,
                        const int64_t *strides) {
    int64_t last = 0, n = 1;
    for (int d = 0; d < rank; ++d) {
      last += (outShape[d] - 1) * (strides ? strides[d] : 0);
      n *= outShape[d];
    }
    return n == 0 ? 0 : strides ? last + 1 : n;
  }
  /// binary() and mulAdd(): a and b widened over the elements their strides
  /// reach, c (optional) over the output's, `run` on them, one rounding.
  template <typename F>
  void strided(const float *a, const float *b, const float *c, float *out,
               int rank, const int64_t *outShape, const int64_t *aStrides,
               const int64_t *bStrides, F &&run) {
    const int64_t n = spanOf(rank, outShape, nullptr);
    const float *a32 = in(0, a, spanOf(rank, outShape, aStrides)),
                *b32 = in(1, b, spanOf(rank, outShape, bStrides)),
                *c32 = in(2, c, n);
    Wide o32(*this, out, n, false);
    run(a32, b32, c32, o32.p);
  }
  /// Operand `slot` (0-4 per call) widened into its own scratch; null stays
  /// null.
  const float *in(int slot, const float *p, int64_t n) {
    if (!p)
      return nullptr;
    std::vector<float> &v = operands_[slot];
    v.resize(size_t(n));
    widenFloats(p, v.data(), size_t(n), t_);
    return v.data();
  }
  /// A result computed in f32 and stored (rounded) when it goes out of
  /// scope, after the kernel; read first when the kernel also reads it.
  struct Wide {
    Wide(StoredCpuBackend &be, float *dst, int64_t n, bool read)
        : dst(dst), n(size_t(n)), t(be.t_) {
      data.resize(this->n);
      if (read)
        widenFloats(dst, data.data(), this->n, t);
      p = data.data();
    }
    ~Wide() { narrowFloats(data.data(), dst, n, t); }
    float *dst;
    size_t n;
    DType t;
    std::vector<float> data;
    float *p;
  };

  std::unique_ptr<Backend> inner_;
  DType t_;
  std::vector<float> operands_[5];
};

} // namespace

std::unique_ptr<Backend> createStoredCpuBackend(std::unique_ptr<Backend> f32,
                                                DType storage) {
  check(storage == DType::BF16 || storage == DType::F16,
        "cpu-staged stores floats as bf16 or f16, not ", dtypeName(storage));
  return std::make_unique<StoredCpuBackend>(std::move(f32), storage);
}

} // namespace fresco
