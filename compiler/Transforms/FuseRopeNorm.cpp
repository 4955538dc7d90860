//===- FuseRopeNorm.cpp - Fuse the q/k RMS norm into the rotation ---------===//
//
// Flux's q and k go reshape [B, T, H, Dh] -> rms_norm -> reshape back ->
// rope: two full passes over q or k. The fused rope normalises each head's
// row and rotates it while it is in registers, and the normalised tensor
// needs no buffer.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ApplyOnly.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/Debug.h"

#include <cmath>

#define DEBUG_TYPE "fresco-fuse-rope-norm"

namespace mlir::fresco {
#define GEN_PASS_DEF_FUSEROPENORM
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct FuseNormIntoRope : OpRewritePattern<RopeOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(RopeOp rope,
                                PatternRewriter &rewriter) const override {
    if (rope.getNormWeight())
      return rewriter.notifyMatchFailure(rope, "rope is already normalised");
    auto back = rope.getInput().getDefiningOp<ReshapeOp>();
    auto norm = back ? back.getInput().getDefiningOp<RmsNormOp>() : nullptr;
    auto split = norm ? norm.getInput().getDefiningOp<ReshapeOp>() : nullptr;
    if (!split)
      return rewriter.notifyMatchFailure(
          rope, "input is not reshape(rms_norm(reshape(x)))");
    if (!norm.getWeight())
      return rewriter.notifyMatchFailure(rope, "rms_norm has no weight");
    // Another user needs the normalised value.
    if (!back.getResult().hasOneUse() || !norm.getResult().hasOneUse())
      return rewriter.notifyMatchFailure(rope, "the norm has other uses");
    // The norm must run over exactly the rope's heads: x [B, T, H*Dh]
    // viewed as [B, T, H, Dh].
    Value x = split.getInput();
    auto xt = cast<RankedTensorType>(x.getType());
    auto ht = cast<RankedTensorType>(split.getType());
    const int64_t heads = rope.getNumHeads();
    if (xt != rope.getInput().getType() || ht.getRank() != 4 ||
        ht.getShape().take_front(2) != xt.getShape().take_front(2) ||
        ht.getDimSize(2) != heads ||
        ht.getDimSize(3) * heads != xt.getDimSize(2))
      return rewriter.notifyMatchFailure(
          rope, "the norm's rows are not the rope's heads");
    // What the fused rope's verifier asks of its norm and rms_norm's does
    // not: a finite epsilon and a weight of x's element type. Left unfused,
    // such a norm stays the op it was (and fails where it would have).
    const double eps = norm.getEpsilon().convertToDouble();
    if (!std::isfinite(eps) ||
        cast<RankedTensorType>(norm.getWeight().getType()).getElementType() !=
            xt.getElementType())
      return rewriter.notifyMatchFailure(
          rope, "epsilon not finite or weight of another element type");
    LLVM_DEBUG(llvm::dbgs() << "fusing " << norm << " into " << rope << "\n");
    auto fused = RopeOp::create(
        rewriter, rewriter.getFusedLoc({norm.getLoc(), rope.getLoc()}), x,
        rope.getTable(), norm.getWeight(), rope.getNumHeadsAttr(),
        norm.getEpsilonAttr());
    rewriter.replaceOp(rope, fused.getResult());
    rewriter.eraseOp(back);
    rewriter.eraseOp(norm);
    if (split.getResult().use_empty())
      rewriter.eraseOp(split);
    return success();
  }
};

struct FuseRopeNormPass : impl::FuseRopeNormBase<FuseRopeNormPass> {
  using FuseRopeNormBase::FuseRopeNormBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseNormIntoRope>(&getContext());
    if (failed(applyOnly(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
