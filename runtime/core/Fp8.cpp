//===- Fp8.cpp - FP8 (e4m3) rounding and scaling --------------------------===//
#include "runtime/core/Fp8.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <limits>

namespace fresco::fp8 {

uint8_t encodeE4M3(float v) {
  const uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
  if (std::isnan(v))
    return sign | 0x7F;
  const float a = std::fabs(v);
  if (a >= kE4M3Max) // infinities too: no e4m3 infinity, saturate
    return sign | 0x7E;
  // Below 2^-6 the values are the subnormals k * 2^-9, k = 0..7 (k = 8 is
  // the code of 2^-6, the smallest normal). The scalings by powers of two
  // are exact and nearbyint rounds ties to even.
  if (a < 0x1p-6f)
    return sign | uint8_t(std::nearbyint(a * 0x1p9f));
  int e2 = 0;
  std::frexp(a, &e2);   // a = f * 2^e2, f in [0.5, 1)
  const int e = e2 - 1; // a in [2^e, 2^(e+1)), e in -6..8
  int m = int(std::nearbyint(std::ldexp(a, -e) * 8.0f - 8.0f));
  int biased = e + 7;
  if (m == 8) { // rounded up to the next power of two
    m = 0;
    ++biased;
  }
  // a < 448 rounds at most to 448 (biased 15, m 6): never the NaN code.
  return sign | uint8_t(biased << 3 | m);
}

float decodeE4M3(uint8_t code) {
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  const int biased = (code >> 3) & 0xF, m = code & 0x7;
  if (biased == 0xF && m == 0x7)
    return std::nanf("");
  if (biased == 0)
    return sign * std::ldexp(float(m), -9);
  return sign * std::ldexp(float(8 + m), biased - 7 - 3);
}

namespace {
/// Rows scaled at all: a row whose scale amax / 448 would be subnormal
/// (amax below 448 x FLT_MIN, about 5.3e-36) is quantized as a zero row
/// with scale 1: no 0 * inf = NaN codes where 448 / amax overflows, and no
/// subnormal scale a device might flush to zero.
bool scaled(float amax) { return amax > 0.0f && amax / kE4M3Max >= FLT_MIN; }
} // namespace

float scaleOf(float amax) {
  if (!std::isfinite(amax)) // an overflow stays visible: the row is NaN
    return std::numeric_limits<float>::quiet_NaN();
  return scaled(amax) ? amax / kE4M3Max : 1.0f;
}

float inverseScaleOf(float amax) {
  if (!std::isfinite(amax))
    return std::numeric_limits<float>::quiet_NaN();
  return scaled(amax) ? kE4M3Max / amax : 1.0f;
}

void quantizeRows(const float *x, int64_t rows, int64_t cols, float *values,
                  float *scales) {
  for (int64_t r = 0; r < rows; ++r) {
    const float *row = x + r * cols;
    float amax = 0.0f;
    for (int64_t c = 0; c < cols; ++c)
      amax = std::max(amax, std::fabs(row[c])); // NaNs are passed over
    const float inv = inverseScaleOf(amax);
    scales[r] = scaleOf(amax);
    for (int64_t c = 0; c < cols; ++c)
      values[r * cols + c] = roundE4M3(row[c] * inv);
  }
}

} // namespace fresco::fp8
