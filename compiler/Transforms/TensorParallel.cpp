//===- TensorParallel.cpp - Megatron tensor parallelism -------------------===//
//
// A strategy as seeds (Seeds.h): the weights of the layers that open a
// Megatron block (q, k and v, an MLP's first linear) split by rows, and the
// big per-sample layers split by rows and gathered at once. The ops'
// sharding rules do the rest (fresco-propagate-shardings): the heads split with
// q, k and v, the output projection and the MLP's second linear contract the
// split features, so their weights load columns and their results are partial
// sums (one all_reduce per attention and per MLP, biases added after it).
// A UNet's ResNet blocks split the same way over their channels: the first
// convolution's output channels (its weight by rows), so the group norm
// between the two normalises whole groups on each rank, and the second
// convolution contracts them (one all_reduce per ResNet block).
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
  // Linears and convolutions whose weight splits by rows (output features
  // or channels).
  SmallVector<Operation *> rows;
  SmallVector<LinearOp> perSample; // likewise, result gathered at once
};

/// A ResNet block's ops that tensor parallelism splits.
struct ResnetBlock {
  Conv2dOp conv1;
  GroupNormOp norm;
  LinearOp temb; // its time embedding's projection, if one is added
};

/// The time embedding projection whose [B, C] result, reshaped, is `v`.
LinearOp timeProjection(Value v) {
  auto r = v.getDefiningOp<ReshapeOp>();
  if (!r || !v.hasOneUse() || !r.getInput().hasOneUse())
    return LinearOp();
  auto l = r.getInput().getDefiningOp<LinearOp>();
  return l && isParamLinear(l) ? l : LinearOp();
}

/// The convolutions that open a ResNet block: conv1 in
/// conv2(silu(group_norm(conv1(silu(group_norm(x))) [+ time embedding]))),
/// each value used once between the convolutions (diffusers'
/// ResnetBlock2D; the time embedding a [B, C, 1, 1] per-sample value). A
/// residual sum normalised before a convolution is no such block.
SmallVector<ResnetBlock> resnetFirstConvs(func::FuncOp fn) {
  SmallVector<ResnetBlock> out;
  auto single = [](Value v) -> Operation * {
    return v.hasOneUse() ? *v.getUsers().begin() : nullptr;
  };
  fn.walk([&](GroupNormOp n) {
    Operation *act = single(n.getResult());
    if (!act || !isa<SiluOp>(act) ||
        !isa_and_present<Conv2dOp>(single(act->getResult(0))))
      return;
    Value h = n.getInput();
    LinearOp temb;
    if (auto add = h.getDefiningOp<AddOp>(); add && h.hasOneUse()) {
      // The time embedding's [B, C, 1, 1] added to conv1's result.
      auto perSample = [](Value v) {
        auto t = cast<RankedTensorType>(v.getType());
        return t.getRank() == 4 && t.getDimSize(2) == 1 && t.getDimSize(3) == 1;
      };
      if (perSample(add.getRhs())) {
        h = add.getLhs();
        temb = timeProjection(add.getRhs());
      } else if (perSample(add.getLhs())) {
        h = add.getRhs();
        temb = timeProjection(add.getLhs());
      }
    }
    auto conv1 = h.getDefiningOp<Conv2dOp>();
    if (!conv1 || !h.hasOneUse() || !conv1.getWeight().getDefiningOp<ParamOp>())
      return;
    auto pre = conv1.getInput().getDefiningOp<SiluOp>();
    if (pre && pre.getInput().getDefiningOp<GroupNormOp>())
      out.push_back({conv1, n, temb});
  });
  return out;
}

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
  for (LinearOp l : qkv)
    seeds.rows.push_back(l);
  return success();
}

/// Seeds the weight (operand 1) of `op`, a linear or a convolution, split
/// by rows (output features or channels); a parameter that other ops read
/// too gets its own copy for `op`, so only this use splits.
void seedWeightRows(Operation *op, int16_t axis) {
  OpOperand &weight = op->getOpOperand(1);
  auto param = weight.get().getDefiningOp<ParamOp>();
  if (!param->hasOneUse()) {
    OpBuilder b(op);
    param = cast<ParamOp>(b.clone(*param));
    weight.set(param.getResult());
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
  // A ResNet splits whole groups of its norm's channels on each rank;
  // one that cannot is left whole (the attentions still split).
  // Its time embedding's projection splits with conv1's channels (each
  // rank adds its own), rather than being computed whole and sliced.
  bool resnets = false;
  for (ResnetBlock r : resnetFirstConvs(fn))
    if (r.conv1.getWeight().getType().getDimSize(0) % parts == 0 &&
        r.norm.getNumGroups() % parts == 0) {
      resnets = true;
      seeds.rows.push_back(r.conv1);
      if (r.temb)
        seeds.rows.push_back(r.temb);
    }
  any = !attentions.empty() || !fc1s.empty() || resnets;
  // Big per-sample layers: memory says split, traffic says it is cheap.
  fn.walk([&](LinearOp l) {
    auto w = l.getWeight().getType();
    if (cast<RankedTensorType>(l.getInput().getType()).getRank() != 2 ||
        !isParamLinear(l) || w.getNumElements() * 4 < minSplitBytes ||
        llvm::is_contained(seeds.rows,
                           l.getOperation())) // a ResNet's time projection
      return;
    any = true;
    if (w.getDimSize(0) % parts == 0) // else replicated: the split is uneven
      seeds.perSample.push_back(l);
  });
  if (!any)
    return fn.emitError("fresco-tensor-parallel found no attention, MLP or "
                        "large per-sample layer to split in '")
           << fn.getSymName() << "'";

  for (Operation *op : seeds.rows)
    seedWeightRows(op, axis);
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
