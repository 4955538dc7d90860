//===- DType.cpp ----------------------------------------------------------===//
#include "runtime/core/DType.h"
#include "runtime/core/Error.h"

#include <cmath>

namespace fresco {

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000;
  uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) // NaN
    return uint16_t(sign | 0x7e00);
  if (absx >= 0x477ff000u) // rounds to >= 65520: inf
    return uint16_t(sign | 0x7c00);
  if (absx < 0x38800000u) { // below the smallest normal half: subnormal
    float a;
    std::memcpy(&a, &absx, 4);
    // Scale so that one half-ulp of subnormals is 1, then round to even.
    float scaled = a * 16777216.0f; // 2^24
    uint32_t m = uint32_t(std::nearbyint(scaled));
    return uint16_t(sign | m);
  }
  uint32_t exp = ((absx >> 23) - 127 + 15);
  uint32_t mant = absx & 0x7fffff;
  uint32_t h = (exp << 10) | (mant >> 13);
  uint32_t rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (h & 1)))
    ++h; // may carry into the exponent, which is the right result
  return uint16_t(sign | h);
}

std::string shapeToString(const std::vector<int64_t> &shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

void narrowFloats(const float *src, void *dst, size_t n, DType to) {
  auto *out = static_cast<uint16_t *>(dst);
  switch (to) {
  case DType::F32:
    std::memcpy(dst, src, n * sizeof(float));
    return;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i)
      out[i] = floatToBf16(src[i]);
    return;
  case DType::F16:
    for (size_t i = 0; i < n; ++i)
      out[i] = floatToHalf(src[i]);
    return;
  default:
    fail("cannot store floats as ", dtypeName(to));
  }
}

void widenFloats(const void *src, float *dst, size_t n, DType from) {
  const auto *in = static_cast<const uint16_t *>(src);
  switch (from) {
  case DType::F32:
    std::memcpy(dst, src, n * sizeof(float));
    return;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i)
      dst[i] = bf16ToFloat(in[i]);
    return;
  case DType::F16:
    for (size_t i = 0; i < n; ++i)
      dst[i] = halfToFloat(in[i]);
    return;
  default:
    fail("cannot read floats stored as ", dtypeName(from));
  }
}

} // namespace fresco
