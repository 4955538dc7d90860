//===- CheckedMath.h - Overflow-checked size arithmetic ---------*- C++ -*-===//
//
// One helper for every product of sizes that come from untrusted numbers
// (config.json keys, plan attributes, shapes): the model builders' config
// checks, the dialect's verifiers, the plan verifier and the executor. No
// MLIR/LLVM headers, so the runtime can use it.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_CHECKEDMATH_H
#define FRESCO_RUNTIME_CORE_CHECKEDMATH_H

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>

namespace fresco {

/// The most bytes a plan's arena or one of its tensors may take (64 TiB):
/// sizes under it keep every later sum and product exact. The compiler
/// refuses to plan past it; the loader rejects plans that do.
constexpr int64_t kMaxPlanBytes = int64_t(1) << 46;

/// a * b, or nullopt when it does not fit in int64_t.
inline std::optional<int64_t> checkedMul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    return std::nullopt;
  return r;
}

/// a + b, or nullopt when it does not fit in int64_t.
inline std::optional<int64_t> checkedAdd(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    return std::nullopt;
  return r;
}

/// The product of sizes in [begin, end), or nullopt when one is negative
/// or the product does not fit in int64_t.
template <typename It> std::optional<int64_t> checkedProduct(It begin, It end) {
  int64_t n = 1;
  for (It it = begin; it != end; ++it) {
    int64_t d = int64_t(*it);
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return std::nullopt;
  }
  return n;
}

template <typename Range>
std::optional<int64_t> checkedProduct(const Range &sizes) {
  return checkedProduct(std::begin(sizes), std::end(sizes));
}

inline std::optional<int64_t> checkedProduct(std::initializer_list<int64_t> s) {
  return checkedProduct(s.begin(), s.end());
}

/// For totals that only need to be compared with a limit: the product of
/// non-negative sizes, INT64_MAX when it does not fit.
inline int64_t saturatingProduct(std::initializer_list<int64_t> s) {
  return checkedProduct(s).value_or(std::numeric_limits<int64_t>::max());
}

/// a + b of non-negative totals, INT64_MAX when it does not fit.
inline int64_t saturatingAdd(int64_t a, int64_t b) {
  return checkedAdd(a, b).value_or(std::numeric_limits<int64_t>::max());
}

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_CHECKEDMATH_H
