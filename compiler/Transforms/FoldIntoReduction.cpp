//===- FoldIntoReduction.cpp - Epilogues before tp's reduction ------------===//
//
// A row-parallel linear under tp gives each member a partial sum; its bias
// and the block's gate were applied after the all_reduce, on every member,
// over every token: passes over the whole activation that a GEMM epilogue
// does for free. The gate scales every part alike, so every member's GEMM
// applies it; the bias counts once wherever it is added, so the first
// member of the reduction's group takes it into its GEMM and the others
// leave it out:
//
//   r + g * (all_reduce(linear(x, W)) + b)
//     -> r + all_reduce(linear(x, W, b gate g) {fresco.partial_sum})
//
// with fresco.partial_sum = {axes, once = ["bias"]} telling
// fresco-specialize-ranks to drop the bias on the other members. The
// residual stays after the reduction: a 2-byte all_reduce would round the
// residual stream at every hop. Under --tp-reduce-scatter the same.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Epilogues.h"
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-fold-into-reduction"

namespace mlir::fresco {
#define GEN_PASS_DEF_FOLDINTOREDUCTION
#include "compiler/Transforms/Passes.h.inc"

LinearOp splitPart(LinearOp l) {
  if (!l.getResidual())
    return {};
  auto part = l.getResidual().getDefiningOp<LinearOp>();
  if (!part || part.getActivation() || part.getGate() != l.getGate() ||
      part.getResidual() || !part.getResult().hasOneUse())
    return {};
  return part;
}

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

/// Folds the op that uses `reduced` (the reduction of `linear`'s partial
/// sums over `axes`) into the linear: the bias (an add of [N]) or the gate
/// (a mul by a per-sample gate, on every member: it scales each part).
/// True when it did.
bool foldOne(Operation *reduction, LinearOp linear, ArrayRef<int16_t> axes) {
  Value reduced = reduction->getResult(0);
  if (!reduced.hasOneUse())
    return false;
  Operation *user = *reduced.getUsers().begin();
  if (!isa<AddOp, MulOp>(user) || user->getOperand(0) == user->getOperand(1) ||
      user->getResult(0).getType() != reduced.getType())
    return false;
  Value other = user->getOperand(user->getOperand(0) == reduced ? 1 : 0);
  auto reducedType = cast<RankedTensorType>(reduced.getType());
  auto otherType = dyn_cast<RankedTensorType>(other.getType());
  if (!otherType)
    return false;
  LinearOp part = splitPart(linear);
  enum { None, Bias, Gate } what = None;
  if (isa<MulOp>(user)) {
    // g * (sum + b): every member's part scaled, the once-counted bias
    // inside. A split projection's other part takes the gate too.
    if (!linear.getGate() && (!linear.getResidual() || part) &&
        isGateShaped(other, linear.getType()))
      what = Gate;
  } else if (!linear.getBias() && !linear.getGate() &&
             otherType.getRank() == 1 &&
             otherType.getDimSize(0) == reducedType.getShape().back() &&
             otherType.getElementType() == reducedType.getElementType()) {
    // The bias: [N], broadcast over the tokens; before a reduce_scatter as
    // well (it is the same on every token). Not inside a gate.
    what = Bias;
  }
  // Not the residual: on the first member it would join the partial sum
  // before the reduction, and a bf16/f16 all_reduce (NCCL sums in the
  // storage type, rounding at every hop of its ring) would round the
  // residual stream P - 1 times instead of once.
  if (what == None)
    return false;
  // The linears must read `other`: they and the reduction move to the user
  // if `other` is defined later.
  Operation *first = part ? part.getOperation() : linear.getOperation();
  if (Operation *def = other.getDefiningOp();
      def && def->getBlock() == first->getBlock() &&
      first->isBeforeInBlock(def)) {
    if (part)
      part->moveBefore(user);
    linear->moveBefore(user);
    reduction->moveBefore(user);
  }
  LLVM_DEBUG(llvm::dbgs() << "folding " << *user << " into " << linear << "\n");
  switch (what) {
  case Bias:
    linear.getBiasMutable().assign(other);
    markOnce(linear, axes, "bias");
    break;
  case Gate:
    linear.getGateMutable().assign(other);
    if (part)
      part.getGateMutable().assign(other);
    break;
  case None:
    break;
  }
  user->getResult(0).replaceAllUsesWith(reduced);
  user->erase();
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
      // The bias, then the gate.
      while (foldOne(r, linear, axes)) {
      }
    }
  }
};

} // namespace
} // namespace mlir::fresco
