//===- Noise.cpp - Philox4x32-10 + Box-Muller Gaussian noise --------------===//
//
// The algorithm is specified in Noise.h; this file follows it step by step.
// Each arithmetic step is a single correctly rounded IEEE operation (or a
// libm call), with no multiply-add that a compiler could fuse, so the result
// does not depend on FMA contraction or vectorisation.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/Noise.h"

#include "runtime/core/Error.h"

#include <cmath>

namespace fresco {

namespace {

constexpr uint32_t kPhiloxM0 = 0xD2511F53;
constexpr uint32_t kPhiloxM1 = 0xCD9E8D57;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9; // golden ratio
constexpr uint32_t kPhiloxW1 = 0xBB67AE85; // sqrt(3) - 1

/// 2 * pi as the double NumPy's `2.0 * np.pi` gives (an exact doubling).
constexpr double kTwoPi = 2.0 * 3.141592653589793;
constexpr double kTwoPow32Inv = 1.0 / 4294967296.0;

/// A uint32 mapped to (0, 1]: never 0, so log() is finite.
inline double toUnitInterval(uint32_t w) {
  return (double(w) + 1.0) * kTwoPow32Inv;
}

} // namespace

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c,
                                   std::array<uint32_t, 2> key, int rounds) {
  uint32_t k0 = key[0], k1 = key[1];
  for (int r = 0; r < rounds; ++r) {
    if (r > 0) {
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    const uint64_t p0 = uint64_t(kPhiloxM0) * c[0];
    const uint64_t p1 = uint64_t(kPhiloxM1) * c[2];
    c = {uint32_t(p1 >> 32) ^ c[1] ^ k0, uint32_t(p1),
         uint32_t(p0 >> 32) ^ c[3] ^ k1, uint32_t(p0)};
  }
  return c;
}

namespace {

/// n values of the stream whose counters end in (c2, c3), the block index
/// in the first two words (Noise.h).
void fillStream(const char *who, uint64_t seed, uint32_t c2, uint32_t c3,
                float *out, int64_t n) {
  check(n >= 0, who, ": negative element count ", n);
  check(n == 0 || out != nullptr, who, ": null output buffer");
  const std::array<uint32_t, 2> key = {uint32_t(seed), uint32_t(seed >> 32)};
  const int64_t blocks = (n + 3) / 4;
  for (int64_t b = 0; b < blocks; ++b) {
    const uint64_t ub = uint64_t(b);
    const std::array<uint32_t, 4> w =
        philox4x32({uint32_t(ub), uint32_t(ub >> 32), c2, c3}, key, 10);
    double z[4];
    for (int pair = 0; pair < 2; ++pair) {
      const double u1 = toUnitInterval(w[2 * pair]);
      const double u2 = toUnitInterval(w[2 * pair + 1]);
      const double r = std::sqrt(-2.0 * std::log(u1));
      const double theta = kTwoPi * u2;
      z[2 * pair] = r * std::cos(theta);
      z[2 * pair + 1] = r * std::sin(theta);
    }
    const int64_t base = b * 4;
    const int64_t lanes = n - base < 4 ? n - base : 4;
    for (int64_t l = 0; l < lanes; ++l)
      out[base + l] = float(z[l]);
  }
}

} // namespace

void gaussianNoise(uint64_t seed, int64_t imageIndex, float *out, int64_t n) {
  check(imageIndex >= 0, "gaussianNoise: negative image index ", imageIndex);
  const uint64_t image = uint64_t(imageIndex);
  fillStream("gaussianNoise", seed, uint32_t(image), uint32_t(image >> 32), out,
             n);
}

void stepNoise(uint64_t seed, int64_t imageIndex, int64_t stepIndex, float *out,
               int64_t n) {
  check(imageIndex >= 0 && imageIndex <= int64_t(UINT32_MAX),
        "stepNoise: image index ", imageIndex, " is outside 0..2^32-1");
  check(stepIndex >= 0 && stepIndex < (int64_t(1) << 31),
        "stepNoise: step index ", stepIndex, " is outside 0..2^31-1");
  fillStream("stepNoise", seed, uint32_t(imageIndex),
             0x80000000u | uint32_t(stepIndex), out, n);
}

} // namespace fresco
