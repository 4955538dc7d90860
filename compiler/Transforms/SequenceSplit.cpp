//===- SequenceSplit.cpp - Splitting a denoiser's tokens over a grid axis -===//
//
// See SequenceSplit.h.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/SequenceSplit.h"

#include "mlir/Interfaces/InferTypeOpInterface.h"

namespace mlir::fresco {

namespace {
RankedTensorType withDim(Value v, int64_t dim, int64_t size) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[dim] = size;
  return RankedTensorType::get(shape, t.getElementType());
}
} // namespace

Value SequenceSplit::slice(Value v, int64_t dim, Operation *before) {
  auto t = cast<RankedTensorType>(v.getType());
  b.setInsertionPoint(before);
  auto s = shard::AllSliceOp::create(
      b, before->getLoc(), withDim(v, dim, t.getDimSize(dim) / parts), v,
      kGridName, ArrayRef<shard::GridAxis>{axis}, dim);
  split[s.getResult()] = dim;
  return s.getResult();
}

LogicalResult SequenceSplit::retype(Operation *op, int64_t dim,
                                    RankedTensorType global) {
  if (dim < 0 || dim >= global.getRank() || global.getDimSize(dim) % parts != 0)
    return op->emitError("result dimension ")
           << dim << " of " << global << " is not divisible by " << degree();
  SmallVector<int64_t> shape(global.getShape());
  shape[dim] /= parts;
  auto local = RankedTensorType::get(shape, global.getElementType());
  if (auto iface = dyn_cast<InferTypeOpInterface>(op)) {
    SmallVector<Type> types;
    if (failed(iface.inferReturnTypes(
            op->getContext(), op->getLoc(), op->getOperands(),
            op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
            op->getRegions(), types)))
      return failure();
    if (types.size() != 1 || types[0] != local)
      return op->emitError() << pass() << " expected the local type " << local
                             << " but the op infers " << types[0];
  }
  op->getResult(0).setType(local);
  split[op->getResult(0)] = dim;
  return success();
}

/// The latent image [B, C, H, W] is split by rows; with cfg, its batch
/// slice is (the all_slice cfg inserted).
LogicalResult SequenceSplit::splitImage() {
  Block &block = fn.getBody().front();
  Value image;
  for (BlockArgument arg : block.getArguments()) {
    if (cast<RankedTensorType>(arg.getType()).getRank() != 4)
      continue;
    if (image)
      return fn.emitError() << pass()
                            << " needs exactly one "
                               "[B, C, H, W] image argument";
    image = arg;
  }
  if (!image)
    return fn.emitError() << pass()
                          << " found no [B, C, H, W] image "
                             "argument in '"
                          << fn.getSymName() << "'";
  // After the slices earlier passes made (cfg's batch, Ulysses' rows).
  while (image.hasOneUse())
    if (auto s = dyn_cast<shard::AllSliceOp>(*image.getUsers().begin()))
      image = s.getResult();
    else
      break;
  int64_t rows = cast<RankedTensorType>(image.getType()).getDimSize(2);
  if (rows % parts != 0)
    return fn.emitError("latent height ")
           << rows << " is not divisible by " << degree();
  Operation *def = image.getDefiningOp();
  Operation *before = def ? def->getNextNode() : &block.front();
  Value local = slice(image, 2, before);
  image.replaceAllUsesExcept(local, local.getDefiningOp());
  return success();
}

LogicalResult SequenceSplit::conv(Conv2dOp c, int64_t d) {
  auto w = cast<RankedTensorType>(c.getWeight().getType());
  int64_t kh = w.getDimSize(2), sh = c.getStrides()[0];
  if (d != 2 || c.getPadding()[0] != 0 || sh != kh)
    return c.emitError()
           << pass()
           << " splits a convolution's rows "
              "only when stride equals kernel height and there is "
              "no padding (a patch embedding)";
  auto global = cast<RankedTensorType>(c.getType());
  int64_t patchRows = global.getDimSize(2);
  if (patchRows % parts != 0)
    return c.emitError("patch rows ")
           << patchRows << " (latent height / patch " << kh
           << ") are not divisible by " << degree();
  return retype(c, 2, global);
}

/// A reshape keeps the split when the dimensions before the split one
/// multiply to the same count on both sides: each rank's block is then a
/// contiguous run of the first output dimension past that prefix.
LogicalResult SequenceSplit::reshape(ReshapeOp r, int64_t d) {
  auto in = cast<RankedTensorType>(r.getInput().getType());
  RankedTensorType out = r.getType();
  int64_t outer = 1;
  for (int64_t i = 0; i < d; ++i)
    outer *= in.getDimSize(i);
  int64_t prefix = 1;
  for (int64_t e = 0; e < out.getRank(); ++e) {
    if (prefix == outer && out.getDimSize(e) != 1) {
      if (out.getDimSize(e) % parts != 0)
        break;
      return retype(r, e, out);
    }
    prefix *= out.getDimSize(e);
    if (prefix > outer)
      break;
  }
  return r.emitError() << pass() << " cannot keep dimension " << d << " of "
                       << in << " split through a reshape to " << out;
}

/// Same-shape and broadcasting ops: a replicated operand that spans the
/// split dimension is sliced to this rank's part (e.g. the position table).
LogicalResult SequenceSplit::elementwise(Operation *op) {
  auto result = cast<RankedTensorType>(op->getResult(0).getType());
  int64_t rank = result.getRank(), dim = -1;
  for (Value v : op->getOperands()) {
    auto it = split.find(v);
    if (it == split.end())
      continue;
    int64_t aligned =
        it->second + rank - cast<RankedTensorType>(v.getType()).getRank();
    if (dim >= 0 && dim != aligned)
      return op->emitError() << pass()
                             << ": operands are split "
                                "along different dimensions";
    dim = aligned;
  }
  for (OpOperand &use : op->getOpOperands()) {
    if (split.count(use.get()))
      continue;
    auto t = cast<RankedTensorType>(use.get().getType());
    int64_t k = dim - (rank - t.getRank());
    if (k < 0 || t.getDimSize(k) == 1)
      continue; // broadcast along the split dimension
    if (t.getDimSize(k) != result.getDimSize(dim))
      return op->emitError()
             << pass() << " cannot align operand " << use.getOperandNumber()
             << " with the split dimension";
    use.set(slice(use.get(), k, op));
  }
  return retype(op, dim, result);
}

LogicalResult SequenceSplit::visit(Operation *op) {
  int64_t d = -1;
  for (Value v : op->getOperands())
    if (auto it = split.find(v); it != split.end())
      d = it->second;
  if (d < 0)
    return success(); // nothing split: replicated, computed in full
  auto operandSplit = [&](unsigned i) {
    return split.count(op->getOperand(i));
  };
  auto onlyFirst = [&]() {
    for (unsigned i = 1; i < op->getNumOperands(); ++i)
      if (operandSplit(i))
        return false;
    return true;
  };
  auto global = [&]() {
    return cast<RankedTensorType>(op->getResult(0).getType());
  };
  auto inRank = [&]() {
    return cast<RankedTensorType>(op->getOperand(0).getType()).getRank();
  };
  if (auto c = dyn_cast<Conv2dOp>(op)) {
    if (!operandSplit(0) || !onlyFirst())
      return op->emitError() << pass()
                             << ": a split convolution "
                                "weight is not supported";
    return conv(c, d);
  }
  if (auto r = dyn_cast<ReshapeOp>(op))
    return reshape(r, d);
  if (auto t = dyn_cast<TransposeOp>(op)) {
    auto perm = t.getPermutation();
    return retype(op, llvm::find(perm, d) - perm.begin(), global());
  }
  if (isa<LinearOp, LayerNormOp, RmsNormOp>(op)) {
    // All work along the last dimension, each token on its own.
    if (!operandSplit(0) || !onlyFirst() || d == inRank() - 1)
      return op->emitError() << pass()
                             << " can split this op's "
                                "input along a token dimension only, not "
                             << "dimension " << d;
    return retype(op, d, global());
  }
  if (isa<ModulateOp>(op)) {
    if (!operandSplit(0) || !onlyFirst() || d != 1)
      return op->emitError() << pass()
                             << " can split modulate's "
                                "input along the tokens (dimension 1) only";
    return retype(op, d, global());
  }
  if (isa<GeluOp, SiluOp>(op))
    return retype(op, d, global());
  if (isa<AddOp, SubOp, MulOp, DivOp, MulAddOp>(op))
    return elementwise(op);
  if (auto s = dyn_cast<SliceOp>(op)) {
    int64_t ax = int64_t(s.getAxis());
    ax += ax < 0 ? inRank() : 0;
    if (ax == d)
      return op->emitError() << pass()
                             << " cannot slice along the "
                                "split dimension "
                             << d;
    return retype(op, d, global());
  }
  if (auto c = dyn_cast<ConcatOp>(op)) {
    int64_t ax = int64_t(c.getAxis());
    ax += ax < 0 ? inRank() : 0;
    if (ax == d)
      return op->emitError() << pass()
                             << " cannot concatenate along "
                                "the split dimension "
                             << d;
    return elementwise(op);
  }
  if (auto a = dyn_cast<AttentionOp>(op))
    return attention(a);
  // An earlier sequence split's exchanges (Ulysses' all_to_alls around an
  // attention) keep this split along the tokens on both sides: which
  // tokens a rank holds does not matter to attention, only that q, k and v
  // agree and the way back inverts the way in.
  if (isa<shard::AllToAllOp>(op) && operandSplit(0))
    return retype(op, d, global());
  // An earlier split's gather of the result rows: gather this axis in the
  // same call, minor to the earlier one (this split cut each of its bands),
  // so the rows come back in order.
  if (auto g = dyn_cast<shard::AllGatherOp>(op);
      g && operandSplit(0) && int64_t(g.getGatherAxis().getSExtValue()) == d) {
    SmallVector<int16_t> axes(g.getGridAxes());
    if (!axes.empty() && axes.back() > axis)
      return op->emitError() << pass() << ": list " << strategy
                             << " after the strategy whose gather this is "
                                "(grid axis "
                             << axes.back() << ") in --parallel";
    axes.push_back(axis);
    g.setGridAxesAttr(b.getDenseI16ArrayAttr(axes));
    return success(); // the result is whole again
  }
  return op->emitError() << pass()
                         << " cannot split this op along "
                            "dimension "
                         << d;
}

LogicalResult SequenceSplit::run() {
  if (!fn.getBody().hasOneBlock())
    return fn.emitError() << pass()
                          << " needs a single-block "
                             "function";
  Block &block = fn.getBody().front();
  SmallVector<Operation *> ops;
  for (Operation &op : block)
    ops.push_back(&op);
  if (failed(splitImage()))
    return failure();
  bool anyAttention = false;
  for (Operation *op : ops) {
    if (isa<func::ReturnOp>(op))
      continue;
    anyAttention |= isa<AttentionOp>(op);
    if (failed(visit(op)))
      return failure();
  }
  if (!anyAttention)
    return fn.emitError() << pass() << " found no attention in '"
                          << fn.getSymName() << "'";
  // Split results are gathered here: a cfg split may already occupy the
  // result's fresco.split mark.
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  b.setInsertionPoint(ret);
  for (OpOperand &use : ret->getOpOperands())
    if (auto it = split.find(use.get()); it != split.end())
      use.set(
          createAllGather(b, ret.getLoc(), use.get(), it->second, axis, parts));
  fn.setFunctionType(FunctionType::get(fn.getContext(), fn.getArgumentTypes(),
                                       ret.getOperandTypes()));
  return success();
}

} // namespace mlir::fresco
