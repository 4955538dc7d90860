//===- PropagateShardings.cpp - Partition from the strategies' seeds ------===//
//
// The one partitioning step: the strategy passes only write seeds
// (Seeds.h); this pass reads them all and carries them through every
// function by the ops' sharding rules (ShardingPropagation), one grid axis
// at a time in the module's seed order. Hand-written seeds make it the way
// to test the propagation on its own.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Seeds.h"

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
    SmallVector<int16_t> order;
    if (auto o = module->getAttrOfType<DenseI16ArrayAttr>(
            FrescoDialect::kSeedOrderAttrName))
      order.assign(o.asArrayRef().begin(), o.asArrayRef().end());
    module->removeAttr(FrescoDialect::kSeedOrderAttrName);
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal() || !hasSeeds(fn))
        continue;
      if (!fn.getBody().hasOneBlock()) {
        fn.emitError("fresco-propagate-shardings needs a single-block "
                     "function");
        return signalPassFailure();
      }
      if (!grid) {
        fn.emitError("seeds without a grid: run fresco-create-grid first");
        return signalPassFailure();
      }
      if (failed(propagateSeeds(fn, *grid, order)))
        return signalPassFailure();
    }
  }
};

} // namespace
} // namespace mlir::fresco
