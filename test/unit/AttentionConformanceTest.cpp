//===- AttentionConformanceTest.cpp - Attention on every backend ----------===//
//
// The Conformance suite's attention cases (BackendConformanceTest.cpp has
// the other kernels): plain and ring-block attention at small and DiT-sized
// shapes in f32, the bf16/f16 bound and its proof of strength, cuDNN's
// flash attention on CUDA, and the (disabled) attention speed case
// gpu-check times.
//
//===----------------------------------------------------------------------===//
#include "test/unit/ConformanceFixture.h"

namespace fresco {
namespace {

using namespace ref;
using conformance::Buffer;
using conformance::Conformance;
using conformance::cudaSkipReason;
using conformance::expectClose;
using conformance::expectEachClose;
using conformance::kF32;

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

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
float roundTo(float x, GemmPrecision p) {
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

Vec roundedTo(Vec v, GemmPrecision p) {
  if (p != GemmPrecision::F32)
    for (float &x : v)
      x = roundTo(x, p);
  return v;
}

double maxAbs(const Vec &v) {
  double m = 0.0;
  for (float x : v)
    m = std::max(m, double(std::fabs(x)));
  return m;
}

/// The bound above on |o - ref| for inputs rounded to p (not F32), plus
/// `stores` roundings of o itself to p (each within u |o|: 1 when o is
/// stored in p; ring attention's running output is f32, none).
double lowPrecisionBound(GemmPrecision p, int64_t Tk, double maxAbsV,
                         double maxAbsRef, int stores = 0) {
  const bool bf16 = p == GemmPrecision::BF16;
  const double u = std::ldexp(1.0, bf16 ? -8 : -11);
  const double eta = bf16 ? 0.0 : std::ldexp(1.0, -25);
  return (u + double(Tk) * eta) * maxAbsV + (kF32.rel + stores * u) * maxAbsRef;
}

/// Expects |got - ref| <= absTol everywhere (NaN fails).
void expectWithin(const RefVec &ref, const Vec &got, double absTol) {
  double maxMag = 0.0;
  for (double r : ref)
    maxMag = std::max(maxMag, std::fabs(r));
  expectClose(ref, got, absTol / std::max(maxMag, 1e-30));
}

/// o against the double reference: on q, k, v as given with the f32
/// tolerance when `rounding` is F32, else on q, k, v rounded to it with the
/// bound above.
/// The unit roundoff of bf16 (else f16).
double unitRoundoff(GemmPrecision p) {
  return std::ldexp(1.0, p == GemmPrecision::BF16 ? -8 : -11);
}

/// `blockStores`: roundings of ring blocks' outputs before their merge
/// (cuDNN's blocks, each within u max|v|: a block's output is a convex
/// combination of v's rows, and merges are convex combinations of blocks).
void expectAttentionClose(const Vec &q, const Vec &k, const Vec &v,
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
void runAttention(Backend &be, const AttentionCase &c, uint32_t seed,
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

TEST_P(Conformance, Attention) {
  const AttentionCase cases[] = {
      {1, 1, 1, 1, 1},    {1, 1, 50, 1, 8},    {2, 5, 7, 3, 4},
      {1, 17, 33, 2, 8},  {2, 40, 31, 2, 72},  {1, 33, 65, 2, 64},
      {1, 9, 40, 1, 130}, {1, 20, 70, 2, 200},
  };
  uint32_t seed = 600;
  for (const AttentionCase &c : cases)
    runAttention(be(), c, seed += 3);
}

TEST_P(Conformance, AttentionWideHead) {
  // The VAE mid-block: one 512-wide head.
  runAttention(be(), {1, 70, 70, 1, 512}, 650);
}

TEST_P(Conformance, AttentionLargeLogitsStayFinite) {
  // exp() of these logits overflows unless the running max is subtracted.
  runAttention(be(), {1, 9, 40, 2, 4, 20.0f, 30.0f}, 660);
}

TEST_P(Conformance, AttentionDiTBlock) {
  // DiT-XL/2 at 256 px, batch 2: 256 tokens, 16 heads of 72.
  runAttention(be(), {2, 256, 256, 16, 72}, 670);
}

//===----------------------------------------------------------------------===//
// attentionBlock (ring attention)
//===----------------------------------------------------------------------===//

/// Keys [k0, k0 + n) of the [B, Tk, ld] tensor x, as a [B, n, ld] tensor of
/// their own: one rank's block in ring attention.
Vec keyBlock(const Vec &x, int64_t B, int64_t Tk, int64_t ld, int64_t k0,
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
void runAttentionBlocks(Backend &be, const AttentionCase &c,
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

// Keys split unevenly and fed out of order, over odd shapes: Tq != Tk,
// blocks of one key, DiT's head widths (72, 64), several heads, B = 2, a
// head wider than 128.
TEST_P(Conformance, AttentionBlockMergesShuffledBlocks) {
  struct Case {
    AttentionCase shape;
    std::vector<int64_t> sizes;
    std::vector<int> order;
  } cases[] = {
      {{2, 5, 7, 3, 4}, {3, 1, 3}, {2, 0, 1}},
      {{1, 3, 3, 1, 1}, {1, 1, 1}, {1, 2, 0}},
      {{2, 40, 31, 2, 72}, {5, 19, 7}, {1, 2, 0}},
      {{1, 33, 65, 2, 64}, {40, 25}, {1, 0}},
      {{2, 17, 50, 3, 72}, {9, 30, 11}, {2, 1, 0}},
      {{2, 64, 20, 4, 64}, {12, 8}, {1, 0}},
      {{1, 9, 40, 1, 130}, {13, 27}, {1, 0}},
  };
  uint32_t seed = 1400;
  for (const Case &c : cases)
    runAttentionBlocks(be(), c.shape, c.sizes, c.order, seed += 3);
}

// One block holding every key, with first = true, is attention() itself.
TEST_P(Conformance, AttentionBlockSingleBlockIsAttention) {
  const AttentionCase cases[] = {
      {1, 1, 1, 1, 1}, {2, 5, 7, 3, 4}, {2, 40, 31, 2, 72}, {1, 33, 65, 2, 64}};
  uint32_t seed = 1450;
  for (const AttentionCase &c : cases)
    runAttentionBlocks(be(), c, {c.Tk}, {0}, seed += 3);
}

TEST_P(Conformance, AttentionBlockLargeLogitsStayFinite) {
  // q in [2, 2.2] (row sums 8 to 8.8), scale 1/2: keys 18-39 in [-0.5, 0.5]
  // score -2.2 to 2.2, key 17 in [-26, -25] at most -100, keys 0-16 in
  // [25, 26] at least 100. Fed in the order 18-39, 17, 0-16, each merge
  // meets a gap of over 89 between the running lse and the block's scores,
  // one way and then the other, where exp() of the gap overflows unless the
  // merge rescales by the larger side. Larger scores would leave f32 too
  // little precision for the tolerance.
  const AttentionCase c{1, 9, 40, 2, 4, 2.0f, 2.2f};
  const int64_t ld = c.H * c.Dh;
  runAttentionBlocks(be(), c, {17, 1, 22}, {2, 1, 0}, 1470, [&](Vec &k) {
    for (int64_t i = 0; i < 40 * ld; ++i)
      k[size_t(i)] = (k[size_t(i)] - 2.1f) * 5.0f + (i < 17 * ld   ? 25.5f
                                                     : i < 18 * ld ? -25.5f
                                                                   : 0.0f);
  });
}

TEST_P(Conformance, AttentionBlockWideHead) {
  // The VAE's 512-wide head (the CUDA kernel's widest instantiation).
  runAttentionBlocks(be(), {1, 70, 70, 1, 512}, {30, 40}, {1, 0}, 1480);
}

TEST_P(Conformance, AttentionBlockDiTBlock) {
  // DiT-XL/2 at 256 px, batch 2, its 256 tokens over three ranks' blocks.
  runAttentionBlocks(be(), {2, 256, 256, 16, 72}, {100, 60, 96}, {2, 0, 1},
                     1490);
}

TEST_P(Conformance, AttentionBlockZeroHeadWidth) {
  // o has no columns, yet lse still counts the keys (every score is 0):
  // log(3), then log(3 + 5).
  auto none = out(0), lse = out(2 * 2 * 3);
  be().attentionBlock(none->f(), none->f(), none->f(), none->f(), lse->f(), 2,
                      3, 3, 2, 0, 1.0f, /*first=*/true);
  expectEachClose(RefVec(12, std::log(3.0)), lse->read());
  be().attentionBlock(none->f(), none->f(), none->f(), none->f(), lse->f(), 2,
                      3, 5, 2, 0, 1.0f, /*first=*/false);
  expectEachClose(RefVec(12, std::log(8.0)), lse->read());
}

TEST_P(Conformance, AttentionBlockEmptyBlocks) {
  // A block without keys merges nothing; fed first, it leaves the empty
  // state (o = 0, lse = -inf) that the next block starts from.
  runAttentionBlocks(be(), {2, 6, 9, 2, 8}, {0, 4, 5}, {0, 2, 1}, 1500);
  runAttentionBlocks(be(), {2, 6, 9, 2, 8}, {4, 0, 5}, {2, 1, 0}, 1503);
}

//===----------------------------------------------------------------------===//
// attention and attentionBlock with bf16/f16 GEMMs (tensor cores on CUDA)
//===----------------------------------------------------------------------===//

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
/// tensor-core kernel and cuDNN's (where the build has it), so that the
/// default choice does not hide either; elsewhere the one there is.
std::vector<const char *> attentionChoices(const std::string &backend) {
  if (backend == "cuda")
    return {"fresco", "cudnn"};
  return {nullptr};
}

constexpr GemmPrecision kPrecisions[] = {
    GemmPrecision::F32, GemmPrecision::BF16, GemmPrecision::F16};

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

//===----------------------------------------------------------------------===//
// bf16/f16 attention on cuDNN (FRESCO_CUDA_ATTENTION=cudnn, the default)
//===----------------------------------------------------------------------===//

/// Runs on the CUDA backend only (skipped, saying why, without a GPU or
/// without cuDNN attention in this build).
class CudnnAttentionTest : public Conformance {
protected:
  void SetUp() override {
    Conformance::SetUp();
    if (IsSkipped())
      return;
#ifdef FRESCO_HAVE_CUDA
    std::string why;
    if (!cuda::cudnnAttentionAvailable(&why))
      GTEST_SKIP() << "cuDNN attention unavailable: " << why;
    const char *env = std::getenv("FRESCO_CUDA_ATTENTION");
    if (env && *env && std::strcmp(env, "cudnn") != 0 &&
        std::strcmp(env, "auto") != 0)
      GTEST_SKIP() << "FRESCO_CUDA_ATTENTION=" << env << " is set";
#endif
  }
};

/// A backend of `precision` with FRESCO_CUDA_ATTENTION=`choice`.
std::unique_ptr<Backend> backendChoosing(const char *choice,
                                         GemmPrecision precision) {
#ifdef FRESCO_HAVE_CUDA
  ScopedEnv env("FRESCO_CUDA_ATTENTION", choice);
  return createCudaBackend(0, precision);
#else
  (void)choice, (void)precision;
  return nullptr;
#endif
}

/// attention() of random q, k, v (as runAttention draws them) on `be`.
Vec attentionOf(Backend &be, const AttentionCase &c, uint32_t seed) {
  const int64_t ld = c.H * c.Dh;
  Buffer dq(be, size_t(c.B * c.Tq * ld)), dk(be, size_t(c.B * c.Tk * ld)),
      dv(be, size_t(c.B * c.Tk * ld)), dout(be, size_t(c.B * c.Tq * ld));
  dq.upload(randomVec(size_t(c.B * c.Tq * ld), seed, c.lo, c.hi));
  dk.upload(randomVec(size_t(c.B * c.Tk * ld), seed + 1, c.lo, c.hi));
  dv.upload(randomVec(size_t(c.B * c.Tk * ld), seed + 2));
  dout.upload(
      Vec(size_t(c.B * c.Tq * ld), std::numeric_limits<float>::quiet_NaN()));
  be.attention(dq.f(), dk.f(), dv.f(), dout.f(), c.B, c.Tq, c.Tk, c.H, c.Dh,
               float(1.0 / std::sqrt(double(c.Dh))));
  return dout.read();
}

// Shapes cuDNN takes (PyTorch ran it on both head widths on the H200):
// Flux's 128-wide heads, DiT's 72 and 64, Tq != Tk, key counts off any
// tile size, B = 2, scores up to 98 (exp overflows f32 without the max).
constexpr AttentionCase kCudnnCases[] = {
    {2, 256, 256, 4, 128}, {2, 100, 70, 2, 72},           {1, 64, 129, 4, 128},
    {2, 70, 150, 3, 64},   {1, 9, 40, 2, 64, 2.5f, 3.5f},
};

// Against the double reference on the rounded inputs, with the bound the
// tensor-core kernel meets: cuDNN's flash attention rounds q, k, v and the
// probabilities to the storage and accumulates in f32 as it does. Every
// shape must have run on cuDNN (a refusal names its reason on stderr).
TEST_P(CudnnAttentionTest, MatchesReference) {
#ifdef FRESCO_HAVE_CUDA
  for (GemmPrecision p : {GemmPrecision::BF16, GemmPrecision::F16}) {
    std::unique_ptr<Backend> lp = backendChoosing("cudnn", p);
    uint32_t seed = 2000;
    for (const AttentionCase &c : kCudnnCases)
      runAttention(*lp, c, seed += 3, p);
    EXPECT_EQ(cudnnAttentionCounts(*lp).onCudnn, int(std::size(kCudnnCases)));
    EXPECT_EQ(cudnnAttentionCounts(*lp).fallenBack, 0);
  }
#endif
}

// cuDNN against Fresco's own tensor-core kernel on the same inputs: each
// is within the bound of the reference, so within twice it of each other.
TEST_P(CudnnAttentionTest, MatchesFrescoKernel) {
#ifdef FRESCO_HAVE_CUDA
  for (GemmPrecision p : {GemmPrecision::BF16, GemmPrecision::F16}) {
    std::unique_ptr<Backend> viaCudnn = backendChoosing("cudnn", p);
    std::unique_ptr<Backend> viaFresco = backendChoosing("fresco", p);
    uint32_t seed = 2100;
    for (const AttentionCase &c : kCudnnCases) {
      SCOPED_TRACE(::testing::Message() << "B=" << c.B << " Tq=" << c.Tq
                                        << " Tk=" << c.Tk << " Dh=" << c.Dh);
      seed += 3;
      const Vec a = attentionOf(*viaCudnn, c, seed);
      const Vec b = attentionOf(*viaFresco, c, seed);
      const Vec v =
          roundedTo(randomVec(size_t(c.B * c.Tk * c.H * c.Dh), seed + 2), p);
      expectWithin(RefVec(b.begin(), b.end()), a,
                   2 * lowPrecisionBound(p, c.Tk, maxAbs(v), maxAbs(b), 1));
    }
    EXPECT_EQ(cudnnAttentionCounts(*viaFresco).onCudnn, 0);
  }
#endif
}

// Ring attention's blocks on cuDNN: its log-sum-exps feed the merges, the
// running output and lse stay f32 (runAttentionBlocks checks o and lse).
TEST_P(CudnnAttentionTest, BlocksMergeThroughItsStats) {
#ifdef FRESCO_HAVE_CUDA
  for (GemmPrecision p : {GemmPrecision::BF16, GemmPrecision::F16}) {
    std::unique_ptr<Backend> lp = backendChoosing("cudnn", p);
    runAttentionBlocks(*lp, {2, 70, 150, 3, 72}, {50, 64, 36}, {2, 0, 1}, 2200,
                       nullptr, p);
    runAttentionBlocks(*lp, {1, 40, 200, 2, 128}, {64, 1, 135}, {1, 2, 0}, 2203,
                       nullptr, p);
    // An empty first block (Fresco's kernel: o = 0, lse = -inf) merged into.
    runAttentionBlocks(*lp, {2, 6, 9, 2, 64}, {0, 4, 5}, {0, 2, 1}, 2206,
                       nullptr, p);
    EXPECT_EQ(cudnnAttentionCounts(*lp).blocksOnCudnn, 3 + 3 + 2);
  }
#endif
}

// Heads cuDNN does not take (odd widths, over 256) stay on Fresco's
// kernels, silently and correctly.
TEST_P(CudnnAttentionTest, OtherHeadsFallBack) {
#ifdef FRESCO_HAVE_CUDA
  std::unique_ptr<Backend> lp = backendChoosing("cudnn", GemmPrecision::BF16);
  runAttention(*lp, {2, 67, 66, 3, 6}, 2300, GemmPrecision::BF16);
  runAttention(*lp, {1, 20, 70, 2, 260}, 2303, GemmPrecision::BF16);
  EXPECT_EQ(cudnnAttentionCounts(*lp).onCudnn, 0);
  EXPECT_EQ(cudnnAttentionCounts(*lp).fallenBack, 2);
#endif
}

// After the call that built its graph, cuDNN attention is captured in a
// CUDA graph and replays to the same bits.
TEST_P(CudnnAttentionTest, ReplaysInACudaGraph) {
#ifdef FRESCO_HAVE_CUDA
  std::unique_ptr<Backend> lp = backendChoosing("cudnn", GemmPrecision::BF16);
  const AttentionCase c{2, 256, 256, 4, 128};
  const int64_t n = c.B * c.Tq * c.H * c.Dh;
  Buffer dq(*lp, size_t(n)), dk(*lp, size_t(n)), dv(*lp, size_t(n)),
      dout(*lp, size_t(n));
  dq.upload(randomVec(size_t(n), 2400, c.lo, c.hi));
  dk.upload(randomVec(size_t(n), 2401, c.lo, c.hi));
  dv.upload(randomVec(size_t(n), 2402));
  auto attend = [&] {
    lp->attention(dq.f(), dk.f(), dv.f(), dout.f(), c.B, c.Tq, c.Tk, c.H, c.Dh,
                  1.0f / std::sqrt(float(c.Dh)));
  };
  attend();
  const Vec eager = dout.read();
  std::unique_ptr<Recording> graph = lp->record(attend);
  const char *sync = std::getenv("FRESCO_CUDA_SYNC");
  if (!graph) {
    EXPECT_TRUE(sync && *sync && std::strcmp(sync, "0") != 0)
        << "cuDNN attention could not be captured as a CUDA graph";
    return;
  }
  dout.upload(Vec(size_t(n), std::numeric_limits<float>::quiet_NaN()));
  graph->replay();
  const Vec replayed = dout.read();
  EXPECT_EQ(0, std::memcmp(eager.data(), replayed.data(),
                           eager.size() * sizeof(float)));
  EXPECT_EQ(cudnnAttentionCounts(*lp).onCudnn, 1);
#endif
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudnnAttentionTest, ::testing::Values("cuda"),
                         [](const ::testing::TestParamInfo<std::string> &i) {
                           return i.param;
                         });

//===----------------------------------------------------------------------===//
// Attention timings (not a test: bench/gpu-check.sh runs it by name)
//===----------------------------------------------------------------------===//

/// Runs on the CUDA backend only; disabled, so only
/// `--gtest_also_run_disabled_tests --gtest_filter='*AttentionSpeed*'`
/// runs it.
class AttentionSpeed : public Conformance {};

// bf16 attention per FRESCO_CUDA_ATTENTION choice on the shapes of
// bench/gpu_attention.py (PyTorch's SDPA backends), one line each in its
// format: "<shape> fresco-<choice> <ms> ms <TFLOP/s> TFLOP/s", the FLOPs
// 4 B H T^2 Dh. Host-timed over back-to-back calls on the stream, between
// two synchronizations.
TEST_P(AttentionSpeed, DISABLED_Bf16) {
#ifdef FRESCO_HAVE_CUDA
  struct Shape {
    const char *name;
    int64_t B, H, T, Dh;
  } shapes[] = {{"flux", 2, 24, 4096, 128},
                {"flux-dev", 2, 24, 4608, 128},
                {"dit-xl", 2, 16, 256, 72}};
  for (const Shape &sh : shapes) {
    const size_t n = size_t(sh.B * sh.T * sh.H * sh.Dh);
    const Vec q = randomVec(n, 2500), k = randomVec(n, 2501),
              v = randomVec(n, 2502);
    const double flops =
        4.0 * double(sh.B * sh.H) * double(sh.T) * double(sh.T) * double(sh.Dh);
    for (const char *choice : {"cudnn", "fresco", "f32"}) {
      std::unique_ptr<Backend> lp =
          backendChoosing(choice, GemmPrecision::BF16);
      Buffer dq(*lp, n), dk(*lp, n), dv(*lp, n), dout(*lp, n);
      dq.upload(q);
      dk.upload(k);
      dv.upload(v);
      auto attend = [&] {
        lp->attention(dq.f(), dk.f(), dv.f(), dout.f(), sh.B, sh.T, sh.T, sh.H,
                      sh.Dh, 1.0f / std::sqrt(float(sh.Dh)));
      };
      attend(); // builds cuDNN's graph
      attend();
      lp->synchronize();
      const int iters = std::strcmp(choice, "f32") == 0 ? 5 : 20;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i)
        attend();
      lp->synchronize();
      const double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - t0)
                            .count() /
                        iters;
      std::string label = std::string("fresco-") + choice;
      if (std::strcmp(choice, "cudnn") == 0 &&
          cudnnAttentionCounts(*lp).onCudnn == 0)
        label += "(fell-back)";
      std::printf("%-10s %-17s %8.3f ms %8.1f TFLOP/s\n", sh.name,
                  label.c_str(), ms, flops / ms / 1e9);
      std::fflush(stdout);
    }
  }
#endif
}

INSTANTIATE_TEST_SUITE_P(Cuda, AttentionSpeed, ::testing::Values("cuda"),
                         [](const ::testing::TestParamInfo<std::string> &i) {
                           return i.param;
                         });

} // namespace
} // namespace fresco
