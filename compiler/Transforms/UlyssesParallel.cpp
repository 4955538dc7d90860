//===- UlyssesParallel.cpp - DeepSpeed-Ulysses sequence parallelism -------===//
//
// The tokens are split over the ulysses axis (SequenceSplit); an
// all_to_all before each attention trades the sequence split for a head
// split, so every rank attends over all tokens for H/P heads, and one after
// it trades back.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/KeyMask.h"
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/SequenceSplit.h"

#define DEBUG_TYPE "fresco-ulysses-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_ULYSSESPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

class Ulysses : public SequenceSplit {
public:
  Ulysses(func::FuncOp fn, const GridInfo &grid, int16_t axis, int64_t parts,
          int64_t tpDegree)
      : SequenceSplit(fn, grid, "ulysses", axis, parts), tpDegree(tpDegree) {}

private:
  Value allToAll(Value v, int64_t splitDim, int64_t concatDim, Location loc) {
    auto t = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(t.getShape());
    shape[splitDim] /= parts;
    shape[concatDim] *= parts;
    return shard::AllToAllOp::create(
        b, loc, RankedTensorType::get(shape, t.getElementType()),
        FlatSymbolRefAttr::get(b.getStringAttr(kGridName)),
        b.getDenseI16ArrayAttr({axis}), v, b.getIndexAttr(splitDim),
        b.getIndexAttr(concatDim));
  }
  LogicalResult attention(AttentionOp a) override;

  int64_t tpDegree; // heads seen here are already divided by it
};

/// Sequence split -> head split around the attention: q, k, v go from
/// [B, T/P, H*Dh] to [B, T, H*Dh/P] (H/P whole heads per rank).
LogicalResult Ulysses::attention(AttentionOp a) {
  if (splitDim(a.getQuery()) != 1)
    return a.emitError("fresco-ulysses-parallel needs the attention query "
                       "split along the sequence (dimension 1)");
  int64_t heads = a.getNumHeads();
  if (heads % parts != 0)
    return a.emitError("attention has ")
           << heads << " heads"
           << (tpDegree > 1
                   ? " left on each rank by tp=" + std::to_string(tpDegree)
                   : std::string())
           << ", not divisible by ulysses=" << parts
           << " (ulysses gives each rank whole heads)";
  FailureOr<SmallVector<int64_t>> order = tokenOrder(a);
  if (failed(order))
    return failure();
  // Joined sequences come back from the all_to_all as every rank's share
  // of each in turn: their padding moves with them.
  if (a.getKeyValid() && order->size() > 1) {
    int64_t total = 0;
    for (int64_t n : *order)
      total += n;
    KeyMask mask = keyMask(a.getKeyValid(), total), joined;
    for (int64_t u = 0; u < parts; ++u)
      llvm::append_range(joined, chunkOf(mask, *order, parts, u));
    std::optional<SmallVector<int64_t>> valid = keyValidOf({joined});
    if (!valid)
      return a.emitError("fresco-ulysses-parallel cannot mask the padded keys");
    a.setKeyValid(*valid);
  }
  b.setInsertionPoint(a);
  for (OpOperand &use : a->getOpOperands()) {
    int64_t d = splitDim(use.get());
    if (d < 0) // a replicated context: keep this rank's heads
      use.set(slice(use.get(), 2, a));
    else if (d == 1)
      use.set(allToAll(use.get(), 2, 1, a.getLoc()));
    else
      return a.emitError("fresco-ulysses-parallel: attention operand ")
             << use.getOperandNumber() << " is split along dimension " << d
             << ", not the sequence";
  }
  a.setNumHeads(heads / parts);
  auto global = cast<RankedTensorType>(a.getType());
  if (failed(retype(a, 2, global)))
    return failure();
  prop.clearSplit(a.getResult());
  b.setInsertionPointAfter(a);
  Value back = allToAll(a.getResult(), 1, 2, a.getLoc());
  a.getResult().replaceAllUsesExcept(back, back.getDefiningOp());
  setSplitDim(back, 1);
  prop.setSegments(back, 1, *order);
  return success();
}

struct UlyssesParallelPass : impl::UlyssesParallelBase<UlyssesParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("ulysses") : std::nullopt;
    if (!axis)
      return;
    auto tp = grid->axis("tp");
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(
              Ulysses(fn, *grid, axis->first, axis->second, tp ? tp->second : 1)
                  .run()))
        return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
