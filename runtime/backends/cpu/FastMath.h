//===- FastMath.h - Vectorisable float exp for the hot loops ----*- C++ -*-===//
//
// glibc's expf and tanhf are scalar calls; in softmax and the activations
// they cost more than the GEMMs around them. fastExp is branch-free plain
// C++ that GCC/Clang vectorise inside `#pragma omp simd` loops (the target is
// built with -fno-trapping-math so the clamps become min/max). Accuracy is
// within ~1 ulp (max relative error < 1.5e-7) over the normal range.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CPU_FASTMATH_H
#define FRESCO_RUNTIME_BACKENDS_CPU_FASTMATH_H

#include <cstdint>
#include <cstring>

namespace fresco {
namespace cpu {

/// exp(x) for float x: 0 below the normal range, finite (2^127-ish) above
/// 88.37, NaN for NaN. Cephes' range reduction and minimax polynomial.
inline float fastExp(float x) {
  constexpr float kLo = -87.33654f; // exp(kLo) = 2^-126, smallest normal
  constexpr float kHi = 88.37626f;  // keeps the exponent at most 127
  const float xc = x > kHi ? kHi : (x < kLo ? kLo : x);
  // n = round(x / ln2): adding 1.5 * 2^23 leaves the integer in the low
  // mantissa bits, which also gives the integer without a conversion.
  constexpr float kRound = 12582912.0f;
  const float t = xc * 1.44269504088896341f + kRound;
  const float n = t - kRound;
  // r = x - n*ln2 in two parts (Cody-Waite) so r keeps full precision.
  float r = xc - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // Unsigned so that a NaN input's garbage bits wrap instead of overflowing.
  uint32_t tBits;
  std::memcpy(&tBits, &t, sizeof(float));
  const uint32_t scaleBits = (tBits - 0x4B400000u + 127u) << 23;
  float scale;
  std::memcpy(&scale, &scaleBits, sizeof(float));
  return x < kLo ? 0.0f : p * scale;
}

} // namespace cpu
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CPU_FASTMATH_H
