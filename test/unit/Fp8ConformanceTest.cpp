//===- Fp8ConformanceTest.cpp - FP8 linear on every backend ---------------===//
//
// Backend::linearFp8 against two double-precision references on the
// operands as the backend stores them (bf16 on cpu-staged and cuda, f32 on
// cpu):
// - the same quantized arithmetic (rows of x and w rounded to e4m3 with
//   their amax/448 scales, products summed in double, both scales and the
//   bias applied): the result may differ only by the f32 accumulation
//   order and the one rounding to the storage;
// - the unquantized linear: the e4m3 rounding of both operands bounds the
//   difference (derived below), so a wrong scale or a missed rounding
//   fails.
// On a GPU the CUDA result is also held against the CPU emulation
// (cpu-staged, bf16) directly. Without one the cuda cases are skipped
// with the reason, as every conformance case.
// What cuBLASLt may do beyond f32 accumulation: Hopper's FP8 tensor cores
// keep partial sums to about 14 bits and promote them to f32 only every
// few MMAs, even with fast accumulation off (cublasLt.h on
// CUBLASLT_MATMUL_DESC_FAST_ACCUM; measured as ~2^-13 in DeepSeek-V3's
// report, 3.3.2), so 2^-11 of the sum of |products| is allowed on cuda;
// and its GELU_BIAS epilogue rounds twice (FloatStorageTest measured it
// on the H200): got = R(g(R(R(p) + b))).
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Fp8.h"
#include "test/unit/AttentionConformance.h"
#include "test/unit/ConformanceFixture.h"

namespace fresco {
namespace {

using namespace ref;
using attentiontest::roundedTo;
using conformance::Buffer;
using conformance::Conformance;

/// Runs linearFp8 on `be` (weights prepared as a plan's bind does).
Vec runFp8(Backend &be, const Vec &x, const Vec &w, const Vec *b, int64_t M,
           int64_t K, int64_t N, const UnaryKind *act) {
  Buffer dx(be, x.size()), dw(be, w.size()), db(be, size_t(N)),
      dy(be, size_t(M * N));
  dx.upload(x);
  dw.upload(w);
  if (b)
    db.upload(*b);
  dy.upload(Vec(size_t(M * N), std::numeric_limits<float>::quiet_NaN()));
  const std::shared_ptr<const Fp8Weight> fw = be.prepareFp8Weight(dw.f(), N, K);
  be.reserveFp8Activations(M, K);
  be.linearFp8(dx.f(), *fw, b ? db.f() : nullptr, dy.f(), M, K, N, act);
  return dy.read();
}

/// The worst |got - want| / tolerance of a case, and how many exceed 1:
/// the run reports the margin instead of stopping at the first element.
struct Worst {
  double ratio = 0;
  int64_t over = 0;
  std::string where;
  void check(double got, double want, double tol, const std::string &what) {
    const double r = std::fabs(got - want) / tol;
    if (!(r <= 1)) // NaN counts
      ++over;
    // The first NaN stays the worst; otherwise the largest ratio.
    if (std::isnan(ratio) ? false : std::isnan(r) || r > ratio) {
      ratio = r;
      where = what + ": got " + std::to_string(got) + ", want " +
              std::to_string(want) + ", tolerance " + std::to_string(tol);
    }
  }
};

TEST_P(Conformance, LinearFp8) {
  std::unique_ptr<Backend> be = backendWith(GemmPrecision::BF16);
  const GemmPrecision p = attentionRounding(GemmPrecision::BF16);
  // Relative rounding of the storage: the result is rounded once to it.
  const double us = p == GemmPrecision::F32 ? 0.0 : std::ldexp(1.0, -8);
  struct Case {
    int64_t M, K, N;
  } cases[] = {{1, 16, 16}, {37, 64, 48}, {130, 256, 96}, {0, 16, 16}};
  const UnaryKind gelu = UnaryKind::GeluTanh, silu = UnaryKind::Silu;
  uint32_t seed = 4100;
  for (const Case &c : cases)
    for (const UnaryKind *act : {(const UnaryKind *)nullptr, &gelu, &silu})
      for (bool bias : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "M=" << c.M << " K=" << c.K << " N=" << c.N
                     << " act=" << (act ? int(*act) : -1) << " bias=" << bias);
        Vec x = randomVec(size_t(c.M * c.K), seed++);
        Vec w = randomVec(size_t(c.N * c.K), seed++, -0.2f, 0.2f);
        Vec b = randomVec(size_t(c.N), seed++);
        if (c.M > 2) { // a row of zeros (scale 1) and one with an outlier
          std::fill(x.begin() + c.K, x.begin() + 2 * c.K, 0.0f);
          x[2 * c.K + 3] = 40.0f;
        }
        // The operands as stored, then as the FP8 GEMM sees them.
        const Vec xs = roundedTo(x, p), ws = roundedTo(w, p),
                  bs = roundedTo(b, p);
        Vec qx(xs.size()), sx(size_t(c.M)), qw(ws.size()), sw(size_t(c.N));
        fp8::quantizeRows(xs.data(), c.M, c.K, qx.data(), sx.data());
        fp8::quantizeRows(ws.data(), c.N, c.K, qw.data(), sw.data());

        const Vec got =
            runFp8(*be, x, w, bias ? &b : nullptr, c.M, c.K, c.N, act);
        ASSERT_EQ(got.size(), size_t(c.M * c.N));
        const bool cuda = GetParam() == "cuda";
        Vec slack(got.size()); // cuBLASLt's allowance per element (cuda)
        Worst quantized, unquantized, emulated;
        for (int64_t m = 0; m < c.M; ++m)
          for (int64_t n = 0; n < c.N; ++n) {
            double quant = 0, exact = 0, absSum = 0, bound = 0;
            for (int64_t k = 0; k < c.K; ++k) {
              const double a = qx[m * c.K + k] * double(sx[m]),
                           v = qw[n * c.K + k] * double(sw[n]);
              const double xa = xs[m * c.K + k], wa = ws[n * c.K + k];
              quant += a * v;
              exact += xa * wa;
              absSum += std::fabs(a * v);
              // e4m3 rounds to 2^-4 relative (3 mantissa bits) in its
              // normal range, and to 2^-10 of the scale below 2^-6.
              const double dx = std::max(std::fabs(xa) / 16, sx[m] * 0x1p-10),
                           dw = std::max(std::fabs(wa) / 16, sw[n] * 0x1p-10);
              bound += dx * std::fabs(wa) + std::fabs(xa) * dw + dx * dw;
            }
            const double bn = bias ? double(bs[n]) : 0.0;
            const double pre = quant + bn;
            const double want = act ? refUnary(*act, pre) : pre;
            // f32 accumulation in any order (through an activation of slope
            // at most 1.13), then the one rounding to the storage.
            double accum = 1.2 * (1e-5 * absSum + 1e-6);
            const size_t i = size_t(m * c.N + n);
            if (cuda) {
              slack[i] = 1.2 * std::ldexp(absSum, -11);
              if (act && *act == UnaryKind::GeluTanh) {
                // z = p + b reaches the GELU off by d, then is moved by
                // |g'| <= |g'(z)| + d (|g''| < 1) and rounded once more.
                const double d = us * std::fabs(quant) +
                                 us * std::fabs(pre) * (1 + us) + slack[i];
                slack[i] += (std::fabs(geluTanhSlope(pre)) + d) * d;
              }
              accum += slack[i];
            }
            const double g = got[i];
            const std::string at =
                "m=" + std::to_string(m) + " n=" + std::to_string(n);
            quantized.check(g, want, us * std::fabs(want) + accum, at);
            if (!act)
              unquantized.check(g, exact + bn,
                                bound + us * std::fabs(want) + accum, at);
          }
        if (cuda) { // the GPU against the CPU emulation
          auto cpu = createStagedCpuBackend(GemmPrecision::BF16);
          const Vec emu =
              runFp8(*cpu, x, w, bias ? &b : nullptr, c.M, c.K, c.N, act);
          for (size_t i = 0; i < got.size(); ++i)
            emulated.check(got[i], emu[i],
                           2 * us * std::fabs(emu[i]) +
                               1e-4 * std::fabs(emu[i]) + slack[i] + 1e-5,
                           "element " + std::to_string(i));
        }
        for (const auto &[name, worst] :
             {std::pair<const char *, const Worst *>{"quantized arithmetic",
                                                     &quantized},
              {"unquantized linear", &unquantized},
              {"cuda vs cpu-staged", &emulated}}) {
          if (cuda && worst->ratio > 0) // the margin, for the next bounds
            std::printf("LinearFp8 %s M=%lld K=%lld N=%lld: worst error "
                        "%.3g of the tolerance\n",
                        name, (long long)c.M, (long long)c.K, (long long)c.N,
                        worst->ratio);
          EXPECT_EQ(worst->over, 0) << name << ": worst " << worst->ratio
                                    << " of the tolerance at " << worst->where;
        }
      }
}

} // namespace
} // namespace fresco
