//===- Fp8.h - FP8 (e4m3) rounding and scaling ------------------*- C++ -*-===//
//
// The numerics of Fresco's FP8 GEMMs (a plan's LinearAttrs.fp8), written
// once for the host: the CPU backends emulate the GEMM with them, and the
// CUDA backend's kernels round the same way (cvt.rn.satfinite.e4m3x2), so
// the conformance test can compare the two.
//
// e4m3 (OCP FP8 "E4M3FN", CUDA's __nv_fp8_e4m3): 1 sign, 4 exponent bits
// (bias 7), 3 mantissa bits; no infinities; S.1111.111 is NaN; the largest
// finite value is 448 and the smallest subnormal 2^-9. Rounding is to the
// nearest value, ties to even; values past 448 saturate to +-448 (CUDA's
// __NV_SATFINITE); NaN stays NaN.
//
// Scaling: a row (a weight's output channel, or an activation's token) of
// largest magnitude amax is divided by scale = amax / 448 so its largest
// element lands on 448; a GEMM of the codes, accumulated in f32 (each
// product of two e4m3 values is exact in f32), is multiplied back by the
// two rows' scales. A row of zeros keeps scale 1; a row holding an inf gets
// a NaN scale, so an overflow shows as NaN, not as saturated values.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_FP8_H
#define FRESCO_RUNTIME_CORE_FP8_H

#include <cstdint>

namespace fresco::fp8 {

/// The largest finite e4m3 value.
constexpr float kE4M3Max = 448.0f;

/// The e4m3 code nearest to v (ties to even), saturating at +-448.
uint8_t encodeE4M3(float v);

/// The value of an e4m3 code (NaN for 0x7F and 0xFF).
float decodeE4M3(uint8_t code);

/// v rounded to e4m3 and back.
inline float roundE4M3(float v) { return decodeE4M3(encodeE4M3(v)); }

/// The factor a row of largest magnitude `amax` is divided by: amax/448,
/// 1 for a zero amax or one below 448 x FLT_MIN (about 5.3e-36: the row
/// then rounds to zeros), NaN for a non-finite one.
float scaleOf(float amax);

/// The multiplier that maps the row onto e4m3's range: 448/amax, 1 where
/// scaleOf is 1, NaN where it is NaN. Used as x * inverseScaleOf(amax) on every
/// device, so that the codes are the same bits everywhere.
float inverseScaleOf(float amax);

/// Quantizes x [rows, cols] row by row: values[r, c] is the e4m3 value
/// (as f32, unscaled) of x[r, c] / scale[r], scales[r] its row's scale.
void quantizeRows(const float *x, int64_t rows, int64_t cols, float *values,
                  float *scales);

} // namespace fresco::fp8

#endif // FRESCO_RUNTIME_CORE_FP8_H
