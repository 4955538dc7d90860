//===- FoldIntoReduction.cpp - Bias and residual before tp's reduction ----===//
//
// A row-parallel linear under tp gives each member a partial sum; its bias
// and the block's residual were added after the all_reduce, on every
// member, over every token: passes over the whole activation that a GEMM
// epilogue does for free. The sum counts them once wherever they go, so the
// first member of the reduction's group takes them into its GEMM (bias and
// residual epilogue) and the others leave them out:
//
//   all_reduce(linear(x, W)) + b + r
//     -> all_reduce(linear(x, W, b residual r) {fresco.partial_sum})
//
// with fresco.partial_sum = {axes, once = ["bias", "residual"]} telling
// fresco-specialize-ranks to drop those operands on the other members.
// Under --tp-reduce-scatter the bias moves likewise; the residual is split
// over the tokens there and stays after the reduce_scatter.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-fold-into-reduction"

namespace mlir::fresco {
#define GEN_PASS_DEF_FOLDINTOREDUCTION
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Adds `what` to the linear's fresco.partial_sum over `axes`.
void markOnce(LinearOp linear, ArrayRef<int16_t> axes, StringRef what) {
  Builder b(linear.getContext());
  SmallVector<Attribute> once;
  if (auto d = linear->getAttrOfType<DictionaryAttr>(
          FrescoDialect::kPartialSumAttrName))
    llvm::append_range(once, d.getAs<ArrayAttr>("once"));
  once.push_back(b.getStringAttr(what));
  linear->setAttr(
      FrescoDialect::kPartialSumAttrName,
      b.getDictionaryAttr({b.getNamedAttr("axes", b.getDenseI16ArrayAttr(axes)),
                           b.getNamedAttr("once", b.getArrayAttr(once))}));
}

/// Folds the add that uses `reduced` (the reduction of `linear`'s partial
/// sums over `axes`) into the linear, if it is a bias or a residual the
/// linear can take. True when it did.
bool foldOne(Operation *reduction, LinearOp linear, ArrayRef<int16_t> axes) {
  Value reduced = reduction->getResult(0);
  if (!reduced.hasOneUse())
    return false;
  auto add = dyn_cast<AddOp>(*reduced.getUsers().begin());
  if (!add || add.getLhs() == add.getRhs() ||
      add.getType() != reduced.getType())
    return false;
  Value other = add.getLhs() == reduced ? add.getRhs() : add.getLhs();
  auto reducedType = cast<RankedTensorType>(reduced.getType());
  auto otherType = dyn_cast<RankedTensorType>(other.getType());
  if (!otherType)
    return false;
  // The bias: [N], broadcast over the tokens; before a reduce_scatter as
  // well (it is the same on every token).
  const bool bias = !linear.getBias() && otherType.getRank() == 1 &&
                    otherType.getDimSize(0) == reducedType.getShape().back() &&
                    otherType.getElementType() == reducedType.getElementType();
  // A residual: the whole result's shape, so a reduction that keeps the
  // shape (a reduce_scatter's result is a block of the tokens).
  const bool residual = !bias && !linear.getResidual() &&
                        isa<shard::AllReduceOp>(reduction) &&
                        other.getType() == linear.getType();
  if (!bias && !residual)
    return false;
  // The linear must read `other`: it and the reduction move to the add if
  // `other` is defined later.
  if (Operation *def = other.getDefiningOp();
      def && def->getBlock() == linear->getBlock() &&
      linear->isBeforeInBlock(def)) {
    linear->moveBefore(add);
    reduction->moveBefore(add);
  }
  LLVM_DEBUG(llvm::dbgs() << "folding " << add << " into " << linear << "\n");
  if (bias)
    linear.getBiasMutable().assign(other);
  else
    linear.getResidualMutable().assign(other);
  markOnce(linear, axes, bias ? "bias" : "residual");
  add.getResult().replaceAllUsesWith(reduced);
  add.erase();
  return true;
}

struct FoldIntoReductionPass
    : impl::FoldIntoReductionBase<FoldIntoReductionPass> {
  void runOnOperation() override {
    SmallVector<Operation *> reductions;
    getOperation().walk([&](Operation *op) {
      if (isa<shard::AllReduceOp, shard::ReduceScatterOp>(op))
        reductions.push_back(op);
    });
    for (Operation *r : reductions) {
      ArrayRef<int16_t> axes;
      if (auto ar = dyn_cast<shard::AllReduceOp>(r)) {
        if (ar.getReduction() != shard::ReductionKind::Sum)
          continue;
        axes = ar.getGridAxes();
      } else {
        auto rs = cast<shard::ReduceScatterOp>(r);
        if (rs.getReduction() != shard::ReductionKind::Sum)
          continue;
        axes = rs.getGridAxes();
      }
      // The partial sums of one linear (a split output projection's two
      // parts are one linear with the other as its residual by now).
      auto linear = r->getOperand(0).getDefiningOp<LinearOp>();
      if (!linear || axes.empty() || linear.getActivation() ||
          !linear.getResult().hasOneUse())
        continue;
      // The bias, then the residual (either order in the IR).
      while (foldOne(r, linear, axes)) {
      }
    }
  }
};

} // namespace
} // namespace mlir::fresco
