//===- RingParallel.cpp - Ring attention sequence parallelism ------------===//
//
// A strategy as a seed: the tokens split over the ring axis (SequenceSplit).
// The axis's kind makes the propagation keep that split through attention
// too (SequenceAttention.cpp): each rank keeps its queries, and its block
// of keys and values travels around the ring of ranks on the axis, one hop
// per block, while every rank folds each visiting block into its running
// softmax (AttentionOp's ring_axes; the runtime does the passing). Unlike
// Ulysses, no rank ever holds all tokens of any tensor, and the head count
// needs not divide the degree. After Ulysses (the USP hybrid) it cuts each
// Ulysses band further and rides through Ulysses' all_to_alls.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Seeds.h"
#include "compiler/Transforms/SequenceSplit.h"

#define DEBUG_TYPE "fresco-ring-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_RINGPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct RingParallelPass : impl::RingParallelBase<RingParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("ring") : std::nullopt;
    if (!axis)
      return;
    // With Ulysses (run before): each ring rank holds a ring block of its
    // Ulysses band, and ring attention runs on the heads Ulysses left it.
    if (auto ulysses = grid->axis("ulysses");
        ulysses && ulysses->first > axis->first) {
      module.emitError("ring=")
          << axis->second << " with ulysses=" << ulysses->second
          << ": list ulysses before ring in --parallel (e.g. ulysses="
          << ulysses->second << ",ring=" << axis->second << ")";
      return signalPassFailure();
    }
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(
              seedSequenceSplit(fn, *grid, "ring", axis->first, axis->second)))
        return signalPassFailure();
    addSeedAxis(module, axis->first);
  }
};

} // namespace
} // namespace mlir::fresco
