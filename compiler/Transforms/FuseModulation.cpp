//===- FuseModulation.cpp - Fuse adaLN modulation into the layer norm -----===//
//
// layer_norm -> modulate becomes one layer_norm with `modulation` operands:
// the backend applies x * (1 + scale) + shift while the normalised row is
// still in cache, and the unmodulated result needs no buffer. DiT has two
// per block (norm1, norm3) and one in the output head (norm_out).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ApplyOnly.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-fuse-modulation"

namespace mlir::fresco {
#define GEN_PASS_DEF_FUSEMODULATION
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct FuseIntoLayerNorm : OpRewritePattern<ModulateOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ModulateOp mod,
                                PatternRewriter &rewriter) const override {
    auto norm = mod.getInput().getDefiningOp<LayerNormOp>();
    if (!norm)
      return rewriter.notifyMatchFailure(mod, "input is not a layer_norm");
    if (!norm.getModulation().empty())
      return rewriter.notifyMatchFailure(mod, "layer_norm is modulated");
    // Another user needs the unmodulated value.
    if (!norm.getResult().hasOneUse())
      return rewriter.notifyMatchFailure(mod, "layer_norm has other uses");
    LLVM_DEBUG(llvm::dbgs() << "fusing " << mod << " into " << norm << "\n");
    // Built where the modulate was: shift and scale may be defined after the
    // norm (DiT's output head slices them there), and the norm's own
    // operands dominate the modulate anyway. Both diffusers modules stay in
    // the location.
    rewriter.setInsertionPoint(mod);
    auto fused = LayerNormOp::create(
        rewriter, rewriter.getFusedLoc({norm.getLoc(), mod.getLoc()}),
        norm.getInput(), norm.getAffine(),
        ValueRange{mod.getShift(), mod.getScale()}, norm.getEpsilonAttr());
    rewriter.replaceOp(mod, fused.getResult());
    rewriter.eraseOp(norm);
    return success();
  }
};

struct FuseModulationPass : impl::FuseModulationBase<FuseModulationPass> {
  using FuseModulationBase::FuseModulationBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseIntoLayerNorm>(&getContext());
    if (failed(applyOnly(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
