//===- FrescoOpsUtil.h - helpers shared by the fresco op files --*- C++ -*-===//
//
// Diagnostics and shape helpers used by the verifiers and type inference in
// FrescoOps*.cpp. Private to the dialect library.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_DIALECT_FRESCOOPSUTIL_H
#define FRESCO_DIALECT_FRESCOOPSUTIL_H

#include "dialects/Fresco/IR/FrescoOps.h"
#include "runtime/core/CheckedMath.h"

#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <optional>
#include <string>

namespace mlir::fresco::detail {
/// Emits "'fresco.<op>' op <msg...>" at `loc` (when there is one) and fails.
template <typename... Args>
LogicalResult opError(std::optional<Location> loc, StringRef opName,
                      Args &&...args) {
  return emitOptionalError(loc, "'fresco.", opName, "' op ",
                           std::forward<Args>(args)...);
}

inline std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
  }
  return s + "]";
}

/// A norm's epsilon: positive and finite, and still so as the f32 the plan
/// stores (1e-50 would become 0 there, 1e39 infinity).
inline LogicalResult checkEpsilon(std::optional<Location> loc, StringRef opName,
                                  double eps) {
  if (!(eps > 0.0) || !std::isfinite(eps))
    return opError(loc, opName, "epsilon must be positive and finite, got ",
                   eps);
  const float stored = float(eps);
  if (!(stored > 0.0f) || !std::isfinite(stored))
    return opError(loc, opName, "epsilon ", eps,
                   " is outside f32's range (a plan stores it as f32)");
  return success();
}

/// The operand's ranked tensor type, or failure when a dimension is dynamic
/// or its element count does not fit in int64_t (every later size product
/// of its dimensions is then exact).
inline FailureOr<RankedTensorType> staticType(std::optional<Location> loc,
                                              StringRef opName, StringRef what,
                                              Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  if (!t.hasStaticShape()) {
    (void)opError(loc, opName, what, " must have a static shape, got ",
                  shapeStr(t.getShape()));
    return failure();
  }
  if (!::fresco::checkedProduct(t.getShape())) {
    (void)opError(loc, opName, what, " ", shapeStr(t.getShape()),
                  " has more elements than fit in 64 bits");
    return failure();
  }
  return t;
}

/// a * b for a result dimension; fails naming `what` on overflow.
inline FailureOr<int64_t> dimProduct(std::optional<Location> loc,
                                     StringRef opName, StringRef what,
                                     int64_t a, int64_t b) {
  std::optional<int64_t> r = ::fresco::checkedMul(a, b);
  if (!r || *r < 0) {
    (void)opError(loc, opName, what, " ", a, " x ", b,
                  " does not fit in 64 bits");
    return failure();
  }
  return *r;
}

inline RankedTensorType like(RankedTensorType t, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, t.getElementType());
}

/// Normalises a possibly negative axis; fails when out of range.
inline FailureOr<int64_t> normAxis(std::optional<Location> loc,
                                   StringRef opName, int64_t axis,
                                   int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    (void)opError(loc, opName, "axis ", axis, " is out of range for rank ",
                  rank);
    return failure();
  }
  return a;
}
} // namespace mlir::fresco::detail

#endif // FRESCO_DIALECT_FRESCOOPSUTIL_H
