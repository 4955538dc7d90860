//===- InsertCollectives.cpp - Annotations to shard collectives -----------===//
//
// One place turns "this value is a partial sum" and "this result is split"
// into communication, so every partitioning pass states what it needs and
// none of them builds collectives itself.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "fresco-insert-collectives"

namespace mlir::fresco {
#define GEN_PASS_DEF_INSERTCOLLECTIVES
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct InsertCollectivesPass
    : impl::InsertCollectivesBase<InsertCollectivesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      bool annotated = false;
      fn.walk([&](Operation *op) {
        annotated |= op->hasAttr("fresco.partial_axes");
      });
      for (unsigned i = 0; i < fn.getNumResults(); ++i)
        annotated |= bool(fn.getResultAttr(i, "fresco.split"));
      if (!annotated)
        continue;
      if (!grid) {
        fn.emitError("partitioning annotations without a grid: run "
                     "fresco-create-grid first");
        return signalPassFailure();
      }
      OpBuilder b(fn.getContext());
      // Partial sums: all_reduce right after the producer.
      SmallVector<Operation *> partials;
      fn.walk([&](Operation *op) {
        if (op->hasAttr("fresco.partial_axes"))
          partials.push_back(op);
      });
      for (Operation *op : partials) {
        auto axes = op->getAttrOfType<DenseI16ArrayAttr>("fresco.partial_axes");
        op->removeAttr("fresco.partial_axes");
        b.setInsertionPointAfter(op);
        Value v = op->getResult(0);
        auto reduce = shard::AllReduceOp::create(b, op->getLoc(), v, kGridName,
                                                 axes.asArrayRef(),
                                                 shard::ReductionKind::Sum);
        v.replaceAllUsesExcept(reduce.getResult(), reduce);
      }
      // Split results: all_gather before the return.
      auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
      b.setInsertionPoint(ret);
      for (unsigned i = 0; i < fn.getNumResults(); ++i) {
        auto split =
            fn.getResultAttrOfType<DenseI64ArrayAttr>(i, "fresco.split");
        if (!split)
          continue;
        fn.removeResultAttr(i, b.getStringAttr("fresco.split"));
        int64_t dim = split[0];
        int16_t axis = int16_t(split[1]);
        ret.setOperand(i,
                       createAllGather(b, ret.getLoc(), ret.getOperand(i), dim,
                                       axis, grid->grid.getShape()[axis]));
      }
      fn.setFunctionType(FunctionType::get(
          fn.getContext(), fn.getArgumentTypes(), ret.getOperandTypes()));
    }
  }
};

} // namespace
} // namespace mlir::fresco
