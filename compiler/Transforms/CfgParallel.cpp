//===- CfgParallel.cpp - Batch split over the cfg grid axis ---------------===//
//
// A strategy as seeds: every argument's batch dimension split over the cfg
// axis, written as the arguments' `fresco.sharding` (as
// fresco-propagate-shardings reads them). Carrying the split through the
// ops is the sharding rules' job.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/ShardingPropagation.h"

#define DEBUG_TYPE "fresco-cfg-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_CFGPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Seeds the batch split on every argument; the ops' sharding rules carry
/// it through the function (ShardingPropagation), so any op whose rule
/// keeps the batch parallel takes part, and one that would mix batch
/// entries across ranks is a located error.
LogicalResult splitBatch(func::FuncOp fn, const GridInfo &grid, int16_t axis,
                         int64_t parts) {
  Block &block = fn.getBody().front();
  if (block.getNumArguments() == 0)
    return fn.emitError("fresco-cfg-parallel needs batched arguments");
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
  // The seeds as data, read by the same step as fresco-propagate-shardings.
  for (BlockArgument arg : block.getArguments())
    fn.setArgAttr(
        arg.getArgNumber(), kSharding,
        ShardingAttr::getSplit(fn.getContext(),
                               cast<RankedTensorType>(arg.getType()).getRank(),
                               0, {axis}));
  if (failed(
          propagateArgumentShardings(fn, grid, "cfg=" + std::to_string(parts))))
    return failure();
  // The results (gathered by fresco-insert-collectives) are per image.
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (!fn.getResultAttr(i, kSharding))
      return ret.emitError("result ") << i << " does not depend on the batch";
  return success();
}

struct CfgParallelPass : impl::CfgParallelBase<CfgParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("cfg") : std::nullopt;
    if (!axis)
      return;
    // Only a pipeline with a classifier-free guidance batch has halves to
    // split; FluxPipeline runs each image once (dev's guidance is an input).
    if (auto p = module->getAttrOfType<DictionaryAttr>("fresco.pipeline")) {
      auto sampler = p.getAs<DictionaryAttr>("sampler");
      auto guidance =
          sampler ? sampler.getAs<StringAttr>("guidance") : StringAttr();
      if (guidance && guidance.getValue() != "class_cfg" &&
          guidance.getValue() != "text_cfg") {
        auto kind = p.getAs<StringAttr>("kind");
        module.emitError("cfg parallel splits a classifier-free guidance "
                         "batch, and pipeline '")
            << (kind ? kind.getValue() : "?") << "' has none (guidance '"
            << guidance.getValue()
            << "'; Flux-dev is guidance-distilled: its scale is an input of "
               "the transformer): use tp, ulysses, ring or pipeline";
        return signalPassFailure();
      }
    }
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(splitBatch(fn, *grid, axis->first, axis->second)))
        return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
