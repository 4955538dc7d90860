//===- FrescoOpsLinearNorm.cpp - linear, conv and norm ops ----------------===//
//
// Type inference and verifiers of linear, conv2d, the norms and modulate.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOpsUtil.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fresco;
using namespace mlir::fresco::detail;

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "linear", "input", adaptor.getInput());
  auto w = staticType(loc, "linear", "weight", adaptor.getWeight());
  if (failed(x) || failed(w))
    return failure();
  if (x->getRank() < 1)
    return opError(loc, "linear", "input must have rank >= 1");
  if (w->getRank() != 2)
    return opError(loc, "linear", "weight must be [out, in], got ",
                   shapeStr(w->getShape()));
  int64_t in = x->getShape().back();
  if (w->getDimSize(1) != in)
    return opError(
        loc, "linear", "input features ", in,
        " do not match weight [out, in] = ", shapeStr(w->getShape()));
  if (Value b = adaptor.getBias()) {
    auto bt = staticType(loc, "linear", "bias", b);
    if (failed(bt))
      return failure();
    if (bt->getRank() != 1 || bt->getDimSize(0) != w->getDimSize(0))
      return opError(loc, "linear", "bias must be [", w->getDimSize(0),
                     "], got ", shapeStr(bt->getShape()));
  }
  SmallVector<int64_t> shape(x->getShape());
  shape.back() = w->getDimSize(0);
  if (Value r = adaptor.getResidual()) {
    auto rt = staticType(loc, "linear", "residual", r);
    if (failed(rt))
      return failure();
    if (rt->getShape() != ArrayRef<int64_t>(shape))
      return opError(loc, "linear", "residual must be the result's shape ",
                     shapeStr(shape), ", got ", shapeStr(rt->getShape()));
  }
  if (Value g = adaptor.getGate()) {
    auto gt = staticType(loc, "linear", "gate", g);
    if (failed(gt))
      return failure();
    // One gate per sample (or one for all) and output feature, broadcast
    // over the middle (token) dimensions.
    ArrayRef<int64_t> gs = gt->getShape();
    bool ok =
        gs.size() == shape.size() && gs.back() == shape.back() &&
        (gs.size() == 1 || gs.front() == shape.front() || gs.front() == 1);
    for (size_t i = 1; ok && i + 1 < gs.size(); ++i)
      ok = gs[i] == 1;
    if (!ok) {
      SmallVector<int64_t> want(shape.size(), 1);
      want.back() = shape.back();
      if (want.size() > 1)
        want.front() = shape.front();
      return opError(loc, "linear", "gate must be ", shapeStr(want),
                     " (or 1 in the first dimension) for the result ",
                     shapeStr(shape), ", got ", shapeStr(gs));
    }
  }
  results.push_back(like(*x, shape));
  return success();
}

LogicalResult LinearOp::verify() {
  std::optional<StringRef> act = getActivation();
  if (act && *act != "gelu_tanh" && *act != "gelu" && *act != "silu")
    return emitOpError("activation must be \"gelu_tanh\", \"gelu\" or "
                       "\"silu\", got \"")
           << *act << "\"";
  // The epilogue adds the residual before it would apply the activation.
  if (act && getResidual())
    return emitOpError("cannot take both an activation and a residual");
  // The gate would scale the activation's output, which no epilogue does.
  if (act && getGate())
    return emitOpError("cannot take both an activation and a gate");
  return success();
}

//===----------------------------------------------------------------------===//
// Conv2dOp
//===----------------------------------------------------------------------===//

LogicalResult Conv2dOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "conv2d", "input", adaptor.getInput());
  auto w = staticType(loc, "conv2d", "weight", adaptor.getWeight());
  if (failed(x) || failed(w))
    return failure();
  if (x->getRank() != 4)
    return opError(loc, "conv2d", "input must be NCHW (rank 4), got ",
                   shapeStr(x->getShape()));
  if (w->getRank() != 4)
    return opError(loc, "conv2d", "weight must be OIHW (rank 4), got ",
                   shapeStr(w->getShape()));
  if (w->getDimSize(1) != x->getDimSize(1))
    return opError(loc, "conv2d", "input has ", x->getDimSize(1),
                   " channels but the weight expects ", w->getDimSize(1));
  ArrayRef<int64_t> strides = adaptor.getStrides();
  ArrayRef<int64_t> pad = adaptor.getPadding();
  if (strides.size() != 2 || pad.size() != 2)
    return opError(loc, "conv2d", "strides and padding need 2 values each");
  // Padding beyond 2^40 cannot be real and would overflow the output size.
  constexpr int64_t kMaxPad = int64_t(1) << 40;
  if (strides[0] < 1 || strides[1] < 1 || pad[0] < 0 || pad[1] < 0 ||
      pad[0] > kMaxPad || pad[1] > kMaxPad)
    return opError(loc, "conv2d",
                   "strides must be positive and padding non-negative "
                   "(at most 2^40)");
  if (Value b = adaptor.getBias()) {
    auto bt = staticType(loc, "conv2d", "bias", b);
    if (failed(bt))
      return failure();
    if (bt->getRank() != 1 || bt->getDimSize(0) != w->getDimSize(0))
      return opError(loc, "conv2d", "bias must be [", w->getDimSize(0),
                     "], got ", shapeStr(bt->getShape()));
  }
  if (std::optional<uint64_t> valid = adaptor.getValidRows();
      valid && int64_t(*valid) > x->getDimSize(2))
    return opError(loc, "conv2d", "valid_rows ", *valid,
                   " exceeds the input's ", x->getDimSize(2), " rows");
  int64_t oh =
      (x->getDimSize(2) + 2 * pad[0] - w->getDimSize(2)) / strides[0] + 1;
  int64_t ow =
      (x->getDimSize(3) + 2 * pad[1] - w->getDimSize(3)) / strides[1] + 1;
  if (x->getDimSize(2) + 2 * pad[0] < w->getDimSize(2) ||
      x->getDimSize(3) + 2 * pad[1] < w->getDimSize(3))
    return opError(loc, "conv2d", "kernel ", shapeStr(w->getShape()),
                   " is larger than the padded input ",
                   shapeStr(x->getShape()));
  results.push_back(like(*x, {x->getDimSize(0), w->getDimSize(0), oh, ow}));
  return success();
}

//===----------------------------------------------------------------------===//
// LayerNormOp, ModulateOp
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "layer_norm", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  if (x->getRank() < 1)
    return opError(loc, "layer_norm", "input must have rank >= 1");
  if (failed(checkEpsilon(loc, "layer_norm",
                          adaptor.getEpsilon().convertToDouble())))
    return failure();
  ValueRange affine = adaptor.getAffine();
  if (!affine.empty() && affine.size() != 2)
    return opError(loc, "layer_norm",
                   "takes either no affine operands or both weight and bias, "
                   "got ",
                   affine.size());
  int64_t d = x->getShape().back();
  for (Value v : affine) {
    auto t = staticType(loc, "layer_norm", "affine operand", v);
    if (failed(t))
      return failure();
    if (t->getRank() != 1 || t->getDimSize(0) != d)
      return opError(loc, "layer_norm", "weight and bias must be [", d,
                     "], got ", shapeStr(t->getShape()));
  }
  // A fused fresco.modulate: its operand rules, on the norm's input.
  ValueRange mod = adaptor.getModulation();
  if (!mod.empty() && mod.size() != 2)
    return opError(loc, "layer_norm",
                   "takes either no modulation operands or both shift and "
                   "scale, got ",
                   mod.size());
  if (!mod.empty()) {
    if (x->getRank() != 3)
      return opError(loc, "layer_norm",
                     "a modulated input must be [B, T, D], got ",
                     shapeStr(x->getShape()));
    SmallVector<int64_t> want = {x->getDimSize(0), d};
    auto shift = staticType(loc, "layer_norm", "shift", mod[0]);
    auto scale = staticType(loc, "layer_norm", "scale", mod[1]);
    if (failed(shift) || failed(scale))
      return failure();
    if (shift->getShape() != ArrayRef<int64_t>(want) ||
        scale->getShape() != ArrayRef<int64_t>(want))
      return opError(loc, "layer_norm", "shift and scale must be ",
                     shapeStr(want), ", got ", shapeStr(shift->getShape()),
                     " and ", shapeStr(scale->getShape()));
  }
  results.push_back(*x);
  return success();
}

LogicalResult RmsNormOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "rms_norm", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  if (x->getRank() < 1)
    return opError(loc, "rms_norm", "input must have rank >= 1");
  if (failed(checkEpsilon(loc, "rms_norm",
                          adaptor.getEpsilon().convertToDouble())))
    return failure();
  if (Value w = adaptor.getWeight()) {
    auto t = staticType(loc, "rms_norm", "weight", w);
    if (failed(t))
      return failure();
    int64_t d = x->getShape().back();
    if (t->getRank() != 1 || t->getDimSize(0) != d)
      return opError(loc, "rms_norm", "weight must be [", d, "], got ",
                     shapeStr(t->getShape()));
  }
  results.push_back(*x);
  return success();
}

LogicalResult GroupNormOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "group_norm", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  if (x->getRank() < 2)
    return opError(loc, "group_norm", "input must be [N, C, ...], got ",
                   shapeStr(x->getShape()));
  int64_t c = x->getDimSize(1), groups = adaptor.getNumGroups();
  if (groups <= 0 || c % groups != 0)
    return opError(loc, "group_norm", "channels ", c,
                   " are not divisible by num_groups = ", groups);
  // (Under stats_axes the input is a band: valid_rows counts the whole's.)
  if (std::optional<uint64_t> valid = adaptor.getValidRows()) {
    if (x->getRank() != 4)
      return opError(loc, "group_norm",
                     "valid_rows needs an [N, C, H, W] "
                     "input, got ",
                     shapeStr(x->getShape()));
    if (!adaptor.getStatsAxes() && int64_t(*valid) > x->getDimSize(2))
      return opError(loc, "group_norm", "valid_rows ", *valid,
                     " exceeds the input's ", x->getDimSize(2), " rows");
  }
  if (failed(checkEpsilon(loc, "group_norm",
                          adaptor.getEpsilon().convertToDouble())))
    return failure();
  ValueRange affine = adaptor.getAffine();
  if (!affine.empty() && affine.size() != 2)
    return opError(loc, "group_norm",
                   "takes either no affine operands or both weight and bias, "
                   "got ",
                   affine.size());
  for (Value v : affine) {
    auto t = staticType(loc, "group_norm", "affine operand", v);
    if (failed(t))
      return failure();
    if (t->getRank() != 1 || t->getDimSize(0) != c)
      return opError(loc, "group_norm", "weight and bias must be [", c,
                     "], got ", shapeStr(t->getShape()));
  }
  results.push_back(*x);
  return success();
}

LogicalResult ModulateOp::inferReturnTypes(MLIRContext *,
                                           std::optional<Location> loc,
                                           Adaptor adaptor,
                                           SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "modulate", "input", adaptor.getInput());
  auto shift = staticType(loc, "modulate", "shift", adaptor.getShift());
  auto scale = staticType(loc, "modulate", "scale", adaptor.getScale());
  if (failed(x) || failed(shift) || failed(scale))
    return failure();
  if (x->getRank() != 3)
    return opError(loc, "modulate", "input must be [B, T, D], got ",
                   shapeStr(x->getShape()));
  SmallVector<int64_t> want = {x->getDimSize(0), x->getDimSize(2)};
  if (shift->getShape() != ArrayRef<int64_t>(want) ||
      scale->getShape() != ArrayRef<int64_t>(want))
    return opError(loc, "modulate", "shift and scale must be ", shapeStr(want),
                   ", got ", shapeStr(shift->getShape()), " and ",
                   shapeStr(scale->getShape()));
  results.push_back(*x);
  return success();
}
