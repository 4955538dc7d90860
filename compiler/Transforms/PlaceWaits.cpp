//===- PlaceWaits.cpp - Explicit start and wait of collectives ------------===//
//
// The runtime overlaps a collective with the ops that follow it only where
// the plan says so: the collective marked `fresco.async` starts, and a
// `fresco.wait` later completes it. This pass decides both, so the runtime
// no longer rediscovers them from memory addresses: the window ends at the
// first reader, at communication it may not overlap, at a stage boundary,
// or at the function's end. All_reduces overlap too: tp's partial sums of
// one stream with the next stream's GEMM (Flux's text and image), and the
// chunks of fresco-chunk-tp-reduction with the next chunk's GEMM.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "fresco-place-waits"

namespace mlir::fresco {
#define GEN_PASS_DEF_PLACEWAITS
#include "compiler/Transforms/Passes.h.inc"

namespace {

constexpr llvm::StringLiteral kAsync = FrescoDialect::kAsyncAttrName;
constexpr llvm::StringLiteral kStage = FrescoDialect::kStageAttrName;

/// The grid axes of an all_to_all, all_gather or sum all_reduce, else none.
std::optional<ArrayRef<int16_t>> exchangeAxes(Operation *op) {
  if (auto a = dyn_cast<shard::AllToAllOp>(op))
    return a.getGridAxes();
  if (auto g = dyn_cast<shard::AllGatherOp>(op))
    return g.getGridAxes();
  if (auto r = dyn_cast<shard::AllReduceOp>(op);
      r && r.getReduction() == shard::ReductionKind::Sum)
    return r.getGridAxes();
  return std::nullopt;
}

/// The op before which `start`'s wait goes.
Operation *waitPoint(Operation *start, ArrayRef<int16_t> axes) {
  Value result = start->getResult(0);
  Attribute stage = start->getAttr(kStage);
  for (Operation *op = start->getNextNode(); op; op = op->getNextNode()) {
    if (op->hasTrait<OpTrait::IsTerminator>())
      return op;
    if (llvm::is_contained(op->getOperands(), result))
      return op;
    if (op->getAttr(kStage) != stage)
      return op;
    if (communicates(op)) {
      std::optional<ArrayRef<int16_t>> other = exchangeAxes(op);
      if (!other || *other != axes)
        return op;
    }
  }
  return nullptr;
}

struct PlaceWaitsPass : impl::PlaceWaitsBase<PlaceWaitsPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal() || !fn.getBody().hasOneBlock())
      return;
    SmallVector<Operation *> starts;
    for (Operation &op : fn.getBody().front())
      if (exchangeAxes(&op) && !op.hasAttr(kAsync))
        starts.push_back(&op);
    // Every window is decided on the ops as they are, before any wait is
    // inserted (a wait is no work to overlap).
    SmallVector<std::pair<Operation *, Operation *>> windows;
    for (Operation *start : starts) {
      Operation *at = waitPoint(start, *exchangeAxes(start));
      // Nothing to overlap unless an op that runs (not a parameter, a view
      // or another wait: no instruction) lies in between.
      bool work = false;
      for (Operation *op = start->getNextNode(); op && op != at;
           op = op->getNextNode())
        work |= !isa<ParamOp, ReshapeOp, WaitOp>(op);
      if (at && work)
        windows.push_back({start, at});
    }
    OpBuilder b(fn.getContext());
    for (auto [start, at] : windows) {
      start->setAttr(kAsync, b.getUnitAttr());
      b.setInsertionPoint(at);
      Value result = start->getResult(0);
      auto wait = WaitOp::create(b, start->getLoc(), result.getType(), result);
      if (Attribute stage = start->getAttr(kStage))
        wait->setAttr(kStage, stage);
      result.replaceAllUsesExcept(wait.getResult(), wait);
    }
  }
};

} // namespace
} // namespace mlir::fresco
