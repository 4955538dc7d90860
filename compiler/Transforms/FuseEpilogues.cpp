//===- FuseEpilogues.cpp - Fuse activations into the preceding linear -----===//
//
// linear -> gelu/silu becomes one linear with an `activation`: the backend
// applies it in the GEMM's epilogue (cuBLASLt) or right after the GEMM on
// data still in cache, and the pre-activation result needs no buffer.
//
// add(linear, r) becomes one linear with a `residual` r: the GEMM
// accumulates onto r (cuBLASLt's beta * C, sgemm's beta = 1), so the sum
// costs no pass of its own over memory. A UNet transformer block's three
// residual connections, the text encoders' two per layer, and Flux's
// single blocks, whose output projection is split in two linears
// (fresco-split-concat-linear; under tp summed before their all_reduce).
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
    // Applied after the residual's sum, the activation would change it.
    if (linear.getResidual())
      return rewriter.notifyMatchFailure(act, "linear has a residual");
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

/// add(linear, r) -> linear(..., residual r), either operand order.
struct FuseResidual : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    // Of two linears, the earlier one moves to the add and takes the
    // later's result: its input is read as late as possible, so a
    // collective feeding it (Ulysses' all_to_all of the attention output,
    // in Flux's single blocks) overlaps the other GEMM. The price is that
    // input's buffer living across that GEMM.
    int first = 0;
    auto lhs = add.getLhs().getDefiningOp<LinearOp>(),
         rhs = add.getRhs().getDefiningOp<LinearOp>();
    if (lhs && rhs && lhs->getBlock() == rhs->getBlock() &&
        rhs->isBeforeInBlock(lhs))
      first = 1;
    for (int i = 0; i < 2; ++i) {
      const int side = (first + i) % 2;
      Value product = side ? add.getRhs() : add.getLhs();
      Value other = side ? add.getLhs() : add.getRhs();
      auto linear = product.getDefiningOp<LinearOp>();
      if (!linear || linear.getActivation() || linear.getResidual() ||
          !linear.getResult().hasOneUse() || other == product)
        continue;
      // No broadcast left for the add: r is the sum's shape, and so is the
      // linear's result.
      if (other.getType() != add.getType() ||
          linear.getResult().getType() != add.getType())
        continue;
      LLVM_DEBUG(llvm::dbgs()
                 << "fusing " << add << " into " << linear << "\n");
      // At the add: r may be defined after the linear.
      rewriter.setInsertionPoint(add);
      auto fused = LinearOp::create(rewriter, linear.getLoc(), add.getType(),
                                    linear.getInput(), linear.getWeight(),
                                    linear.getBias(), other, StringAttr());
      // The fused op stands for the sum: its attributes (a sharding, a
      // stage) are the add's.
      fused->setDiscardableAttrs(add->getDiscardableAttrDictionary());
      rewriter.replaceOp(add, fused.getResult());
      rewriter.eraseOp(linear);
      return success();
    }
    return rewriter.notifyMatchFailure(add, "no linear to add into");
  }
};

struct FuseEpiloguesPass : impl::FuseEpiloguesBase<FuseEpiloguesPass> {
  using FuseEpiloguesBase::FuseEpiloguesBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseIntoLinear<GeluOp>, FuseIntoLinear<SiluOp>, FuseResidual>(
        &getContext());
    if (failed(applyOnly(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
