//===- TorchMath.cpp - Transcendentals as PyTorch and numpy compute them --===//
//
// torch.log / exp / expm1 on float32 CPU tensors go through SLEEF's 1-ulp
// vector functions, and numpy's float32 log through its own AVX2/AVX512F
// kernel; neither is correctly rounded, so the schedulers replay them
// operation by operation to match diffusers bit for bit.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/SchedulerUtils.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace fresco {
namespace sched {

namespace {

float bitsToFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

uint32_t floatToBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}

/// SLEEF's double-float (unevaluated sum hi + lo) helpers, FMA variants.
struct DF {
  float x, y;
};

DF dfAdd2(float x, float y) { // dfadd2_vf2_vf_vf
  const float s = x + y;
  const float v = s - x;
  return {s, (x - (s - v)) + (y - v)};
}

DF dfAdd(DF x, DF y) { // dfadd_vf2_vf2_vf2, |x| >= |y|
  const float s = x.x + y.x;
  return {s, (((x.x - s) + y.x) + x.y) + y.y};
}

DF dfAdd(DF x, float y) { // dfadd_vf2_vf2_vf
  const float s = x.x + y;
  return {s, ((x.x - s) + y) + x.y};
}

DF dfMul(DF x, float y) { // dfmul_vf2_vf2_vf
  const float s = x.x * y;
  return {s, std::fmaf(x.y, y, std::fmaf(x.x, y, -s))};
}

DF dfDiv(DF n, DF d) { // dfdiv_vf2_vf2_vf2
  const float t = 1.0f / d.x;
  const float s = n.x * t;
  const float u = std::fmaf(t, n.x, -s);
  const float v = std::fmaf(-d.y, t, std::fmaf(-d.x, t, 1.0f));
  return {s, std::fmaf(s, v, std::fmaf(n.y, t, u))};
}

DF dfAdd2(DF x, float y) { // dfadd2_vf2_vf2_vf
  const float s = x.x + y;
  const float v = s - x.x;
  const float t = (x.x - (s - v)) + (y - v);
  return {s, t + x.y};
}

DF dfAdd2(DF x, DF y) { // dfadd2_vf2_vf2_vf2
  const float s = x.x + y.x;
  const float v = s - x.x;
  const float t = (x.x - (s - v)) + (y.x - v);
  return {s, t + (x.y + y.y)};
}

DF dfAdd(float x, DF y) { // dfadd_vf2_vf_vf2
  const float s = x + y.x;
  return {s, ((x - s) + y.x) + y.y};
}

DF dfMul(DF x, DF y) { // dfmul_vf2_vf2_vf2
  const float s = x.x * y.x;
  return {s, std::fmaf(x.x, y.y, std::fmaf(x.y, y.x, std::fmaf(x.x, y.x, -s)))};
}

DF dfSqu(DF x) { // dfsqu_vf2_vf2
  const float s = x.x * x.x;
  return {s, std::fmaf(x.x + x.x, x.y, std::fmaf(x.x, x.x, -s))};
}

/// 2^q for q in the normal exponent range (vpow2i_vf_vi2).
float pow2i(int32_t q) { return bitsToFloat(uint32_t(q + 0x7f) << 23); }

} // namespace

float torchLogF32(float d) {
  // SLEEF xlogf_u1.
  const bool tiny = d < std::numeric_limits<float>::min();
  if (tiny)
    d = d * (float(INT64_C(1) << 32) * float(INT64_C(1) << 32));
  int32_t e = int32_t((floatToBits(d * (1.0f / 0.75f)) >> 23) & 0xff) - 0x7f;
  const float m = bitsToFloat(floatToBits(d) + (uint32_t(-e) << 23));
  if (tiny)
    e -= 64;
  DF s = dfMul({0.69314718246459960938f, -1.904654323148236017e-09f}, float(e));
  const DF x = dfDiv(dfAdd2(-1.0f, m), dfAdd2(1.0f, m));
  const float x2 = x.x * x.x;
  float t = 0.3027294874e+0f;
  t = std::fmaf(t, x2, 0.3996108174e+0f);
  t = std::fmaf(t, x2, 0.6666694880e+0f);
  s = dfAdd(s, DF{x.x * 2.0f, x.y * 2.0f});
  const float x3 = x2 * x.x;
  s = dfAdd(s, x3 * t);
  float r = s.x + s.y;
  if (std::isinf(d) && d > 0)
    r = std::numeric_limits<float>::infinity();
  if (d < 0 || std::isnan(d))
    r = std::numeric_limits<float>::quiet_NaN();
  if (d == 0)
    r = -std::numeric_limits<float>::infinity();
  return r;
}

float torchExpF32(float d) {
  // SLEEF xexpf.
  constexpr float kRLn2 = 1.442695040888963407359924681001892137426645954f;
  constexpr float kL2U = 0.693145751953125f;
  constexpr float kL2L = 1.428606765330187045e-06f;
  if (std::isnan(d))
    return d;
  const float qf = std::nearbyint(d * kRLn2); // cvtps2dq: half to even
  const int32_t q = int32_t(std::max(std::min(qf, 2.0e9f), -2.0e9f));
  float s = std::fmaf(float(q), -kL2U, d);
  s = std::fmaf(float(q), -kL2L, s);
  float u = 0.000198527617612853646278381f;
  u = std::fmaf(u, s, 0.00139304355252534151077271f);
  u = std::fmaf(u, s, 0.00833336077630519866943359f);
  u = std::fmaf(u, s, 0.0416664853692054748535156f);
  u = std::fmaf(u, s, 0.166666671633720397949219f);
  u = std::fmaf(u, s, 0.5f);
  u = 1.0f + std::fmaf(s * s, u, s);
  if (d < -104)
    return 0.0f;
  if (100 < d)
    return std::numeric_limits<float>::infinity();
  // vldexp2_vf_vf_vi2: two half-size scalings keep 2^q representable.
  return u * pow2i(q >> 1) * pow2i(q - (q >> 1));
}

float torchExpm1F32(float a) {
  // SLEEF xexpm1f: expk2f's double-float e^a, minus 1, then summed.
  constexpr float kRLn2 = 1.442695040888963407359924681001892137426645954f;
  constexpr float kL2U = 0.693145751953125f;
  constexpr float kL2L = 1.428606765330187045e-06f;
  if (std::isnan(a))
    return a;
  if (a > 88.72283172607421875f)
    return std::numeric_limits<float>::infinity();
  if (a < -16.635532333438687426013570f)
    return -1.0f;
  if (a == 0.0f && std::signbit(a))
    return -0.0f;
  // expk2f with d = (a, 0).
  const float qf = std::nearbyint(a * kRLn2);
  const int32_t q = int32_t(qf);
  DF s = dfAdd2(DF{a, 0.0f}, float(q) * -kL2U);
  s = dfAdd2(s, float(q) * -kL2L);
  float u = 0.1980960224e-3f;
  u = std::fmaf(u, s.x, 0.1394256484e-2f);
  u = std::fmaf(u, s.x, 0.8333456703e-2f);
  u = std::fmaf(u, s.x, 0.4166637361e-1f);
  DF t = dfAdd2(dfMul(s, u), 0.166666659414234244790680580464e+0f);
  t = dfAdd2(dfMul(s, t), 0.5f);
  t = dfAdd2(s, dfMul(dfSqu(s), t));
  t = dfAdd(1.0f, t);
  const float scaleA = pow2i(q >> 1), scaleB = pow2i(q - (q >> 1));
  t.x = t.x * scaleA * scaleB;
  t.y = t.y * scaleA * scaleB;
  // expm1f proper: (e^a as double-float) - 1.
  const DF d = dfAdd2(t, -1.0f);
  return d.x + d.y;
}

float npLogF32(float x) {
  // numpy's simd_log_FLOAT (AVX2 / AVX512F): log(m * 2^e) for m in
  // (sqrt(1/2), sqrt(2)] as P(m-1)/Q(m-1) + e * ln2, FMA throughout.
  if (std::isnan(x))
    return x;
  if (x < 0)
    return -std::numeric_limits<float>::quiet_NaN();
  if (x == 0)
    return -std::numeric_limits<float>::infinity();
  if (std::isinf(x))
    return x;
  float exponent;
  uint32_t bits;
  if (x < std::numeric_limits<float>::min()) { // denormal: pre-scale 2^100
    bits = floatToBits(x * bitsToFloat(0x71800000u));
    exponent = float(int32_t(bits >> 23) - 0x7e) - 100.0f;
  } else {
    bits = floatToBits(x);
    exponent = float(int32_t(bits >> 23) - 0x7e);
  }
  float m = bitsToFloat((bits & 0x7fffffu) | (126u << 23)); // [0.5, 1)
  if (m <= 0.707106781186547524400844362104849039f) {
    m = m + m;
    exponent = exponent - 1.0f;
  }
  m = m - 1.0f;
  float num =
      std::fmaf(2.589979117907922693523e-02f, m, 3.808837741388407920751e-01f);
  num = std::fmaf(num, m, 1.480000633576506585156e+00f);
  num = std::fmaf(num, m, 2.112677543073053063722e+00f);
  num = std::fmaf(num, m, 9.999999999999998702752e-01f);
  num = std::fmaf(num, m, 0.0f);
  float den =
      std::fmaf(5.875095403124574342950e-03f, m, 1.546476374983906719538e-01f);
  den = std::fmaf(den, m, 9.864942958519418960339e-01f);
  den = std::fmaf(den, m, 2.453006071784736363091e+00f);
  den = std::fmaf(den, m, 2.612677543073109236779e+00f);
  den = std::fmaf(den, m, 1.0f);
  const float poly = num / den;
  return std::fmaf(exponent, 0.693147180559945309417232121458176568f, poly);
}

} // namespace sched
} // namespace fresco
