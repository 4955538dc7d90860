//===- AttentionLowPrecisionTest.cpp - bf16/f16 attention -----------------===//
//
// attention and attentionBlock with bf16/f16 GEMMs (tensor cores on CUDA)
// against the bound in AttentionConformance.h, and the proof that the
// bound can fail: a CPU emulation of the kernel meets it, faulty ones do
// not.
//
//===----------------------------------------------------------------------===//
#include "test/unit/AttentionConformance.h"

namespace fresco {
namespace {

using namespace ref;
using conformance::Buffer;
using conformance::Conformance;
using conformance::cudaSkipReason;
using conformance::expectClose;
using conformance::expectEachClose;
using conformance::kF32;
using namespace attentiontest;

//===----------------------------------------------------------------------===//
// attention and attentionBlock with bf16/f16 GEMMs (tensor cores on CUDA)
//===----------------------------------------------------------------------===//

// Against the bound derived above where the backend rounds (CUDA), the f32
// tolerance elsewhere (CPU backends keep f32 attention whatever the GEMM
// precision; f32 CUDA runs; heads wider than 128 fall back to the f32
// kernel). DiT's and Flux's head widths (72, 64, 128), padded widths
// (40, 16, 4), widths that are no multiple of 4 (6, 1: scalar loads), Tq !=
// Tk, key counts that end in a partial tile of 64, one key, B = 2, several
// heads, and logits large enough to need the running max.
TEST_P(Conformance, AttentionLowPrecision) {
  const AttentionCase cases[] = {
      {2, 70, 150, 3, 64},          {2, 100, 70, 2, 72}, {1, 64, 129, 4, 128},
      {1, 130, 64, 2, 40},          {2, 5, 1, 3, 16},    {1, 20, 70, 2, 200},
      {1, 9, 40, 2, 4, 4.0f, 6.0f}, {2, 67, 66, 3, 6},   {1, 3, 5, 2, 1},
  };
  for (const char *choice : attentionChoices(GetParam()))
    for (GemmPrecision p : kPrecisions) {
      SCOPED_TRACE(choice ? choice : "default");
      std::optional<ScopedEnv> env;
      if (choice)
        env.emplace("FRESCO_CUDA_ATTENTION", choice);
      std::unique_ptr<Backend> lp = backendWith(p);
      uint32_t seed = 1600;
      for (const AttentionCase &c : cases)
        runAttention(*lp, c, seed += 3, attentionRounding(p));
    }
}

TEST_P(Conformance, AttentionBlockLowPrecision) {
  struct Case {
    AttentionCase shape;
    std::vector<int64_t> sizes;
    std::vector<int> order;
  } cases[] = {
      {{2, 70, 150, 3, 72}, {50, 64, 36}, {2, 0, 1}},
      {{1, 40, 200, 2, 128}, {64, 1, 135}, {1, 2, 0}},
      {{2, 33, 65, 3, 64}, {65}, {0}},
      {{2, 6, 9, 2, 8}, {0, 4, 5}, {0, 2, 1}},
      {{1, 65, 70, 2, 6}, {3, 67}, {1, 0}},
  };
  for (const char *choice : attentionChoices(GetParam()))
    for (GemmPrecision p : kPrecisions) {
      SCOPED_TRACE(choice ? choice : "default");
      std::optional<ScopedEnv> env;
      if (choice)
        env.emplace("FRESCO_CUDA_ATTENTION", choice);
      std::unique_ptr<Backend> lp = backendWith(p);
      uint32_t seed = 1700;
      for (const Case &c : cases)
        runAttentionBlocks(*lp, c.shape, c.sizes, c.order, seed += 3, nullptr,
                           attentionRounding(p));
    }
}

// q, k and v one float past 16-byte alignment (views into larger buffers),
// with a head width that is a multiple of 4: the tensor-core kernel must
// take its scalar loads, not float4 ones, which would fault or misread.
TEST_P(Conformance, AttentionLowPrecisionUnalignedOperands) {
  const AttentionCase c{2, 70, 67, 2, 8};
  const int64_t ld = c.H * c.Dh;
  const Vec q = randomVec(size_t(c.B * c.Tq * ld), 1900, c.lo, c.hi);
  const Vec k = randomVec(size_t(c.B * c.Tk * ld), 1901, c.lo, c.hi);
  const Vec v = randomVec(size_t(c.B * c.Tk * ld), 1902);
  const float scale = float(1.0 / std::sqrt(double(c.Dh)));
  auto shifted = [](const Vec &x) {
    Vec y(x.size() + 1, 0.0f);
    std::copy(x.begin(), x.end(), y.begin() + 1);
    return y;
  };
  for (GemmPrecision p : kPrecisions) {
    SCOPED_TRACE(::testing::Message() << "precision " << int(p));
    std::unique_ptr<Backend> lp = backendWith(p);
    Buffer dq(*lp, q.size() + 1), dk(*lp, k.size() + 1), dv(*lp, v.size() + 1),
        dout(*lp, q.size());
    dq.upload(shifted(q));
    dk.upload(shifted(k));
    dv.upload(shifted(v));
    dout.upload(Vec(q.size(), std::numeric_limits<float>::quiet_NaN()));
    lp->attention(dq.at(1), dk.at(1), dv.at(1), dout.f(), c.B, c.Tq, c.Tk, c.H,
                  c.Dh, scale);
    expectAttentionClose(q, k, v, c, scale, attentionRounding(p), dout.read());
  }
}

// FRESCO_CUDA_ATTENTION=f32 keeps bf16/f16 runs on the CUDA-core kernel,
// which reads the stored bf16/f16 operands and computes in f32: within the
// storage's bound (it cannot tell the two kernels apart; the profile can).
// Other values throw.
TEST_P(Conformance, AttentionLowPrecisionForcedF32) {
  ScopedEnv env("FRESCO_CUDA_ATTENTION", "f32");
  for (GemmPrecision p : {GemmPrecision::BF16, GemmPrecision::F16}) {
    std::unique_ptr<Backend> lp = backendWith(p);
    runAttention(*lp, {2, 100, 70, 2, 72}, 1800, attentionRounding(p));
    runAttentionBlocks(*lp, {1, 40, 200, 2, 128}, {64, 1, 135}, {1, 2, 0}, 1803,
                       nullptr, attentionRounding(p));
  }
  if (GetParam() == "cuda") {
    ScopedEnv bad("FRESCO_CUDA_ATTENTION", "fast");
    std::unique_ptr<Backend> lp = backendWith(GemmPrecision::BF16);
    Buffer x(*lp, 8);
    EXPECT_THROW(lp->attention(x.f(), x.f(), x.f(), x.f(), 1, 2, 2, 1, 4, 1.0f),
                 Error);
  }
}

//===----------------------------------------------------------------------===//
// The low-precision bound can fail
//===----------------------------------------------------------------------===//

enum class EmulatedFault { None, InputsNotRounded, PadKeysCounted, NoRescale };

/// The tensor-core kernel's arithmetic on the CPU in f32: q, k, v rounded
/// to p, keys in tiles of 64, online softmax, P rounded to p before P V,
/// l summing the unrounded P; or with one of the faults a kernel could have.
Vec emulateLowPrecisionAttention(const Vec &q, const Vec &k, const Vec &v,
                                 const AttentionCase &c, float scale,
                                 GemmPrecision p, EmulatedFault fault) {
  const GemmPrecision in =
      fault == EmulatedFault::InputsNotRounded ? GemmPrecision::F32 : p;
  const Vec qr = roundedTo(q, in), kr = roundedTo(k, in), vr = roundedTo(v, in);
  const int64_t ld = c.H * c.Dh, tile = 64;
  Vec o(q.size());
  std::vector<float> s(static_cast<size_t>(tile)),
      acc(static_cast<size_t>(c.Dh));
  for (int64_t b = 0; b < c.B; ++b)
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t i = 0; i < c.Tq; ++i) {
        const float *qi = &qr[size_t((b * c.Tq + i) * ld + h * c.Dh)];
        float m = -INFINITY, l = 0.0f;
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int64_t k0 = 0; k0 < c.Tk; k0 += tile) {
          const int64_t valid = std::min(tile, c.Tk - k0);
          // Without the mask, the tile's zero padding scores as keys.
          const int64_t n =
              fault == EmulatedFault::PadKeysCounted ? tile : valid;
          float mx = -INFINITY;
          for (int64_t j = 0; j < n; ++j) {
            float dot = 0.0f;
            if (j < valid)
              for (int64_t d = 0; d < c.Dh; ++d)
                dot +=
                    qi[d] * kr[size_t((b * c.Tk + k0 + j) * ld + h * c.Dh + d)];
            s[size_t(j)] = dot * scale;
            mx = std::max(mx, s[size_t(j)]);
          }
          const float mNew = std::max(m, mx);
          const float corr = fault == EmulatedFault::NoRescale && m > -INFINITY
                                 ? 1.0f
                                 : std::exp(m - mNew);
          l *= corr;
          for (float &a : acc)
            a *= corr;
          for (int64_t j = 0; j < n; ++j) {
            const float pj = std::exp(s[size_t(j)] - mNew);
            l += pj;
            if (j >= valid)
              continue; // V's padding is zero
            const float pr = roundTo(pj, p);
            const float *vj = &vr[size_t((b * c.Tk + k0 + j) * ld + h * c.Dh)];
            for (int64_t d = 0; d < c.Dh; ++d)
              acc[size_t(d)] += pr * vj[d];
          }
          m = mNew;
        }
        for (int64_t d = 0; d < c.Dh; ++d)
          o[size_t((b * c.Tq + i) * ld + h * c.Dh + d)] = acc[size_t(d)] / l;
      }
  return o;
}

// The faithful emulation meets the bound (it is not too tight for what the
// kernel computes); kernels that skipped the input rounding, counted the
// padding of the last tile or forgot to rescale do not (the test can
// tell). Runs everywhere: no device needed.
TEST(AttentionLowPrecisionBound, SeparatesTheKernelFromFaultyOnes) {
  const AttentionCase c{2, 40, 150, 2, 72};
  const int64_t ld = c.H * c.Dh;
  const Vec q = randomVec(size_t(c.B * c.Tq * ld), 1900, c.lo, c.hi);
  const Vec k = randomVec(size_t(c.B * c.Tk * ld), 1901, c.lo, c.hi);
  const Vec v = randomVec(size_t(c.B * c.Tk * ld), 1902);
  const float scale = float(1.0 / std::sqrt(double(c.Dh)));
  for (GemmPrecision p : {GemmPrecision::BF16, GemmPrecision::F16}) {
    SCOPED_TRACE(p == GemmPrecision::BF16 ? "bf16" : "f16");
    const RefVec want =
        refAttention(roundedTo(q, p), roundedTo(k, p), roundedTo(v, p), c.B,
                     c.Tq, c.Tk, c.H, c.Dh, scale);
    double maxRef = 0.0;
    for (double r : want)
      maxRef = std::max(maxRef, std::fabs(r));
    const double bound =
        lowPrecisionBound(p, c.Tk, maxAbs(roundedTo(v, p)), maxRef);
    auto worst = [&](EmulatedFault f) {
      const Vec got = emulateLowPrecisionAttention(q, k, v, c, scale, p, f);
      double e = 0.0;
      for (size_t i = 0; i < want.size(); ++i)
        e = std::max(e, std::fabs(double(got[i]) - want[i]));
      return e;
    };
    const double exact = worst(EmulatedFault::None);
    const double unrounded = worst(EmulatedFault::InputsNotRounded);
    const double padded = worst(EmulatedFault::PadKeysCounted);
    const double stale = worst(EmulatedFault::NoRescale);
    std::printf("bound %.3g: kernel %.3g, unrounded inputs %.3g, padding "
                "counted %.3g, no rescale %.3g\n",
                bound, exact, unrounded, padded, stale);
    EXPECT_LE(exact, bound);
    EXPECT_GT(unrounded, bound);
    EXPECT_GT(padded, bound);
    EXPECT_GT(stale, bound);
  }
}

} // namespace
} // namespace fresco
