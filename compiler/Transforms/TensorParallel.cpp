//===- TensorParallel.cpp - Megatron tensor parallelism -------------------===//
//
// A strategy as seeds (Seeds.h): the weights of the layers that open a
// Megatron block (q, k and v, an MLP's first linear) split by rows, and the
// big per-sample layers split by rows and gathered at once. The ops'
// sharding rules do the rest (fresco-propagate-shardings): the heads split with
// q, k and v, the output projection and the MLP's second linear contract the
// split features, so their weights load columns and their results are partial
// sums (one all_reduce per attention and per MLP, biases added after it).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Seeds.h"

#include "dialects/Fresco/IR/FrescoOps.h"
#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "fresco-tensor-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_TENSORPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Which layers open a block: the policy, checked before anything moves.
struct Seeds {
  SmallVector<LinearOp> rows;      // weight split by rows (output features)
  SmallVector<LinearOp> perSample; // likewise, result gathered at once
};

LogicalResult checkAttention(AttentionOp a, int64_t parts, Seeds &seeds) {
  SmallVector<LinearOp> qkv;
  for (Value v : {a.getQuery(), a.getKey(), a.getValue()}) {
    SmallVector<LinearOp> ls = projectionsOf(v);
    if (ls.empty())
      return a.emitError("tensor parallelism needs q, k and v to come from "
                         "their own linear layers");
    qkv.append(ls);
  }
  int64_t heads = a.getNumHeads();
  if (heads % parts != 0)
    return a.emitError("attention has ")
           << heads << " heads, not divisible by tp=" << parts
           << " (tensor parallelism splits whole heads)";
  // The output projection then contracts the heads (the rules make it
  // row-parallel, wherever it is).
  seeds.rows.append(qkv);
  return success();
}

/// Seeds `l`'s weight split by rows (output features); a parameter that
/// other ops read too gets its own copy for `l`, so only this use splits.
void seedWeightRows(LinearOp l, int16_t axis) {
  auto param = l.getWeight().getDefiningOp<ParamOp>();
  if (!param->hasOneUse()) {
    OpBuilder b(l);
    param = cast<ParamOp>(b.clone(*param));
    l.getWeightMutable().set(param.getResult());
  }
  seedSplit(param.getResult(), 0, axis);
}

LogicalResult partition(func::FuncOp fn, int16_t axis, int64_t parts,
                        int64_t minSplitBytes) {
  Seeds seeds;
  bool any = false;
  SmallVector<AttentionOp> attentions;
  SmallVector<LinearOp> fc1s;
  fn.walk([&](AttentionOp a) { attentions.push_back(a); });
  fc1s = tokenMlpInputs(fn);
  for (AttentionOp a : attentions)
    if (failed(checkAttention(a, parts, seeds)))
      return failure();
  for (LinearOp fc1 : fc1s) {
    int64_t hidden = fc1.getWeight().getType().getDimSize(0);
    if (hidden % parts != 0)
      return fc1.emitError("MLP hidden size ")
             << hidden << " is not divisible by tp=" << parts;
    seeds.rows.push_back(fc1);
  }
  any = !attentions.empty() || !fc1s.empty();
  // Big per-sample layers: memory says split, traffic says it is cheap.
  fn.walk([&](LinearOp l) {
    auto w = l.getWeight().getType();
    if (cast<RankedTensorType>(l.getInput().getType()).getRank() != 2 ||
        !isParamLinear(l) || w.getNumElements() * 4 < minSplitBytes)
      return;
    any = true;
    if (w.getDimSize(0) % parts == 0) // else replicated: the split is uneven
      seeds.perSample.push_back(l);
  });
  if (!any)
    return fn.emitError("fresco-tensor-parallel found no attention, MLP or "
                        "large per-sample layer to split in '")
           << fn.getSymName() << "'";

  for (LinearOp l : seeds.rows)
    seedWeightRows(l, axis);
  // Gathered right away: the users (the six adaLN chunks) need all of it.
  for (LinearOp l : seeds.perSample) {
    seedWeightRows(l, axis);
    seedGatherAfter(l, axis);
  }
  return success();
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
    addSeedAxis(module, axis->first);
  }
};

} // namespace
} // namespace mlir::fresco
