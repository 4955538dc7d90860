//===- TensorParallel.cpp - Megatron tensor parallelism -------------------===//
//
// Column-parallel layers keep their input replicated and produce a slice of
// the features; the matching row-parallel layer consumes that slice and
// produces a partial sum, so each attention and each MLP costs one
// all_reduce of the block's activations, and nothing in between.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "fresco-tensor-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_TENSORPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// A fresh copy of the parameter feeding `use` (parameters may be shared
/// with replicated layers), so that sharding it changes only this use.
ParamOp ownParam(OpOperand &use) {
  auto p = use.get().getDefiningOp<ParamOp>();
  if (!p)
    return nullptr;
  OpBuilder b(use.getOwner());
  auto copy = cast<ParamOp>(b.clone(*p));
  use.set(copy.getResult());
  return copy;
}

/// A linear layer whose weight (and bias, if any) are parameters.
bool isParamLinear(Operation *op) {
  auto l = dyn_cast_or_null<LinearOp>(op);
  return l && l.getWeight().getDefiningOp<ParamOp>() &&
         (!l.getBias() || l.getBias().getDefiningOp<ParamOp>());
}

class Rewriter {
public:
  Rewriter(int16_t axis, int64_t parts) : axis(axis), parts(parts) {}

  /// Out-features split: weight rows and bias.
  LogicalResult columnParallel(LinearOp l) {
    if (failed(shardParam(ownParam(l.getWeightMutable()), 0, axis, parts)))
      return failure();
    if (l.getBias() &&
        failed(shardParam(ownParam(l->getOpOperand(2)), 0, axis, parts)))
      return failure();
    return success();
  }

  /// In-features split: weight columns; the bias moves after the reduction.
  /// Rewritten in place: result types are re-inferred once at the end.
  LogicalResult rowParallel(LinearOp l) {
    if (failed(shardParam(ownParam(l.getWeightMutable()), 1, axis, parts)))
      return failure();
    l->setAttr(kSharding,
               ShardingAttr::getPartial(
                   l.getContext(),
                   cast<RankedTensorType>(l.getType()).getRank(), {axis}));
    Value bias = l.getBias();
    if (!bias)
      return success();
    l.getBiasMutable().clear();
    OpBuilder b(l);
    b.setInsertionPointAfter(l);
    auto add = AddOp::create(b, l.getLoc(), l.getResult(), bias);
    l.getResult().replaceAllUsesExcept(add.getResult(), add);
    return success();
  }

  LogicalResult attention(AttentionOp a) {
    SmallVector<LinearOp> qkv;
    for (Value v : {a.getQuery(), a.getKey(), a.getValue()}) {
      if (!isParamLinear(v.getDefiningOp()) || !v.hasOneUse())
        return a.emitError("tensor parallelism needs q, k and v to come from "
                           "their own linear layers");
      qkv.push_back(v.getDefiningOp<LinearOp>());
    }
    if (!a.getResult().hasOneUse() ||
        !isParamLinear(*a.getResult().getUsers().begin()))
      return a.emitError("tensor parallelism needs the attention output to "
                         "feed one linear layer (the output projection)");
    int64_t heads = a.getNumHeads();
    if (heads % parts != 0)
      return a.emitError("attention has ")
             << heads << " heads, not divisible by tp=" << parts
             << " (tensor parallelism splits whole heads)";
    auto out = cast<LinearOp>(*a.getResult().getUsers().begin());
    for (LinearOp l : qkv)
      if (failed(columnParallel(l)))
        return failure();
    a.setNumHeads(heads / parts);
    return rowParallel(out);
  }

  /// A per-sample linear split by output columns, its result gathered.
  LogicalResult columnGathered(LinearOp l) {
    int64_t out = l.getWeight().getType().getDimSize(0);
    if (out % parts != 0)
      return success(); // stays replicated: the split would be uneven
    if (failed(columnParallel(l)))
      return failure();
    // Gathered right away: the users (the six adaLN chunks) need all of it.
    // The gather's type is re-inferred with everything else.
    OpBuilder b(l);
    b.setInsertionPointAfter(l);
    int64_t dim = cast<RankedTensorType>(l.getType()).getRank() - 1;
    Value full = createAllGather(b, l.getLoc(), l.getResult(), dim, axis, 1);
    l.getResult().replaceAllUsesExcept(full, full.getDefiningOp());
    return success();
  }

  /// linear -> elementwise activation -> linear.
  LogicalResult mlp(LinearOp fc1, Operation *act, LinearOp fc2) {
    int64_t hidden = fc1.getWeight().getType().getDimSize(0);
    if (hidden % parts != 0)
      return fc1.emitError("MLP hidden size ")
             << hidden << " is not divisible by tp=" << parts;
    if (failed(columnParallel(fc1)))
      return failure();
    (void)act;
    return rowParallel(fc2);
  }

private:
  int16_t axis;
  int64_t parts;
};

LogicalResult partition(func::FuncOp fn, int16_t axis, int64_t parts,
                        int64_t minSplitBytes) {
  Rewriter rw(axis, parts);
  SmallVector<AttentionOp> attentions;
  SmallVector<std::tuple<LinearOp, Operation *, LinearOp>> mlps;
  fn.walk([&](Operation *op) {
    if (auto a = dyn_cast<AttentionOp>(op))
      attentions.push_back(a);
    if (!isa<GeluOp, SiluOp>(op))
      return;
    Value in = op->getOperand(0), out = op->getResult(0);
    // Only token-wise MLPs: splitting a per-sample [B, D] layer (timestep
    // embedder, adaLN) would cost an all_reduce's latency to save a GEMV.
    if (cast<RankedTensorType>(in.getType()).getRank() < 3 ||
        !isParamLinear(in.getDefiningOp()) || !in.hasOneUse() ||
        !out.hasOneUse() || !isParamLinear(*out.getUsers().begin()))
      return;
    mlps.push_back({in.getDefiningOp<LinearOp>(), op,
                    cast<LinearOp>(*out.getUsers().begin())});
  });
  for (AttentionOp a : attentions)
    if (failed(rw.attention(a)))
      return failure();
  for (auto [fc1, act, fc2] : mlps)
    if (failed(rw.mlp(fc1, act, fc2)))
      return failure();
  // Big per-sample layers: memory says split, traffic says it is cheap.
  SmallVector<LinearOp> perSample;
  fn.walk([&](LinearOp l) {
    auto w = l.getWeight().getType();
    if (cast<RankedTensorType>(l.getInput().getType()).getRank() == 2 &&
        isParamLinear(l) &&
        !l.getWeight().getDefiningOp()->hasAttr(kSharding) &&
        w.getNumElements() * 4 >= minSplitBytes)
      perSample.push_back(l);
  });
  if (attentions.empty() && mlps.empty() && perSample.empty())
    return fn.emitError("fresco-tensor-parallel found no attention, MLP or "
                        "large per-sample layer to split in '")
           << fn.getSymName() << "'";
  for (LinearOp l : perSample)
    if (failed(rw.columnGathered(l)))
      return failure();
  return reinferTypes(fn);
}

struct TensorParallelPass : impl::TensorParallelBase<TensorParallelPass> {
  using TensorParallelBase::TensorParallelBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("tp") : std::nullopt;
    if (!axis)
      return;
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(partition(fn, axis->first, axis->second, minSplitBytes)))
        return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
