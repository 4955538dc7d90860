//===- FrescoOpsElementwise.cpp - activations and binary ops --------------===//
//
// Type inference of the activations and the broadcasting binary ops.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOpsUtil.h"

#include "mlir/Dialect/Traits.h"

using namespace mlir;
using namespace mlir::fresco;
using namespace mlir::fresco::detail;

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

LogicalResult GeluOp::inferReturnTypes(MLIRContext *,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &results) {
  StringRef approx = adaptor.getApproximate();
  if (approx != "none" && approx != "tanh")
    return opError(loc, "gelu",
                   "approximate must be \"none\" or \"tanh\", got \"", approx,
                   "\"");
  auto x = staticType(loc, "gelu", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  results.push_back(*x);
  return success();
}

LogicalResult QuickGeluOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "quick_gelu", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  results.push_back(*x);
  return success();
}

LogicalResult SiluOp::inferReturnTypes(MLIRContext *,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "silu", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  results.push_back(*x);
  return success();
}

static LogicalResult inferBinary(StringRef opName, std::optional<Location> loc,
                                 Value lhs, Value rhs,
                                 SmallVectorImpl<Type> &results) {
  auto a = staticType(loc, opName, "lhs", lhs);
  auto b = staticType(loc, opName, "rhs", rhs);
  if (failed(a) || failed(b))
    return failure();
  if (a->getElementType() != b->getElementType())
    return opError(loc, opName,
                   "operand element types differ: ", a->getElementType(),
                   " vs ", b->getElementType());
  SmallVector<int64_t> shape;
  if (!OpTrait::util::getBroadcastedShape(a->getShape(), b->getShape(), shape))
    return opError(loc, opName, "shapes ", shapeStr(a->getShape()), " and ",
                   shapeStr(b->getShape()), " do not broadcast");
  results.push_back(like(*a, shape));
  return success();
}

#define FRESCO_BINARY_INFER(Op, name)                                          \
  LogicalResult Op::inferReturnTypes(                                          \
      MLIRContext *, std::optional<Location> loc, Adaptor adaptor,             \
      SmallVectorImpl<Type> &results) {                                        \
    return inferBinary(name, loc, adaptor.getLhs(), adaptor.getRhs(),          \
                       results);                                               \
  }
FRESCO_BINARY_INFER(AddOp, "add")
FRESCO_BINARY_INFER(SubOp, "sub")
FRESCO_BINARY_INFER(MulOp, "mul")
FRESCO_BINARY_INFER(DivOp, "div")
#undef FRESCO_BINARY_INFER

LogicalResult MulAddOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  SmallVector<Type> product;
  if (failed(
          inferBinary("mul_add", loc, adaptor.getA(), adaptor.getB(), product)))
    return failure();
  auto c = staticType(loc, "mul_add", "c", adaptor.getC());
  if (failed(c))
    return failure();
  auto p = cast<RankedTensorType>(product[0]);
  if (c->getElementType() != p.getElementType() ||
      c->getShape() != p.getShape())
    return opError(loc, "mul_add", "c must be a * b's ", shapeStr(p.getShape()),
                   ", got ", shapeStr(c->getShape()));
  results.push_back(p);
  return success();
}
