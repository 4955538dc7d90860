//===- BackendConformanceTest.cpp - Every backend against one reference ---===//
//
// The same cases run on every backend: each kernel at small shapes (odd
// sizes, broadcasting, aliasing, empty and extreme inputs) plus a DiT-block-
// sized attention, against the double-precision references of Reference.h. Data
// goes through the backend's own memory calls (allocate, copyToDevice,
// copyToHost), so a device backend is tested exactly as the executor uses
// it. Outputs are poisoned with NaN first: an element a kernel fails to
// write fails the comparison.
//
// The CPU backends always run: "cpu" and "cpu-staged" (the same f32 kernels
// behind a device backend's memory contract). The CUDA backend runs when the
// build has it and a device is usable; otherwise each of its cases is
// skipped with the reason ("no CUDA device: CUDA driver version is
// insufficient ..."), which ctest lists among the tests that did not run.
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
// Memory
//===----------------------------------------------------------------------===//

TEST_P(Conformance, MemoryRoundTrip) {
  EXPECT_EQ(be().name(), GetParam());
  EXPECT_EQ(be().usesHostMemory(), GetParam() == "cpu");
  Vec v = randomVec(1000, 1);
  auto b = in(v);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(b->raw()) % 64, 0u);
  EXPECT_EQ(b->read(), v);
  be().synchronize();
}

//===----------------------------------------------------------------------===//
// linear, conv2d
//===----------------------------------------------------------------------===//

TEST_P(Conformance, Linear) {
  struct Case {
    int64_t M, K, N;
  } cases[] = {{1, 1, 1},      {3, 5, 7},       {17, 33, 9}, {64, 96, 80},
               {512, 384, 96}, {2, 1152, 6912}, {0, 4, 4},   {4, 0, 3}};
  uint32_t seed = 100;
  for (const Case &c : cases)
    for (bool bias : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "M=" << c.M << " K=" << c.K
                                        << " N=" << c.N << " bias=" << bias);
      Vec x = randomVec(size_t(c.M * c.K), seed++);
      Vec w = randomVec(size_t(c.N * c.K), seed++);
      Vec b = randomVec(size_t(c.N), seed++);
      auto dx = in(x), dw = in(w), db = in(b);
      auto dy = out(size_t(c.M * c.N));
      be().linear(dx->f(), dw->f(), bias ? db->f() : nullptr, dy->f(), c.M, c.K,
                  c.N);
      expectClose(refLinear(x, w, bias ? b.data() : nullptr, c.M, c.K, c.N),
                  dy->read());
    }
}

/// conv2d's cases; on the CUDA backend they run on cuDNN where it loads.
const std::vector<ConvShape> kConvCases = [] {
  std::vector<ConvShape> cases = {
      {1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0},  // 1x1, direct
      {2, 3, 5, 7, 4, 3, 3, 1, 1, 1, 1},  // VAE-style 3x3 same
      {2, 4, 8, 8, 6, 2, 2, 2, 2, 0, 0},  // DiT patch embedding
      {1, 5, 9, 6, 3, 3, 2, 2, 1, 0, 1},  // uneven everything
      {2, 8, 6, 5, 16, 1, 1, 1, 1, 0, 0}, // 1x1 channel mix
      {1, 2, 4, 4, 3, 5, 5, 1, 1, 2, 2},  // kernel wider than the image
      // Shapes of the SD VAE (diffusers' AutoencoderKL) and DiT-XL/2, with
      // the spatial sizes cut down:
      {1, 512, 6, 6, 512, 3, 3, 1, 1, 1, 1},  // mid-block 3x3
      {1, 4, 8, 8, 512, 3, 3, 1, 1, 1, 1},    // decoder conv_in
      {1, 128, 12, 12, 3, 3, 3, 1, 1, 1, 1},  // decoder conv_out
      {1, 512, 8, 8, 256, 1, 1, 1, 1, 0, 0},  // 1x1 resnet shortcut
      {2, 64, 17, 17, 64, 3, 3, 2, 2, 0, 0},  // downsample (padded 0,1 before)
      {2, 4, 32, 32, 1152, 2, 2, 2, 2, 0, 0}, // DiT-XL/2 patch embedding
  };
  cases.insert(cases.end(), kOddTileConvShapes.begin(),
               kOddTileConvShapes.end());
  return cases;
}();

/// Calls check(c, bias, x, w, b, ref) for every conv case, with and
/// without bias: random inputs (seeds from `seed` on) and the double
/// reference, under a trace naming the case.
template <typename F> void forEachConvCase(uint32_t seed, F &&check) {
  for (const ConvShape &c : kConvCases)
    for (bool bias : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "N=" << c.N << " C=" << c.C << " H=" << c.H
                   << " W=" << c.W << " O=" << c.O << " K=" << c.KH << "x"
                   << c.KW << " bias=" << bias);
      Vec x = randomVec(size_t(c.N * c.C * c.H * c.W), seed++);
      Vec w = randomVec(size_t(c.O * c.C * c.KH * c.KW), seed++);
      Vec b = randomVec(size_t(c.O), seed++);
      RefVec ref = refConv2d(x, w, bias ? b.data() : nullptr, c);
      check(c, bias, x, w, b, ref);
    }
}

TEST_P(Conformance, Conv2d) {
  forEachConvCase(200, [&](const ConvShape &c, bool bias, const Vec &x,
                           const Vec &w, const Vec &b, const RefVec &ref) {
    auto dx = in(x), dw = in(w), db = in(b);
    auto dy = out(ref.size());
    be().conv2d(dx->f(), dw->f(), bias ? db->f() : nullptr, dy->f(), c.N, c.C,
                c.H, c.W, c.O, c.KH, c.KW, c.sH, c.sW, c.pH, c.pW);
    expectClose(ref, dy->read());
  });
}

//===----------------------------------------------------------------------===//
// Norms and modulation
//===----------------------------------------------------------------------===//

TEST_P(Conformance, LayerNorm) {
  struct Case {
    int64_t rows, cols;
  } cases[] = {{1, 1}, {3, 7}, {9, 64}, {512, 1152}, {4, 3072}, {3, 3070}};
  uint32_t seed = 300;
  for (const Case &c : cases)
    for (int affine = 0; affine < 3; ++affine)
      for (bool inPlace : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "rows=" << c.rows << " cols=" << c.cols
                     << " affine=" << affine << " inPlace=" << inPlace);
        // A large mean: a one-pass variance would lose the signal.
        Vec x = randomVec(size_t(c.rows * c.cols), seed++, 99.0f, 101.0f);
        Vec g = randomVec(size_t(c.cols), seed++, 0.5f, 1.5f);
        Vec bt = randomVec(size_t(c.cols), seed++);
        const float eps = 1e-6f;
        RefVec ref = refLayerNorm(x, affine >= 1 ? g.data() : nullptr,
                                  affine >= 2 ? bt.data() : nullptr, c.rows,
                                  c.cols, eps);
        auto dx = in(x), dg = in(g), db = in(bt);
        auto dy = inPlace ? nullptr : out(x.size());
        float *y = inPlace ? dx->f() : dy->f();
        be().layerNorm(dx->f(), affine >= 1 ? dg->f() : nullptr,
                       affine >= 2 ? db->f() : nullptr, y, c.rows, c.cols, eps);
        expectClose(ref, (inPlace ? dx : dy)->read());
      }
}

TEST_P(Conformance, RmsNorm) {
  struct Case {
    int64_t rows, cols;
  } cases[] = {{1, 1},      {3, 7},    {9, 64},  {33, 128},
               {512, 1152}, {4, 3072}, {3, 3070}};
  uint32_t seed = 350;
  for (const Case &c : cases)
    for (bool weight : {false, true})
      for (bool inPlace : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "rows=" << c.rows << " cols=" << c.cols
                     << " weight=" << weight << " inPlace=" << inPlace);
        // Values far from zero: the mean square is not the variance.
        Vec x = randomVec(size_t(c.rows * c.cols), seed++, 2.0f, 40.0f);
        Vec g = randomVec(size_t(c.cols), seed++, 0.5f, 1.5f);
        const float eps = 1e-6f;
        RefVec ref =
            refRmsNorm(x, weight ? g.data() : nullptr, c.rows, c.cols, eps);
        auto dx = in(x), dg = in(g);
        auto dy = inPlace ? nullptr : out(x.size());
        be().rmsNorm(dx->f(), weight ? dg->f() : nullptr,
                     inPlace ? dx->f() : dy->f(), c.rows, c.cols, eps);
        expectClose(ref, (inPlace ? dx : dy)->read());
      }
  be().rmsNorm(nullptr, nullptr, nullptr, 0, 8, 1e-6f); // nothing to do
  be().synchronize();
}

TEST_P(Conformance, GroupNorm) {
  struct Case {
    int64_t N, C, S, groups;
  } cases[] = {{1, 2, 3, 2}, {2, 8, 5, 4}, {1, 6, 33, 3}, {2, 64, 256, 32}};
  uint32_t seed = 400;
  for (const Case &c : cases)
    for (bool affine : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "N=" << c.N << " C=" << c.C << " S=" << c.S
                   << " groups=" << c.groups << " affine=" << affine);
      Vec x = randomVec(size_t(c.N * c.C * c.S), seed++, -2.0f, 3.0f);
      Vec g = randomVec(size_t(c.C), seed++, 0.5f, 1.5f);
      Vec b = randomVec(size_t(c.C), seed++);
      const float eps = 1e-6f;
      RefVec ref = refGroupNorm(x, affine ? g.data() : nullptr,
                                affine ? b.data() : nullptr, c.N, c.C, c.S,
                                c.groups, eps);
      auto dx = in(x), dg = in(g), db = in(b);
      auto dy = out(x.size());
      be().groupNorm(dx->f(), affine ? dg->f() : nullptr,
                     affine ? db->f() : nullptr, dy->f(), c.N, c.C, c.S,
                     c.groups, eps);
      expectClose(ref, dy->read());
    }
}

TEST_P(Conformance, Modulate) {
  const int64_t B = 2, T = 5, D = 7;
  for (bool inPlace : {false, true}) {
    Vec x = randomVec(size_t(B * T * D), 500), shift = randomVec(B * D, 501),
        scale = randomVec(B * D, 502);
    RefVec ref = refModulate(x, shift, scale, B, T, D);
    auto dx = in(x), dsh = in(shift), dsc = in(scale);
    auto dy = inPlace ? nullptr : out(x.size());
    be().modulate(dx->f(), dsh->f(), dsc->f(), inPlace ? dx->f() : dy->f(), B,
                  T, D);
    expectEachClose(ref, (inPlace ? dx : dy)->read());
  }
}

// Layer norm with a fused adaLN modulation (the plan's modulated LayerNorm):
// the backend's kernel and the interface's default (norm, then modulate)
// against a double reference of the two ops. Odd widths, T = 1 (one row per
// sample, so shift/scale change every row), B > 1, no affine / gamma only /
// both, in place.
TEST_P(Conformance, LayerNormModulate) {
  struct Case {
    int64_t B, T, D;
  } cases[] = {{1, 1, 1},     {3, 1, 7},    {2, 5, 33},  {4, 3, 97},
               {2, 64, 1152}, {2, 3, 3072}, {2, 2, 3070}};
  uint32_t seed = 1300;
  for (const Case &c : cases)
    for (int affine = 0; affine < 3; ++affine)
      for (bool inPlace : {false, true})
        for (bool fused : {true, false}) {
          SCOPED_TRACE(::testing::Message()
                       << "B=" << c.B << " T=" << c.T << " D=" << c.D
                       << " affine=" << affine << " inPlace=" << inPlace
                       << " fused=" << fused);
          const int64_t rows = c.B * c.T;
          // A large mean, as for LayerNorm.
          Vec x = randomVec(size_t(rows * c.D), seed++, 99.0f, 101.0f);
          Vec g = randomVec(size_t(c.D), seed++, 0.5f, 1.5f);
          Vec bt = randomVec(size_t(c.D), seed++);
          Vec shift = randomVec(size_t(c.B * c.D), seed++);
          Vec scale = randomVec(size_t(c.B * c.D), seed++);
          const float eps = 1e-6f;
          RefVec ref = refLayerNormModulate(x, affine >= 1 ? g.data() : nullptr,
                                            affine >= 2 ? bt.data() : nullptr,
                                            shift, scale, c.B, c.T, c.D, eps);
          auto dx = in(x), dg = in(g), db = in(bt);
          auto dsh = in(shift), dsc = in(scale);
          auto dy = inPlace ? nullptr : out(x.size());
          float *y = inPlace ? dx->f() : dy->f();
          const float *gp = affine >= 1 ? dg->f() : nullptr;
          const float *bp = affine >= 2 ? db->f() : nullptr;
          if (fused)
            be().layerNormModulate(dx->f(), gp, bp, dsh->f(), dsc->f(), y, c.B,
                                   c.T, c.D, eps);
          else
            be().Backend::layerNormModulate(dx->f(), gp, bp, dsh->f(), dsc->f(),
                                            y, c.B, c.T, c.D, eps);
          expectClose(ref, (inPlace ? dx : dy)->read());
        }
  // Nothing to do, nothing touched.
  be().layerNormModulate(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                         0, 3, 8, 1e-6f);
  be().layerNormModulate(nullptr, nullptr, nullptr, nullptr, nullptr, nullptr,
                         2, 3, 0, 1e-6f);
  be().synchronize();
}

//===----------------------------------------------------------------------===//
// unary, binary
//===----------------------------------------------------------------------===//

TEST_P(Conformance, Unary) {
  uint32_t seed = 700;
  for (UnaryKind kind : {UnaryKind::GeluTanh, UnaryKind::GeluErf,
                         UnaryKind::Silu, UnaryKind::QuickGelu})
    for (int64_t n : {1, 7, 40000})
      for (bool inPlace : {false, true}) {
        SCOPED_TRACE(::testing::Message() << "kind=" << int(kind) << " n=" << n
                                          << " inPlace=" << inPlace);
        Vec x = randomVec(size_t(n), seed++, -6.0f, 6.0f);
        if (n > 10) { // the extremes
          x[0] = -100.0f;
          x[1] = -30.0f;
          x[2] = 0.0f;
          x[3] = 30.0f;
          x[4] = 100.0f;
        }
        RefVec ref(x.size());
        for (size_t i = 0; i < x.size(); ++i)
          ref[i] = refUnary(kind, x[i]);
        auto dx = in(x);
        auto dy = inPlace ? nullptr : out(x.size());
        be().unary(kind, dx->f(), inPlace ? dx->f() : dy->f(), n);
        expectEachClose(ref, (inPlace ? dx : dy)->read());
      }
}

// linear + activation in one call: the GEMM's error (relative to the
// largest pre-activation value, scaled by the activation's slope, at most
// 1.13) plus the activation's own.
TEST_P(Conformance, LinearActivation) {
  struct Case {
    int64_t M, K, N;
  } cases[] = {{1, 1, 1},       {3, 5, 7}, {17, 33, 9}, {65, 97, 81},
               {2, 1152, 4608}, {0, 4, 4}, {4, 0, 3}};
  uint32_t seed = 900;
  for (UnaryKind act :
       {UnaryKind::GeluTanh, UnaryKind::GeluErf, UnaryKind::Silu})
    for (const Case &c : cases)
      for (bool bias : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "act=" << int(act) << " M=" << c.M << " K=" << c.K
                     << " N=" << c.N << " bias=" << bias);
        Vec x = randomVec(size_t(c.M * c.K), seed++);
        Vec w = randomVec(size_t(c.N * c.K), seed++);
        Vec b = randomVec(size_t(c.N), seed++, -2.0f, 2.0f);
        auto dx = in(x), dw = in(w), db = in(b);
        auto dy = out(size_t(c.M * c.N));
        be().linearActivation(dx->f(), dw->f(), bias ? db->f() : nullptr,
                              dy->f(), c.M, c.K, c.N, act);
        RefVec pre = refLinear(x, w, bias ? b.data() : nullptr, c.M, c.K, c.N);
        double maxPre = 0.0;
        for (double v : pre)
          maxPre = std::max(maxPre, std::fabs(v));
        Vec got = dy->read();
        ASSERT_EQ(got.size(), pre.size());
        for (size_t i = 0; i < pre.size(); ++i) {
          double ref = refUnary(act, pre[i]);
          double tol = 1.2 * kF32.rel * maxPre +
                       kF32.elementwise * (std::fabs(ref) + 1.0);
          ASSERT_NEAR(got[i], ref, tol)
              << "at " << i << " (pre " << pre[i] << ")";
        }
      }
}

// linear + residual in one call, against the GEMM's reference plus r: the
// GEMM's error relative to the largest |x w^T + b| plus f32 rounding of the
// sum. Both the backend's fused form and the base class's (GEMM, then the
// sum) are held to it.
TEST_P(Conformance, LinearResidual) {
  struct Case {
    int64_t M, K, N;
  } cases[] = {{1, 1, 1},       {3, 5, 7}, {17, 33, 9}, {65, 97, 81},
               {2, 1152, 4608}, {0, 4, 4}, {4, 0, 3}};
  uint32_t seed = 950;
  for (const Case &c : cases)
    for (bool bias : {false, true})
      for (bool fused : {true, false}) {
        SCOPED_TRACE(::testing::Message()
                     << "M=" << c.M << " K=" << c.K << " N=" << c.N
                     << " bias=" << bias << " fused=" << fused);
        Vec x = randomVec(size_t(c.M * c.K), seed++);
        Vec w = randomVec(size_t(c.N * c.K), seed++);
        Vec b = randomVec(size_t(c.N), seed++, -2.0f, 2.0f);
        // A residual larger than the products, as a residual stream is.
        Vec r = randomVec(size_t(c.M * c.N), seed++, -8.0f, 8.0f);
        auto dx = in(x), dw = in(w), db = in(b), dr = in(r);
        auto dy = out(size_t(c.M * c.N));
        const float *bp = bias ? db->f() : nullptr;
        if (fused)
          be().linearResidual(dx->f(), dw->f(), bp, dr->f(), dy->f(), c.M, c.K,
                              c.N);
        else
          be().Backend::linearResidual(dx->f(), dw->f(), bp, dr->f(), dy->f(),
                                       c.M, c.K, c.N);
        RefVec pre = refLinear(x, w, bias ? b.data() : nullptr, c.M, c.K, c.N);
        double maxPre = 0.0;
        for (double v : pre)
          maxPre = std::max(maxPre, std::fabs(v));
        Vec got = dy->read();
        ASSERT_EQ(got.size(), pre.size());
        // The residual is read, not written.
        EXPECT_EQ(dr->read(), r);
        for (size_t i = 0; i < pre.size(); ++i) {
          double ref = pre[i] + double(r[i]);
          double tol = kF32.rel * maxPre + kF32.elementwise * std::fabs(ref);
          ASSERT_NEAR(got[i], ref, tol) << "at " << i;
        }
      }
}

// A gated linear, r + g * (x w^T + b) (or without r), g per sample of M/G
// rows, against the GEMM's reference: the GEMM's error scaled by the gate
// plus f32 rounding of the product and sum. The backend's fused form and
// the base class's (GEMM, then mulAdd) are both held to it.
TEST_P(Conformance, LinearGate) {
  struct Case {
    int64_t M, K, N, G;
  } cases[] = {{1, 1, 1, 1},       {6, 5, 7, 2},    {6, 5, 7, 1},
               {34, 33, 9, 2},     {65, 97, 81, 5}, {8, 1152, 72, 8},
               {2, 1152, 4608, 2}, {0, 4, 4, 0},    {4, 0, 3, 2}};
  uint32_t seed = 1450;
  for (const Case &c : cases)
    for (bool bias : {false, true})
      for (bool residual : {true, false})
        for (bool fused : {true, false}) {
          SCOPED_TRACE(::testing::Message()
                       << "M=" << c.M << " K=" << c.K << " N=" << c.N
                       << " G=" << c.G << " bias=" << bias
                       << " residual=" << residual << " fused=" << fused);
          Vec x = randomVec(size_t(c.M * c.K), seed++);
          Vec w = randomVec(size_t(c.N * c.K), seed++);
          Vec b = randomVec(size_t(c.N), seed++, -2.0f, 2.0f);
          Vec g = randomVec(size_t(c.G * c.N), seed++, -1.5f, 1.5f);
          Vec r = randomVec(size_t(c.M * c.N), seed++, -8.0f, 8.0f);
          auto dx = in(x), dw = in(w), db = in(b), dg = in(g), dr = in(r);
          auto dy = out(size_t(c.M * c.N));
          const float *bp = bias ? db->f() : nullptr;
          const float *rp = residual ? dr->f() : nullptr;
          if (fused)
            be().linearGated(dx->f(), dw->f(), bp, dg->f(), c.G, rp, dy->f(),
                             c.M, c.K, c.N);
          else
            be().Backend::linearGated(dx->f(), dw->f(), bp, dg->f(), c.G, rp,
                                      dy->f(), c.M, c.K, c.N);
          RefVec pre =
              refLinear(x, w, bias ? b.data() : nullptr, c.M, c.K, c.N);
          double maxPre = 0.0;
          for (double v : pre)
            maxPre = std::max(maxPre, std::fabs(v));
          Vec got = dy->read();
          ASSERT_EQ(got.size(), pre.size());
          // The gate and residual are read, not written.
          EXPECT_EQ(dr->read(), r);
          EXPECT_EQ(dg->read(), g);
          const int64_t rows = c.G ? c.M / c.G : 1;
          for (size_t i = 0; i < pre.size(); ++i) {
            const int64_t row = int64_t(i) / c.N, col = int64_t(i) % c.N;
            const double gi = g[size_t((row / rows) * c.N + col)];
            const double ref = (residual ? double(r[i]) : 0.0) + gi * pre[i];
            const double tol =
                kF32.rel * maxPre * std::fabs(gi) +
                kF32.elementwise * (std::fabs(ref) + std::fabs(gi * pre[i]));
            ASSERT_NEAR(got[i], ref, tol) << "at " << i;
          }
        }
}

TEST_P(Conformance, Binary) {
  struct Case {
    std::vector<int64_t> a, b, out;
  } cases[] = {
      {{2, 3, 4}, {2, 3, 4}, {2, 3, 4}}, // residual add
      {{2, 3, 4}, {4}, {2, 3, 4}},       // row broadcast
      {{2, 3, 4}, {3, 1}, {2, 3, 4}},    // column broadcast
      {{2, 1, 4}, {1, 3, 1}, {2, 3, 4}}, // both sides
      {{1}, {5, 6}, {5, 6}},             // scalar
      {{2, 1, 3, 1, 2}, {1, 4, 1, 5, 1}, {2, 4, 3, 5, 2}},
      // Rows of 64 and more (the CUDA backend's by-row kernel): DiT's gate
      // [B, T, D] x [B, 1, D], a bias row, a column over long rows.
      {{2, 17, 200}, {2, 1, 200}, {2, 17, 200}},
      {{3, 5, 96}, {96}, {3, 5, 96}},
      {{3, 130}, {3, 1}, {3, 130}},
      // Flux's width, a whole number of 16-byte vectors or not (the CUDA
      // backend's vector paths and their scalar fallbacks), and a dense
      // length with a tail after the last vector.
      {{2, 3, 3072}, {2, 1, 3072}, {2, 3, 3072}},
      {{2, 3, 3070}, {2, 1, 3070}, {2, 3, 3070}},
      {{4, 256}, {4, 1}, {4, 256}},
      {{4100}, {4100}, {4100}},
      {{}, {}, {}}, // rank 0
  };
  uint32_t seed = 800;
  for (BinaryKind kind :
       {BinaryKind::Add, BinaryKind::Sub, BinaryKind::Mul, BinaryKind::Div})
    for (const Case &c : cases) {
      SCOPED_TRACE(::testing::Message()
                   << "kind=" << int(kind) << " rank=" << c.out.size());
      auto numel = [](const std::vector<int64_t> &s) {
        return size_t(std::accumulate(s.begin(), s.end(), int64_t(1),
                                      std::multiplies<int64_t>()));
      };
      Vec a = randomVec(numel(c.a), seed++, 0.5f, 2.0f);
      Vec b = randomVec(numel(c.b), seed++, 0.5f, 2.0f);
      std::vector<int64_t> as = broadcastStrides(c.a, c.out),
                           bs = broadcastStrides(c.b, c.out);
      const int rank = int(c.out.size());
      RefVec ref = refBinary(kind, a, b, c.out, as, bs);
      auto da = in(a), db = in(b);
      auto dy = out(ref.size());
      be().binary(kind, da->f(), db->f(), dy->f(), rank, c.out.data(),
                  as.data(), bs.data());
      expectEachClose(ref, dy->read());
    }
}

// a * b + c in one kernel, a and b broadcast as binary's, c shaped as the
// result; in place over c (the residual it updates).
TEST_P(Conformance, MulAdd) {
  struct Case {
    std::vector<int64_t> a, b, out;
  } cases[] = {
      {{2, 1, 4}, {2, 3, 4}, {2, 3, 4}},         // DiT's gate, short rows
      {{2, 1, 200}, {2, 17, 200}, {2, 17, 200}}, // long rows
      {{5, 6}, {5, 6}, {5, 6}},                  // dense
      {{1}, {7, 3}, {7, 3}},                     // scalar
      // Flux's gate: 16-byte vectors by rows, and the scalar fallback.
      {{2, 1, 3072}, {2, 4, 3072}, {2, 4, 3072}},
      {{2, 1, 3070}, {2, 4, 3070}, {2, 4, 3070}},
      {{4100}, {4100}, {4100}}, // dense, with a tail after the last vector
  };
  uint32_t seed = 760;
  for (const Case &c : cases)
    for (bool inPlace : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "out rank " << c.out.size() << " numel "
                   << numElements(c.out) << " inPlace=" << inPlace);
      const int rank = int(c.out.size());
      Vec a = randomVec(size_t(numElements(c.a)), seed++);
      Vec b = randomVec(size_t(numElements(c.b)), seed++);
      Vec add = randomVec(size_t(numElements(c.out)), seed++);
      std::vector<int64_t> as = broadcastStrides(c.a, c.out),
                           bs = broadcastStrides(c.b, c.out);
      RefVec ref = refBinary(BinaryKind::Mul, a, b, c.out, as, bs);
      for (size_t i = 0; i < ref.size(); ++i)
        ref[i] += add[i];
      auto da = in(a), db = in(b), dc = in(add);
      auto dy = inPlace ? nullptr : out(ref.size());
      be().mulAdd(da->f(), db->f(), dc->f(), inPlace ? dc->f() : dy->f(), rank,
                  c.out.data(), as.data(), bs.data());
      expectEachClose(ref, (inPlace ? dc : dy)->read());
    }
}

TEST_P(Conformance, BinaryInPlace) {
  Vec a = randomVec(24, 850), b = randomVec(4, 851);
  std::vector<int64_t> shape = {2, 3, 4};
  std::vector<int64_t> as = {12, 4, 1}, bs = {0, 0, 1};
  RefVec ref = refBinary(BinaryKind::Mul, a, b, shape, as, bs);
  auto da = in(a), db = in(b);
  be().binary(BinaryKind::Mul, da->f(), db->f(), da->f(), 3, shape.data(),
              as.data(), bs.data());
  expectEachClose(ref, da->read());
}

// Operands that start one element past an allocation (16-byte aligned in
// the CUDA backend's memory) cannot take its 16-byte vector paths: the
// same kernels on a view one element in, at widths that would otherwise
// take them, and in place.
TEST_P(Conformance, OffsetViews) {
  const int64_t B = 2, T = 3, D = 3072, n = B * T * D;
  uint32_t seed = 870;
  // x[1..] of a buffer holding x with one element before it.
  auto shifted = [&](const Vec &v) {
    Vec padded(v.size() + 1, 7.0f);
    std::copy(v.begin(), v.end(), padded.begin() + 1);
    return in(padded);
  };
  auto tail = [](const Vec &v) { return Vec(v.begin() + 1, v.end()); };
  const Vec x = randomVec(size_t(n), seed++, 99.0f, 101.0f);
  const Vec g = randomVec(size_t(D), seed++, 0.5f, 1.5f);
  const Vec bt = randomVec(size_t(D), seed++);
  const Vec shift = randomVec(size_t(B * D), seed++),
            scale = randomVec(size_t(B * D), seed++);
  const float eps = 1e-6f;
  // mulAdd: gate [B, 1, D] * x [B, T, D] + c, and its reference.
  const Vec gate = randomVec(size_t(B * D), seed++),
            c = randomVec(size_t(n), seed++);
  const std::vector<int64_t> shape = {B, T, D};
  const std::vector<int64_t> gs = broadcastStrides({B, 1, D}, shape),
                             xs = broadcastStrides(shape, shape);
  RefVec mulAddRef = refBinary(BinaryKind::Mul, gate, x, shape, gs, xs);
  for (size_t i = 0; i < mulAddRef.size(); ++i)
    mulAddRef[i] += c[i];
  for (bool inPlace : {false, true}) {
    SCOPED_TRACE(::testing::Message() << "inPlace=" << inPlace);
    {
      SCOPED_TRACE("layerNormModulate");
      auto dx = shifted(x), dg = shifted(g), db = shifted(bt);
      auto dsh = shifted(shift), dsc = shifted(scale);
      auto dy = inPlace ? nullptr : out(size_t(n + 1));
      Buffer &y = inPlace ? *dx : *dy;
      be().layerNormModulate(dx->at(1), dg->at(1), db->at(1), dsh->at(1),
                             dsc->at(1), y.at(1), B, T, D, eps);
      expectClose(refLayerNormModulate(x, g.data(), bt.data(), shift, scale, B,
                                       T, D, eps),
                  tail(y.read()));
    }
    {
      SCOPED_TRACE("rmsNorm");
      auto dx = shifted(x), dg = shifted(g);
      auto dy = inPlace ? nullptr : out(size_t(n + 1));
      Buffer &y = inPlace ? *dx : *dy;
      be().rmsNorm(dx->at(1), dg->at(1), y.at(1), B * T, D, eps);
      expectClose(refRmsNorm(x, g.data(), B * T, D, eps), tail(y.read()));
    }
    {
      SCOPED_TRACE("mulAdd, gate [B, 1, D] into [B, T, D]");
      auto dgate = shifted(gate), dx = shifted(x), dc = shifted(c);
      auto dy = inPlace ? nullptr : out(size_t(n + 1));
      Buffer &y = inPlace ? *dc : *dy;
      be().mulAdd(dgate->at(1), dx->at(1), dc->at(1), y.at(1), 3, shape.data(),
                  gs.data(), xs.data());
      expectEachClose(mulAddRef, tail(y.read()));
    }
    {
      SCOPED_TRACE("dense add");
      const Vec b = randomVec(size_t(n), seed++);
      const std::vector<int64_t> flat = {n}, st = {1};
      RefVec ref = refBinary(BinaryKind::Add, x, b, flat, st, st);
      auto dx = shifted(x), db = shifted(b);
      auto dy = inPlace ? nullptr : out(size_t(n + 1));
      Buffer &y = inPlace ? *dx : *dy;
      be().binary(BinaryKind::Add, dx->at(1), db->at(1), y.at(1), 1,
                  flat.data(), st.data(), st.data());
      expectEachClose(ref, tail(y.read()));
    }
  }
  // One operand off the 16-byte grid, the others on it: the vector paths
  // check every pointer, so these take the scalar kernels.
  {
    SCOPED_TRACE("mulAdd, only the addend c unaligned");
    auto dgate = in(gate), dx = in(x), dc = shifted(c);
    auto dy = out(size_t(n));
    be().mulAdd(dgate->f(), dx->f(), dc->at(1), dy->f(), 3, shape.data(),
                gs.data(), xs.data());
    expectEachClose(mulAddRef, dy->read());
  }
  {
    SCOPED_TRACE("layerNormModulate, only the shift unaligned");
    auto dx = in(x), dg = in(g), db = in(bt), dsh = shifted(shift),
         dsc = in(scale);
    auto dy = out(size_t(n));
    be().layerNormModulate(dx->f(), dg->f(), db->f(), dsh->at(1), dsc->f(),
                           dy->f(), B, T, D, eps);
    expectClose(refLayerNormModulate(x, g.data(), bt.data(), shift, scale, B, T,
                                     D, eps),
                dy->read());
  }
}

// The residual add in place (out = a) at Flux's width: the CUDA backend's
// dense vector path reads each vector before the same thread writes it.
// (MulAdd's in-place cases cover out = c.)
TEST_P(Conformance, DenseAddInPlace) {
  const int64_t B = 2, T = 3, D = 3072, n = B * T * D;
  const Vec a = randomVec(size_t(n), 880), b = randomVec(size_t(n), 881);
  const std::vector<int64_t> shape = {B, T, D};
  const std::vector<int64_t> dense = broadcastStrides(shape, shape);
  RefVec ref = refBinary(BinaryKind::Add, a, b, shape, dense, dense);
  auto da = in(a), db = in(b);
  be().binary(BinaryKind::Add, da->f(), db->f(), da->f(), 3, shape.data(),
              dense.data(), dense.data());
  expectEachClose(ref, da->read());
}

//===----------------------------------------------------------------------===//
// Embeddings
//===----------------------------------------------------------------------===//

TEST_P(Conformance, TimestepEmbedding) {
  const Vec t = {0.0f, 1.5f, 999.0f, 487.25f, 0.001f};
  std::vector<int64_t> ti = {0, 1, 999, 487, 3};
  Vec tiF(ti.begin(), ti.end());
  for (bool ints : {false, true})
    for (int64_t dim : {1, 8, 9, 256})
      for (bool flip : {false, true})
        for (float shift : {0.0f, 1.0f})
          for (float scale : {1.0f, 1000.0f}) {
            SCOPED_TRACE(::testing::Message()
                         << "ints=" << ints << " dim=" << dim << " flip="
                         << flip << " shift=" << shift << " scale=" << scale);
            auto dtf = in(t);
            auto dti = in(ti);
            auto dy = out(t.size() * size_t(dim));
            be().timestepEmbedding(
                ints ? nullptr : dtf->f(), ints ? dti->as<int64_t>() : nullptr,
                dy->f(), int64_t(t.size()), dim, flip, shift, scale, 10000.0f);
            RefVec ref =
                refTimestep(ints ? tiF : t, dim, flip, shift, scale, 10000.0f);
            Vec got = dy->read();
            for (size_t i = 0; i < ref.size(); ++i)
              ASSERT_NEAR(got[i], ref[i], 1e-6) << "at " << i;
          }
}

TEST_P(Conformance, Embedding) {
  const int64_t V = 10, D = 7;
  Vec table = randomVec(size_t(V * D), 900);
  std::vector<int64_t> ids = {3, 0, 9, 3, 5, 1};
  auto dt = in(table), di = in(ids);
  auto dy = out(ids.size() * size_t(D));
  be().embedding(dt->f(), di->as<int64_t>(), dy->f(), int64_t(ids.size()), V,
                 D);
  expectEachClose(refEmbedding(table, ids, D), dy->read(), 0.0);
}

TEST_P(Conformance, EmbeddingIdOutOfRangeThrows) {
  const int64_t V = 4, D = 3;
  auto dt = in(randomVec(size_t(V * D), 910));
  auto dy = out(2 * size_t(D));
  for (int64_t bad : {int64_t(4), int64_t(-1)}) {
    auto di = in(std::vector<int64_t>{1, bad});
    // A device backend may report it at the next synchronize().
    EXPECT_THROW(
        {
          be().embedding(dt->f(), di->as<int64_t>(), dy->f(), 2, V, D);
          be().synchronize();
        },
        Error);
    // The failure is reported once; the backend stays usable.
    EXPECT_NO_THROW(be().synchronize());
  }
}

TEST_P(Conformance, PosEmbed2d) {
  struct Case {
    int64_t gh, gw, dim;
    double base, interp;
  } cases[] = {{1, 1, 4, 1, 1},
               {4, 6, 16, 4, 1},
               {16, 16, 1152, 16, 1},
               {3, 5, 8, 2, 2.5}};
  for (const Case &c : cases) {
    SCOPED_TRACE(::testing::Message()
                 << c.gh << "x" << c.gw << " dim=" << c.dim);
    auto dy = out(size_t(c.gh * c.gw * c.dim));
    be().posEmbed2d(dy->f(), PosGrid::whole(c.gh, c.gw), c.dim, c.base,
                    c.interp);
    expectEachClose(refPosEmbed2d(c.gh, c.gw, c.dim, c.base, c.interp),
                    dy->read(), 1e-6);
  }
  auto dy = out(12);
  EXPECT_THROW(be().posEmbed2d(dy->f(), PosGrid::whole(1, 2), 6, 1, 1), Error);
}

// A window equals the same rows and columns of the whole table (SD3's
// cropped_pos_embed computed without the table).
TEST_P(Conformance, PosEmbed2dWindow) {
  const int64_t max = 12, dim = 32;
  const PosGrid windows[] = {{max, max, 4, 4, 4, 4},
                             {max, max, 3, 1, 5, 10},
                             {max, max, 0, 0, max, max},
                             {max, max, 11, 0, 1, max}};
  RefVec whole = refPosEmbed2d(max, max, dim, 4.0, 1.0);
  for (const PosGrid &g : windows) {
    SCOPED_TRACE(::testing::Message() << g.rows << "x" << g.cols << " at "
                                      << g.rowStart << "," << g.colStart);
    RefVec want;
    for (int64_t i = 0; i < g.rows; ++i) {
      auto row = whole.begin() + ((g.rowStart + i) * max + g.colStart) * dim;
      want.insert(want.end(), row, row + g.cols * dim);
    }
    auto dy = out(size_t(g.rows * g.cols * dim));
    be().posEmbed2d(dy->f(), g, dim, 4.0, 1.0);
    expectEachClose(want, dy->read(), 1e-6);
  }
  auto dy = out(size_t(4 * dim));
  EXPECT_THROW(be().posEmbed2d(dy->f(), {max, max, 10, 0, 4, 1}, dim, 4, 1),
               Error);
}

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

template <typename T>
void checkTranspose(Backend &be, const std::vector<int64_t> &shape,
                    const std::vector<int64_t> &perm, uint32_t seed) {
  SCOPED_TRACE(::testing::Message() << "rank=" << shape.size() << " elem="
                                    << sizeof(T) << " seed=" << seed);
  const int rank = int(shape.size());
  size_t n = 1;
  for (int64_t s : shape)
    n *= size_t(s);
  std::vector<T> x(n);
  std::mt19937 rng(seed);
  for (T &v : x)
    v = T(rng());
  Buffer dx(be, n, sizeof(T)), dy(be, n, sizeof(T));
  dx.upload(x);
  dy.upload(std::vector<T>(n, T(0x5a5a5a5a)));
  be.transpose(dx.raw(), dy.raw(), rank, shape.data(), perm.data(), sizeof(T));
  EXPECT_EQ(dy.read<T>(), refTranspose(x, shape, perm));
}

TEST_P(Conformance, Transpose) {
  checkTranspose<uint32_t>(be(), {3, 5}, {1, 0}, 1);
  checkTranspose<uint32_t>(be(), {2, 3, 4}, {0, 2, 1}, 2);
  checkTranspose<uint32_t>(be(), {2, 3, 4}, {0, 1, 2}, 3); // identity
  // DiT unpatchify: [N, h, w, p, p, C] -> [N, C, h, p, w, p].
  checkTranspose<uint32_t>(be(), {2, 4, 4, 2, 2, 8}, {0, 5, 1, 3, 2, 4}, 4);
  checkTranspose<uint64_t>(be(), {3, 1, 7, 2}, {3, 2, 1, 0}, 5);
  std::mt19937 rng(6);
  for (int trial = 0; trial < 10; ++trial) {
    int rank = 1 + int(rng() % kMaxRank);
    std::vector<int64_t> shape(rank), perm(rank);
    for (int64_t &s : shape)
      s = 1 + int64_t(rng() % 3);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    checkTranspose<uint32_t>(be(), shape, perm, 10 + trial);
  }
  int64_t shape[] = {2, 2}, bad[] = {0, 0};
  auto dx = out(4), dy = out(4);
  EXPECT_THROW(be().transpose(dx->raw(), dy->raw(), 2, shape, bad, 4), Error);
}

TEST_P(Conformance, CopyStrided) {
  // Slice columns [2, 5) of a [4, 7] matrix, then place them into columns
  // [1, 4) of a [4, 6] one (concat's destination side); 8-byte elements too.
  Vec src = randomVec(28, 1000);
  auto ds = in(src);
  auto dslice = out(12);
  be().copyStrided(ds->f() + 2, 7, dslice->f(), 3, 4, 3, sizeof(float));
  Vec slice = dslice->read();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 3; ++c)
      ASSERT_EQ(slice[r * 3 + c], src[r * 7 + 2 + c]);
  Vec dstInit(24, 0.0f);
  auto dd = in(dstInit);
  be().copyStrided(dslice->f(), 3, dd->f() + 1, 6, 4, 3, sizeof(float));
  Vec dst = dd->read();
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 6; ++c)
      ASSERT_EQ(dst[r * 6 + c], c >= 1 && c < 4 ? slice[r * 3 + c - 1] : 0.0f);
  std::vector<int64_t> wide = {1, 2, 3, 4, 5, 6};
  auto dw = in(wide);
  Buffer dw2(be(), 6, 8);
  be().copyStrided(dw->raw(), 6, dw2.raw(), 6, 1, 6, 8); // contiguous
  EXPECT_EQ(dw2.read<int64_t>(), wide);
}

TEST_P(Conformance, UpsampleNearest) {
  const int64_t N = 2, C = 3, H = 3, W = 4, sh = 2, sw = 3;
  Vec x = randomVec(size_t(N * C * H * W), 1100);
  RefVec ref = refUpsampleNearest(x, N, C, H, W, sh, sw);
  auto dx = in(x);
  auto dy = out(ref.size());
  be().upsampleNearest(dx->f(), dy->f(), N, C, H, W, sh, sw);
  expectEachClose(ref, dy->read(), 0.0);
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance,
                         ::testing::Values("cpu", "cpu-staged", "cuda"),
                         [](const ::testing::TestParamInfo<std::string> &i) {
                           // Test names allow only [A-Za-z0-9_].
                           std::string name = i.param;
                           std::replace(name.begin(), name.end(), '-', '_');
                           return name;
                         });

//===----------------------------------------------------------------------===//
// conv2d on the CUDA backend: cuDNN against im2col + GEMM (FRESCO_CUDNN=0)
//===----------------------------------------------------------------------===//

/// Runs on the CUDA backend only (skipped, saying why, without a GPU).
class CudnnConv2d : public Conformance {};

#ifdef FRESCO_HAVE_CUDA
/// A CUDA backend created with FRESCO_CUDNN=0: conv2d as im2col + GEMM.
std::unique_ptr<Backend> createIm2colCudaBackend() {
  const char *old = std::getenv("FRESCO_CUDNN");
  const std::string saved = old ? old : "";
  const bool had = old != nullptr;
  setenv("FRESCO_CUDNN", "0", 1);
  auto restore = [&] {
    if (had)
      setenv("FRESCO_CUDNN", saved.c_str(), 1);
    else
      unsetenv("FRESCO_CUDNN");
  };
  std::unique_ptr<Backend> be;
  try {
    be = createCudaBackend(0);
  } catch (...) {
    restore();
    throw;
  }
  restore();
  return be;
}
#endif

TEST_P(CudnnConv2d, MatchesIm2colGemm) {
#ifdef FRESCO_HAVE_CUDA
  std::string why;
  if (!cuda::cudnnAvailable(&why))
    GTEST_SKIP() << "cuDNN unavailable: " << why;
  const char *env = std::getenv("FRESCO_CUDNN");
  if (env && std::strcmp(env, "0") == 0)
    GTEST_SKIP() << "FRESCO_CUDNN=0 is set";
  std::unique_ptr<Backend> im2col = createIm2colCudaBackend();
  forEachConvCase(1200, [&](const ConvShape &c, bool bias, const Vec &x,
                            const Vec &w, const Vec &b, const RefVec &ref) {
    auto run = [&](Backend &be) {
      Buffer dx(be, x.size()), dw(be, w.size()), db(be, b.size());
      Buffer dy(be, ref.size());
      dx.upload(x);
      dw.upload(w);
      db.upload(b);
      dy.upload(Vec(ref.size(), std::numeric_limits<float>::quiet_NaN()));
      be.conv2d(dx.f(), dw.f(), bias ? db.f() : nullptr, dy.f(), c.N, c.C, c.H,
                c.W, c.O, c.KH, c.KW, c.sH, c.sW, c.pH, c.pW);
      return dy.read();
    };
    Vec viaCudnn = run(be()), viaGemm = run(*im2col);
    expectClose(ref, viaCudnn);
    expectClose(ref, viaGemm);
    expectClose(RefVec(viaGemm.begin(), viaGemm.end()), viaCudnn);
  });
  // Every shape set up on cuDNN (a fallback names its reason on stderr);
  // none on the FRESCO_CUDNN=0 backend.
  CudnnConvCounts counts = cudnnConvCounts(be());
  EXPECT_EQ(counts.onCudnn, int(kConvCases.size()));
  EXPECT_EQ(counts.fallenBack, 0);
  EXPECT_EQ(cudnnConvCounts(*im2col).onCudnn, 0);
  EXPECT_EQ(cudnnConvCounts(*im2col).fallenBack, 0);

  // In a CUDA graph, after the call that set the shape up: only
  // cudnnConvolutionForward (and the bias fill) is recorded. With
  // FRESCO_CUDA_SYNC=1 the backend records nothing.
  const ConvShape &c = kConvCases[6]; // the VAE's mid-block 3x3
  Vec x = randomVec(size_t(c.N * c.C * c.H * c.W), 1300);
  Vec w = randomVec(size_t(c.O * c.C * c.KH * c.KW), 1301);
  Vec b = randomVec(size_t(c.O), 1302);
  RefVec ref = refConv2d(x, w, b.data(), c);
  auto dx = in(x), dw = in(w), db = in(b);
  auto dy = out(ref.size());
  auto conv = [&] {
    be().conv2d(dx->f(), dw->f(), db->f(), dy->f(), c.N, c.C, c.H, c.W, c.O,
                c.KH, c.KW, c.sH, c.sW, c.pH, c.pW);
  };
  conv();
  be().synchronize();
  std::unique_ptr<Recording> graph = be().record(conv);
  const char *sync = std::getenv("FRESCO_CUDA_SYNC");
  if (!graph) {
    EXPECT_TRUE(sync && *sync && std::strcmp(sync, "0") != 0)
        << "conv2d on cuDNN could not be captured as a CUDA graph";
    return;
  }
  dy->upload(Vec(ref.size(), std::numeric_limits<float>::quiet_NaN()));
  graph->replay();
  expectClose(ref, dy->read());
#endif
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudnnConv2d, ::testing::Values("cuda"),
                         [](const ::testing::TestParamInfo<std::string> &i) {
                           return i.param;
                         });

} // namespace
} // namespace fresco
