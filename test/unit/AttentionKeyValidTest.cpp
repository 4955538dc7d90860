//===- AttentionKeyValidTest.cpp - Attention over padded keys -------------===//
//
// AttentionAttrs.key_valid (plan version 8) on every backend of the
// Conformance suite: the binder compacts the real keys and values into
// scratch, so attention with key_valid must equal attention over the real
// keys alone, compacted here on the host (the same kernel on the same
// inputs: bit for bit), and both the float64 reference. The padded rows
// hold large values that would dominate the softmax if they were read.
//
//===----------------------------------------------------------------------===//
#include "test/unit/AttentionPlan.h"
#include "test/unit/ConformanceFixture.h"

namespace fresco {
namespace {

using namespace ref;
using conformance::Conformance;
using test::AttentionShape;

struct KeyLayout {
  int64_t Tk;
  std::vector<int64_t> valid;
};

/// k or v [B, Tk, W] with the rows `valid` marks real drawn from `real` and
/// the padding after them from `pad`.
Vec withPadding(const AttentionShape &s, const std::vector<int64_t> &valid,
                const Vec &real, const Vec &pad) {
  const int64_t L = s.Tk / int64_t(valid.size()), W = s.width();
  Vec x(real.size());
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < s.Tk; ++t) {
      const bool isReal = t % L < valid[size_t(t / L)];
      for (int64_t c = 0; c < W; ++c) {
        const size_t i = size_t((b * s.Tk + t) * W + c);
        x[i] = isReal ? real[i] : pad[i];
      }
    }
  return x;
}

void checkLayout(Backend &be, const KeyLayout &kl, int64_t Dh, uint32_t seed,
                 bool f32) {
  int64_t real = 0;
  for (int64_t n : kl.valid)
    real += n;
  SCOPED_TRACE(::testing::Message()
               << "Tk=" << kl.Tk << " segments=" << kl.valid.size()
               << " real=" << real << " Dh=" << Dh);
  const AttentionShape s{2, 5, kl.Tk, 2, Dh}, c{2, 5, real, 2, Dh};
  const size_t nq = size_t(s.B * s.Tq * s.width()),
               nk = size_t(s.B * s.Tk * s.width());
  const Vec q = randomVec(nq, seed, -2.0f, 2.0f);
  const Vec k = withPadding(s, kl.valid, randomVec(nk, seed + 1),
                            randomVec(nk, seed + 2, 20.0f, 40.0f));
  const Vec v =
      withPadding(s, kl.valid, randomVec(nk, seed + 3), Vec(nk, 1000.0f));
  const float scale = float(1.0 / std::sqrt(double(Dh)));

  const Vec got = test::runAttentionPlan(
      test::attentionPlan(s, scale, kl.valid), be, s, q, k, v);
  const Vec kc = test::realRows(k, s.B, s.Tk, s.width(), kl.valid),
            vc = test::realRows(v, s.B, s.Tk, s.width(), kl.valid);
  const Vec want = test::runAttentionPlan(test::attentionPlan(c, scale, {}), be,
                                          c, q, kc, vc);
  EXPECT_EQ(got, want) << "differs from attention over the compacted keys";
  if (f32)
    expectClose(refAttention(q, kc, vc, c.B, c.Tq, c.Tk, c.H, c.Dh, scale),
                got);
}

const KeyLayout kLayouts[] = {
    {8, {5}},       // one segment, a padded tail
    {12, {4, 3}},   // two segments, padding in both
    {9, {3, 0, 2}}, // a segment of padding only
    {12, {0, 6}},   // the first segment empty, the second full
    {8, {4, 4}},    // listed but no padding: the unpadded path
    {64, {29, 17}}, // longer blocks
};

TEST_P(Conformance, AttentionKeyValidIgnoresPadding) {
  for (GemmPrecision p :
       {GemmPrecision::F32, GemmPrecision::BF16, GemmPrecision::F16}) {
    if (GetParam() == "cpu" && p != GemmPrecision::F32)
      continue; // the host backend stores f32 only
    SCOPED_TRACE(dtypeName(storageOf(p)));
    std::unique_ptr<Backend> b = backendWith(p);
    uint32_t seed = 900;
    for (int64_t Dh : {4, 64})
      for (const KeyLayout &kl : kLayouts)
        checkLayout(*b, kl, Dh, seed += 5, p == GemmPrecision::F32);
  }
}

// Absent and all-full key_valid are the same plan to the kernels.
TEST_P(Conformance, AttentionKeyValidWithoutPaddingIsUnchanged) {
  const AttentionShape s{1, 7, 10, 2, 8};
  const size_t nq = size_t(s.B * s.Tq * s.width()),
               nk = size_t(s.B * s.Tk * s.width());
  const Vec q = randomVec(nq, 950), k = randomVec(nk, 951),
            v = randomVec(nk, 952);
  const Vec plain = test::runAttentionPlan(test::attentionPlan(s, 0.3f, {}),
                                           be(), s, q, k, v);
  const Vec full = test::runAttentionPlan(test::attentionPlan(s, 0.3f, {5, 5}),
                                          be(), s, q, k, v);
  EXPECT_EQ(plain, full);
}

} // namespace
} // namespace fresco
