//===- SplitConcatLinear.cpp - A linear over a concatenation, by parts ----===//
//
// `linear(concat(a, m), W, b)` along the features is
// `linear(a, W[:, :Ka]) + linear(m, W[:, Ka:]) + b`: each part contracts
// only its own features. Flux's single-stream blocks project the
// concatenation of attention and MLP outputs; under tensor parallelism
// both are split (heads, MLP width), and a concatenation of split tensors
// has no single checkpoint slice per rank, while each part is an ordinary
// row-parallel linear (a partial sum; the propagation adds the two partial
// sums before their one all_reduce). The weight's column blocks are
// parameters of their own (`checkpoint_shape` and `offsets`: slices of the
// same checkpoint tensor). Runs before the strategies.
//
// Without tp it pays too: one part's linear accumulates onto the other's
// result (fresco-fuse-epilogues' residual), which reads and writes the
// [T, D] output once more where the concatenation copied all of
// [T, attention + MLP] (5x the bytes in Flux). The bias then goes with the
// first part; under tp it is added once after the sum (the propagation
// would otherwise reduce the first part on its own).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"

#define DEBUG_TYPE "fresco-split-concat-linear"

namespace mlir::fresco {
#define GEN_PASS_DEF_SPLITCONCATLINEAR
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Columns [start, start + size) of `param`'s [N, K] weight, as a parameter
/// loading only them.
Value columns(OpBuilder &b, ParamOp param, int64_t start, int64_t size) {
  auto t = param.getType();
  SmallVector<int64_t> ckpt(t.getShape()), offsets(2, 0);
  if (auto c = param.getCheckpointShape())
    ckpt.assign(c->begin(), c->end());
  if (auto o = param.getOffsets())
    offsets.assign(o->begin(), o->end());
  offsets[1] += start;
  auto p = ParamOp::create(
      b, param.getLoc(),
      RankedTensorType::get({t.getDimSize(0), size}, t.getElementType()),
      param.getNameAttr(), b.getDenseI64ArrayAttr(ckpt),
      b.getDenseI64ArrayAttr(offsets), param.getComponentAttr());
  return p.getResult();
}

/// Splits `l` if it contracts a feature concatenation with a parameter
/// weight and no fused activation; `biasFirst` puts the bias on the first
/// part's linear.
void split(LinearOp l, bool biasFirst) {
  auto concat = l.getInput().getDefiningOp<ConcatOp>();
  auto weight = l.getWeight().getDefiningOp<ParamOp>();
  if (!concat || !weight || l.getActivation() || weight->hasAttr(kSharding) ||
      weight.getType().getRank() != 2)
    return;
  int64_t rank = concat.getType().getRank();
  int64_t axis = int64_t(concat.getAxis());
  axis += axis < 0 ? rank : 0;
  if (axis != rank - 1 || concat.getInputs().size() < 2)
    return;
  OpBuilder b(l);
  Value sum;
  int64_t start = 0;
  Value bias = l.getBias();
  for (Value part : concat.getInputs()) {
    int64_t k = cast<RankedTensorType>(part.getType()).getDimSize(axis);
    Value w = columns(b, weight, start, k);
    start += k;
    Value partBias = biasFirst && !sum ? bias : Value();
    Value y = LinearOp::create(b, l.getLoc(), part, w, partBias).getResult();
    sum = sum ? AddOp::create(b, l.getLoc(), sum, y).getResult() : y;
  }
  if (bias && !biasFirst)
    sum = AddOp::create(b, l.getLoc(), sum, bias).getResult();
  l.getResult().replaceAllUsesWith(sum);
  l.erase();
  if (concat.use_empty())
    concat.erase();
}

struct SplitConcatLinearPass
    : impl::SplitConcatLinearBase<SplitConcatLinearPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    const bool tp = grid && grid->axis("tp");
    rewriteDenoiserLinears(module,
                           [&](LinearOp l) { split(l, /*biasFirst=*/!tp); });
  }
};

} // namespace
} // namespace mlir::fresco
