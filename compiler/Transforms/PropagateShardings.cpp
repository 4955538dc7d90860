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
      SmallVector<std::pair<BlockArgument, ShardingAttr>> seeds;
      for (BlockArgument arg : fn.getArguments())
        if (auto s = fn.getArgAttrOfType<ShardingAttr>(arg.getArgNumber(),
                                                       kSharding))
          seeds.push_back({arg, s});
      if (seeds.empty())
        continue;
      if (!grid) {
        fn.emitError("argument shardings without a grid: run "
                     "fresco-create-grid first");
        return signalPassFailure();
      }
      ShardingPropagation prop(fn, *grid, "fresco-propagate-shardings");
      for (auto [arg, s] : seeds) {
        fn.removeArgAttr(arg.getArgNumber(), kSharding);
        for (int64_t d = 0; d < s.getRank(); ++d)
          if (!s.getDimAxes(d).empty() &&
              failed(prop.seedArgument(arg, d, s.getDimAxes(d))))
            return signalPassFailure();
      }
      if (failed(prop.run()))
        return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::fresco
