//===- TorchGenerator.cpp - torch.randn's CPU stream, reproduced ----------===//
#include "runtime/pipeline/TorchGenerator.h"
#include "runtime/core/Error.h"

#include <cmath>

namespace fresco {
namespace {

constexpr double kPi = 3.14159265358979323846;

/// Box-Muller over 16 float32 uniforms in place, as torch's normal_fill_16:
/// every operation rounded to float32, the transcendental ones through
/// float64.
void boxMuller16F32(float *d) {
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

float logf64(float x) { return float(std::log(double(x))); }
float cosf64(float x) { return float(std::cos(double(x))); }
float sinf64(float x) { return float(std::sin(double(x))); }

} // namespace

TorchGenerator::TorchGenerator(uint64_t seed, DType dtype)
    : dtype_(dtype), engine_(static_cast<uint32_t>(seed)) {
  check(dtype == DType::F32 || dtype == DType::BF16 || dtype == DType::F16,
        "torch.randn's generator draws f32, bf16 or f16, not ",
        dtypeName(dtype));
}

float TorchGenerator::toDType(float x) const {
  if (dtype_ == DType::BF16)
    return bf16ToFloat(floatToBf16(x));
  if (dtype_ == DType::F16)
    return halfToFloat(floatToHalf(x));
  return x;
}

float TorchGenerator::uniform() {
  // uniform_real_distribution<T>: the dtype's significand bits of a word.
  const int digits = dtype_ == DType::BF16 ? 8 : dtype_ == DType::F16 ? 11 : 24;
  const uint32_t w = engine_() & ((uint32_t(1) << digits) - 1);
  return float(w) * std::ldexp(1.0f, -digits);
}

void TorchGenerator::boxMuller16(float *d) const {
  if (dtype_ == DType::F32)
    return boxMuller16F32(d);
  // c10's BFloat16 and (since torch 2) Half math: every operation's result
  // rounded to the dtype.
  for (int j = 0; j < 8; ++j) {
    const float u1 = toDType(1.0f - d[j]), u2 = d[j + 8];
    const float lg = toDType(logf64(u1));
    const float radius = toDType(std::sqrt(toDType(-2.0f * lg)));
    const float theta = toDType(float(2.0 * kPi * double(u2)));
    const float c = toDType(cosf64(theta)), s = toDType(sinf64(theta));
    d[j] = toDType(radius * c);
    d[j + 8] = toDType(radius * s);
  }
}

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

void TorchGenerator::randn(float *out, int64_t n, DType dtype) {
  // Restored however randn returns.
  struct Restore {
    DType &slot, saved;
    ~Restore() { slot = saved; }
  } restore{dtype_, dtype_};
  dtype_ = dtype;
  randn(out, n);
}

void TorchGenerator::randn(float *out, int64_t n) {
  if (n < 16) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = toDType(float(normalDouble()));
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    out[i] = uniform();
  for (int64_t i = 0; i + 16 <= n; i += 16)
    boxMuller16(out + i);
  if (n % 16 != 0) {
    float *tail = out + n - 16;
    for (int i = 0; i < 16; ++i)
      tail[i] = uniform();
    boxMuller16(tail);
  }
}

} // namespace fresco
