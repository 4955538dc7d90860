//===- TorchMath.cpp - Transcendentals as PyTorch and numpy compute them --===//
//
// torch.log / exp / expm1 on float32 CPU tensors go through SLEEF's 1-ulp
// vector functions, and numpy's float32 log through its own AVX2/AVX512F
// kernel; neither is correctly rounded, so the schedulers replay them
// operation by operation to match diffusers bit for bit.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
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

DF dfNormalize(DF t) { // dfnormalize_vf2_vf2
  const float s = t.x + t.y;
  return {s, (t.x - s) + t.y};
}

DF dfScale(DF d, float s) { return {d.x * s, d.y * s}; } // dfscale_vf2_vf2_vf

/// 2^q for q in the normal exponent range (vpow2i_vf_vi2).
float pow2i(int32_t q) { return bitsToFloat(uint32_t(q + 0x7f) << 23); }

/// x * 2^q for any q (vldexp_vf_vf_vi2): four partial scalings, then the
/// rest.
float ldexpFull(float x, int32_t q) {
  int32_t m = q >> 31;
  m = int32_t(uint32_t(((m + q) >> 6) - m) << 4);
  q = q - int32_t(uint32_t(m) << 2);
  m = m + 0x7f;
  m = m > 0 ? m : 0;
  m = m > 0xff ? 0xff : m;
  float u = bitsToFloat(uint32_t(m) << 23);
  x = x * u * u * u * u;
  u = bitsToFloat(uint32_t(q + 0x7f) << 23);
  return x * u;
}

/// Where the vector lanes of PyTorch's AVX2 elementwise loop (cpu_kernel_vec)
/// end over n values: it runs pairs of 8-lane vectors, then the scalar
/// lambda on the rest. One chunk: the tensors here are far below the
/// 32768 values from which PyTorch would split the loop across threads.
size_t torchVectorEnd(size_t n) {
  constexpr size_t kBlock = 16;
  return n / kBlock * kBlock;
}

/// cvtps2dq: round half to even; 0x80000000 out of range and for NaN.
int32_t cvtps2dq(float u) {
  if (!(std::fabs(u) < 2147483648.0f))
    return std::numeric_limits<int32_t>::min();
  return int32_t(std::nearbyint(u));
}

/// SLEEF's logkf: log(d) as a double-float (non-AVX512 path).
DF logkf(float d) {
  const bool tiny = d < std::numeric_limits<float>::min();
  if (tiny)
    d = d * (float(INT64_C(1) << 32) * float(INT64_C(1) << 32));
  int32_t e = int32_t((floatToBits(d * (1.0f / 0.75f)) >> 23) & 0xff) - 0x7f;
  const float m = bitsToFloat(floatToBits(d) + (uint32_t(-e) << 23));
  if (tiny)
    e -= 64;
  DF x = dfDiv(dfAdd2(-1.0f, m), dfAdd2(1.0f, m));
  const DF x2 = dfSqu(x);
  float t = 0.240320354700088500976562f;
  t = std::fmaf(t, x2.x, 0.285112679004669189453125f);
  t = std::fmaf(t, x2.x, 0.400007992982864379882812f);
  const DF c{0.66666662693023681640625f, 3.69183861259614332084311e-09f};
  DF s =
      dfMul(DF{0.69314718246459960938f, -1.904654323148236017e-09f}, float(e));
  s = dfAdd(s, dfScale(x, 2.0f));
  return dfAdd(s, dfMul(dfMul(x2, x), dfAdd2(dfMul(x2, t), c)));
}

/// SLEEF's expkf: e^d of a double-float.
float expkf(DF d) {
  constexpr float kRLn2 = 1.442695040888963407359924681001892137426645954f;
  constexpr float kL2U = 0.693145751953125f;
  constexpr float kL2L = 1.428606765330187045e-06f;
  const int32_t q = cvtps2dq((d.x + d.y) * kRLn2);
  DF s = dfAdd2(d, float(q) * -kL2U);
  s = dfAdd2(s, float(q) * -kL2L);
  s = dfNormalize(s);
  float u = 0.00136324646882712841033936f;
  u = std::fmaf(u, s.x, 0.00836596917361021041870117f);
  u = std::fmaf(u, s.x, 0.0416710823774337768554688f);
  u = std::fmaf(u, s.x, 0.166665524244308471679688f);
  u = std::fmaf(u, s.x, 0.499999850988388061523438f);
  DF t = dfAdd(s, dfMul(dfSqu(s), u));
  t = dfAdd(1.0f, t);
  u = ldexpFull(t.x + t.y, q);
  return d.x < -104 ? 0.0f : u;
}

/// The sign of y on |x| (vmulsign_vf_vf_vf: x with y's sign bit xored in).
float mulsign(float x, float y) {
  return bitsToFloat(floatToBits(x) ^ (floatToBits(y) & 0x80000000u));
}

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

float torchPowF32(float x, float y) {
  // SLEEF xpowf (u10): e^(y log|x|) in double-float, then IEEE's cases.
  constexpr float kInf = std::numeric_limits<float>::infinity();
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  constexpr float k2p24 = float(1 << 24);
  const bool yIsInt = std::trunc(y) == y || std::fabs(y) > k2p24;
  const bool yIsOdd =
      std::fabs(y) < k2p24 && yIsInt && (int32_t(std::trunc(y)) & 1) == 1;
  float result = expkf(dfMul(logkf(std::fabs(x)), y));
  if (std::isnan(result))
    result = kInf;
  result = result * (x > 0 ? 1.0f : yIsInt ? (yIsOdd ? -1.0f : 1.0f) : kNaN);
  const float efx = mulsign(std::fabs(x) - 1.0f, y);
  if (std::isinf(y))
    result = efx < 0 ? 0.0f : efx == 0 ? 1.0f : kInf;
  if (std::isinf(x) || x == 0) {
    const float sign = yIsOdd ? mulsign(1.0f, x) : 1.0f;
    result = sign * ((x == 0 ? -y : y) < 0 ? 0.0f : kInf);
  }
  if (std::isnan(x) || std::isnan(y))
    result = kNaN;
  if (y == 0 || x == 1)
    result = 1.0f;
  return result;
}

std::vector<float> torchPowScalarF32(std::vector<float> x, double exp) {
  // torch.pow(tensor, scalar): 0 and 1 are a fill and a copy, 0.5 a square
  // root, 2 and 3 products; any other exponent runs SLEEF's powf (at
  // float(exp)) over whole pairs of 8-lane vectors and the scalar std::pow
  // (in double, at exp) over the tail. Negative exponents are not needed.
  check(exp >= 0, "torchPowScalarF32: negative exponent ", exp);
  const size_t vectorEnd = torchVectorEnd(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float b = x[i];
    if (exp == 0)
      x[i] = 1.0f;
    else if (exp == 1)
      x[i] = b;
    else if (exp == 0.5)
      x[i] = std::sqrt(b);
    else if (exp == 2)
      x[i] = b * b;
    else if (exp == 3)
      x[i] = b * b * b;
    else if (i < vectorEnd)
      x[i] = torchPowF32(b, float(exp));
    else
      x[i] = float(std::pow(double(b), exp));
  }
  return x;
}

std::vector<float> torchSigmoidF32(std::vector<float> x) {
  const size_t vectorEnd = torchVectorEnd(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float e = i < vectorEnd ? torchExpF32(0.0f - x[i]) : std::exp(-x[i]);
    x[i] = 1.0f / (1.0f + e);
  }
  return x;
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
