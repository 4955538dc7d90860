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
// add(mul(g, linear), r) becomes one linear with a `gate` g and residual r,
// r + g * (x w^T + b): DiT's, SD3's and Flux's gated residuals, which would
// otherwise be a GEMM and a fresco.mul_add (fresco-fuse-elementwise runs
// later). A linear whose residual is itself a linear (Flux's split
// proj_out) distributes the gate over both: g*(L1 + L2) + r is
// L1'(gate g, residual L2'(gate g, residual r)).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ApplyOnly.h"
#include "compiler/Transforms/Epilogues.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-fuse-epilogues"

namespace mlir::fresco {
#define GEN_PASS_DEF_FUSEEPILOGUES
#include "compiler/Transforms/Passes.h.inc"

/// True when `g` can gate a linear of result type `result`: its rank, the
/// output features last, 1 in every middle dimension, and the result's
/// first dimension or 1 first (LinearOp's verifier). A rank-2 [M, N] gate
/// of an [M, N] result is an elementwise product, no gate broadcast over
/// tokens: a GEMM batched over every row would be slow on cuBLASLt.
bool isGateShaped(Value g, Type result) {
  auto gt = dyn_cast<RankedTensorType>(g.getType());
  auto rt = dyn_cast<RankedTensorType>(result);
  if (!gt || !rt || !gt.hasStaticShape() || gt.getRank() != rt.getRank() ||
      gt.getRank() < 2 || gt.getElementType() != rt.getElementType())
    return false;
  ArrayRef<int64_t> gs = gt.getShape(), rs = rt.getShape();
  if (gs.back() != rs.back() || (gs.front() != rs.front() && gs.front() != 1))
    return false;
  if (gt.getRank() == 2 && gs.front() != 1)
    return false;
  return llvm::all_of(gs.drop_front().drop_back(),
                      [](int64_t d) { return d == 1; });
}

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
    // Applied after the residual's sum or the gate, the activation would
    // change them.
    if (linear.getResidual() || linear.getGate())
      return rewriter.notifyMatchFailure(act, "linear has a residual or gate");
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

/// A linear that a gate can join: one use, of `type`, without activation
/// or gate.
bool gateable(LinearOp l, Type type) {
  return l && !l.getActivation() && !l.getGate() && l.getResult().hasOneUse() &&
         l.getResult().getType() == type;
}

/// mul(g, L) of `type` used once, either operand order, where L (a linear
/// used by the mul alone, without activation or gate) can take the gate:
/// L has no residual, or its residual is another such linear (then both
/// take the gate). Null linear when `product` is no such mul.
struct GatedProduct {
  MulOp mul;
  LinearOp linear;
  Value gate;
  LinearOp inner; // L's residual's linear, when L has one
};
GatedProduct matchGated(Value product, Type type) {
  auto mul = product.getDefiningOp<MulOp>();
  if (!mul || !mul.getResult().hasOneUse() || mul.getType() != type)
    return {};
  for (int side = 0; side < 2; ++side) {
    Value lv = side ? mul.getRhs() : mul.getLhs();
    Value g = side ? mul.getLhs() : mul.getRhs();
    auto l = lv.getDefiningOp<LinearOp>();
    if (!gateable(l, type) || !isGateShaped(g, type) || g == lv)
      continue;
    if (!l.getResidual())
      return {mul, l, g, LinearOp()};
    auto inner = l.getResidual().getDefiningOp<LinearOp>();
    if (gateable(inner, type) && !inner.getResidual())
      return {mul, l, g, inner};
  }
  return {};
}

/// A linear like `l` (its input, weight and bias) with `gate` and
/// `residual`, at the rewriter's insertion point, carrying `attrs`.
Value gatedLinear(PatternRewriter &rewriter, LinearOp l, Value gate,
                  Value residual, DictionaryAttr attrs) {
  auto fused = LinearOp::create(rewriter, l.getLoc(), l.getType(), l.getInput(),
                                l.getWeight(), l.getBias(), gate, residual,
                                StringAttr());
  fused->setDiscardableAttrs(attrs);
  return fused.getResult();
}

/// add(mul(g, linear), r) -> linear(..., gate g, residual r), any operand
/// order; with L's residual a linear L2, L2 takes the gate and r and L the
/// gate and L2. Ahead of FuseResidual (its benefit), which would otherwise
/// make r's linear add the product.
struct FuseGatedResidual : OpRewritePattern<AddOp> {
  FuseGatedResidual(MLIRContext *ctx)
      : OpRewritePattern<AddOp>(ctx, /*benefit=*/2) {}

  LogicalResult matchAndRewrite(AddOp add,
                                PatternRewriter &rewriter) const override {
    for (int side = 0; side < 2; ++side) {
      Value product = side ? add.getRhs() : add.getLhs();
      Value r = side ? add.getLhs() : add.getRhs();
      if (r == product || r.getType() != add.getType())
        continue;
      GatedProduct m = matchGated(product, add.getType());
      if (!m.linear)
        continue;
      LLVM_DEBUG(llvm::dbgs()
                 << "gating " << m.linear << " into " << add << "\n");
      // At the add: r (and g) may be defined after the linear.
      rewriter.setInsertionPoint(add);
      // The fused ops stand for the sum: their attributes (a sharding, a
      // stage) are the add's.
      DictionaryAttr attrs = add->getDiscardableAttrDictionary();
      if (m.inner) // g*(L1 + L2) + r = g*L1 + (g*L2 + r)
        r = gatedLinear(rewriter, m.inner, m.gate, r, attrs);
      Value fused = gatedLinear(rewriter, m.linear, m.gate, r, attrs);
      rewriter.replaceOp(add, fused);
      rewriter.eraseOp(m.mul);
      rewriter.eraseOp(m.linear);
      if (m.inner)
        rewriter.eraseOp(m.inner);
      return success();
    }
    return rewriter.notifyMatchFailure(add, "no gated linear to add into");
  }
};

/// mul(g, linear) -> linear(..., gate g) where no add will take the
/// product (FuseGatedResidual then takes both).
struct FuseGate : OpRewritePattern<MulOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(MulOp mul,
                                PatternRewriter &rewriter) const override {
    GatedProduct m = matchGated(mul.getResult(), mul.getType());
    if (!m.linear || m.inner)
      return rewriter.notifyMatchFailure(mul, "no linear to gate");
    if (auto add = dyn_cast<AddOp>(*mul->user_begin())) {
      Value r = add.getLhs() == mul.getResult() ? add.getRhs() : add.getLhs();
      if (add.getType() == mul.getType() && r.getType() == add.getType() &&
          r != mul.getResult())
        return rewriter.notifyMatchFailure(mul, "left to the add");
    }
    rewriter.setInsertionPoint(mul);
    Value fused = gatedLinear(rewriter, m.linear, m.gate, Value(),
                              mul->getDiscardableAttrDictionary());
    rewriter.replaceOp(mul, fused);
    rewriter.eraseOp(m.linear);
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
      // A gated product is the gated linear's to take (FuseGatedResidual).
      if (matchGated(other, add.getType()).linear)
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
      // A gated linear keeps its gate: r + g * (x w^T + b).
      auto fused = LinearOp::create(rewriter, linear.getLoc(), add.getType(),
                                    linear.getInput(), linear.getWeight(),
                                    linear.getBias(), linear.getGate(), other,
                                    StringAttr());
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
    patterns.add<FuseIntoLinear<GeluOp>, FuseIntoLinear<SiluOp>,
                 FuseGatedResidual, FuseGate, FuseResidual>(&getContext());
    if (failed(applyOnly(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
