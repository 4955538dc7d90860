//===- AttentionConformance.h - attention test helpers ----------*- C++ -*-===//
//
// Shared by the Attention*Test.cpp conformance files: the attention cases,
// the bf16/f16 error bound (derived below) and the runners that check
// attention() and attentionBlock() on a backend against Reference.h's
// double reference.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_ATTENTIONCONFORMANCE_H
#define FRESCO_TEST_UNIT_ATTENTIONCONFORMANCE_H

#include "test/unit/ConformanceFixture.h"

namespace fresco::attentiontest {

using namespace ref;
using conformance::Buffer;
using conformance::Conformance;
using conformance::cudaSkipReason;
using conformance::expectClose;
using conformance::expectEachClose;
using conformance::kF32;

struct AttentionCase {
  int64_t B, Tq, Tk, H, Dh;
  float lo = -3.0f, hi = 3.0f; // q's range: peaked rows at the ends
};

// The tolerance for attention in bf16/f16 (the CUDA backend's tensor-core
// kernel). There q, k and v are rounded to that type (to nearest, ties to
// even); scores, the softmax's max and sums, and o are computed in f32; and
// each probability p_j = exp(s_j - m) (m: the running max, so p_j <= 1) is
// rounded to the same type before P V, while the row sum l adds the
// unrounded p_j. Against the double reference on the rounded q, k, v, the
// only error beyond f32 arithmetic is then the rounding of P: with unit
// roundoff u (bf16: 8 significant bits, u = 2^-8; f16: 11, u = 2^-11) and,
// for f16, an absolute error of up to eta = 2^-25 (half its smallest
// subnormal) on the smallest p_j,
//   |o - ref| = |sum_j (p~_j - p_j) v_j| / l
//            <= (u sum_j p_j |v_j| + Tk eta max|v|) / l
//            <= (u + Tk eta) max|v|,
// as l = sum_j p_j >= 1 (the max key counts exp(0)). A tile whose p_j were
// taken against an earlier, smaller max is later scaled by exp(m_t - m) <=
// 1, which keeps the bound; merging blocks (attentionBlock) forms convex
// combinations of the blocks' outputs, so it holds after every merge. lse
// sums the unrounded p_j in f32 and keeps the f32 tolerance. f32 arithmetic
// (scores, exp, sums) adds the f32 tests' kF32.rel * max|ref|. The kernel's
// arithmetic emulated on the CPU stays under 30% of the bound at these
// tests' shapes, and unrounded inputs exceed it 1.4 to 11 times
// (AttentionLowPrecisionBound).

/// x rounded to bf16 (else f16), to nearest, ties to even; f16 below 2^-14
/// to its subnormal spacing 2^-24. No overflow handling: the tests' values
/// are small.
inline float roundTo(float x, GemmPrecision p) {
  if (p == GemmPrecision::BF16) {
    uint32_t u;
    std::memcpy(&u, &x, 4);
    if ((u & 0x7f800000u) != 0x7f800000u)
      u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
    std::memcpy(&x, &u, 4);
    return x;
  }
  if (std::fabs(x) < std::ldexp(1.0, -14))
    return float(std::ldexp(std::nearbyint(std::ldexp(double(x), 24)), -24));
  int e;
  const double m = std::frexp(double(x), &e); // x = m 2^e, 0.5 <= |m| < 1
  return float(std::ldexp(std::nearbyint(std::ldexp(m, 11)), e - 11));
}

inline Vec roundedTo(Vec v, GemmPrecision p) {
  if (p != GemmPrecision::F32)
    for (float &x : v)
      x = roundTo(x, p);
  return v;
}

inline double maxAbs(const Vec &v) {
  double m = 0.0;
  for (float x : v)
    m = std::max(m, double(std::fabs(x)));
  return m;
}

/// The bound above on |o - ref| for inputs rounded to p (not F32), plus
/// `stores` roundings of o itself to p (each within u |o|: 1 when o is
/// stored in p; ring attention's running output is f32, none).
inline double lowPrecisionBound(GemmPrecision p, int64_t Tk, double maxAbsV,
                                double maxAbsRef, int stores = 0) {
  const bool bf16 = p == GemmPrecision::BF16;
  const double u = std::ldexp(1.0, bf16 ? -8 : -11);
  const double eta = bf16 ? 0.0 : std::ldexp(1.0, -25);
  return (u + double(Tk) * eta) * maxAbsV + (kF32.rel + stores * u) * maxAbsRef;
}

/// Expects |got - ref| <= absTol everywhere (NaN fails).
inline void expectWithin(const RefVec &ref, const Vec &got, double absTol) {
  double maxMag = 0.0;
  for (double r : ref)
    maxMag = std::max(maxMag, std::fabs(r));
  expectClose(ref, got, absTol / std::max(maxMag, 1e-30));
}

/// o against the double reference: on q, k, v as given with the f32
/// tolerance when `rounding` is F32, else on q, k, v rounded to it with the
/// bound above.
/// The unit roundoff of bf16 (else f16).
inline double unitRoundoff(GemmPrecision p) {
  return std::ldexp(1.0, p == GemmPrecision::BF16 ? -8 : -11);
}

/// `blockStores`: roundings of ring blocks' outputs before their merge
/// (cuDNN's blocks, each within u max|v|: a block's output is a convex
/// combination of v's rows, and merges are convex combinations of blocks).
inline void expectAttentionClose(const Vec &q, const Vec &k, const Vec &v,
                                 const AttentionCase &c, float scale,
                                 GemmPrecision rounding, const Vec &got,
                                 int stores = 1, int blockStores = 0) {
  if (rounding == GemmPrecision::F32) {
    expectClose(refAttention(q, k, v, c.B, c.Tq, c.Tk, c.H, c.Dh, scale), got);
    return;
  }
  const Vec vr = roundedTo(v, rounding);
  const RefVec want =
      refAttention(roundedTo(q, rounding), roundedTo(k, rounding), vr, c.B,
                   c.Tq, c.Tk, c.H, c.Dh, scale);
  double maxRef = 0.0;
  for (double r : want)
    maxRef = std::max(maxRef, std::fabs(r));
  expectWithin(want, got,
               lowPrecisionBound(rounding, c.Tk, maxAbs(vr), maxRef, stores) +
                   blockStores * unitRoundoff(rounding) * maxAbs(vr));
}

/// `rounding`: the precision the backend's attention rounds q, k, v and the
/// probabilities to (F32: none).
inline void runAttention(Backend &be, const AttentionCase &c, uint32_t seed,
                         GemmPrecision rounding = GemmPrecision::F32) {
  SCOPED_TRACE(::testing::Message()
               << "B=" << c.B << " Tq=" << c.Tq << " Tk=" << c.Tk << " H="
               << c.H << " Dh=" << c.Dh << " rounding=" << int(rounding));
  const int64_t ld = c.H * c.Dh;
  Vec q = randomVec(size_t(c.B * c.Tq * ld), seed, c.lo, c.hi);
  Vec k = randomVec(size_t(c.B * c.Tk * ld), seed + 1, c.lo, c.hi);
  Vec v = randomVec(size_t(c.B * c.Tk * ld), seed + 2);
  const float scale = float(1.0 / std::sqrt(double(c.Dh)));
  Buffer dq(be, q.size()), dk(be, k.size()), dv(be, v.size()),
      dout(be, q.size());
  dq.upload(q);
  dk.upload(k);
  dv.upload(v);
  dout.upload(Vec(q.size(), std::numeric_limits<float>::quiet_NaN()));
  be.attention(dq.f(), dk.f(), dv.f(), dout.f(), c.B, c.Tq, c.Tk, c.H, c.Dh,
               scale);
  expectAttentionClose(q, k, v, c, scale, rounding, dout.read());
}

/// Keys [k0, k0 + n) of the [B, Tk, ld] tensor x, as a [B, n, ld] tensor of
/// their own: one rank's block in ring attention.
inline Vec keyBlock(const Vec &x, int64_t B, int64_t Tk, int64_t ld, int64_t k0,
                    int64_t n) {
  Vec out;
  out.reserve(size_t(B * n * ld));
  for (int64_t b = 0; b < B; ++b)
    out.insert(out.end(), x.begin() + (b * Tk + k0) * ld,
               x.begin() + (b * Tk + k0 + n) * ld);
  return out;
}

/// attentionBlock over the keys split into blocks of `sizes` (in key order,
/// summing to Tk), fed in `order` (the first one fed with first = true):
/// o against the double reference and attention() over all keys, lse
/// against the reference log-sum-exp. o and lse start as NaN, so the first
/// block must overwrite them. `adjustKeys` may reshape the random keys.
/// `rounding` as for runAttention; below f32, o is checked against the
/// reference with the bound above and against attention() with twice it.
inline void
runAttentionBlocks(Backend &be, const AttentionCase &c,
                   const std::vector<int64_t> &sizes,
                   const std::vector<int> &order, uint32_t seed,
                   const std::function<void(Vec &)> &adjustKeys = nullptr,
                   GemmPrecision rounding = GemmPrecision::F32) {
  ::testing::Message blocks;
  for (int i : order)
    blocks << " " << sizes[size_t(i)];
  SCOPED_TRACE(::testing::Message()
               << "B=" << c.B << " Tq=" << c.Tq << " Tk=" << c.Tk
               << " H=" << c.H << " Dh=" << c.Dh << " blocks fed:" << blocks
               << " rounding=" << int(rounding));
  ASSERT_EQ(std::accumulate(sizes.begin(), sizes.end(), int64_t(0)), c.Tk);
  ASSERT_EQ(order.size(), sizes.size());
  const int64_t ld = c.H * c.Dh;
  Vec q = randomVec(size_t(c.B * c.Tq * ld), seed, c.lo, c.hi);
  Vec k = randomVec(size_t(c.B * c.Tk * ld), seed + 1, c.lo, c.hi);
  if (adjustKeys)
    adjustKeys(k);
  Vec v = randomVec(size_t(c.B * c.Tk * ld), seed + 2);
  const float scale = float(1.0 / std::sqrt(double(c.Dh)));
  const float nan = std::numeric_limits<float>::quiet_NaN();

  Buffer dq(be, q.size()), dk(be, k.size()), dv(be, v.size());
  dq.upload(q);
  dk.upload(k);
  dv.upload(v);
  Buffer dwhole(be, q.size());
  dwhole.upload(Vec(q.size(), nan));
  be.attention(dq.f(), dk.f(), dv.f(), dwhole.f(), c.B, c.Tq, c.Tk, c.H, c.Dh,
               scale);
  Vec whole = dwhole.read();

  std::vector<int64_t> starts(sizes.size(), 0);
  for (size_t i = 1; i < sizes.size(); ++i)
    starts[i] = starts[i - 1] + sizes[i - 1];
  // The running output and lse are f32 whatever the float storage.
  Buffer dout(be, q.size(), sizeof(float)),
      dlse(be, size_t(c.B * c.H * c.Tq), sizeof(float));
  dout.upload(Vec(q.size(), nan));
  dlse.upload(Vec(size_t(c.B * c.H * c.Tq), nan));
  // Which of these blocks cuDNN ran (it rounds each one's output once).
  int cudnnBlocksBefore = 0;
#ifdef FRESCO_HAVE_CUDA
  cudnnBlocksBefore = cudnnAttentionCounts(be).blocksOnCudnn;
#endif
  bool first = true;
  for (int i : order) {
    const int64_t n = sizes[size_t(i)], k0 = starts[size_t(i)];
    Buffer dkb(be, size_t(c.B * n * ld)), dvb(be, size_t(c.B * n * ld));
    dkb.upload(keyBlock(k, c.B, c.Tk, ld, k0, n));
    dvb.upload(keyBlock(v, c.B, c.Tk, ld, k0, n));
    be.attentionBlock(dq.f(), dkb.f(), dvb.f(), dout.f(), dlse.f(), c.B, c.Tq,
                      n, c.H, c.Dh, scale, first);
    first = false;
    be.synchronize(); // the block buffers are released next
  }
  Vec got = dout.read();
  int blockStores = 0;
#ifdef FRESCO_HAVE_CUDA
  blockStores =
      cudnnAttentionCounts(be).blocksOnCudnn > cudnnBlocksBefore ? 1 : 0;
#endif

  {
    SCOPED_TRACE("o against the reference");
    expectAttentionClose(q, k, v, c, scale, rounding, got, /*stores=*/0,
                         blockStores);
  }
  {
    SCOPED_TRACE("o against attention()");
    if (rounding == GemmPrecision::F32)
      expectClose(RefVec(whole.begin(), whole.end()), got);
    else
      expectWithin(RefVec(whole.begin(), whole.end()), got,
                   2 * lowPrecisionBound(rounding, c.Tk,
                                         maxAbs(roundedTo(v, rounding)),
                                         maxAbs(whole), /*stores=*/1) +
                       blockStores * unitRoundoff(rounding) *
                           maxAbs(roundedTo(v, rounding)));
  }
  {
    SCOPED_TRACE("lse against the reference");
    expectClose(refAttentionLse(roundedTo(q, rounding), roundedTo(k, rounding),
                                c.B, c.Tq, c.Tk, c.H, c.Dh, scale),
                dlse.read());
  }
}

/// Sets an environment variable for a scope, restoring the old value.
class ScopedEnv {
public:
  ScopedEnv(const char *name, const char *value) : name_(name) {
    const char *old = std::getenv(name);
    had_ = old != nullptr;
    if (had_)
      old_ = old;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_)
      ::setenv(name_, old_.c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv &) = delete;
  ScopedEnv &operator=(const ScopedEnv &) = delete;

private:
  const char *name_;
  bool had_;
  std::string old_;
};

/// The attention kernels a backend made now may choose between: on CUDA
/// (FRESCO_CUDA_ATTENTION, read when the backend is made) Fresco's own
/// tensor-core kernel and cuDNN's where it takes the shape ("auto": these
/// cases hold widths cuDNN refuses), so that the default choice does not
/// hide either; elsewhere the one there is. A choice already set in the
/// environment is the only one (null: keep it), e.g. gpu-check's memcheck
/// run with "fresco", which must not build cuDNN's graphs under the
/// sanitizer.
inline std::vector<const char *> attentionChoices(const std::string &backend) {
  if (backend != "cuda")
    return {nullptr};
  const char *set = std::getenv("FRESCO_CUDA_ATTENTION");
  if (set && *set)
    return {nullptr};
  return {"fresco", "auto"};
}

constexpr GemmPrecision kPrecisions[] = {
    GemmPrecision::F32, GemmPrecision::BF16, GemmPrecision::F16};

} // namespace fresco::attentiontest

#endif // FRESCO_TEST_UNIT_ATTENTIONCONFORMANCE_H
