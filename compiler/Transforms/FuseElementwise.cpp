//===- FuseElementwise.cpp - Fuse a product into the sum that uses it -----===//
//
// add(mul(a, b), c) -> mul_add(a, b, c) when the mul has no other use and c
// has the sum's shape: DiT's gated residuals (hidden + gate * attn_output,
// two per block) run as one kernel that reads each operand once and, under
// bf16 storage, rounds once. Either operand order of the add.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ApplyOnly.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-fuse-elementwise"

namespace mlir::fresco {
#define GEN_PASS_DEF_FUSEELEMENTWISE
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct FuseMulIntoAdd : OpRewritePattern<AddOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    for (int side = 0; side < 2; ++side) {
      Value product = side ? add.getRhs() : add.getLhs();
      Value other = side ? add.getLhs() : add.getRhs();
      auto mul = product.getDefiningOp<MulOp>();
      if (!mul || !mul.getResult().hasOneUse())
        continue;
      // c must be the sum's shape, and so the product's (no broadcast left
      // for the add).
      if (other.getType() != add.getType() ||
          mul.getResult().getType() != add.getType())
        continue;
      LLVM_DEBUG(llvm::dbgs() << "fusing " << mul << " into " << add << "\n");
      rewriter.setInsertionPoint(add);
      auto fused = MulAddOp::create(
          rewriter, rewriter.getFusedLoc({mul.getLoc(), add.getLoc()}),
          mul.getLhs(), mul.getRhs(), other);
      rewriter.replaceOp(add, fused.getResult());
      rewriter.eraseOp(mul);
      return success();
    }
    return rewriter.notifyMatchFailure(add, "no single-use product to fuse");
  }
};

struct FuseElementwisePass : impl::FuseElementwiseBase<FuseElementwisePass> {
  using FuseElementwiseBase::FuseElementwiseBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseMulIntoAdd>(&getContext());
    if (failed(applyOnly(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
