//===- PropagateShardings.cpp - Partition from argument shardings ---------===//
//
// The rule-driven partitioning with its seeds written in the IR: each
// function argument's `fresco.sharding` is a split to seed, and
// ShardingPropagation does the rest. A strategy reduced to data, and the
// way to test the propagation on its own.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/ShardingPropagation.h"

#define DEBUG_TYPE "fresco-propagate-shardings"

namespace mlir::fresco {
#define GEN_PASS_DEF_PROPAGATESHARDINGS
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct PropagateShardingsPass
    : impl::PropagateShardingsBase<PropagateShardingsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      bool seeded = llvm::any_of(fn.getArguments(), [&](BlockArgument arg) {
        return fn.getArgAttr(arg.getArgNumber(), kSharding) != nullptr;
      });
      if (!seeded)
        continue;
      if (!grid) {
        fn.emitError("argument shardings without a grid: run "
                     "fresco-create-grid first");
        return signalPassFailure();
      }
      if (failed(propagateArgumentShardings(fn, *grid,
                                            "fresco-propagate-shardings")))
        return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::fresco
