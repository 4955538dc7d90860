//===- SequenceAttention.cpp - A token split resolved at attention --------===//
//
// Part of ShardingPropagation (see its header): an attention whose tokens
// are split over a sequence axis. The attention rule refuses a split of
// the keys' tokens (key_sequence); two strategies resolve it, and the grid
// axis's kind says which:
//   - "ulysses" (DeepSpeed-Ulysses): an all_to_all per operand moves the
//     split from the tokens onto the rule's heads factor, so every rank
//     attends over all tokens for its share of the heads, and one after
//     the attention moves it back;
//   - "ring": the queries stay split, and each rank's block of keys and
//     values travels around the ring of ranks on the axis, one hop per
//     block (ring_axes; the runtime does the passing). No rank ever holds
//     all tokens, and the head count needs not divide the degree.
//   - "patch" (DistriFusion): the queries stay split, and the keys and
//     values are made whole by fresco.stale_gather: this rank's block
//     fresh, the others' from the previous step.
// Either way, padded keys (fresco-pad-uneven's key_valid) are re-counted
// for the order in which each rank now holds them (KeyMask.h).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/KeyMask.h"
#include "compiler/Transforms/ShardingPropagation.h"

#include "mlir/IR/Builders.h"

namespace mlir::fresco {

namespace {

/// The dimension of a tensor whose major factor is `f`; -1 when none.
int64_t dimOf(const TensorFactors &t, int64_t f) {
  for (auto [d, fs] : llvm::enumerate(t))
    if (!fs.empty() && fs.front() == f)
      return int64_t(d);
  return -1;
}

bool hasFactor(const TensorFactors &t, int64_t f) {
  return llvm::any_of(
      t, [f](const auto &fs) { return llvm::is_contained(fs, f); });
}

/// A factor of tensor `a` that tensor `b` lacks (attention: the query's
/// tokens against the key's, and the other way round); -1 when none.
int64_t onlyIn(const TensorFactors &a, const TensorFactors &b) {
  for (const auto &fs : a)
    for (int64_t f : fs)
      if (!hasFactor(b, f))
        return f;
  return -1;
}

} // namespace

std::optional<int16_t> ShardingPropagation::sequenceAxis(AttentionOp a) const {
  for (Value v : a->getOperands())
    for (const auto &axes : splitOf(v))
      for (int16_t x : axes)
        if (isSequenceAxis(grid.axisNames[x]))
          return x;
  return std::nullopt;
}

int64_t ShardingPropagation::splitDim(Value v, int16_t axis) const {
  for (auto [d, axes] : llvm::enumerate(splitOf(v)))
    if (llvm::is_contained(axes, axis))
      return int64_t(d);
  return -1;
}

LogicalResult ShardingPropagation::retypeSplit(Operation *op, int64_t dim,
                                               int16_t axis, StringRef degree) {
  auto global = cast<RankedTensorType>(op->getResult(0).getType());
  int64_t n = parts({axis});
  if (dim < 0 || dim >= global.getRank() || global.getDimSize(dim) % n != 0)
    return op->emitError("result dimension ")
           << dim << " of " << global << " is not divisible by " << degree;
  SmallVector<int64_t> shape(global.getShape());
  shape[dim] /= n;
  op->getResult(0).setType(
      RankedTensorType::get(shape, global.getElementType()));
  if (failed(checkInferredTypes(op, "fresco-" + grid.axisNames[axis] +
                                        "-parallel expected the "
                                        "local type")))
    return failure();
  Split split(global.getRank());
  split[dim] = {axis};
  setSplit(op->getResult(0), split);
  return success();
}

FailureOr<SmallVector<int64_t>>
ShardingPropagation::tokenOrder(AttentionOp a, int16_t axis,
                                const ShardingRule &rule) {
  std::string pass = "fresco-" + grid.axisNames[axis] + "-parallel";
  int64_t qd = splitDim(a.getQuery(), axis);
  SmallVector<int64_t> order = segmentsOf(a.getQuery(), qd);
  int64_t keyTokens = onlyIn(rule.operands[1], rule.operands[0]);
  for (unsigned i : {1u, 2u}) {
    Value v = a->getOperand(i);
    int64_t d = splitDim(v, axis);
    if (d >= 0 && d == dimOf(rule.operands[i], keyTokens) &&
        segmentsOf(v, d) != order)
      return a.emitError() << pass
                           << ": the attention's query holds its tokens as "
                           << listOf(order) << " but its key or value as "
                           << listOf(segmentsOf(v, d))
                           << " (sequences concatenated differently)";
  }
  return order;
}

std::optional<SmallVector<int64_t>>
ShardingPropagation::joinedKeyValid(AttentionOp a, ArrayRef<int64_t> sizes,
                                    int64_t bands, int64_t members) {
  int64_t total = 0;
  for (int64_t n : sizes)
    total += n;
  // Before this split the keys are `bands` blocks (Ulysses' all_to_all
  // joined them) of the sequences `sizes`, each block a chunk of each.
  SmallVector<int64_t> all;
  for (int64_t u = 0; u < bands; ++u)
    llvm::append_range(all, sizes);
  KeyMask mask = keyMask(a.getKeyValid(), bands * total);
  SmallVector<KeyMask> rows;
  for (int64_t m = 0; m < members; ++m)
    rows.push_back(chunkOf(mask, all, members, m));
  return keyValidOf(rows);
}

LogicalResult ShardingPropagation::gatherKeyValid(AttentionOp a,
                                                  ArrayRef<int64_t> order,
                                                  int64_t members,
                                                  int16_t axis) {
  // Joined sequences come back from the gather as every rank's share of
  // each in turn: their padding moves with them. One sequence comes back
  // in its own order.
  if (!a.getKeyValid() || order.size() < 2)
    return success();
  int64_t total = 0;
  for (int64_t t : order)
    total += t;
  KeyMask mask = keyMask(a.getKeyValid(), total), joined;
  for (int64_t u = 0; u < members; ++u)
    llvm::append_range(joined, chunkOf(mask, order, members, u));
  std::optional<SmallVector<int64_t>> valid = keyValidOf({joined});
  if (!valid)
    return a.emitError() << "fresco-" << grid.axisNames[axis]
                         << "-parallel cannot mask the padded keys";
  a.setKeyValid(*valid);
  return success();
}

LogicalResult ShardingPropagation::visitAttention(AttentionOp a,
                                                  const ShardingRule &rule,
                                                  int16_t axis) {
  int64_t queryTokens = onlyIn(rule.operands[0], rule.operands[1]);
  if (splitDim(a.getQuery(), axis) != dimOf(rule.operands[0], queryTokens))
    return a.emitError() << "fresco-" << grid.axisNames[axis]
                         << "-parallel needs the attention query split along "
                            "the sequence (dimension "
                         << dimOf(rule.operands[0], queryTokens) << ")";
  if (grid.axisNames[axis] == "ulysses")
    return headsExchange(a, rule, axis);
  if (grid.axisNames[axis] == "patch" ||
      grid.axisNames[axis] == kPipeFusionAxis)
    return staleAttention(a, rule, axis);
  return ringAttention(a, rule, axis);
}

/// Sequence split -> head split around the attention: each operand split
/// along its tokens trades them for its dimension of the rule's heads
/// factor (q, k, v: [B, T/P, H*Dh] -> [B, T, H*Dh/P], H/P whole heads per
/// rank), and the result trades back.
LogicalResult ShardingPropagation::headsExchange(AttentionOp a,
                                                 const ShardingRule &rule,
                                                 int16_t axis) {
  int64_t n = parts({axis});
  std::string degree = "ulysses=" + std::to_string(n);
  int64_t heads = a.getNumHeads();
  auto tp = grid.axis("tp");
  if (heads % n != 0)
    return a.emitError("attention has ")
           << heads << " heads"
           << (tp ? " left on each rank by tp=" + std::to_string(tp->second)
                  : std::string())
           << ", not divisible by " << degree
           << " (ulysses gives each rank whole heads)";
  FailureOr<SmallVector<int64_t>> order = tokenOrder(a, axis, rule);
  if (failed(order))
    return failure();
  if (failed(gatherKeyValid(a, *order, n, axis)))
    return failure();
  int64_t h = *rule.headsFactor;
  int64_t queryTokens = onlyIn(rule.operands[0], rule.operands[1]);
  int64_t keyTokens = onlyIn(rule.operands[1], rule.operands[0]);
  OpBuilder b(a);
  auto allToAll = [&](Value v, int64_t splitAt, int64_t concatAt) {
    auto t = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(t.getShape());
    shape[splitAt] /= n;
    shape[concatAt] *= n;
    return shard::AllToAllOp::create(
        b, a.getLoc(), RankedTensorType::get(shape, t.getElementType()),
        FlatSymbolRefAttr::get(b.getStringAttr(kGridName)),
        b.getDenseI16ArrayAttr({axis}), v, b.getIndexAttr(splitAt),
        b.getIndexAttr(concatAt));
  };
  for (OpOperand &use : a->getOpOperands()) {
    const TensorFactors &t = rule.operands[use.getOperandNumber()];
    int64_t d = splitDim(use.get(), axis), hd = dimOf(t, h);
    if (d < 0) // a replicated context: keep this rank's heads
      use.set(slice(use.get(), hd, {axis}, a));
    else if (d == dimOf(t, queryTokens) || d == dimOf(t, keyTokens))
      use.set(allToAll(use.get(), hd, d));
    else
      return a.emitError("fresco-ulysses-parallel: attention operand ")
             << use.getOperandNumber() << " is split along dimension " << d
             << ", not the sequence";
  }
  setHeadCount(a, heads / n);
  int64_t resultHeads = dimOf(rule.results[0], h);
  int64_t resultTokens = dimOf(rule.results[0], queryTokens);
  if (failed(retypeSplit(a, resultHeads, axis, degree)))
    return failure();
  clearSplit(a.getResult());
  b.setInsertionPointAfter(a);
  Value back = allToAll(a.getResult(), resultTokens, resultHeads);
  a.getResult().replaceAllUsesExcept(back, back.getDefiningOp());
  Split split(cast<RankedTensorType>(back.getType()).getRank());
  split[resultTokens] = {axis};
  setSplit(back, split);
  setSegments(back, resultTokens, *order);
  return success();
}

/// Padded tokens (fresco-pad-uneven's key_valid: the first n of the whole
/// sequence are real) per ring block: the block of ring rank r is, after
/// Ulysses' all_to_all, U segments of c tokens, segment u holding the
/// sequence's block u * R + r (Ulysses' split is the major one).
LogicalResult ShardingPropagation::maskRingPadding(AttentionOp a,
                                                   int64_t keyDim,
                                                   int16_t axis) {
  std::optional<ArrayRef<int64_t>> valid = a.getKeyValid();
  if (!valid)
    return success();
  int64_t members = parts({axis});
  auto u = grid.axis("ulysses");
  int64_t ulysses = u ? u->second : 1; // a Ulysses split made before
  // Joined sequences (Flux's [text; image]), each padded and split on its
  // own: each block holds a chunk of every one.
  if (SmallVector<int64_t> sizes = segmentsOf(a.getKey(), keyDim);
      sizes.size() > 1) {
    std::optional<SmallVector<int64_t>> table =
        joinedKeyValid(a, sizes, ulysses, members);
    if (!table)
      return a.emitError() << "fresco-ring-parallel cannot mask the padded "
                              "keys";
    a.setKeyValid(*table);
    return success();
  }
  if (valid->size() != 1)
    return a.emitError() << "fresco-ring-parallel: key_valid must count the "
                            "real keys of the whole sequence before the ring "
                            "splits it";
  int64_t n = valid->front();
  int64_t tk = a.getKey().getType().getDimSize(keyDim);
  if (tk % ulysses != 0)
    return a.emitError() << "fresco-ring-parallel: " << tk
                         << " keys per ring block do not divide into "
                         << ulysses << " Ulysses segments";
  int64_t c = tk / ulysses;
  SmallVector<int64_t> table;
  for (int64_t r = 0; r < members; ++r)
    for (int64_t s = 0; s < ulysses; ++s)
      table.push_back(std::clamp<int64_t>(n - (s * members + r) * c, 0, c));
  a.setKeyValid(table);
  return success();
}

/// Self-attention (keys and values split like the queries) becomes ring
/// attention; attention to a context every rank holds in full stays local.
LogicalResult ShardingPropagation::ringAttention(AttentionOp a,
                                                 const ShardingRule &rule,
                                                 int16_t axis) {
  FailureOr<SmallVector<int64_t>> order = tokenOrder(a, axis, rule);
  if (failed(order))
    return failure();
  int64_t queryTokens = onlyIn(rule.operands[0], rule.operands[1]);
  FailureOr<int64_t> kd = splitKeys(a, rule, axis);
  if (failed(kd))
    return failure();
  if (*kd >= 0) {
    if (a.getRingAxesAttr())
      return a.emitError() << "fresco-ring-parallel: this attention is "
                              "already ring attention";
    a.setRingAxesAttr(GridAxesAttr::get(a.getContext(), {axis}));
    if (failed(maskRingPadding(a, *kd, axis)))
      return failure();
  }
  int64_t resultTokens = dimOf(rule.results[0], queryTokens);
  if (failed(retypeSplit(a, resultTokens, axis,
                         "ring=" + std::to_string(parts({axis})))))
    return failure();
  setSegments(a.getResult(), resultTokens, *order);
  return success();
}

FailureOr<int64_t> ShardingPropagation::splitKeys(AttentionOp a,
                                                  const ShardingRule &rule,
                                                  int16_t axis) {
  std::string pass = "fresco-" + grid.axisNames[axis] + "-parallel";
  int64_t keyTokens = onlyIn(rule.operands[1], rule.operands[0]);
  int64_t kd = dimOf(rule.operands[1], keyTokens);
  int64_t vd = dimOf(rule.operands[2], keyTokens);
  int64_t k = splitDim(a.getKey(), axis), v = splitDim(a.getValue(), axis);
  if ((k >= 0) != (v >= 0))
    return a.emitError() << pass
                         << ": attention key and value must both be split "
                            "along the sequence or both be replicated";
  if (k < 0)
    return int64_t(-1);
  if (k != kd || v != vd)
    return a.emitError() << pass << ": attention key and value are split "
                         << "along dimensions " << k << " and " << v
                         << ", not the sequence (" << kd << ")";
  // A causal mask or a bias compares global query and key positions: the
  // rule keeps those keys whole.
  if (rule.factors[keyTokens].kind != FactorKind::KeySequence)
    return a.emitError() << pass
                         << ": this attention's keys must stay whole (a "
                            "causal mask or a bias)";
  return kd;
}

/// Self-attention over keys and values made whole by stale gathers (this
/// rank's block fresh, the others' a step old); the queries and the result
/// keep their split. Attention to a context every rank holds stays local.
LogicalResult ShardingPropagation::staleAttention(AttentionOp a,
                                                  const ShardingRule &rule,
                                                  int16_t axis) {
  FailureOr<SmallVector<int64_t>> order = tokenOrder(a, axis, rule);
  if (failed(order))
    return failure();
  FailureOr<int64_t> kd = splitKeys(a, rule, axis);
  if (failed(kd))
    return failure();
  int64_t n = parts({axis});
  if (*kd >= 0) {
    if (failed(gatherKeyValid(a, *order, n, axis)))
      return failure();
    OpBuilder b(a);
    for (unsigned i : {1u, 2u}) {
      Value v = a->getOperand(i);
      auto t = cast<RankedTensorType>(v.getType());
      SmallVector<int64_t> shape(t.getShape());
      shape[*kd] *= n;
      auto whole = StaleGatherOp::create(
          b, a.getLoc(), RankedTensorType::get(shape, t.getElementType()), v,
          GridAxesAttr::get(a.getContext(), {axis}), *kd,
          order->size() > 1 ? b.getDenseI64ArrayAttr(*order)
                            : DenseI64ArrayAttr());
      a->setOperand(i, whole);
    }
  }
  int64_t queryTokens = onlyIn(rule.operands[0], rule.operands[1]);
  int64_t resultTokens = dimOf(rule.results[0], queryTokens);
  if (failed(retypeSplit(a, resultTokens, axis, "patch=" + std::to_string(n))))
    return failure();
  setSegments(a.getResult(), resultTokens, *order);
  return success();
}

} // namespace mlir::fresco
