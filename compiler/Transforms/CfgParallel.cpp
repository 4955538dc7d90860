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

/// The batch every argument of `fn` shares (dimension 0), checked to reach
/// every result: one computed from no argument would come back whole from
/// each rank (or micro-batch). `who` prefixes the errors.
FailureOr<int64_t> sharedBatch(func::FuncOp fn, StringRef who) {
  Block &block = fn.getBody().front();
  if (block.getNumArguments() == 0)
    return fn.emitError("a batch split (cfg, --microbatches) needs batched "
                        "arguments");
  int64_t batch = -1;
  for (BlockArgument arg : block.getArguments()) {
    auto t = cast<RankedTensorType>(arg.getType());
    if (t.getRank() == 0 || (batch >= 0 && t.getDimSize(0) != batch))
      return fn.emitError(who)
             << "argument " << arg.getArgNumber() << " of type " << t
             << " does not share the batch dimension 0 of the others";
    batch = t.getDimSize(0);
  }
  llvm::DenseSet<Value> batched(block.args_begin(), block.args_end());
  for (Operation &op : block.without_terminator())
    if (llvm::any_of(op.getOperands(),
                     [&](Value v) { return batched.contains(v); }))
      batched.insert(op.result_begin(), op.result_end());
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands()))
    if (!batched.contains(v))
      return ret.emitError(who)
             << "result " << i << " does not depend on the batch";
  return batch;
}

/// Seeds the batch split on every argument; the ops' sharding rules carry
/// it through the function (fresco-propagate-shardings), so any op whose
/// rule keeps the batch parallel takes part, and one that would mix batch
/// entries across ranks is a located error.
LogicalResult splitBatch(func::FuncOp fn, int16_t axis, int64_t parts) {
  FailureOr<int64_t> batch = sharedBatch(fn, "");
  if (failed(batch))
    return failure();
  if (*batch % parts != 0)
    return fn.emitError("batch ") << *batch << " of '" << fn.getSymName()
                                  << "' is not divisible by cfg=" << parts;
  for (BlockArgument arg : fn.getBody().getArguments())
    seedArgumentSplit(fn, arg.getArgNumber(), 0, axis);
  return success();
}

/// Micro-batches: each argument's batch, as cfg leaves it, split over the
/// virtual axis where it enters; fresco-pipefusion then runs the parts one
/// after the other, so the pipeline stages overlap on them. Exact: no op
/// mixes the samples of a batch.
LogicalResult splitMicrobatches(func::FuncOp fn, int16_t axis, int64_t parts,
                                int64_t cfg) {
  FailureOr<int64_t> batch =
      sharedBatch(fn, "--microbatches split every argument's batch, but ");
  if (failed(batch))
    return failure();
  if (*batch % (cfg * parts) != 0) {
    InFlightDiagnostic d = fn.emitError("batch ") << *batch;
    if (cfg > 1)
      d << " (" << *batch / cfg << " per cfg=" << cfg << " rank)";
    return d << " of '" << fn.getSymName()
             << "' is not divisible by --microbatches " << parts
             << " (a micro-batch is a share of the images, with guidance of "
                "their halves)";
  }
  for (BlockArgument arg : fn.getBody().getArguments())
    seedSplit(arg, 0, axis);
  return success();
}

struct CfgParallelPass : impl::CfgParallelBase<CfgParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("cfg") : std::nullopt;
    auto micro = grid ? grid->axis(kMicrobatchAxis) : std::nullopt;
    if (axis && failed(splitCfg(module, *axis)))
      return signalPassFailure();
    if (!micro)
      return;
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(splitMicrobatches(fn, micro->first, micro->second,
                                   axis ? axis->second : 1)))
        return signalPassFailure();
    addSeedAxis(module, micro->first);
  }

  LogicalResult splitCfg(ModuleOp module, std::pair<int16_t, int64_t> axis) {
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
        return failure();
      }
    }
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(splitBatch(fn, axis.first, axis.second)))
        return failure();
    addSeedAxis(module, axis.first);
    return success();
  }
};

} // namespace
} // namespace mlir::fresco
