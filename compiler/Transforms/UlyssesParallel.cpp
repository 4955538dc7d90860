//===- UlyssesParallel.cpp - DeepSpeed-Ulysses sequence parallelism -------===//
//
// A strategy as a seed: the tokens split over the ulysses axis
// (SequenceSplit). The axis's kind makes the propagation resolve that split
// at each attention by Ulysses' exchange (SequenceAttention.cpp): an
// all_to_all before it trades the sequence split for a split of the rule's
// heads factor, so every rank attends over all tokens for H/P heads, and
// one after it trades back.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Seeds.h"
#include "compiler/Transforms/SequenceSplit.h"

#define DEBUG_TYPE "fresco-ulysses-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_ULYSSESPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct UlyssesParallelPass : impl::UlyssesParallelBase<UlyssesParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("ulysses") : std::nullopt;
    if (!axis)
      return;
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(seedSequenceSplit(fn, *grid, "ulysses", axis->first,
                                   axis->second)))
        return signalPassFailure();
    addSeedAxis(module, axis->first);
  }
};

} // namespace
} // namespace mlir::fresco
