//===- TextEncoderConformanceTest.cpp - Flux's text-encoder kernels -------===//
//
// The Conformance suite's cases for the kernels of CLIP's and T5's text
// encoders: attention with a causal mask and an additive score bias, T5's
// relative position bias and CLIP's end-of-text pooling, each against an
// independent float64 reference. A backend without the kernel yet
// (Backend::implements) skips, saying so.
//
//===----------------------------------------------------------------------===//
#include "test/unit/ConformanceFixture.h"

namespace fresco {
namespace {

using namespace ref;
using conformance::Buffer;
using conformance::Conformance;
using conformance::expectClose;

#define SKIP_UNLESS_IMPLEMENTED(be, kernel)                                    \
  if (!(be).implements(OptionalKernel::kernel))                                \
  GTEST_SKIP() << #kernel " is not implemented on the " << (be).name()         \
               << " backend yet"

struct MaskedCase {
  int64_t B, T, Tk, H, Dh;
  bool causal, bias;
};

const MaskedCase kMaskedCases[] = {
    {2, 7, 7, 2, 8, true, false},     // CLIP: causal, no bias
    {2, 5, 9, 3, 4, false, true},     // T5: bias, Tq != Tk
    {1, 77, 77, 2, 16, true, true},   // both, a CLIP-length sequence
    {3, 130, 130, 2, 8, true, false}, // several query blocks per head
    {1, 1, 1, 1, 4, true, true},      // one token
};

// Scores spread over about +-6 so that the mask and bias move the softmax.
TEST_P(Conformance, AttentionMasked) {
  SKIP_UNLESS_IMPLEMENTED(be(), MaskedAttention);
  uint32_t seed = 1200;
  for (const MaskedCase &c : kMaskedCases) {
    SCOPED_TRACE("B=" + std::to_string(c.B) + " T=" + std::to_string(c.T) +
                 " causal=" + std::to_string(c.causal) +
                 " bias=" + std::to_string(c.bias));
    const int64_t W = c.H * c.Dh;
    const Vec q = randomVec(size_t(c.B * c.T * W), seed++, -2.0f, 2.0f),
              k = randomVec(size_t(c.B * c.Tk * W), seed++, -2.0f, 2.0f),
              v = randomVec(size_t(c.B * c.Tk * W), seed++),
              bias = randomVec(size_t(c.H * c.T * c.Tk), seed++, -3.0f, 3.0f);
    const float scale = 1.0f / std::sqrt(float(c.Dh));
    auto bq = in(q), bk = in(k), bv = in(v), bb = in(bias);
    auto bo = out(size_t(c.B * c.T * W));
    be().attentionMasked(bq->f(), bk->f(), bv->f(), c.bias ? bb->f() : nullptr,
                         bo->f(), c.B, c.T, c.Tk, c.H, c.Dh, scale, c.causal);
    expectClose(refAttentionMasked(q, k, v, c.bias ? &bias : nullptr, c.B, c.T,
                                   c.Tk, c.H, c.Dh, scale, c.causal),
                bo->read());
  }
}

// 2-byte storage (f32 on the host backend): the kernel reads the stored
// (rounded) operands, computes in f32 and rounds the result once, so against
// the float64 reference on the rounded operands it is within one rounding of
// the output (unit roundoff u of max|ref|) plus the f32 tolerance.
TEST_P(Conformance, AttentionMaskedStorage) {
  // The host backend stores f32 only: there the case is the f32 one.
  const std::vector<GemmPrecision> precisions =
      GetParam() == "cpu"
          ? std::vector<GemmPrecision>{GemmPrecision::F32}
          : std::vector<GemmPrecision>{GemmPrecision::BF16, GemmPrecision::F16};
  for (GemmPrecision p : precisions) {
    std::unique_ptr<Backend> b = backendWith(p);
    SKIP_UNLESS_IMPLEMENTED(*b, MaskedAttention);
    SCOPED_TRACE(dtypeName(storageOf(p)));
    const MaskedCase c{2, 9, 9, 2, 8, true, true};
    const int64_t W = c.H * c.Dh;
    Buffer bq(*b, size_t(c.B * c.T * W)), bk(*b, size_t(c.B * c.T * W)),
        bv(*b, size_t(c.B * c.T * W)), bb(*b, size_t(c.H * c.T * c.T)),
        bo(*b, size_t(c.B * c.T * W));
    bq.upload(randomVec(size_t(c.B * c.T * W), 1250, -2.0f, 2.0f));
    bk.upload(randomVec(size_t(c.B * c.T * W), 1251, -2.0f, 2.0f));
    bv.upload(randomVec(size_t(c.B * c.T * W), 1252));
    bb.upload(randomVec(size_t(c.H * c.T * c.T), 1253, -3.0f, 3.0f));
    const float scale = 1.0f / std::sqrt(float(c.Dh));
    b->attentionMasked(bq.f(), bk.f(), bv.f(), bb.f(), bo.f(), c.B, c.T, c.T,
                       c.H, c.Dh, scale, true);
    const Vec bias = bb.read();
    const double u = p == GemmPrecision::F32
                         ? 0.0
                         : std::ldexp(1.0, p == GemmPrecision::BF16 ? -8 : -11);
    expectClose(refAttentionMasked(bq.read(), bk.read(), bv.read(), &bias, c.B,
                                   c.T, c.T, c.H, c.Dh, scale, true),
                bo.read(), u + conformance::kF32.rel);
  }
}

// Without mask or bias the masked kernel is plain attention: the same code
// on the CPU (bit for bit), a separate kernel on CUDA (within f32).
TEST_P(Conformance, AttentionMaskedWithoutMaskIsPlain) {
  SKIP_UNLESS_IMPLEMENTED(be(), MaskedAttention);
  const int64_t B = 2, T = 6, H = 2, Dh = 8, W = H * Dh;
  const Vec q = randomVec(size_t(B * T * W), 1300),
            k = randomVec(size_t(B * T * W), 1301),
            v = randomVec(size_t(B * T * W), 1302);
  auto bq = in(q), bk = in(k), bv = in(v);
  auto masked = out(size_t(B * T * W)), plain = out(size_t(B * T * W));
  be().attentionMasked(bq->f(), bk->f(), bv->f(), nullptr, masked->f(), B, T, T,
                       H, Dh, 0.5f, false);
  be().attention(bq->f(), bk->f(), bv->f(), plain->f(), B, T, T, H, Dh, 0.5f);
  const Vec got = masked->read(), want = plain->read();
  if (GetParam() == "cuda")
    expectClose(RefVec(want.begin(), want.end()), got);
  else
    EXPECT_EQ(got, want);
}

/// transformers' T5Attention._relative_position_bucket, in double: exact
/// wherever no relative position falls on a bucket boundary (the cases
/// below; the e2e test checks T5-XXL's buckets against transformers).
int64_t refBucket(int64_t rel, int64_t buckets, int64_t maxDistance,
                  bool bidirectional) {
  int64_t out = 0;
  if (bidirectional) {
    buckets /= 2;
    out += rel > 0 ? buckets : 0;
    rel = std::llabs(rel);
  } else {
    rel = std::max<int64_t>(-rel, 0);
  }
  const int64_t exact = buckets / 2;
  if (rel < exact)
    return out + rel;
  const double large =
      double(exact) + std::log(double(rel) / exact) /
                          std::log(double(maxDistance) / exact) *
                          double(buckets - exact);
  return out + std::min<int64_t>(int64_t(large), buckets - 1);
}

TEST_P(Conformance, RelativePositionBias) {
  SKIP_UNLESS_IMPLEMENTED(be(), RelativePositionBias);
  struct Case {
    int64_t H, Tq, Tk, buckets, maxDistance;
    bool bidirectional;
  };
  for (const Case &c :
       {Case{2, 24, 24, 32, 20, true}, Case{3, 40, 33, 16, 20, true},
        Case{2, 30, 30, 32, 20, false}, Case{1, 1, 1, 4, 3, true}}) {
    SCOPED_TRACE("Tq=" + std::to_string(c.Tq) +
                 " buckets=" + std::to_string(c.buckets));
    const Vec table = randomVec(size_t(c.buckets * c.H), 1400);
    auto bt = in(table);
    auto bo = out(size_t(c.H * c.Tq * c.Tk));
    be().relativePositionBias(bt->f(), bo->f(), c.H, c.Tq, c.Tk, c.buckets,
                              c.maxDistance, c.bidirectional);
    RefVec want(size_t(c.H * c.Tq * c.Tk));
    std::vector<int> used(size_t(c.buckets), 0);
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Tq; ++i)
        for (int64_t j = 0; j < c.Tk; ++j) {
          const int64_t bk =
              refBucket(j - i, c.buckets, c.maxDistance, c.bidirectional);
          used[size_t(bk)] = 1;
          // Stored values are table entries: rounded once, as the table.
          want[size_t((h * c.Tq + i) * c.Tk + j)] =
              double(table[size_t(bk * c.H + h)]);
        }
    expectClose(want, bo->read(), 1e-2);
    if (be().floatStorage() == DType::F32) {
      EXPECT_EQ(Vec(want.begin(), want.end()), bo->read());
    }
    // The long cases reach the log-spaced buckets.
    if (c.Tq > 20) {
      EXPECT_TRUE(
          used[size_t(c.bidirectional ? c.buckets / 2 - 1 : c.buckets / 2)]);
    }
  }
}

TEST_P(Conformance, EosPool) {
  SKIP_UNLESS_IMPLEMENTED(be(), EosPool);
  const int64_t B = 4, T = 9, D = 5;
  const Vec x = randomVec(size_t(B * T * D), 1500);
  // Rows: EOS (9) then EOS padding; EOS then 0 padding; no EOS at all; the
  // largest id (12) ahead of the EOS.
  const std::vector<int64_t> ids = {7, 3,  4, 9, 9, 9, 9, 9, 9, //
                                    7, 5,  9, 0, 0, 0, 0, 0, 0, //
                                    7, 5,  6, 1, 0, 0, 0, 0, 0, //
                                    7, 12, 3, 9, 0, 0, 0, 0, 0};
  auto bx = in(x), bi = in(ids);
  for (bool argmax : {false, true}) {
    SCOPED_TRACE(argmax ? "argmax" : "first EOS");
    auto bo = out(size_t(B * D));
    be().eosPool(bx->f(), bi->as<int64_t>(), bo->f(), B, T, D, 9, argmax);
    const int64_t at[2][B] = {{3, 2, 0, 3}, {3, 2, 0, 1}};
    RefVec want(size_t(B * D));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t d = 0; d < D; ++d)
        want[size_t(b * D + d)] =
            double(x[size_t((b * T + at[argmax][b]) * D + d)]);
    expectClose(want, bo->read(), be().floatStorage() == DType::F32 ? 0 : 1e-2);
  }
}

} // namespace
} // namespace fresco
