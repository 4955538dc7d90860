//===- CfgParallel.cpp - Batch split over the cfg grid axis ---------------===//
//
// A strategy as seeds: every argument's batch dimension split over the cfg
// axis, written as the arguments' `fresco.sharding` (Seeds.h). Carrying
// the split through the ops is fresco-propagate-shardings' job; the split
// results are gathered by fresco-insert-collectives.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Seeds.h"

#include "llvm/ADT/DenseSet.h"

#define DEBUG_TYPE "fresco-cfg-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_CFGPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Seeds the batch split on every argument; the ops' sharding rules carry
/// it through the function (fresco-propagate-shardings), so any op whose
/// rule keeps the batch parallel takes part, and one that would mix batch
/// entries across ranks is a located error.
LogicalResult splitBatch(func::FuncOp fn, int16_t axis, int64_t parts) {
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
  // Every result must be per image (gathered by fresco-insert-collectives):
  // one computed from no argument would come back whole from each rank.
  llvm::DenseSet<Value> batched(block.args_begin(), block.args_end());
  for (Operation &op : block.without_terminator())
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return batched.contains(v); }))
      batched.insert(op.result_begin(), op.result_end());
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (!batched.contains(v))
      return ret.emitError("result ") << i << " does not depend on the batch";
  for (BlockArgument arg : block.getArguments())
    seedArgumentSplit(fn, arg.getArgNumber(), 0, axis);
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
      if (failed(splitBatch(fn, axis->first, axis->second)))
        return signalPassFailure();
    addSeedAxis(module, axis->first);
  }
};

} // namespace
} // namespace mlir::fresco
