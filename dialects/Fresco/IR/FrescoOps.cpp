//===- FrescoOps.cpp - fresco dialect ops: verifiers, type inference -----===//
//
// Every op requires static shapes: plans are statically memory-planned, so a
// dynamic dimension is rejected where it appears, with the op's location.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/Dialect/Traits.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallSet.h"

using namespace mlir;
using namespace mlir::fresco;

namespace {
/// Emits "'fresco.<op>' op <msg...>" at `loc` (when there is one) and fails.
template <typename... Args>
LogicalResult opError(std::optional<Location> loc, StringRef opName,
                      Args &&...args) {
  return emitOptionalError(loc, "'fresco.", opName, "' op ",
                           std::forward<Args>(args)...);
}

std::string shapeStr(ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (auto [i, d] : llvm::enumerate(shape)) {
    if (i)
      s += ", ";
    s += ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
  }
  return s + "]";
}

/// The operand's ranked tensor type, or failure when a dimension is dynamic.
FailureOr<RankedTensorType> staticType(std::optional<Location> loc,
                                       StringRef opName, StringRef what,
                                       Value v) {
  auto t = cast<RankedTensorType>(v.getType());
  if (!t.hasStaticShape()) {
    (void)opError(loc, opName, what, " must have a static shape, got ",
                  shapeStr(t.getShape()));
    return failure();
  }
  return t;
}

RankedTensorType like(RankedTensorType t, ArrayRef<int64_t> shape) {
  return RankedTensorType::get(shape, t.getElementType());
}

/// Normalises a possibly negative axis; fails when out of range.
FailureOr<int64_t> normAxis(std::optional<Location> loc, StringRef opName,
                            int64_t axis, int64_t rank) {
  int64_t a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) {
    (void)opError(loc, opName, "axis ", axis, " is out of range for rank ",
                  rank);
    return failure();
  }
  return a;
}
} // namespace

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("needs a non-empty checkpoint tensor name");
  if (!getType().hasStaticShape())
    return emitOpError("parameter '")
           << getName() << "' must have a static shape";
  if (std::optional<ArrayRef<int64_t>> ckpt = getCheckpointShape()) {
    ArrayRef<int64_t> shape = getType().getShape();
    if (ckpt->size() != shape.size() ||
        llvm::any_of(*ckpt, [](int64_t d) { return d < 1; }))
      return emitOpError("parameter '")
             << getName() << "': checkpoint_shape " << shapeStr(*ckpt)
             << " must be positive sizes, one per dimension of "
             << shapeStr(shape);
    // A split parameter's type is its local slice; only a whole one can be
    // compared with the checkpoint.
    if (!(*this)->hasAttr(FrescoDialect::kShardingAttrName) && !getOffsets())
      for (auto [c, d] : llvm::zip(*ckpt, shape))
        if (c > d)
          return emitOpError("parameter '")
                 << getName() << "': checkpoint_shape " << shapeStr(*ckpt)
                 << " is larger than its padded shape " << shapeStr(shape);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// One rank's transfers
//===----------------------------------------------------------------------===//

namespace {
/// `members` distinct non-negative world ranks, `index` one of them.
LogicalResult checkGroup(Operation *op, ArrayRef<int32_t> members,
                         int64_t index, StringRef what) {
  if (members.empty() || llvm::any_of(members, [](int32_t m) { return m < 0; }))
    return op->emitOpError("members must be world ranks >= 0, at least one");
  llvm::SmallDenseSet<int32_t> seen(members.begin(), members.end());
  if (seen.size() != members.size())
    return op->emitOpError("members must be distinct");
  if (index < 0 || index >= int64_t(members.size()))
    return op->emitOpError()
           << what << " " << index << " is not a member index (of "
           << members.size() << ")";
  return success();
}
} // namespace

LogicalResult SendOp::verify() {
  return checkGroup(*this, getMembers(), getPeer(), "peer");
}
LogicalResult RecvOp::verify() {
  return checkGroup(*this, getMembers(), getPeer(), "peer");
}
LogicalResult BroadcastOp::verify() {
  if (getInput() && getInput().getType() != getType())
    return emitOpError("input and result types differ");
  return checkGroup(*this, getMembers(), getRoot(), "root");
}

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
  results.push_back(like(*x, shape));
  return success();
}

LogicalResult LinearOp::verify() {
  std::optional<StringRef> act = getActivation();
  if (act && *act != "gelu_tanh" && *act != "gelu" && *act != "silu")
    return emitOpError("activation must be \"gelu_tanh\", \"gelu\" or "
                       "\"silu\", got \"")
           << *act << "\"";
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
  if (strides[0] < 1 || strides[1] < 1 || pad[0] < 0 || pad[1] < 0)
    return opError(loc, "conv2d",
                   "strides must be positive and padding non-negative");
  if (Value b = adaptor.getBias()) {
    auto bt = staticType(loc, "conv2d", "bias", b);
    if (failed(bt))
      return failure();
    if (bt->getRank() != 1 || bt->getDimSize(0) != w->getDimSize(0))
      return opError(loc, "conv2d", "bias must be [", w->getDimSize(0),
                     "], got ", shapeStr(bt->getShape()));
  }
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
  if (adaptor.getEpsilon().convertToDouble() <= 0.0)
    return opError(loc, "layer_norm", "epsilon must be positive");
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
  if (adaptor.getEpsilon().convertToDouble() <= 0.0)
    return opError(loc, "rms_norm", "epsilon must be positive");
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
  if (adaptor.getEpsilon().convertToDouble() <= 0.0)
    return opError(loc, "group_norm", "epsilon must be positive");
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

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto q = staticType(loc, "attention", "query", adaptor.getQuery());
  auto k = staticType(loc, "attention", "key", adaptor.getKey());
  auto v = staticType(loc, "attention", "value", adaptor.getValue());
  if (failed(q) || failed(k) || failed(v))
    return failure();
  for (auto t : {*q, *k, *v})
    if (t.getRank() != 3)
      return opError(loc, "attention",
                     "query, key and value must be [B, T, heads*head_dim], "
                     "got ",
                     shapeStr(t.getShape()));
  if (k->getShape() != v->getShape())
    return opError(loc, "attention", "key ", shapeStr(k->getShape()),
                   " and value ", shapeStr(v->getShape()), " differ");
  if (q->getDimSize(0) != k->getDimSize(0) ||
      q->getDimSize(2) != k->getDimSize(2))
    return opError(loc, "attention", "query ", shapeStr(q->getShape()),
                   " and key ", shapeStr(k->getShape()),
                   " must agree in batch and width");
  int64_t heads = adaptor.getNumHeads();
  if (heads <= 0 || q->getDimSize(2) % heads != 0)
    return opError(loc, "attention", "width ", q->getDimSize(2),
                   " is not divisible by num_heads = ", heads);
  if (Value bias = adaptor.getBias()) {
    auto bt = staticType(loc, "attention", "bias", bias);
    if (failed(bt))
      return failure();
    SmallVector<int64_t> want = {heads, q->getDimSize(1), k->getDimSize(1)};
    if (bt->getShape() != ArrayRef<int64_t>(want))
      return opError(loc, "attention",
                     "bias must be [heads, Tq, Tk] = ", shapeStr(want),
                     ", got ", shapeStr(bt->getShape()));
  }
  if (adaptor.getCausal() && q->getDimSize(1) != k->getDimSize(1))
    return opError(loc, "attention",
                   "causal attention needs as many queries "
                   "as keys, got ",
                   q->getDimSize(1), " and ", k->getDimSize(1));
  results.push_back(*q);
  return success();
}

LogicalResult AttentionOp::verify() {
  // The mask and the bias index the whole key sequence of one rank.
  if ((getCausal() || getBias()) && (getRingAxes() || getKeyValid()))
    return emitOpError("a causal mask or score bias cannot be combined with "
                       "ring_axes or key_valid");
  std::optional<ArrayRef<int64_t>> valid = getKeyValid();
  if (!valid)
    return success();
  int64_t tk = getKey().getType().getDimSize(1);
  if (valid->empty())
    return emitOpError("key_valid must not be empty");
  if (llvm::any_of(*valid, [&](int64_t v) { return v < 0 || v > tk; }))
    return emitOpError("key_valid ")
           << shapeStr(*valid) << " has a count outside [0, " << tk << "]";
  // With a ring the table has a row per ring rank: its length is checked
  // against the grid by the plan emitter.
  if (getRingAxes())
    return success();
  int64_t segments = int64_t(valid->size());
  if (tk % segments != 0)
    return emitOpError("key_valid has ")
           << segments << " segments, which do not divide the " << tk
           << " keys";
  if (llvm::any_of(*valid, [&](int64_t v) { return v > tk / segments; }))
    return emitOpError("key_valid ")
           << shapeStr(*valid) << " counts more keys than a segment of "
           << tk / segments << " holds";
  if (llvm::all_of(*valid, [](int64_t v) { return v == 0; }))
    return emitOpError("key_valid leaves no key to attend to");
  return success();
}

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

//===----------------------------------------------------------------------===//
// Embeddings
//===----------------------------------------------------------------------===//

LogicalResult TimestepEmbeddingOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto t = staticType(loc, "timestep_embedding", "timesteps",
                      adaptor.getTimesteps());
  if (failed(t))
    return failure();
  if (t->getRank() != 1)
    return opError(loc, "timestep_embedding", "timesteps must be [B], got ",
                   shapeStr(t->getShape()));
  int64_t half = adaptor.getDim() / 2;
  if (half == 0 ||
      half - adaptor.getDownscaleFreqShift().convertToDouble() == 0.0)
    return opError(loc, "timestep_embedding", "dim ", adaptor.getDim(),
                   " is too small for downscale_freq_shift ",
                   adaptor.getDownscaleFreqShift().convertToDouble());
  results.push_back(RankedTensorType::get({t->getDimSize(0), adaptor.getDim()},
                                          Float32Type::get(ctx)));
  return success();
}

LogicalResult EmbeddingOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto table = staticType(loc, "embedding", "table", adaptor.getTable());
  auto ids = staticType(loc, "embedding", "ids", adaptor.getIds());
  if (failed(table) || failed(ids))
    return failure();
  if (table->getRank() != 2)
    return opError(loc, "embedding",
                   "table must be [num_embeddings, dim], got ",
                   shapeStr(table->getShape()));
  SmallVector<int64_t> shape(ids->getShape());
  shape.push_back(table->getDimSize(1));
  results.push_back(like(*table, shape));
  return success();
}

LogicalResult EosPoolOp::inferReturnTypes(MLIRContext *,
                                          std::optional<Location> loc,
                                          Adaptor adaptor,
                                          SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "eos_pool", "input", adaptor.getInput());
  auto ids = staticType(loc, "eos_pool", "ids", adaptor.getIds());
  if (failed(x) || failed(ids))
    return failure();
  if (x->getRank() != 3)
    return opError(loc, "eos_pool", "input must be [B, T, D], got ",
                   shapeStr(x->getShape()));
  if (ids->getShape() != x->getShape().drop_back())
    return opError(loc, "eos_pool",
                   "ids must be [B, T] = ", shapeStr(x->getShape().drop_back()),
                   ", got ", shapeStr(ids->getShape()));
  if (x->getDimSize(1) == 0)
    return opError(loc, "eos_pool", "no tokens to pool");
  results.push_back(like(*x, {x->getDimSize(0), x->getDimSize(2)}));
  return success();
}

LogicalResult RelativePositionBiasOp::inferReturnTypes(
    MLIRContext *, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto t =
      staticType(loc, "relative_position_bias", "table", adaptor.getTable());
  if (failed(t))
    return failure();
  int64_t buckets = adaptor.getNumBuckets();
  if (t->getRank() != 2 || t->getDimSize(0) != buckets)
    return opError(loc, "relative_position_bias", "table must be [", buckets,
                   ", heads], got ", shapeStr(t->getShape()));
  // Each direction's half (or the whole, one-way) has max_exact = half / 2
  // exact buckets, and the log-spaced ones need max_distance beyond them.
  bool bidirectional = adaptor.getBidirectional();
  if (buckets < (bidirectional ? 4 : 2))
    return opError(loc, "relative_position_bias", "num_buckets ", buckets,
                   " leaves no exact bucket");
  int64_t exact = (bidirectional ? buckets / 2 : buckets) / 2;
  if (adaptor.getMaxDistance() <= exact)
    return opError(loc, "relative_position_bias", "max_distance ",
                   adaptor.getMaxDistance(), " must exceed the ", exact,
                   " exact buckets");
  results.push_back(like(*t, {t->getDimSize(1), adaptor.getQueryLength(),
                              adaptor.getKeyLength()}));
  return success();
}

LogicalResult PosEmbed2dOp::inferReturnTypes(MLIRContext *ctx,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &results) {
  // diffusers splits dim in halves for rows and columns, each [sin | cos].
  if (adaptor.getDim() % 4 != 0)
    return opError(loc, "pos_embed_2d", "dim must be divisible by 4, got ",
                   adaptor.getDim());
  if (adaptor.getBaseSize().convertToDouble() <= 0.0 ||
      adaptor.getInterpolationScale().convertToDouble() <= 0.0)
    return opError(loc, "pos_embed_2d",
                   "base_size and interpolation_scale must be positive");
  results.push_back(RankedTensorType::get(
      {1, adaptor.getGridH() * adaptor.getGridW(), adaptor.getDim()},
      Float32Type::get(ctx)));
  return success();
}

LogicalResult RopeTableOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto ids = staticType(loc, "rope_table", "ids", adaptor.getIds());
  if (failed(ids))
    return failure();
  ArrayRef<int64_t> axes = adaptor.getAxesDim();
  if (ids->getRank() != 2 || ids->getDimSize(1) != int64_t(axes.size()))
    return opError(loc, "rope_table", "ids must be [T, ", axes.size(),
                   "] (one column per axes_dim entry), got ",
                   shapeStr(ids->getShape()));
  if (axes.empty())
    return opError(loc, "rope_table", "axes_dim must not be empty");
  int64_t dh = 0;
  for (int64_t d : axes) {
    if (d <= 0 || d % 2 != 0 || d > (int64_t(1) << 20))
      return opError(loc, "rope_table",
                     "axes_dim entries must be positive and even, got ",
                     shapeStr(axes));
    dh += d;
  }
  if (adaptor.getTheta().convertToDouble() <= 0.0)
    return opError(loc, "rope_table", "theta must be positive");
  results.push_back(like(*ids, {ids->getDimSize(0), dh / 2, 2}));
  return success();
}

LogicalResult RopeOp::inferReturnTypes(MLIRContext *,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "rope", "input", adaptor.getInput());
  auto t = staticType(loc, "rope", "table", adaptor.getTable());
  if (failed(x) || failed(t))
    return failure();
  if (x->getRank() != 3)
    return opError(loc, "rope", "input must be [B, T, heads*head_dim], got ",
                   shapeStr(x->getShape()));
  int64_t heads = adaptor.getNumHeads();
  if (heads <= 0 || x->getDimSize(2) % heads != 0)
    return opError(loc, "rope", "width ", x->getDimSize(2),
                   " is not divisible by num_heads = ", heads);
  int64_t dh = x->getDimSize(2) / heads;
  if (dh % 2 != 0)
    return opError(loc, "rope", "head_dim ", dh,
                   " is odd: the rotation turns pairs of columns");
  SmallVector<int64_t> want = {x->getDimSize(1), dh / 2, 2};
  if (t->getShape() != ArrayRef<int64_t>(want))
    return opError(loc, "rope", "table must be ", shapeStr(want),
                   " for an input ", shapeStr(x->getShape()), " with ", heads,
                   " heads, got ", shapeStr(t->getShape()));
  if (t->getElementType() != x->getElementType())
    return opError(loc, "rope", "table and input element types differ");
  results.push_back(*x);
  return success();
}

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

LogicalResult WaitOp::verify() {
  Operation *start = getInput().getDefiningOp();
  // By name: the dialect does not depend on the shard dialect's library.
  StringRef kind = start ? start->getName().getStringRef() : "";
  if ((kind != "shard.all_to_all" && kind != "shard.all_gather") ||
      !start->hasAttr("fresco.async"))
    return emitOpError("waits for the result of a shard.all_to_all or "
                       "shard.all_gather marked fresco.async");
  for (Operation *user : getInput().getUsers())
    if (user != getOperation())
      return emitOpError("must be the only reader of the collective's "
                         "result; its readers read the wait's result");
  return success();
}

LogicalResult ReshapeOp::verify() {
  auto in = getInput().getType();
  auto out = getResult().getType();
  if (!in.hasStaticShape() || !out.hasStaticShape())
    return emitOpError("needs static shapes");
  if (in.getElementType() != out.getElementType())
    return emitOpError("cannot change the element type");
  if (in.getNumElements() != out.getNumElements())
    return emitOpError("cannot reshape ")
           << shapeStr(in.getShape()) << " (" << in.getNumElements()
           << " elements) to " << shapeStr(out.getShape()) << " ("
           << out.getNumElements() << " elements)";
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  if (getInput().getType() == getResult().getType())
    return getInput();
  // reshape(reshape(x)) -> reshape(x)
  if (auto inner = getInput().getDefiningOp<ReshapeOp>()) {
    getInputMutable().assign(inner.getInput());
    return getResult();
  }
  return {};
}

LogicalResult
UpsampleNearestOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                    Adaptor adaptor,
                                    SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "upsample_nearest", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  if (x->getRank() != 4)
    return opError(loc, "upsample_nearest", "input must be NCHW, got ",
                   shapeStr(x->getShape()));
  ArrayRef<int64_t> scale = adaptor.getScale();
  if (scale.size() != 2 || scale[0] < 1 || scale[1] < 1)
    return opError(loc, "upsample_nearest",
                   "scale needs two positive integer factors");
  results.push_back(
      like(*x, {x->getDimSize(0), x->getDimSize(1), x->getDimSize(2) * scale[0],
                x->getDimSize(3) * scale[1]}));
  return success();
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "transpose", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  ArrayRef<int64_t> perm = adaptor.getPermutation();
  if ((int64_t)perm.size() != x->getRank())
    return opError(loc, "transpose", "permutation has ", perm.size(),
                   " entries for an input of rank ", x->getRank());
  llvm::SmallSet<int64_t, 8> seen;
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= x->getRank() || !seen.insert(p).second)
      return opError(loc, "transpose", "permutation ", shapeStr(perm),
                     " is not a permutation of 0..", x->getRank() - 1);
    shape.push_back(x->getDimSize(p));
  }
  results.push_back(like(*x, shape));
  return success();
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "slice", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  auto axis = normAxis(loc, "slice", adaptor.getAxis(), x->getRank());
  if (failed(axis))
    return failure();
  int64_t start = adaptor.getStart(), size = adaptor.getSize();
  int64_t dim = x->getDimSize(*axis);
  if (start < 0 || size < 1 || start > dim || size > dim - start)
    return opError(loc, "slice", "range [", start, ", ", start + size,
                   ") is outside axis ", *axis, " of size ", dim);
  SmallVector<int64_t> shape(x->getShape());
  shape[*axis] = size;
  results.push_back(like(*x, shape));
  return success();
}

LogicalResult PadOp::inferReturnTypes(MLIRContext *,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "pad", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  auto axis = normAxis(loc, "pad", adaptor.getAxis(), x->getRank());
  if (failed(axis))
    return failure();
  int64_t start = adaptor.getStart(), size = adaptor.getSize();
  int64_t dim = x->getDimSize(*axis);
  if (start < 0 || size < dim || start > size - dim)
    return opError(loc, "pad", "input of ", dim, " elements at ", start,
                   " does not fit in ", size, " along axis ", *axis);
  SmallVector<int64_t> shape(x->getShape());
  shape[*axis] = size;
  results.push_back(like(*x, shape));
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  ValueRange inputs = adaptor.getInputs();
  if (inputs.empty())
    return opError(loc, "concat", "needs at least one input");
  auto first = staticType(loc, "concat", "input", inputs.front());
  if (failed(first))
    return failure();
  auto axis = normAxis(loc, "concat", adaptor.getAxis(), first->getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first->getShape());
  for (Value v : inputs.drop_front()) {
    auto t = staticType(loc, "concat", "input", v);
    if (failed(t))
      return failure();
    bool ok = t->getRank() == first->getRank() &&
              t->getElementType() == first->getElementType();
    for (int64_t i = 0; ok && i < t->getRank(); ++i)
      ok = i == *axis || t->getDimSize(i) == first->getDimSize(i);
    if (!ok)
      return opError(loc, "concat", "input ", shapeStr(t->getShape()),
                     " does not match ", shapeStr(first->getShape()),
                     " outside axis ", *axis);
    shape[*axis] += t->getDimSize(*axis);
  }
  results.push_back(like(*first, shape));
  return success();
}

#define GET_OP_CLASSES
#include "dialects/Fresco/IR/FrescoOps.cpp.inc"
