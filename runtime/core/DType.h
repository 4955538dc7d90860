//===- DType.h - Element types the runtime knows ----------------*- C++ -*-===//
#ifndef FRESCO_RUNTIME_CORE_DTYPE_H
#define FRESCO_RUNTIME_CORE_DTYPE_H

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace fresco {

/// Values match the plan schema's DType enum (runtime/schema/plan.fbs).
enum class DType : uint8_t { F32 = 0, F16 = 1, BF16 = 2, I64 = 3, I32 = 4 };

inline size_t dtypeSize(DType t) {
  switch (t) {
  case DType::F32:
  case DType::I32:
    return 4;
  case DType::F16:
  case DType::BF16:
    return 2;
  case DType::I64:
    return 8;
  }
  return 0;
}

inline const char *dtypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "f32";
  case DType::F16:
    return "f16";
  case DType::BF16:
    return "bf16";
  case DType::I64:
    return "i64";
  case DType::I32:
    return "i32";
  }
  return "?";
}

/// IEEE half -> float, exact (subnormals, inf and NaN included).
inline float halfToFloat(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { // subnormal: renormalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      mant &= 0x3ff;
      bits = sign | uint32_t(127 - 15 - e) << 23 | mant << 13;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

inline float bf16ToFloat(uint16_t b) {
  uint32_t bits = uint32_t(b) << 16;
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// float -> bf16 with round-to-nearest-even (NaN stays NaN).
inline uint16_t floatToBf16(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  if ((bits & 0x7fffffffu) > 0x7f800000u)
    return uint16_t((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1);
  return uint16_t(bits >> 16);
}

/// float -> IEEE half with round-to-nearest-even.
uint16_t floatToHalf(float f);

/// dst[i] = src[i] rounded to `to` (F32: copied; BF16/F16: to nearest
/// even, 2-byte elements).
void narrowFloats(const float *src, void *dst, size_t n, DType to);
/// dst[i] = src[i] as f32, src holding n elements of `from` (F32, BF16 or
/// F16). Exact.
void widenFloats(const void *src, float *dst, size_t n, DType from);

inline int64_t numElements(const std::vector<int64_t> &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

/// Elements of `shape` before `axis` (outer) and after it (inner): a
/// slice or concatenation along `axis` moves `outer` blocks, contiguous
/// when outer is 1. Any container with size() and operator[] (std::vector,
/// llvm::ArrayRef, a plan's flatbuffers::Vector).
template <typename Dims>
void rowsAround(const Dims &shape, int64_t axis, int64_t &outer,
                int64_t &inner) {
  outer = inner = 1;
  for (int64_t d = 0; d < int64_t(shape.size()); ++d) {
    if (d < axis)
      outer *= int64_t(shape[d]);
    else if (d > axis)
      inner *= int64_t(shape[d]);
  }
}

std::string shapeToString(const std::vector<int64_t> &shape);

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_DTYPE_H
