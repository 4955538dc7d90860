//===- SplitChunkedLinear.cpp - A linear read in chunks, one per chunk ----===//
//
// `y = linear(x, W, b)` whose only users slice disjoint ranges of its
// features is one linear per slice: `linear(x, W[s:e, :], b[s:e])`. GEGLU
// (Stable Diffusion's feed-forward) projects to [hidden; gate] and splits
// the halves; under tensor parallelism each rank needs its share of both
// halves, which is no single block of W's rows, while each half alone is
// an ordinary column-parallel linear. The rows are parameters of their own
// (`checkpoint_shape` and `offsets`: slices of the same checkpoint tensor).
// Runs before the strategies, with a tp axis only: one rank keeps the
// single GEMM.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"

#define DEBUG_TYPE "fresco-split-chunked-linear"

namespace mlir::fresco {
#define GEN_PASS_DEF_SPLITCHUNKEDLINEAR
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Rows [start, start + size) of `param` (its leading dimension), as a
/// parameter loading only them.
Value rows(OpBuilder &b, ParamOp param, int64_t start, int64_t size) {
  auto t = param.getType();
  SmallVector<int64_t> ckpt(t.getShape()), offsets(t.getRank(), 0);
  if (auto c = param.getCheckpointShape())
    ckpt.assign(c->begin(), c->end());
  if (auto o = param.getOffsets())
    offsets.assign(o->begin(), o->end());
  offsets[0] += start;
  SmallVector<int64_t> shape(t.getShape());
  shape[0] = size;
  return ParamOp::create(b, param.getLoc(),
                         RankedTensorType::get(shape, t.getElementType()),
                         param.getNameAttr(), b.getDenseI64ArrayAttr(ckpt),
                         b.getDenseI64ArrayAttr(offsets),
                         param.getComponentAttr())
      .getResult();
}

/// Splits `l` when it is token-wise, every user slices its last dimension,
/// the slices are disjoint, and its weight (and bias) are parameters.
void split(LinearOp l) {
  auto weight = l.getWeight().getDefiningOp<ParamOp>();
  ParamOp bias = l.getBias() ? l.getBias().getDefiningOp<ParamOp>() : ParamOp();
  if (!weight || l.getActivation() || weight->hasAttr(kSharding) ||
      weight.getType().getRank() != 2 || (l.getBias() && !bias) ||
      (bias && bias->hasAttr(kSharding)) || l.getResult().use_empty())
    return;
  // Token-wise layers only: per-sample [B, D] ones (adaLN's chunks) are
  // tensor parallelism's gathered layers, split whole by its own policy.
  const int64_t rank = l.getType().getRank();
  if (rank < 3)
    return;
  SmallVector<SliceOp> slices;
  for (Operation *user : l.getResult().getUsers()) {
    auto s = dyn_cast<SliceOp>(user);
    if (!s || (s.getAxis() != rank - 1 && s.getAxis() != -1))
      return;
    slices.push_back(s);
  }
  if (slices.size() < 2)
    return;
  llvm::sort(slices,
             [](SliceOp a, SliceOp b) { return a.getStart() < b.getStart(); });
  for (size_t i = 1; i < slices.size(); ++i)
    if (slices[i - 1].getStart() + slices[i - 1].getSize() >
        slices[i].getStart())
      return; // overlapping chunks: one GEMM is cheaper
  OpBuilder b(l);
  for (SliceOp s : slices) {
    Value w = rows(b, weight, s.getStart(), s.getSize());
    Value bv = bias ? rows(b, bias, s.getStart(), s.getSize()) : Value();
    Value y = LinearOp::create(b, l.getLoc(), l.getInput(), w, bv).getResult();
    s.getResult().replaceAllUsesWith(y);
    s.erase();
  }
  l.erase();
}

struct SplitChunkedLinearPass
    : impl::SplitChunkedLinearBase<SplitChunkedLinearPass> {
  void runOnOperation() override {
    rewriteLinearsUnderTp(getOperation(), split);
  }
};

} // namespace
} // namespace mlir::fresco
