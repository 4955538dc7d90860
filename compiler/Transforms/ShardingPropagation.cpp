//===- ShardingPropagation.cpp - Rule-driven partitioning -----------------===//
//
// See ShardingPropagation.h.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ShardingPropagation.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "llvm/ADT/SmallSet.h"

#include <optional>

namespace mlir::fresco {

ShardingPropagation::ShardingPropagation(func::FuncOp fn, const GridInfo &grid,
                                         StringRef strategy)
    : fn(fn), grid(grid), strategy(strategy.str()) {
  // Every rule on the global types, before a seed or an op makes any
  // value local.
  for (Operation &op : fn.getBody().front().without_terminator()) {
    std::optional<ShardingRule> rule;
    if (auto iface = dyn_cast<ShardingRuleOpInterface>(op))
      rule = iface.getShardingRule();
    ops.push_back({&op, std::move(rule)});
  }
}

int64_t ShardingPropagation::parts(ArrayRef<int16_t> axes) const {
  int64_t n = 1;
  for (int16_t a : axes)
    n *= grid.grid.getShape()[a];
  return n;
}

ShardingPropagation::Split ShardingPropagation::splitOf(Value v) const {
  if (auto it = splits.find(v); it != splits.end())
    return it->second;
  return Split(cast<RankedTensorType>(v.getType()).getRank());
}

void ShardingPropagation::setSplit(Value v, Split split) {
  if (llvm::any_of(split, [](const auto &a) { return !a.empty(); }))
    splits[v] = std::move(split);
  else
    splits.erase(v);
}

int64_t ShardingPropagation::globalSize(Value v, int64_t dim) const {
  return cast<RankedTensorType>(v.getType()).getDimSize(dim) *
         parts(splitOf(v)[dim]);
}

SmallVector<int64_t> ShardingPropagation::segmentsOf(Value v,
                                                     int64_t dim) const {
  if (auto it = segments.find(v);
      it != segments.end() && it->second.first == dim)
    return it->second.second;
  return {globalSize(v, dim)};
}

void ShardingPropagation::setSegments(Value v, int64_t dim,
                                      ArrayRef<int64_t> sizes) {
  if (sizes.size() > 1)
    segments[v] = {dim, SmallVector<int64_t>(sizes)};
  else
    segments.erase(v);
}

std::string listOf(ArrayRef<int64_t> sizes) {
  std::string out = "[";
  for (auto [i, n] : llvm::enumerate(sizes))
    out += (i ? ", " : "") + std::to_string(n);
  return out + "]";
}

Value ShardingPropagation::slice(Value v, int64_t dim, ArrayRef<int16_t> axes,
                                 Operation *user) {
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[dim] /= parts(axes);
  OpBuilder b(user);
  // A parameter is not sliced after loading: this use gets its own copy,
  // and each rank loads only its slice of the checkpoint tensor.
  if (auto param = v.getDefiningOp<ParamOp>()) {
    auto copy = cast<ParamOp>(b.clone(*param));
    Split split = splitOf(v);
    if (auto s = param->getAttrOfType<ShardingAttr>(kSharding))
      for (int64_t d = 0; d < s.getRank(); ++d)
        split[d].assign(s.getDimAxes(d).begin(), s.getDimAxes(d).end());
    split[dim].assign(axes.begin(), axes.end());
    copy.getResult().setType(RankedTensorType::get(shape, t.getElementType()));
    copy->setAttr(kSharding, ShardingAttr::get(b.getContext(), split));
    splits[copy.getResult()] = split;
    return copy.getResult();
  }
  auto s = shard::AllSliceOp::create(
      b, user->getLoc(), RankedTensorType::get(shape, t.getElementType()), v,
      kGridName, axes, dim);
  Split split = splitOf(v);
  split[dim].assign(axes.begin(), axes.end());
  splits[s.getResult()] = split;
  return s.getResult();
}

LogicalResult ShardingPropagation::seedArgument(BlockArgument arg, int64_t dim,
                                                ArrayRef<int16_t> axes) {
  auto t = cast<RankedTensorType>(arg.getType());
  if (dim < 0 || dim >= t.getRank() || t.getDimSize(dim) % parts(axes) != 0)
    return fn.emitError("dimension ")
           << dim << " of argument " << arg.getArgNumber() << " (" << t
           << ") is not divisible by " << strategy;
  // After the slices seeded before (in argument order), before any op; a
  // second dimension slices the first one's local value.
  Value &current = seeded[arg];
  if (!current)
    current = arg;
  Block &block = fn.getBody().front();
  Operation *before = &block.front();
  while (isa<shard::AllSliceOp>(before) && seededSlices.count(before))
    before = before->getNextNode();
  Value local = slice(current, dim, axes, before);
  current.replaceAllUsesExcept(local, local.getDefiningOp());
  seededSlices.insert(local.getDefiningOp());
  current = local;
  return success();
}

LogicalResult ShardingPropagation::seedValue(Value v, int64_t dim,
                                             ArrayRef<int16_t> axes) {
  auto t = cast<RankedTensorType>(v.getType());
  if (dim < 0 || dim >= t.getRank() || t.getDimSize(dim) % parts(axes) != 0)
    return fn.emitError("dimension ")
           << dim << " of " << t << " is not divisible by " << strategy;
  Operation *def = v.getDefiningOp();
  Operation *before = def ? def->getNextNode() : &fn.getBody().front().front();
  Value local = slice(v, dim, axes, before);
  v.replaceAllUsesExcept(local, local.getDefiningOp());
  return success();
}

LogicalResult ShardingPropagation::seedParam(OpOperand &use, int64_t dim,
                                             ArrayRef<int16_t> axes) {
  auto param = use.get().getDefiningOp<ParamOp>();
  if (!param)
    return use.getOwner()->emitError()
           << strategy << " seeds operand " << use.getOperandNumber()
           << ", which is not a parameter";
  auto t = param.getType();
  if (dim < 0 || dim >= t.getRank() || t.getDimSize(dim) % parts(axes) != 0)
    return param.emitError("parameter '")
           << param.getName() << "' of shape " << t << " cannot be split in "
           << parts(axes) << " along dimension " << dim;
  use.set(slice(use.get(), dim, axes, use.getOwner()));
  return success();
}

void ShardingPropagation::gatherAfter(Operation *op) { gathered.insert(op); }

/// An add of two partial sums over the same axes, each read only by it,
/// is a partial sum itself: one all_reduce after the add instead of one
/// per operand (fresco-split-concat-linear's parts).
static bool foldPartialAdd(Operation *op) {
  auto add = dyn_cast<AddOp>(op);
  if (!add || add.getLhs().getType() != add.getType() ||
      add.getRhs().getType() != add.getType())
    return false;
  SmallVector<Operation *, 2> defs;
  ShardingAttr sharding;
  for (Value v : {add.getLhs(), add.getRhs()}) {
    Operation *def = v.getDefiningOp();
    auto s = def ? def->getAttrOfType<ShardingAttr>(kSharding) : nullptr;
    if (!s || s.getPartial().empty() || !v.hasOneUse() ||
        (sharding && s != sharding))
      return false;
    sharding = s;
    defs.push_back(def);
  }
  for (Operation *def : defs)
    def->removeAttr(kSharding);
  add->setAttr(kSharding, sharding);
  return true;
}

FailureOr<bool> ShardingPropagation::visitSegmented(Operation *op) {
  auto localType = [&](Value global, const Split &split, int64_t axis,
                       int64_t size) {
    auto t = cast<RankedTensorType>(global.getType());
    SmallVector<int64_t> shape(t.getShape());
    for (auto [d, axes] : llvm::enumerate(split))
      shape[d] /= parts(axes);
    shape[axis] = size;
    return RankedTensorType::get(shape, t.getElementType());
  };
  if (auto c = dyn_cast<ConcatOp>(op)) {
    int64_t axis = int64_t(c.getAxis());
    axis += axis < 0 ? c.getType().getRank() : 0;
    Split split = splitOf(c.getInputs().front());
    if (split[axis].empty())
      return false;
    // Each rank's block: its share of every input, in the inputs' order.
    SmallVector<int64_t> sizes;
    int64_t local = 0;
    for (auto [i, v] : llvm::enumerate(c.getInputs())) {
      if (splitOf(v) != split)
        return op->emitError()
               << strategy << " splits dimension " << axis
               << " of this concatenation's operand 0 but operand " << i
               << " is split otherwise";
      llvm::append_range(sizes, segmentsOf(v, axis));
      local += cast<RankedTensorType>(v.getType()).getDimSize(axis);
    }
    c.getResult().setType(localType(c.getResult(), split, axis, local));
    if (failed(checkInferredTypes(op, strategy + " expected the local type")))
      return failure();
    setSplit(c.getResult(), split);
    setSegments(c.getResult(), axis, sizes);
    return true;
  }
  auto s = dyn_cast<SliceOp>(op);
  if (!s)
    return false;
  int64_t axis = int64_t(s.getAxis());
  axis += axis < 0 ? s.getType().getRank() : 0;
  Split split = splitOf(s.getInput());
  int64_t start = int64_t(s.getStart()), size = int64_t(s.getSize());
  if (split[axis].empty() || size == globalSize(s.getInput(), axis))
    return false;
  // Whole sequences of a concatenation: this rank's share of them.
  SmallVector<int64_t> sizes = segmentsOf(s.getInput(), axis);
  if (sizes.size() < 2)
    return false; // a part of one sequence: the rule refuses it
  int64_t first = -1, last = -1, at = 0;
  for (auto [k, n] : llvm::enumerate(sizes)) {
    if (at == start)
      first = int64_t(k);
    at += n;
    if (at == start + size)
      last = int64_t(k) + 1;
  }
  if (first < 0 || last <= first)
    return op->emitError() << strategy << " splits dimension " << axis
                           << " of this slice's input, whose elements ["
                           << start << ", " << start + size
                           << ") are not whole sequences of the "
                           << listOf(sizes) << " it concatenates";
  int64_t p = parts(split[axis]), before = 0;
  for (int64_t k = 0; k < first; ++k)
    before += sizes[k];
  OpBuilder b(op);
  s.setStartAttr(b.getI64IntegerAttr(before / p));
  s.setSizeAttr(b.getI64IntegerAttr(size / p));
  s.getResult().setType(localType(s.getResult(), split, axis, size / p));
  if (failed(checkInferredTypes(op, strategy + " expected the local type")))
    return failure();
  setSplit(s.getResult(), split);
  setSegments(s.getResult(), axis,
              ArrayRef<int64_t>(sizes).slice(first, last - first));
  return true;
}

LogicalResult
ShardingPropagation::carrySegments(Operation *op, const ShardingRule &rule,
                                   ArrayRef<SmallVector<int16_t>> axesOf) {
  if (segments.empty())
    return success();
  for (auto [f, axes] : llvm::enumerate(axesOf)) {
    if (axes.empty())
      continue;
    std::optional<SmallVector<int64_t>> order;
    for (OpOperand &use : op->getOpOperands())
      for (auto [d, fs] :
           llvm::enumerate(rule.operands[use.getOperandNumber()])) {
        if (fs.empty() || fs.front() != int64_t(f) ||
            splitOf(use.get())[d].empty())
          continue;
        SmallVector<int64_t> sizes = segmentsOf(use.get(), d);
        if (sizes.size() > 1 && fs.size() > 1)
          return op->emitError()
                 << strategy << " would fold the concatenated sequences "
                 << listOf(sizes) << " of dimension " << d << " of operand "
                 << use.getOperandNumber() << " into a larger dimension";
        if (order && *order != sizes)
          return op->emitError()
                 << strategy << ": operand " << use.getOperandNumber()
                 << " holds the tokens of dimension " << d << " as "
                 << listOf(sizes) << ", another operand as " << listOf(*order)
                 << " (each rank holds its share of every sequence of a "
                    "concatenation: the orders must agree)";
        order = sizes;
      }
    if (!order || order->size() < 2)
      continue;
    for (auto [j, r] : llvm::enumerate(op->getResults()))
      for (auto [d, fs] : llvm::enumerate(rule.results[j])) {
        if (fs.empty() || fs.front() != int64_t(f))
          continue;
        if (fs.size() > 1)
          return op->emitError()
                 << strategy << " would fold the concatenated sequences "
                 << listOf(*order) << " into result dimension " << d;
        setSegments(r, int64_t(d), *order);
      }
  }
  return success();
}

LogicalResult ShardingPropagation::visit(Operation *op,
                                         const ShardingRule &rule) {
  if (foldPartialAdd(op))
    return success();
  if (llvm::none_of(op->getOperands(), [&](Value v) { return isSplit(v); }))
    return success();
  // Padding taken off a split dimension (fresco-pad-uneven): the blocks
  // are gathered first, the padding being at the end of the whole.
  if (auto s = dyn_cast<SliceOp>(op); s && s->hasAttr(kUnpad)) {
    Split split = splitOf(s.getInput());
    int64_t axis = int64_t(s.getAxis());
    if (!split[axis].empty()) {
      if (segmentsOf(s.getInput(), axis).size() > 1)
        return op->emitError()
               << strategy << " cannot gather the concatenated sequences "
               << listOf(segmentsOf(s.getInput(), axis))
               << " to take padding off their end";
      auto t = cast<RankedTensorType>(s.getInput().getType());
      SmallVector<int64_t> shape(t.getShape());
      shape[axis] *= parts(split[axis]);
      OpBuilder b(op);
      Value whole = shard::AllGatherOp::create(
          b, op->getLoc(), RankedTensorType::get(shape, t.getElementType()),
          FlatSymbolRefAttr::get(b.getStringAttr(kGridName)),
          b.getDenseI16ArrayAttr(split[axis]), s.getInput(),
          b.getIndexAttr(axis));
      split[axis].clear();
      setSplit(whole, split);
      s.getInputMutable().set(whole);
      if (!isSplit(whole))
        return success();
    }
  }
  if (FailureOr<bool> done = visitSegmented(op); failed(done) || *done)
    return failure(failed(done));
  // 1. Which factors the split operands split, over which axes.
  SmallVector<SmallVector<int16_t>> axesOf(rule.factors.size());
  SmallVector<std::pair<unsigned, int64_t>> where(rule.factors.size());
  for (auto [i, v] : llvm::enumerate(op->getOperands())) {
    auto it = splits.find(v);
    if (it == splits.end())
      continue;
    for (auto [d, axes] : llvm::enumerate(it->second)) {
      if (axes.empty())
        continue;
      const SmallVector<int64_t, 2> &fs = rule.operands[i][d];
      if (fs.empty())
        return op->emitError()
               << strategy << " splits dimension " << d << " of operand " << i
               << ", which broadcasts in this op";
      int64_t f = fs.front();
      if (!axesOf[f].empty() && axesOf[f] != axes)
        return op->emitError()
               << strategy << ": operands split dimension " << d
               << " of operand " << i << " and its counterpart of operand "
               << where[f].first << " over different grid axes";
      if (axesOf[f].empty())
        where[f] = {unsigned(i), int64_t(d)}; // the first, for messages
      axesOf[f] = axes;
    }
  }
  // 2. What the rule allows.
  SmallVector<int16_t> partial;
  bool moveBias = false;
  llvm::SmallSet<int16_t, 4> used;
  for (auto [f, axes] : llvm::enumerate(axesOf)) {
    if (axes.empty())
      continue;
    auto [i, d] = where[f];
    // One grid axis cannot split two different dimensions of one op.
    for (int16_t a : axes)
      if (!used.insert(a).second)
        return op->emitError()
               << strategy << " splits two different dimensions of this op "
               << "over grid axis " << a;
    if (rule.factors[f].size % parts(axes) != 0)
      return op->emitError()
             << strategy << " cannot split dimension " << d << " of operand "
             << i << ": the op's factor there has size " << rule.factors[f].size
             << ", not divisible by " << parts(axes);
    switch (rule.factors[f].kind) {
    case FactorKind::Parallel:
      break;
    case FactorKind::Reduction:
      partial.append(axes.begin(), axes.end());
      // A term without the contracted factor would be added once per rank
      // to the partial sums: a linear's bias moves after the reduction,
      // anything else is refused.
      for (auto [j, t] : llvm::enumerate(rule.operands)) {
        if (llvm::any_of(t, [factor = int64_t(f)](const auto &fs) {
              return llvm::is_contained(fs, factor);
            }))
          continue;
        if (isa<LinearOp, Conv2dOp>(op) && j == 2) {
          moveBias = true;
          continue;
        }
        return op->emitError()
               << strategy << " splits the contraction (dimension " << d
               << " of operand " << i << "), but operand " << j
               << " would be added to each rank's partial sum";
      }
      break;
    case FactorKind::NeedReplication:
      return op->emitError()
             << strategy << " splits dimension " << d << " of operand " << i
             << ", which this op needs whole";
    case FactorKind::KeySequence:
      return op->emitError()
             << strategy << " splits attention's key/value tokens "
             << "(dimension " << d << " of operand " << i
             << "); only ring or Ulysses attention resolves that";
    }
  }
  // 3. Operands: replicated parts of a split factor become local slices;
  // a split factor must be its dimension's major one (contiguous blocks).
  for (OpOperand &use : op->getOpOperands()) {
    unsigned i = use.getOperandNumber();
    for (auto [d, fs] : llvm::enumerate(rule.operands[i])) {
      for (auto [k, f] : llvm::enumerate(fs)) {
        if (axesOf[f].empty())
          continue;
        if (k != 0)
          return op->emitError()
                 << strategy << " would split a minor part of dimension " << d
                 << " of operand " << i;
        if (splitOf(use.get())[d].empty())
          use.set(slice(use.get(), d, axesOf[f], op));
      }
    }
  }
  // 4. Results: the dimensions the split factors make up, local types.
  SmallVector<Split> resultSplits;
  for (auto [j, r] : llvm::enumerate(op->getResults())) {
    auto global = cast<RankedTensorType>(r.getType());
    SmallVector<int64_t> shape(global.getShape());
    Split split(global.getRank());
    for (auto [d, fs] : llvm::enumerate(rule.results[j])) {
      for (auto [k, f] : llvm::enumerate(fs)) {
        if (axesOf[f].empty())
          continue;
        if (k != 0)
          return op->emitError()
                 << strategy << " would split a minor part of result "
                 << "dimension " << d;
        split[d] = axesOf[f];
        shape[d] /= parts(axesOf[f]);
      }
    }
    resultSplits.push_back(split);
    r.setType(RankedTensorType::get(shape, global.getElementType()));
  }
  // 5. Attributes that count a split factor.
  if (rule.headsFactor && !axesOf[*rule.headsFactor].empty())
    setHeadCount(op, headCount(op) / parts(axesOf[*rule.headsFactor]));
  // 6. The op's own inference must agree with the local types.
  if (failed(checkInferredTypes(op, strategy + " expected the local type")))
    return failure();
  for (auto [r, split] : llvm::zip(op->getResults(), resultSplits))
    if (llvm::any_of(split, [](const auto &a) { return !a.empty(); }))
      splits[r] = split;
  if (failed(carrySegments(op, rule, axesOf)))
    return failure();
  if (!partial.empty()) {
    llvm::sort(partial);
    op->setAttr(kSharding,
                ShardingAttr::get(op->getContext(), resultSplits[0], partial));
  }
  OpBuilder b(op->getContext());
  b.setInsertionPointAfter(op);
  if (moveBias) { // added once, to the reduced sum (fresco-insert-collectives)
    Value bias = op->getOperand(2);
    if (auto l = dyn_cast<LinearOp>(op))
      l.getBiasMutable().clear();
    else
      cast<Conv2dOp>(op).getBiasMutable().clear();
    // A convolution's [O] bias broadcasts over [N, O, H, W] as [O, 1, 1].
    if (isa<Conv2dOp>(op)) {
      auto t = cast<RankedTensorType>(bias.getType());
      bias = ReshapeOp::create(
          b, op->getLoc(),
          RankedTensorType::get({t.getDimSize(0), 1, 1}, t.getElementType()),
          bias);
      b.setInsertionPointAfter(bias.getDefiningOp());
    }
    Value r = op->getResult(0);
    auto add = AddOp::create(b, op->getLoc(), r, bias);
    r.replaceAllUsesExcept(add.getResult(), add);
    b.setInsertionPointAfter(add);
  }
  // Results the strategy wants whole right away: one all_gather per split
  // dimension, right after the op.
  if (gathered.count(op)) {
    for (Value r : op->getResults()) {
      auto it = splits.find(r);
      if (it == splits.end())
        continue;
      Split split = it->second;
      if (segments.count(r))
        return op->emitError()
               << strategy << " cannot gather concatenated sequences";
      splits.erase(it);
      Value whole = r;
      Operation *first = nullptr;
      for (auto [d, axes] : llvm::enumerate(split)) {
        if (axes.empty())
          continue;
        auto t = cast<RankedTensorType>(whole.getType());
        SmallVector<int64_t> shape(t.getShape());
        shape[d] *= parts(axes);
        whole = shard::AllGatherOp::create(
            b, op->getLoc(), RankedTensorType::get(shape, t.getElementType()),
            FlatSymbolRefAttr::get(b.getStringAttr(kGridName)),
            b.getDenseI16ArrayAttr(axes), whole, b.getIndexAttr(d));
        b.setInsertionPointAfter(whole.getDefiningOp());
        if (!first)
          first = whole.getDefiningOp();
      }
      r.replaceAllUsesExcept(whole, first);
    }
  }
  return success();
}

LogicalResult ShardingPropagation::visitForeign(Operation *op) {
  if (llvm::none_of(op->getOperands(), [&](Value v) { return isSplit(v); }))
    return success();
  // An earlier sequence split's exchange (Ulysses' all_to_all around an
  // attention) keeps this split on both sides: which tokens a rank holds
  // does not matter to attention, only that q, k and v agree and that the
  // way back inverts the way in.
  if (auto a2a = dyn_cast<shard::AllToAllOp>(op)) {
    Split split = splitOf(a2a.getInput());
    auto t = cast<RankedTensorType>(a2a.getType());
    SmallVector<int64_t> shape(t.getShape());
    for (auto [d, axes] : llvm::enumerate(split))
      shape[d] /= parts(axes);
    a2a.getResult().setType(RankedTensorType::get(shape, t.getElementType()));
    setSplit(a2a.getResult(), split);
    // Concatenated sequences: each of the exchanged blocks holds them in
    // the same order.
    if (auto it = segments.find(a2a.getInput()); it != segments.end()) {
      auto entry = it->second; // a copy: inserting may move the map
      segments[a2a.getResult()] = std::move(entry);
    }
    return success();
  }
  // An earlier split's gather of the same dimension gathers this split in
  // the same call, minor to the earlier one (this split cut each of its
  // blocks), so the blocks come back in order.
  if (auto g = dyn_cast<shard::AllGatherOp>(op)) {
    if (segments.count(g.getInput()))
      return op->emitError()
             << strategy << " cannot gather concatenated sequences";
    Split split = splitOf(g.getInput());
    int64_t dim = g.getGatherAxis().getSExtValue();
    SmallVector<int16_t> axes(g.getGridAxes());
    for (auto [d, a] : llvm::enumerate(split)) {
      if (a.empty())
        continue;
      if (int64_t(d) != dim)
        return op->emitError() << strategy << " splits dimension " << d
                               << " of a gather along dimension " << dim;
      if (!axes.empty() && axes.back() > a.front())
        return op->emitError()
               << strategy << ": list it after the strategy whose gather "
               << "this is (grid axis " << axes.back() << ") in --parallel";
      axes.append(a.begin(), a.end());
    }
    g.setGridAxesAttr(DenseI16ArrayAttr::get(op->getContext(), axes));
    return success(); // the result is whole again
  }
  return op->emitError() << strategy << " cannot carry a split through this op";
}

LogicalResult ShardingPropagation::propagate() {
  for (auto &[op, rule] : ops) {
    if (auto attention = dyn_cast<AttentionOp>(op); attention && rule)
      if (std::optional<int16_t> axis = sequenceAxis(attention)) {
        if (failed(visitAttention(attention, *rule, *axis)))
          return failure();
        continue;
      }
    // An earlier split's halo band (fresco.pad for shard.update_halo):
    // the rows are split once.
    if (auto pad = dyn_cast<PadOp>(op);
        pad && isSplit(pad.getInput()) && pad->hasOneUse() &&
        isa<shard::UpdateHaloOp>(*pad->user_begin()))
      return op->emitError()
             << strategy << " splits rows that an earlier strategy split "
             << "with halos; split a UNet's rows over one sequence axis "
                "(ulysses or ring)";
    if (rule && splitsSpatially(op, *rule)) {
      if (failed(isa<Conv2dOp>(op) ? haloConvolution(cast<Conv2dOp>(op), *rule)
                                   : statsGroupNorm(cast<GroupNormOp>(op))))
        return failure();
      continue;
    }
    if (failed(rule ? visit(op, *rule) : visitForeign(op)))
      return failure();
  }
  return success();
}

LogicalResult ShardingPropagation::run() {
  if (failed(propagate()))
    return failure();
  return markResults();
}

LogicalResult ShardingPropagation::markResults() {
  Block &block = fn.getBody().front();
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  for (auto [i, v] : llvm::enumerate(ret.getOperands())) {
    if (!isSplit(v))
      continue;
    Split split = splitOf(v);
    for (auto [d, axes] : llvm::enumerate(split))
      if (!axes.empty() && segmentsOf(v, d).size() > 1)
        return ret.emitError()
               << strategy << ": result " << i
               << " concatenates sequences split on their own; gathering "
                  "it would interleave them";
    // An earlier strategy's mark (cfg's batch, Ulysses' tokens before
    // ring's): this split cut each of its blocks, so it is minor to it.
    ArrayRef<int16_t> partial;
    if (auto earlier = fn.getResultAttrOfType<ShardingAttr>(i, kSharding)) {
      partial = earlier.getPartial().asArrayRef();
      for (auto [d, axes] : llvm::enumerate(split)) {
        SmallVector<int16_t> all(earlier.getDimAxes(d));
        if (!all.empty() && !axes.empty() && all.back() > axes.front())
          return ret.emitError()
                 << strategy << ": list it after the strategy that split "
                 << "dimension " << d << " of result " << i << " (grid axis "
                 << all.back() << ") in --parallel";
        all.append(axes.begin(), axes.end());
        axes = std::move(all);
      }
    }
    fn.setResultAttr(i, kSharding,
                     ShardingAttr::get(fn.getContext(), split, partial));
  }
  fn.setFunctionType(FunctionType::get(fn.getContext(), fn.getArgumentTypes(),
                                       ret.getOperandTypes()));
  return success();
}

} // namespace mlir::fresco
