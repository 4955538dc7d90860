//===- TorchGenerator.cpp - torch.randn's CPU stream, reproduced ----------===//
#include "runtime/pipeline/TorchGenerator.h"

#include <cmath>

namespace fresco {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// Box-Muller over 16 uniforms in place, as torch's normal_fill_16: every
/// operation rounded to float32, the transcendental ones through float64.
void boxMuller16(float *d) {
  const float twoPi = float(2.0 * kPi);
  for (int j = 0; j < 8; ++j) {
    const float u1 = 1.0f - d[j], u2 = d[j + 8];
    const float lg = float(std::log(double(u1)));
    const float radius = std::sqrt(-2.0f * lg);
    const float theta = twoPi * u2;
    const float c = float(std::cos(double(theta)));
    const float s = float(std::sin(double(theta)));
    d[j] = radius * c;
    d[j + 8] = radius * s;
  }
}

} // namespace

TorchGenerator::TorchGenerator(uint64_t seed)
    : engine_(static_cast<uint32_t>(seed)) {}

double TorchGenerator::uniform53() {
  const uint64_t hi = engine_(), lo = engine_();
  const uint64_t w = (hi << 32) | lo;
  return double(w & ((uint64_t(1) << 53) - 1)) * std::ldexp(1.0, -53);
}

double TorchGenerator::normalDouble() {
  if (cachedNormal_) {
    const double r = *cachedNormal_;
    cachedNormal_.reset();
    return r;
  }
  const double u1 = uniform53(), u2 = uniform53();
  const double r = std::sqrt(-2.0 * std::log(1.0 - u2));
  const double theta = 2.0 * kPi * u1;
  cachedNormal_ = r * std::sin(theta);
  return r * std::cos(theta);
}

void TorchGenerator::randn(float *out, int64_t n) {
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = float(normalDouble());
    return;
  }
  auto uniform24 = [&] {
    return float(engine_() & 0xFFFFFFu) * std::ldexp(1.0f, -24);
  };
  for (int64_t i = 0; i < n; ++i)
    out[i] = uniform24();
  for (int64_t i = 0; i + 16 <= n; i += 16)
    boxMuller16(out + i);
  if (n % 16 != 0) {
    float *tail = out + n - 16;
    for (int i = 0; i < 16; ++i)
      tail[i] = uniform24();
    boxMuller16(tail);
  }
}

} // namespace fresco
