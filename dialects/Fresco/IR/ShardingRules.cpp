//===- ShardingRules.cpp - Every fresco op's sharding rule ----------------===//
//
// One rule per op (ShardingRule.h): how its operand and result dimensions
// are made of shared factors, and what splitting each factor costs. A new
// op joins every rule-driven strategy by writing its rule here.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOps.h"

using namespace mlir;
using namespace mlir::fresco;

#include "dialects/Fresco/IR/ShardingRuleInterface.cpp.inc"

namespace {

constexpr FactorKind kParallel = FactorKind::Parallel;
constexpr FactorKind kNeedReplication = FactorKind::NeedReplication;

ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// Each dimension of `shape` made of a new factor of `kind`.
TensorFactors fresh(ShardingRule &r, ArrayRef<int64_t> shape, FactorKind kind) {
  TensorFactors t;
  for (int64_t d : shape)
    t.push_back({r.addFactor(d, kind)});
  return t;
}

/// Elementwise with NumPy broadcasting: one parallel factor per result
/// dimension; operands align to the right, and an operand's size-1
/// dimension that broadcasts has no factor.
ShardingRule broadcastRule(Operation *op) {
  ShardingRule r;
  ArrayRef<int64_t> out = shapeOf(op->getResult(0));
  TensorFactors result = fresh(r, out, kParallel);
  for (Value v : op->getOperands()) {
    ArrayRef<int64_t> in = shapeOf(v);
    TensorFactors t(in.size());
    for (auto [d, size] : llvm::enumerate(in)) {
      int64_t rd = int64_t(d) + int64_t(out.size()) - int64_t(in.size());
      if (size == out[rd])
        t[d] = result[rd];
    }
    r.operands.push_back(t);
  }
  r.results.push_back(result);
  return r;
}

/// A norm over the last dimension: per-row statistics need it whole.
ShardingRule lastDimNormRule(Value input, ValueRange perFeature,
                             ValueRange perSample) {
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(input);
  TensorFactors x = fresh(r, in.drop_back(), kParallel);
  int64_t d = r.addFactor(in.back(), kNeedReplication);
  x.push_back({d});
  r.operands.push_back(x);
  r.operands.append(perFeature.size(), TensorFactors{{d}}); // [D]
  // [B, D] against [B, T, D]
  r.operands.append(perSample.size(), TensorFactors{x.front(), {d}});
  r.results.push_back(x);
  return r;
}

} // namespace

ShardingRule ParamOp::getShardingRule() {
  // A split is a slice of the checkpoint tensor, loaded by each rank.
  ShardingRule r;
  r.results.push_back(fresh(r, getType().getShape(), kParallel));
  return r;
}

ShardingRule LinearOp::getShardingRule() {
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(getInput());
  TensorFactors x = fresh(r, in.drop_back(), kParallel);
  // Contracted; an epilogue activation must see the whole sum, and a
  // residual added in the epilogue would be summed once per partial sum, so
  // with either the contraction cannot be split. A gate would distribute
  // over partial sums, but its bias term would not: kept whole too.
  int64_t k =
      r.addFactor(in.back(), getActivation() || getResidual() || getGate()
                                 ? kNeedReplication
                                 : FactorKind::Reduction);
  int64_t n = r.addFactor(shapeOf(getWeight())[0], kParallel);
  TensorFactors y = x;
  x.push_back({k});
  y.push_back({n});
  r.operands.push_back(x);
  r.operands.push_back({{n}, {k}});
  if (getBias())
    r.operands.push_back({{n}});
  if (Value g = getGate()) {
    // [B or 1, 1..., N]: the batch factor where it is not broadcast.
    ArrayRef<int64_t> gs = shapeOf(g);
    TensorFactors t(gs.size());
    t.back() = {n};
    if (gs.size() > 1 && gs.front() == shapeOf(getResult()).front())
      t.front() = y.front();
    r.operands.push_back(t);
  }
  if (getResidual())
    r.operands.push_back(y);
  r.results.push_back(y);
  return r;
}

ShardingRule Conv2dOp::getShardingRule() {
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(getInput()), w = shapeOf(getWeight()),
                    out = shapeOf(getResult());
  int64_t n = r.addFactor(in[0], kParallel);
  int64_t c = r.addFactor(in[1], FactorKind::Reduction);
  int64_t o = r.addFactor(w[0], kParallel);
  TensorFactors x{{n}, {c}}, wt{{o}, {c}}, y{{n}, {o}};
  for (int s = 0; s < 2; ++s) {
    int64_t k = w[2 + s], stride = getStrides()[s];
    // A window that tiles its input (a patch embedding) keeps whole
    // output rows/columns with their input block: parallel.
    if (stride == k && getPadding()[s] == 0 && in[2 + s] == out[2 + s] * k) {
      int64_t p = r.addFactor(out[2 + s], kParallel);
      int64_t kf = r.addFactor(k, kNeedReplication);
      x.push_back(k == 1 ? SmallVector<int64_t, 2>{p}
                         : SmallVector<int64_t, 2>{p, kf});
      wt.push_back({kf});
      y.push_back({p});
      continue;
    }
    // Overlapping or padded windows look across any split.
    x.push_back({r.addFactor(in[2 + s], kNeedReplication)});
    wt.push_back({r.addFactor(k, kNeedReplication)});
    y.push_back({r.addFactor(out[2 + s], kNeedReplication)});
  }
  r.operands.push_back(x);
  r.operands.push_back(wt);
  if (getBias())
    r.operands.push_back({{o}});
  r.results.push_back(y);
  return r;
}

ShardingRule LayerNormOp::getShardingRule() {
  return lastDimNormRule(getInput(), getAffine(), getModulation());
}

ShardingRule RmsNormOp::getShardingRule() {
  return lastDimNormRule(
      getInput(), getWeight() ? ValueRange(getWeight()) : ValueRange(), {});
}

ShardingRule GroupNormOp::getShardingRule() {
  // Statistics over channel groups and all positions: the channels split
  // in whole groups (tensor parallelism over a ResNet's channels), each
  // group's channels and the positions stay whole.
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(getInput());
  const int64_t groups = getNumGroups();
  TensorFactors x{{r.addFactor(in[0], kParallel)}};
  int64_t g = r.addFactor(groups, kParallel);
  int64_t cpg = r.addFactor(in[1] / groups, kNeedReplication);
  x.push_back({g, cpg});
  for (int64_t size : in.drop_front(2))
    x.push_back({r.addFactor(size, kNeedReplication)});
  r.operands.push_back(x);
  r.operands.append(getAffine().size(), TensorFactors{{g, cpg}});
  r.results.push_back(x);
  r.headsFactor = g; // a split divides num_groups
  return r;
}

ShardingRule ModulateOp::getShardingRule() {
  ShardingRule r;
  TensorFactors x = fresh(r, shapeOf(getInput()), kParallel);
  r.operands = {x, {x[0], x[2]}, {x[0], x[2]}};
  r.results.push_back(x);
  return r;
}

ShardingRule AttentionOp::getShardingRule() {
  // q [B, Tq, H*Dh], k [B, Tk, H*Dh], v [B, Tk, H*Dv] -> [B, Tq, H*Dv].
  ShardingRule r;
  ArrayRef<int64_t> q = shapeOf(getQuery()), k = shapeOf(getKey()),
                    v = shapeOf(getValue());
  int64_t heads = getNumHeads();
  int64_t b = r.addFactor(q[0], kParallel);
  // A causal mask compares global query and key positions, so neither may
  // be split; a bias [H, Tq, Tk] would have to travel with a ring's key
  // blocks: its keys stay whole (ring refuses, Ulysses gathers them).
  int64_t tq = r.addFactor(q[1], getCausal() ? kNeedReplication : kParallel);
  int64_t h = r.addFactor(heads, kParallel);
  // A head's q.k dot product needs all its dimensions (the softmax is not
  // linear in a partial score).
  int64_t dh = r.addFactor(q[2] / heads, kNeedReplication);
  int64_t tk =
      r.addFactor(k[1], getCausal() || getBias() ? kNeedReplication
                                                 : FactorKind::KeySequence);
  int64_t dv = r.addFactor(v[2] / heads, kParallel);
  r.operands = {
      {{b}, {tq}, {h, dh}}, {{b}, {tk}, {h, dh}}, {{b}, {tk}, {h, dv}}};
  if (getBias())
    r.operands.push_back({{h}, {tq}, {tk}});
  r.results = {{{b}, {tq}, {h, dv}}};
  r.headsFactor = h;
  return r;
}

ShardingRule GeluOp::getShardingRule() { return broadcastRule(*this); }
ShardingRule SiluOp::getShardingRule() { return broadcastRule(*this); }
ShardingRule QuickGeluOp::getShardingRule() { return broadcastRule(*this); }
ShardingRule AddOp::getShardingRule() { return broadcastRule(*this); }
ShardingRule SubOp::getShardingRule() { return broadcastRule(*this); }
ShardingRule MulOp::getShardingRule() { return broadcastRule(*this); }
ShardingRule DivOp::getShardingRule() { return broadcastRule(*this); }
ShardingRule MulAddOp::getShardingRule() { return broadcastRule(*this); }
ShardingRule StageTransferOp::getShardingRule() { return broadcastRule(*this); }
// After fresco-specialize-ranks: nothing is split any more; the rules say
// only how the dimensions correspond.
ShardingRule SendOp::getShardingRule() {
  ShardingRule r;
  r.operands.push_back(fresh(r, shapeOf(getInput()), kParallel));
  return r;
}
ShardingRule RecvOp::getShardingRule() {
  ShardingRule r;
  r.results.push_back(fresh(r, getType().getShape(), kParallel));
  return r;
}
ShardingRule BroadcastOp::getShardingRule() {
  ShardingRule r;
  TensorFactors y = fresh(r, getType().getShape(), kParallel);
  if (getInput())
    r.operands.push_back(y);
  r.results.push_back(y);
  return r;
}
ShardingRule StageBroadcastOp::getShardingRule() {
  return broadcastRule(*this);
}
// The collective's result, complete: element for element.
ShardingRule WaitOp::getShardingRule() { return broadcastRule(*this); }
// Blocks along `dim` made whole: the other dimensions correspond; the
// gathered one is whole on both sides.
static ShardingRule blocksWholeRule(ArrayRef<int64_t> in, ArrayRef<int64_t> out,
                                    int64_t dim) {
  ShardingRule r;
  TensorFactors x, y;
  for (int64_t d = 0; d < int64_t(in.size()); ++d) {
    if (d == dim) {
      x.push_back({r.addFactor(in[d], kNeedReplication)});
      y.push_back({r.addFactor(out[d], kNeedReplication)});
      continue;
    }
    int64_t f = r.addFactor(in[d], kParallel);
    x.push_back({f});
    y.push_back({f});
  }
  r.operands.push_back(x);
  r.results.push_back(y);
  return r;
}
// Made by the patch axis's propagation.
ShardingRule StaleGatherOp::getShardingRule() {
  return blocksWholeRule(getInput().getType().getShape(), getType().getShape(),
                         getDim());
}
// Made by fresco-pipefusion, after the propagation.
ShardingRule PatchCacheOp::getShardingRule() {
  return blocksWholeRule(getInput().getType().getShape(), getType().getShape(),
                         getDim());
}

ShardingRule TimestepEmbeddingOp::getShardingRule() {
  ShardingRule r;
  TensorFactors y = fresh(r, getType().getShape(), kParallel);
  r.operands.push_back({y[0]});
  r.results.push_back(y);
  return r;
}

ShardingRule EmbeddingOp::getShardingRule() {
  // A split table would need masked lookups and a sum: keep it whole.
  ShardingRule r;
  TensorFactors ids = fresh(r, shapeOf(getIds()), kParallel);
  ArrayRef<int64_t> table = shapeOf(getTable());
  int64_t v = r.addFactor(table[0], kNeedReplication);
  int64_t d = r.addFactor(table[1], kParallel);
  TensorFactors y = ids;
  y.push_back({d});
  r.operands = {{{v}, {d}}, ids};
  r.results.push_back(y);
  return r;
}

ShardingRule EosPoolOp::getShardingRule() {
  // The row's token position is found along the whole sequence.
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(getInput());
  int64_t b = r.addFactor(in[0], kParallel);
  int64_t t = r.addFactor(in[1], kNeedReplication);
  int64_t d = r.addFactor(in[2], kParallel);
  r.operands = {{{b}, {t}, {d}}, {{b}, {t}}};
  r.results = {{{b}, {d}}};
  return r;
}

ShardingRule RelativePositionBiasOp::getShardingRule() {
  // Heads split with the table's columns; the positions are global, so a
  // rank computing part of them would need its offsets: kept whole.
  ShardingRule r;
  ArrayRef<int64_t> y = getType().getShape();
  int64_t nb = r.addFactor(getNumBuckets(), kNeedReplication);
  int64_t h = r.addFactor(y[0], kParallel);
  int64_t tq = r.addFactor(y[1], kNeedReplication);
  int64_t tk = r.addFactor(y[2], kNeedReplication);
  r.operands = {{{nb}, {h}}};
  r.results = {{{h}, {tq}, {tk}}};
  return r;
}

ShardingRule PosEmbed2dOp::getShardingRule() {
  ShardingRule r;
  r.results.push_back(fresh(r, getType().getShape(), kParallel));
  return r;
}

ShardingRule RopeTableOp::getShardingRule() {
  // Tokens are independent: a sequence split takes its rows of the table
  // with its ids. A token's columns follow the axes: kept whole.
  ShardingRule r;
  ArrayRef<int64_t> ids = shapeOf(getIds()), out = getType().getShape();
  int64_t t = r.addFactor(ids[0], kParallel);
  r.operands.push_back({{t}, {r.addFactor(ids[1], kNeedReplication)}});
  r.results.push_back({{t},
                       {r.addFactor(out[1], kNeedReplication)},
                       {r.addFactor(out[2], kNeedReplication)}});
  return r;
}

ShardingRule RopeOp::getShardingRule() {
  // x [B, T, H*Dh] with table [T, Dh/2, 2]: batch, tokens and heads are
  // parallel (tp splits the heads, a sequence split the tokens with their
  // table rows); a head's pairs need the whole table row (and the whole
  // norm weight when the rope is fused with the q/k norm).
  ShardingRule r;
  ArrayRef<int64_t> x = shapeOf(getInput());
  int64_t heads = getNumHeads(), pairs = x[2] / heads / 2;
  int64_t b = r.addFactor(x[0], kParallel);
  int64_t t = r.addFactor(x[1], kParallel);
  int64_t h = r.addFactor(heads, kParallel);
  int64_t p = r.addFactor(pairs, kNeedReplication);
  int64_t two = r.addFactor(2, kNeedReplication);
  TensorFactors xf{{b}, {t}, {h, p, two}};
  r.operands = {xf, {{t}, {p}, {two}}};
  // The fused norm's weight [Dh] is every head's: replicated like a row.
  if (getNormWeight())
    r.operands.push_back({{p, two}});
  r.results = {xf};
  r.headsFactor = h; // a split divides num_heads
  return r;
}

ShardingRule UpsampleNearestOp::getShardingRule() {
  // Output row r*s + i copies input row r: rows split with their copies.
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(getInput());
  TensorFactors x = fresh(r, in, kParallel), y = x;
  for (int s = 0; s < 2; ++s)
    if (int64_t scale = getScale()[s]; scale > 1)
      y[2 + s].push_back(r.addFactor(scale, kParallel));
  r.operands.push_back(x);
  r.results.push_back(y);
  return r;
}

ShardingRule ReshapeOp::getShardingRule() {
  // Row-major: walk both shapes from the major end, sharing each common
  // factor (a dimension that divides the other's remaining size is its
  // major part). Sizes that do not nest need replication on both sides.
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(getInput()), out = getType().getShape();
  TensorFactors x(in.size()), y(out.size());
  size_t i = 0, j = 0;
  int64_t a = in.empty() ? 1 : in[0], b = out.empty() ? 1 : out[0];
  while (i < in.size() && j < out.size()) {
    if (a == 1) {
      if (in[i] == 1)
        x[i].push_back(r.addFactor(1, kParallel));
      if (++i < in.size())
        a = in[i];
      continue;
    }
    if (b == 1) {
      if (out[j] == 1)
        y[j].push_back(r.addFactor(1, kParallel));
      if (++j < out.size())
        b = out[j];
      continue;
    }
    int64_t common = a % b == 0 ? b : b % a == 0 ? a : 0;
    if (common == 0)
      break;
    int64_t f = r.addFactor(common, kParallel);
    x[i].push_back(f);
    y[j].push_back(f);
    a /= common;
    b /= common;
  }
  // What did not nest (or size-1 dimensions left at the end).
  auto rest = [&](TensorFactors &t, ArrayRef<int64_t> shape, size_t from,
                  int64_t left) {
    for (size_t d = from; d < shape.size(); ++d) {
      int64_t size = d == from ? left : shape[d];
      if (size > 1 || t[d].empty())
        t[d].push_back(r.addFactor(size, kNeedReplication));
    }
  };
  rest(x, in, i, a);
  rest(y, out, j, b);
  r.operands.push_back(x);
  r.results.push_back(y);
  return r;
}

ShardingRule TransposeOp::getShardingRule() {
  ShardingRule r;
  TensorFactors x = fresh(r, shapeOf(getInput()), kParallel), y;
  for (int64_t p : getPermutation())
    y.push_back(x[p]);
  r.operands.push_back(x);
  r.results.push_back(y);
  return r;
}

ShardingRule SliceOp::getShardingRule() {
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(getInput());
  // I64Attr getters are unsigned: a negative axis counts from the end.
  int64_t axis = int64_t(getAxis());
  axis += axis < 0 ? int64_t(in.size()) : 0;
  TensorFactors x = fresh(r, in, kParallel), y = x;
  if (int64_t(getSize()) != in[axis]) { // a part: offsets need the axis
    r.factors[x[axis][0]].kind = kNeedReplication;
    y[axis] = {r.addFactor(getSize(), kNeedReplication)};
  }
  r.operands.push_back(x);
  r.results.push_back(y);
  return r;
}

ShardingRule PadOp::getShardingRule() {
  // Like a slice: offsets along the padded axis need it whole.
  ShardingRule r;
  ArrayRef<int64_t> in = shapeOf(getInput());
  int64_t axis = int64_t(getAxis());
  axis += axis < 0 ? int64_t(in.size()) : 0;
  TensorFactors x = fresh(r, in, kParallel), y = x;
  if (int64_t(getSize()) != in[axis]) {
    r.factors[x[axis][0]].kind = kNeedReplication;
    y[axis] = {r.addFactor(getSize(), kNeedReplication)};
  }
  r.operands.push_back(x);
  r.results.push_back(y);
  return r;
}

ShardingRule ConcatOp::getShardingRule() {
  ShardingRule r;
  ArrayRef<int64_t> out = getType().getShape();
  int64_t axis = int64_t(getAxis());
  axis += axis < 0 ? int64_t(out.size()) : 0;
  TensorFactors y = fresh(r, out, kParallel);
  r.factors[y[axis][0]].kind = kNeedReplication;
  for (Value v : getInputs()) {
    TensorFactors x = y;
    x[axis] = {r.addFactor(shapeOf(v)[axis], kNeedReplication)};
    r.operands.push_back(x);
  }
  r.results.push_back(y);
  return r;
}
