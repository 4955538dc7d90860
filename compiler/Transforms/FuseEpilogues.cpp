//===- FuseEpilogues.cpp - Fuse activations into the preceding linear -----===//
//
// linear -> gelu/silu becomes one linear with an `activation`: the backend
// applies it in the GEMM's epilogue (cuBLASLt) or right after the GEMM on
// data still in cache, and the pre-activation result needs no buffer.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ApplyOnly.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-fuse-epilogues"

namespace mlir::fresco {
#define GEN_PASS_DEF_FUSEEPILOGUES
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// The `activation` value of a linear that absorbs `op`.
StringRef activationOf(GeluOp op) {
  return op.getApproximate() == "tanh" ? "gelu_tanh" : "gelu";
}
StringRef activationOf(SiluOp) { return "silu"; }

template <typename ActOp> struct FuseIntoLinear : OpRewritePattern<ActOp> {
  using OpRewritePattern<ActOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(ActOp act,
                                PatternRewriter &rewriter) const override {
    auto linear = act.getInput().template getDefiningOp<LinearOp>();
    if (!linear)
      return rewriter.notifyMatchFailure(act, "input is not a linear");
    if (linear.getActivation())
      return rewriter.notifyMatchFailure(act, "linear has an activation");
    // Another user needs the value before the activation.
    if (!linear.getResult().hasOneUse())
      return rewriter.notifyMatchFailure(act, "linear has other uses");
    LLVM_DEBUG(llvm::dbgs() << "fusing " << act << " into " << linear << "\n");
    rewriter.modifyOpInPlace(linear,
                             [&] { linear.setActivation(activationOf(act)); });
    rewriter.replaceOp(act, linear.getResult());
    return success();
  }
};

struct FuseEpiloguesPass : impl::FuseEpiloguesBase<FuseEpiloguesPass> {
  using FuseEpiloguesBase::FuseEpiloguesBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseIntoLinear<GeluOp>, FuseIntoLinear<SiluOp>>(&getContext());
    if (failed(applyOnly(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
