//===- CfgParallel.cpp - Batch split over the cfg grid axis ---------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseSet.h"

#define DEBUG_TYPE "fresco-cfg-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_CFGPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Rewrites `fn` so that every batch-dependent value holds this rank's
/// 1/parts of dimension 0.
LogicalResult splitBatch(func::FuncOp fn, int16_t axis, int64_t parts) {
  Block &block = fn.getBody().front();
  if (block.getNumArguments() == 0)
    return fn.emitError("fresco-cfg-parallel needs batched arguments");
  OpBuilder b(fn.getContext());
  b.setInsertionPointToStart(&block);

  // Values computed from the inputs carry the batch in dimension 0;
  // parameters and input-independent tables do not.
  llvm::DenseSet<Value> batched;
  int64_t batch = -1;
  for (BlockArgument arg : block.getArguments()) {
    auto t = cast<RankedTensorType>(arg.getType());
    if (t.getRank() == 0 || (batch >= 0 && t.getDimSize(0) != batch))
      return fn.emitError("argument ")
             << arg.getArgNumber() << " of type " << t
             << " does not share the batch dimension 0 of the others";
    batch = t.getDimSize(0);
  }
  if (batch % parts != 0)
    return fn.emitError("batch ") << batch << " of '" << fn.getSymName()
                                  << "' is not divisible by cfg=" << parts;
  for (BlockArgument arg : block.getArguments()) {
    auto t = cast<RankedTensorType>(arg.getType());
    SmallVector<int64_t> shape(t.getShape());
    shape[0] /= parts;
    auto slice = shard::AllSliceOp::create(
        b, arg.getLoc(), RankedTensorType::get(shape, t.getElementType()), arg,
        kGridName, ArrayRef<shard::GridAxis>{axis}, 0);
    arg.replaceAllUsesExcept(slice.getResult(), slice);
    batched.insert(slice.getResult());
  }

  for (Operation &op : block) {
    if (isa<shard::AllSliceOp, func::ReturnOp>(op))
      continue;
    bool dependent = llvm::any_of(op.getOperands(),
                                  [&](Value v) { return batched.count(v); });
    if (!dependent)
      continue;
    for (Value r : op.getResults())
      batched.insert(r);
    // Ops that move dimension 0 would mix batch entries across ranks.
    if (auto t = dyn_cast<TransposeOp>(op); t && t.getPermutation()[0] != 0)
      return t.emitError("moves the batch dimension; cannot split it over cfg");
    if (auto s = dyn_cast<SliceOp>(op); s && s.getAxis() == 0)
      return s.emitError(
          "slices the batch dimension; cannot split it over cfg");
    if (auto c = dyn_cast<ConcatOp>(op); c && c.getAxis() == 0)
      return c.emitError(
          "concatenates along the batch; cannot split it over cfg");
    if (auto r = dyn_cast<ReshapeOp>(op)) {
      auto in = r.getInput().getType(), out = r.getType();
      if (out.getRank() == 0 || out.getDimSize(0) != batch ||
          in.getDimSize(0) != batch / parts)
        return r.emitError("does not keep the batch in dimension 0; cannot "
                           "split it over cfg");
      SmallVector<int64_t> shape(out.getShape());
      shape[0] /= parts;
      r.getResult().setType(RankedTensorType::get(shape, out.getElementType()));
      continue;
    }
    if (!isa<InferTypeOpInterface>(op))
      return op.emitError("fresco-cfg-parallel cannot retype this op");
    SmallVector<Type> types;
    if (failed(cast<InferTypeOpInterface>(op).inferReturnTypes(
            op.getContext(), op.getLoc(), op.getOperands(),
            op.getRawDictionaryAttrs(), op.getPropertiesStorage(),
            op.getRegions(), types)))
      return failure();
    for (auto [v, t] : llvm::zip(op.getResults(), types))
      v.setType(t);
  }
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    if (!batched.count(v))
      return ret.emitError("result ") << i << " does not depend on the batch";
    fn.setResultAttr(
        i, kSharding,
        ShardingAttr::getSplit(
            fn.getContext(), cast<RankedTensorType>(v.getType()).getRank(), 0,
            {axis}));
  }
  fn.setFunctionType(FunctionType::get(fn.getContext(), fn.getArgumentTypes(),
                                       ret.getOperandTypes()));
  return success();
}

struct CfgParallelPass : impl::CfgParallelBase<CfgParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("cfg") : std::nullopt;
    if (!axis)
      return;
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(splitBatch(fn, axis->first, axis->second)))
        return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
