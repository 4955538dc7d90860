//===- TorchGeneratorTest.cpp - torch.randn's CPU stream ------------------===//
//
// Known answers printed by torch 1.13 (Debian's; float32 on its AVX2 path):
//   g = torch.Generator().manual_seed(0)
//   torch.randn(20, generator=g); torch.randn(3, generator=g);
//   torch.randn(3, generator=g); torch.randn(16, generator=g)
// The e2e tests compare longer streams with torch itself.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/TorchGenerator.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

using namespace fresco;

namespace {

/// Distance in float32 units in the last place (same sign assumed near
/// zero: the difference of the bit patterns read as integers).
int64_t ulps(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::llabs(int64_t(ia) - int64_t(ib));
}

void expectNear(const std::vector<float> &got, const std::vector<float> &want,
                const char *what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_LE(ulps(got[i], want[i]), 3)
        << what << "[" << i << "]: " << got[i] << " vs torch's " << want[i];
}

std::vector<float> draw(TorchGenerator &g, int64_t n) {
  std::vector<float> v(size_t(n), NAN);
  g.randn(v.data(), n);
  return v;
}

} // namespace

TEST(TorchGenerator, MatchesTorchRandn) {
  TorchGenerator g(0);
  // 20 = one block of 16, then the last 16 redrawn (values 4..19 replaced).
  expectNear(draw(g, 20),
             {-1.12583983f, -1.1523602f,   -0.250578582f, -0.433878809f,
              0.598839462f, -1.55509508f,  -0.34136039f,  1.85300612f,
              0.468096405f, -0.157712445f, 1.44366014f,   0.266049415f,
              1.38936615f,  1.58633423f,   0.946298361f,  -0.843676746f,
              0.931826591f, 1.25900924f,   2.00498056f,   0.0537369028f},
             "randn(20)");
  // Below 16 values torch draws float64 normals one by one, each pair's
  // second kept for the next draw: 3 + 3 values use three pairs.
  expectNear(draw(g, 3), {-0.891995311f, -1.50910771f, 0.370393544f},
             "randn(3)");
  expectNear(draw(g, 3), {1.45650256f, 0.939809918f, 0.774848819f},
             "then randn(3)");
  expectNear(draw(g, 16),
             {-0.673089921f, 0.872831225f, 1.05535746f, 0.17784372f,
              -0.230335474f, -0.391754389f, 0.543294728f, -0.395157546f,
              -0.446217179f, 0.7440207f, 1.52097952f, 3.41050267f, -1.53118432f,
              -1.23413503f, 1.81972528f, -0.551528692f},
             "then randn(16)");
}

// torch.randn(..., dtype=torch.bfloat16 / torch.float16) from manual_seed(42):
// the scalar normal_fill in the dtype's arithmetic, exact. bf16 from torch
// 1.13 (2.5.1 prints the same), f16 from torch 2.5.1 (PyPI's wheel; 1.13
// rounded fewer of float16's intermediate results).
TEST(TorchGenerator, MatchesTorchRandnInReducedDTypes) {
  TorchGenerator bf(42, DType::BF16);
  EXPECT_EQ(draw(bf, 20),
            (std::vector<float>{
                -0.80859375f,   -1.53125f,     0.40625f,      0.171875f,
                -0.0329589844f, -0.080078125f, 0.078125f,     -0.6484375f,
                0.56640625f,    0.236328125f,  0.486328125f,  1.171875f,
                -1.3203125f,    -0.671875f,    0.0415039062f, -0.64453125f,
                -2.171875f,     1.3515625f,    0.275390625f,  -0.112792969f}));
  EXPECT_EQ(draw(bf, 3), (std::vector<float>{-0.765625f, -0.75f, 1.3515625f}));
  TorchGenerator h(42, DType::F16);
  EXPECT_EQ(draw(h, 20),
            (std::vector<float>{
                0.386962891f, 1.47070312f,   0.146850586f,  -1.11816406f,
                -1.54882812f, -1.41699219f,  0.643066406f,  -0.533691406f,
                0.265625f,    -0.892578125f, 0.997070312f,  0.462158203f,
                -1.03027344f, 0.304931641f,  0.7265625f,    -0.285644531f,
                1.61914062f,  -1.27441406f,  0.0643310547f, 0.450683594f}));
  EXPECT_EQ(draw(h, 3),
            (std::vector<float>{-0.765625f, -0.750488281f, 1.35253906f}));
}

TEST(TorchGenerator, SeedIsTruncatedTo32BitsAsTorchDoes) {
  TorchGenerator a(7), b((uint64_t(1) << 32) + 7), c(8);
  const std::vector<float> x = draw(a, 40), y = draw(b, 40), z = draw(c, 40);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
}

TEST(TorchGenerator, OneCallEqualsNoSplitOfIt) {
  // A draw of 32 is two blocks; two draws of 16 consume the same words.
  TorchGenerator a(3), b(3);
  const std::vector<float> whole = draw(a, 32);
  std::vector<float> halves = draw(b, 16);
  const std::vector<float> second = draw(b, 16);
  halves.insert(halves.end(), second.begin(), second.end());
  EXPECT_EQ(whole, halves);
}
