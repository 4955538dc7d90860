//===- InsertCollectives.cpp - Annotations to shard collectives -----------===//
//
// One place turns "this value is a partial sum" and "this result is split"
// into communication, so every partitioning pass states what it needs and
// none of them builds collectives itself.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Seeds.h"

#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "fresco-insert-collectives"

namespace mlir::fresco {
#define GEN_PASS_DEF_INSERTCOLLECTIVES
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// The all_gathers (one per split dimension) and the all_reduce that make
/// `v`, distributed as `sharding`, whole on every rank.
Value makeWhole(OpBuilder &b, Location loc, Value v, ShardingAttr sharding,
                const GridInfo &grid) {
  if (!sharding.getPartial().empty())
    v = shard::AllReduceOp::create(b, loc, v, kGridName,
                                   sharding.getPartial().asArrayRef(),
                                   shard::ReductionKind::Sum)
            .getResult();
  for (int64_t dim = 0; dim < sharding.getRank(); ++dim) {
    ArrayRef<int16_t> axes = sharding.getDimAxes(dim);
    if (axes.empty())
      continue;
    auto t = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(t.getShape());
    for (int16_t a : axes)
      shape[dim] *= grid.grid.getShape()[a];
    v = shard::AllGatherOp::create(
        b, loc, RankedTensorType::get(shape, t.getElementType()),
        FlatSymbolRefAttr::get(b.getStringAttr(kGridName)),
        b.getDenseI16ArrayAttr(axes), v, b.getIndexAttr(dim));
  }
  return v;
}

struct InsertCollectivesPass
    : impl::InsertCollectivesBase<InsertCollectivesPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    // Seeds not yet propagated would leave their strategy silently undone.
    if (module->hasAttr(FrescoDialect::kSeedOrderAttrName)) {
      module.emitError("the strategies' seeds were not propagated: run "
                       "fresco-propagate-shardings before "
                       "fresco-insert-collectives");
      return signalPassFailure();
    }
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal())
        continue;
      if (hasSeeds(fn)) {
        fn.emitError("seeds that were never propagated: run "
                     "fresco-propagate-shardings before "
                     "fresco-insert-collectives");
        return signalPassFailure();
      }
      // Partial sums on ops, and any distribution of a result.
      SmallVector<Operation *> partials;
      fn.walk([&](Operation *op) {
        auto s = op->getAttrOfType<ShardingAttr>(kSharding);
        if (s && !s.getPartial().empty())
          partials.push_back(op);
      });
      bool anyResult = false;
      for (unsigned i = 0; i < fn.getNumResults(); ++i)
        anyResult |= bool(fn.getResultAttr(i, kSharding));
      if (partials.empty() && !anyResult)
        continue;
      if (!grid) {
        fn.emitError("partitioning annotations without a grid: run "
                     "fresco-create-grid first");
        return signalPassFailure();
      }
      OpBuilder b(fn.getContext());
      // Partial sums: all_reduce right after the producer, whose result is
      // then whole along the partial axes.
      for (Operation *op : partials) {
        auto s = op->getAttrOfType<ShardingAttr>(kSharding);
        if (s.withoutPartial().isReplicated())
          op->removeAttr(kSharding);
        else
          op->setAttr(kSharding, s.withoutPartial());
        b.setInsertionPointAfter(op);
        Value v = op->getResult(0);
        Value whole =
            makeWhole(b, op->getLoc(), v,
                      ShardingAttr::getPartial(fn.getContext(), s.getRank(),
                                               s.getPartial().asArrayRef()),
                      *grid);
        v.replaceAllUsesExcept(whole, whole.getDefiningOp());
      }
      // Distributed results: gathered (and reduced) before the return, in
      // the reverse of the order the strategies split them: the sequence
      // axes' dimensions (Ulysses, ring: they run after cfg and tp, and
      // share one dimension major to minor) first, for every result, then
      // the rest.
      auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
      b.setInsertionPoint(ret);
      SmallVector<ShardingAttr> rest(fn.getNumResults());
      for (unsigned i = 0; i < fn.getNumResults(); ++i) {
        auto s = fn.getResultAttrOfType<ShardingAttr>(i, kSharding);
        if (!s)
          continue;
        fn.removeResultAttr(i, b.getStringAttr(kSharding));
        SmallVector<SmallVector<int16_t>> first(s.getRank()),
            later(s.getRank());
        for (int64_t d = 0; d < s.getRank(); ++d) {
          ArrayRef<int16_t> axes = s.getDimAxes(d);
          bool sequence = llvm::any_of(axes, [&](int16_t a) {
            return isSequenceAxis(grid->axisNames[a]);
          });
          (sequence ? first : later)[d].assign(axes.begin(), axes.end());
        }
        rest[i] = ShardingAttr::get(fn.getContext(), later,
                                    s.getPartial().asArrayRef());
        ret.setOperand(i, makeWhole(b, ret.getLoc(), ret.getOperand(i),
                                    ShardingAttr::get(fn.getContext(), first),
                                    *grid));
      }
      for (auto [i, s] : llvm::enumerate(rest))
        if (s)
          ret.setOperand(
              i, makeWhole(b, ret.getLoc(), ret.getOperand(i), s, *grid));
      fn.setFunctionType(FunctionType::get(
          fn.getContext(), fn.getArgumentTypes(), ret.getOperandTypes()));
    }
  }
};

} // namespace
} // namespace mlir::fresco
