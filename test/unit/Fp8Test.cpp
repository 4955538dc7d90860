//===- Fp8Test.cpp - e4m3 rounding against the format's definition --------===//
//
// runtime/core/Fp8.h's encoder and decoder against a table of all 256 e4m3
// codes built here from the format's definition (OCP FP8 E4M3FN: bias 7,
// 3 mantissa bits, subnormals, one NaN per sign, no infinities). This
// venv's PyTorch (1.13) has no float8 dtype and ml_dtypes is not installed,
// so the table is the independent reference. Then round-to-nearest-even
// at every midpoint, saturation and the row scaling.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Fp8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace fresco {
namespace {

using fp8::decodeE4M3;
using fp8::encodeE4M3;

/// The value of `code` from the definition, in double.
double tableValue(int code) {
  const int s = code >> 7, e = (code >> 3) & 0xF, m = code & 7;
  if (e == 15 && m == 7)
    return std::numeric_limits<double>::quiet_NaN();
  const double mag = e == 0 ? m / 8.0 * std::pow(2.0, -6)
                            : (1 + m / 8.0) * std::pow(2.0, e - 7);
  return s ? -mag : mag;
}

TEST(Fp8, DecodesEveryCode) {
  for (int c = 0; c < 256; ++c) {
    SCOPED_TRACE(c);
    const double want = tableValue(c);
    const float got = decodeE4M3(uint8_t(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got));
      continue;
    }
    EXPECT_EQ(double(got), want);
    EXPECT_EQ(std::signbit(got), c >= 128);
  }
  // Landmarks of the format.
  EXPECT_EQ(decodeE4M3(0x7E), 448.0f);
  EXPECT_EQ(decodeE4M3(0x38), 1.0f);
  EXPECT_EQ(decodeE4M3(0x08), 0x1p-6f);
  EXPECT_EQ(decodeE4M3(0x01), 0x1p-9f);
  EXPECT_EQ(decodeE4M3(0xFE), -448.0f);
}

TEST(Fp8, EncodesEveryValueToItsCode) {
  for (int c = 0; c < 256; ++c) {
    if (std::isnan(tableValue(c)))
      continue;
    SCOPED_TRACE(c);
    EXPECT_EQ(int(encodeE4M3(float(tableValue(c)))), c);
  }
}

// Between neighbouring codes a and b (all 126 gaps of each sign, zero
// included): a little either side of the midpoint goes to the nearer one, the
// midpoint itself to the even code.
TEST(Fp8, RoundsToNearestEven) {
  for (int sign : {0, 0x80})
    for (int c = 0; c < 0x7E; ++c) {
      const double a = tableValue(sign | c), b = tableValue(sign | (c + 1));
      const double mid = (a + b) / 2;
      SCOPED_TRACE(::testing::Message() << "between " << a << " and " << b);
      EXPECT_EQ(encodeE4M3(float(mid + (a - mid) / 4)), uint8_t(sign | c));
      EXPECT_EQ(encodeE4M3(float(mid + (b - mid) / 4)),
                uint8_t(sign | (c + 1)));
      const int even = c % 2 == 0 ? c : c + 1;
      EXPECT_EQ(encodeE4M3(float(mid)), uint8_t(sign | even));
    }
}

TEST(Fp8, SaturatesAndKeepsNaN) {
  for (float v : {448.0f, 449.0f, 464.0f, 480.0f, 1e9f,
                  std::numeric_limits<float>::infinity()}) {
    EXPECT_EQ(encodeE4M3(v), 0x7E) << v;
    EXPECT_EQ(encodeE4M3(-v), 0xFE) << v;
  }
  EXPECT_TRUE(std::isnan(fp8::roundE4M3(std::nanf(""))));
  EXPECT_EQ(encodeE4M3(-0.0f), 0x80);
  EXPECT_EQ(encodeE4M3(1e-30f), 0x00); // below half the smallest subnormal
}

// Each row's largest magnitude maps to 448; a zero row keeps scale 1; the
// values are e4m3 values within 2^-4 relative of x / scale (normal range).
TEST(Fp8, QuantizesRows) {
  const std::vector<float> x = {0.5f,  -2.0f,  0.3f,  1.0f, // amax 2
                                0.0f,  0.0f,   0.0f,  0.0f, // zeros
                                3e-3f, -7e-4f, 1e-5f, 2e-3f};
  std::vector<float> q(x.size()), s(3);
  fp8::quantizeRows(x.data(), 3, 4, q.data(), s.data());
  EXPECT_EQ(s[0], 2.0f / 448.0f);
  EXPECT_EQ(s[1], 1.0f);
  EXPECT_EQ(s[2], 3e-3f / 448.0f);
  EXPECT_EQ(q[1], -448.0f);
  EXPECT_EQ(q[8], 448.0f);
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(fp8::roundE4M3(q[i]), q[i]) << i; // an e4m3 value
    const float inv = fp8::inverseScaleOf(i < 4 ? 2.0f : i < 8 ? 0.0f : 3e-3f);
    const double scaled = double(x[i] * inv);
    if (std::fabs(scaled) >= 0x1p-6)
      EXPECT_LE(std::fabs(q[i] - scaled), std::fabs(scaled) / 16) << i;
    else
      EXPECT_LE(std::fabs(q[i] - scaled), 0x1p-10) << i;
  }
}

// An inf in a row (an overflow upstream) makes its scale NaN, so the GEMM's
// row comes out NaN as it would in bf16, not as saturated finite values.
TEST(Fp8, OverflowedRowScalesToNaN) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {1.0f, inf, 0.5f, 2.0f, 1.0f, -4.0f};
  std::vector<float> q(x.size()), s(2);
  fp8::quantizeRows(x.data(), 2, 3, q.data(), s.data());
  EXPECT_TRUE(std::isnan(s[0]));
  EXPECT_TRUE(std::isnan(q[0] * s[0]));
  EXPECT_EQ(s[1], 4.0f / 448.0f); // the other row is untouched
  EXPECT_TRUE(std::isnan(fp8::scaleOf(-inf)));
  EXPECT_EQ(fp8::scaleOf(0.0f), 1.0f);
}

// A row whose scale would be subnormal is quantized as zeros with scale 1
// (not 0 * inf = NaN codes where 448 / amax overflows, nor a subnormal
// scale); above, it is scaled as usual.
TEST(Fp8, TinyRowIsAZeroRow) {
  const float tiny = 4e-36f, small = 1e-30f;
  const std::vector<float> x = {tiny, 0.0f, -tiny, small, 0.0f, -small};
  std::vector<float> q(x.size()), s(2);
  fp8::quantizeRows(x.data(), 2, 3, q.data(), s.data());
  EXPECT_EQ(s[0], 1.0f);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(q[i], 0.0f) << i;
  EXPECT_EQ(s[1], small / 448.0f);
  EXPECT_EQ(q[3] * s[1], small);
  EXPECT_EQ(q[4], 0.0f);
}

} // namespace
} // namespace fresco
