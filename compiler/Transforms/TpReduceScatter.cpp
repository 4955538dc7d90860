//===- TpReduceScatter.cpp - tp's partial sums scattered over tokens ------===//
//
// Megatron's sequence parallelism: tensor parallelism leaves each block's
// row-parallel output a partial sum, all-reduced (fresco-insert-collectives)
// so that every tp rank holds all the tokens, and the token-wise ops that
// follow (bias, gate, residual add, the next layer norm and modulation) run
// on all of them on every rank. Here such an all_reduce over the tp axis
// becomes a reduce_scatter along the tokens (dimension 1 of [B, T, D]):
// each rank finishes 1/P of the sum and the ops after it run on its T/P
// tokens, until an op that needs them all (a column-parallel linear, a
// reshape across the tokens, the function's result) gets them back with an
// all_gather. An all_reduce moves the bytes of a reduce_scatter plus an
// all_gather, so the traffic stays the same and the token-wise work and
// its activations shrink P times.
//
// Which ops can run on a token split is what their sharding rules say: the
// split dimension's factor must be parallel and make up a whole dimension
// of every result; another operand with that factor is this rank's slice
// of a replicated value (shard.all_slice: no communication). A weight that
// tp splits (a column-parallel linear's) is not sliced: its op takes the
// gathered tokens. An all_reduce whose result no op can take split stays.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "dialects/Fresco/IR/ShardingRule.h"

#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SetVector.h"

#define DEBUG_TYPE "fresco-tp-reduce-scatter"

namespace mlir::fresco {
#define GEN_PASS_DEF_TPREDUCESCATTER
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// The token dimension of a [B, T, D] partial sum.
constexpr int64_t kTokens = 1;

/// What runs on split tokens: for each value split over the tp axis, the
/// dimension it is split along; the ops computed on the split; for each of
/// those, the operands that are sliced (replicated values with the split
/// factor) and the dimension of each.
struct Region {
  llvm::DenseMap<Value, int64_t> split;
  llvm::SetVector<Operation *> ops;
  llvm::DenseMap<Operation *, SmallVector<std::pair<unsigned, int64_t>>> slices;
};

/// A dimension made of exactly the factor `f`: its index in `dims`, or -1
/// when none is; -2 when `f` is part of a dimension with other factors.
int64_t wholeDim(const TensorFactors &dims, int64_t f) {
  int64_t at = -1;
  for (auto [d, factors] : llvm::enumerate(dims)) {
    if (!llvm::is_contained(factors, f))
      continue;
    if (factors.size() != 1 || at != -1)
      return -2;
    at = int64_t(d);
  }
  return at;
}

/// `t` with dimension `dim` divided by `parts`.
RankedTensorType divided(Type t, int64_t dim, int64_t parts) {
  auto tt = cast<RankedTensorType>(t);
  SmallVector<int64_t> shape(tt.getShape());
  shape[dim] /= parts;
  return RankedTensorType::get(shape, tt.getElementType());
}

/// Whether `op` can run on its split operands' tokens: fills how its
/// results are split and which operands are sliced. `parts`: the tp degree.
bool canSplit(Operation *op, const Region &r, int64_t parts,
              llvm::DenseMap<Value, int64_t> &resultSplit,
              SmallVector<std::pair<unsigned, int64_t>> &slices) {
  auto iface = dyn_cast<ShardingRuleOpInterface>(op);
  // Attention resolves token splits itself (the sequence strategies); a
  // staged or communicating op keeps its tokens whole.
  if (!iface || isa<AttentionOp>(op) || communicates(op) ||
      op->getNumRegions() || op->getNumResults() == 0)
    return false;
  ShardingRule rule = iface.getShardingRule();
  std::optional<int64_t> factor;
  for (auto [i, v] : llvm::enumerate(op->getOperands())) {
    auto it = r.split.find(v);
    if (it == r.split.end())
      continue;
    if (i >= rule.operands.size() ||
        it->second >= int64_t(rule.operands[i].size()))
      return false;
    const auto &factors = rule.operands[i][it->second];
    if (factors.size() != 1 || (factor && *factor != factors[0]))
      return false;
    factor = factors[0];
  }
  if (!factor || rule.factors[*factor].kind != FactorKind::Parallel)
    return false;
  for (auto [i, v] : llvm::enumerate(op->getOperands())) {
    // A weight that tp splits (a column-parallel linear's), or any value
    // distributed otherwise: its op takes the tokens whole.
    Operation *def = v.getDefiningOp();
    if (def && def->hasAttr(kSharding))
      return false;
    int64_t d = wholeDim(rule.operands[i], *factor);
    if (d == -2)
      return false;
    auto it = r.split.find(v);
    if (it != r.split.end()) {
      if (d != it->second)
        return false;
      continue;
    }
    if (d == -1)
      continue; // broadcast along the tokens
    // A replicated operand: this rank's slice.
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t || t.getDimSize(d) % parts != 0)
      return false;
    slices.push_back({unsigned(i), d});
  }
  for (auto [i, v] : llvm::enumerate(op->getResults())) {
    int64_t d = wholeDim(rule.results[i], *factor);
    if (d < 0)
      return false;
    resultSplit[v] = d;
  }
  // The op's own shape rule on the split types must agree: an attribute may
  // count the tokens (a slice or pad of them all is parallel by its rule).
  auto infer = dyn_cast<InferTypeOpInterface>(op);
  if (!infer)
    return false;
  Block scratch;
  SmallVector<Value> operands;
  for (auto [i, v] : llvm::enumerate(op->getOperands())) {
    Type t = v.getType();
    if (auto it = r.split.find(v); it != r.split.end())
      t = divided(t, it->second, parts);
    for (auto [j, d] : slices)
      if (j == i)
        t = divided(t, d, parts);
    operands.push_back(scratch.addArgument(t, op->getLoc()));
  }
  SmallVector<Type> inferred;
  if (failed(infer.inferReturnTypes(
          op->getContext(), std::nullopt, operands, op->getRawDictionaryAttrs(),
          op->getPropertiesStorage(), op->getRegions(), inferred)) ||
      inferred.size() != op->getNumResults())
    return false;
  for (auto [i, v] : llvm::enumerate(op->getResults()))
    if (inferred[i] != divided(v.getType(), resultSplit.lookup(v), parts))
      return false;
  return true;
}

/// The region grown from the all_reduces in `scatter`, in program order.
Region analyse(func::FuncOp fn, const llvm::SetVector<Operation *> &scatter,
               int64_t parts) {
  Region r;
  for (Operation &op : fn.getBody().front()) {
    if (scatter.contains(&op)) {
      r.split[op.getResult(0)] = kTokens;
      continue;
    }
    if (llvm::none_of(op.getOperands(),
                      [&](Value v) { return r.split.count(v); }))
      continue;
    llvm::DenseMap<Value, int64_t> results;
    SmallVector<std::pair<unsigned, int64_t>> slices;
    if (!canSplit(&op, r, parts, results, slices))
      continue;
    r.ops.insert(&op);
    r.slices[&op] = std::move(slices);
    for (auto &[v, d] : results)
      r.split[v] = d;
  }
  return r;
}

struct TpReduceScatterPass : impl::TpReduceScatterBase<TpReduceScatterPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto tp = grid ? grid->axis("tp") : std::nullopt;
    if (!tp)
      return;
    for (StringRef name : {StringRef("patch"), StringRef(kPipeFusionAxis)})
      if (grid->axis(name)) {
        module.emitError("fresco-tp-reduce-scatter: tp's reduce_scatter "
                         "over the tokens does not compose with ")
            << name << " (its patches split the tokens already)";
        return signalPassFailure();
      }
    const int16_t axis = tp->first;
    const int64_t parts = tp->second;
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal() || !fn.getBody().hasOneBlock())
        continue;
      // The tp all_reduces of [B, T, D] partial sums with T a multiple of P.
      llvm::SetVector<Operation *> scatter;
      fn.walk([&](shard::AllReduceOp ar) {
        auto t = dyn_cast<RankedTensorType>(ar.getType());
        if (ar.getGridAxes() == ArrayRef<int16_t>{axis} &&
            ar.getReduction() == shard::ReductionKind::Sum && t &&
            t.getRank() == 3 && t.getDimSize(kTokens) % parts == 0)
          scatter.insert(ar);
      });
      // Keep an all_reduce that no op takes split (a reduce_scatter and an
      // all_gather right after would only add a call); dropping one may
      // leave another without takers: until none changes.
      Region r;
      for (bool changed = true; changed && !scatter.empty();) {
        r = analyse(fn, scatter, parts);
        changed = false;
        for (Operation *ar :
             SmallVector<Operation *>(scatter.begin(), scatter.end()))
          if (llvm::none_of(ar->getUsers(),
                            [&](Operation *u) { return r.ops.contains(u); })) {
            scatter.remove(ar);
            changed = true;
          }
      }
      if (scatter.empty())
        continue;
      rewrite(fn, r, scatter, axis, parts);
    }
  }

  void rewrite(func::FuncOp fn, Region &r,
               const llvm::SetVector<Operation *> &scatter, int16_t axis,
               int64_t parts) {
    OpBuilder b(fn.getContext());
    // The split values' readers outside the region take them whole.
    llvm::DenseMap<Value, Value> whole;
    auto gathered = [&](Value v) -> Value {
      Value &g = whole[v];
      if (!g) {
        if (Operation *def = v.getDefiningOp())
          b.setInsertionPointAfter(def);
        else
          b.setInsertionPointToStart(&fn.getBody().front());
        auto t = cast<RankedTensorType>(v.getType());
        SmallVector<int64_t> shape(t.getShape());
        shape[r.split.lookup(v)] *= parts;
        g = shard::AllGatherOp::create(
            b, v.getLoc(), RankedTensorType::get(shape, t.getElementType()),
            FlatSymbolRefAttr::get(b.getStringAttr(kGridName)),
            b.getDenseI16ArrayAttr({axis}), v,
            b.getIndexAttr(r.split.lookup(v)));
      }
      return g;
    };
    SmallVector<Value> splitValues;
    for (Operation &op : fn.getBody().front())
      for (Value v : op.getResults())
        if (r.split.count(v))
          splitValues.push_back(v);
    // Readers outside the region, recorded before any rewrite.
    SmallVector<std::pair<OpOperand *, Value>> outside;
    for (Value v : splitValues)
      for (OpOperand &use : v.getUses())
        if (!r.ops.contains(use.getOwner()))
          outside.push_back({&use, v});
    // The all_reduces become reduce_scatters; the region's ops take split
    // operands (slices of the replicated ones) and give split results.
    llvm::DenseMap<Value, Value> now; // a split value's current form
    for (Operation *ar : scatter) {
      b.setInsertionPoint(ar);
      Value old = ar->getResult(0);
      auto rs = shard::ReduceScatterOp::create(
          b, ar->getLoc(), divided(old.getType(), kTokens, parts), kGridName,
          ArrayRef<int16_t>{axis}, ar->getOperand(0), shard::ReductionKind::Sum,
          APInt(64, kTokens));
      now[old] = rs.getResult();
    }
    for (Operation *op : r.ops) {
      for (auto [i, d] : r.slices[op]) {
        b.setInsertionPoint(op);
        Value v = op->getOperand(i);
        op->setOperand(i, shard::AllSliceOp::create(
                              b, op->getLoc(), divided(v.getType(), d, parts),
                              v, kGridName, ArrayRef<int16_t>{axis}, d)
                              .getResult());
      }
      for (OpOperand &use : op->getOpOperands())
        if (Value n = now.lookup(use.get()))
          use.set(n);
      for (Value v : op->getResults())
        if (r.split.count(v))
          v.setType(divided(v.getType(), r.split.lookup(v), parts));
    }
    for (auto [use, v] : outside) {
      Value cur = now.lookup(v) ? now.lookup(v) : v;
      r.split[cur] = r.split.lookup(v);
      use->set(gathered(cur));
    }
    for (Operation *ar : scatter)
      ar->erase();
  }
};

} // namespace
} // namespace mlir::fresco
