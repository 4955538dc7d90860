//===- PadUneven.cpp - Even splits from sizes that do not divide ----------===//
//
// A size that a parallel degree does not divide is padded in the global
// function, before any strategy runs, so that every split is even:
//   - tokens, to a multiple of the sequence degree (ulysses x ring), by a
//     fresco.pad of zeros where the tokens appear;
//   - attention heads, to a multiple of the degree that splits them
//     (tp x ulysses), by zero rows in the q, k and v projections;
//   - a token MLP's width, to a multiple of tp, by zero rows in its first
//     linear.
// The ops' sharding rules carry the padding forward (the same rules that
// carry splits). It never changes a real value: padded weights are zeros
// (a parameter's checkpoint_shape; the runtime loads zeros past the
// checkpoint tensor), so padded heads and features are zero and a
// contraction over them adds zeros (the padding of a contracted factor is
// kept only when a parameter's zeros meet it); padded keys are masked out
// of attention (key_valid); and before an op that would mix padding into
// real values (a norm over the padded dimension, a reshape folding it into
// another) and before the return, the padding is sliced off again
// (fresco.slice marked fresco.unpad; under a split, a gather precedes it).
//
// A UNet's latent rows (no patch embedding to pad the tokens of) are padded
// at the bottom, to a multiple of the degree times the factor by which its
// levels halve them, so that every level's rows split evenly. Padding rows
// hold don't-care values: a convolution that reads them is marked
// `valid_rows` (they are read as zeros: the halo exchange zeroes them), a
// group norm leaves them out of its statistics (`valid_rows`), attention
// masks them as padded keys once they are tokens, and the return slices
// them off. A ControlNet's control image beside the latents (f pixel rows
// per latent row) is padded by f times as many rows, so that its embedding
// lands on the padded latent grid and its residuals add row for row.
//
// Sequences padded on their own and then joined (Flux's [text; image]
// tokens, padded at the model's marked token arguments) hold padding inside
// the joined sequence: their runs (padded length, real count) are carried
// instead of a real prefix, a slice of whole sequences takes their padded
// extent, and attention masks each run's padding.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/KeyMask.h"
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"

#include "llvm/ADT/SetVector.h"

#include "mlir/Interfaces/InferTypeOpInterface.h"

#define DEBUG_TYPE "fresco-pad-uneven"

namespace mlir::fresco {
#define GEN_PASS_DEF_PADUNEVEN
#include "compiler/Transforms/Passes.h.inc"

namespace {

int64_t roundUp(int64_t n, int64_t m) { return (n + m - 1) / m * m; }

class Padder {
public:
  using Runs = SmallVector<std::pair<int64_t, int64_t>>;

  explicit Padder(func::FuncOp fn) : fn(fn) {
    // Rules on the unpadded types, before any seed.
    for (Operation &op : fn.getBody().front()) {
      std::optional<ShardingRule> rule;
      if (auto iface = dyn_cast<ShardingRuleOpInterface>(op))
        rule = iface.getShardingRule();
      ops.push_back({&op, std::move(rule)});
    }
  }

  /// Seeds: `l`'s weight gets zero rows up to `rows` outputs.
  void padRows(LinearOp l, int64_t rows) {
    auto w = cast<RankedTensorType>(l.getWeight().getType());
    l.getWeightMutable().set(padTo(l.getWeight(), {rows, w.getDimSize(1)}, l));
  }
  /// Seeds: `v` padded with zeros along `dim` to `size`, right after its
  /// definition, marked as the sequence the sequence passes split.
  void padTokens(Value v, int64_t dim, int64_t size, bool marked = false) {
    OpBuilder b(fn.getContext());
    if (Operation *def = v.getDefiningOp())
      b.setInsertionPointAfter(def);
    else
      b.setInsertionPointToStart(&fn.getBody().front());
    Value p = pad(b, v, dim, size);
    p.getDefiningOp()->setAttr(kSequenceSeed, b.getUnitAttr());
    if (marked) // its run, so that a join can tell it from other padding
      runs[p] = {dim, {{size, realShape(v)[dim]}}};
    v.replaceAllUsesExcept(p, p.getDefiningOp());
  }

  LogicalResult propagate() {
    for (auto &[op, rule] : ops) {
      if (llvm::none_of(op->getOperands(), [&](Value v) { return padded(v); }))
        continue;
      if (!rule) { // the return, or an op without a rule
        for (OpOperand &use : op->getOpOperands())
          if (padded(use.get()))
            use.set(unpad(use.get(), op));
        continue;
      }
      if (failed(visit(op, *rule)))
        return failure();
    }
    return failure(bad);
  }

private:
  bool padded(Value v) const { return real.count(v); }
  SmallVector<int64_t> realShape(Value v) const {
    if (auto it = real.find(v); it != real.end())
      return it->second;
    auto shape = cast<RankedTensorType>(v.getType()).getShape();
    return SmallVector<int64_t>(shape);
  }

  Value pad(OpBuilder &b, Value v, int64_t dim, int64_t size) {
    SmallVector<int64_t> realDims = realShape(v);
    auto t = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(t.getShape());
    shape[dim] = size;
    auto p = PadOp::create(b, v.getLoc(),
                           RankedTensorType::get(shape, t.getElementType()), v,
                           b.getI64IntegerAttr(dim), b.getI64IntegerAttr(0),
                           b.getI64IntegerAttr(size));
    real[p.getResult()] = realDims;
    return p.getResult();
  }

  /// `v` grown to `shape` with zeros, for `user`: a parameter becomes a
  /// copy that loads zeros past its checkpoint tensor.
  Value padTo(Value v, ArrayRef<int64_t> shape, Operation *user) {
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getShape() == shape)
      return v;
    OpBuilder b(user);
    // (A parameter that is a slice of its tensor would read the tensor's
    // next columns past its end: it is padded like any value.)
    if (auto param = v.getDefiningOp<ParamOp>(); param && !param.getOffsets()) {
      auto copy = cast<ParamOp>(b.clone(*param));
      SmallVector<int64_t> ckpt = realShape(v);
      if (auto c = param.getCheckpointShape())
        ckpt.assign(c->begin(), c->end());
      copy.setCheckpointShape(ckpt);
      copy.getResult().setType(
          RankedTensorType::get(shape, t.getElementType()));
      real[copy.getResult()] = ckpt;
      return copy.getResult();
    }
    for (auto [d, size] : llvm::enumerate(shape))
      if (size != cast<RankedTensorType>(v.getType()).getDimSize(d))
        v = pad(b, v, d, size);
    return v;
  }

  /// `v` without its padding, for `user`.
  Value unpad(Value v, Operation *user) {
    // Joined sequences keep their padding (it is inside the dimension);
    // only the other dimensions lose theirs.
    std::optional<std::pair<int64_t, Runs>> joined;
    if (auto it = runs.find(v);
        it != runs.end() && it->second.second.size() > 1)
      joined = it->second;
    SmallVector<int64_t> dims = realShape(v);
    OpBuilder b(user);
    Value in = v;
    for (auto [d, size] : llvm::enumerate(dims)) {
      auto t = cast<RankedTensorType>(v.getType());
      if (t.getDimSize(d) == size || (joined && joined->first == int64_t(d)))
        continue;
      SmallVector<int64_t> shape(t.getShape());
      shape[d] = size;
      auto s = SliceOp::create(
          b, user->getLoc(), RankedTensorType::get(shape, t.getElementType()),
          v, b.getI64IntegerAttr(d), b.getI64IntegerAttr(0),
          b.getI64IntegerAttr(size));
      s->setAttr(kUnpad, b.getUnitAttr());
      v = s.getResult();
    }
    if (!joined)
      return v;
    if (v == in) {
      user->emitError("fresco-pad-uneven: this op cannot take the padding "
                      "of joined sequences (dimension ")
          << joined->first << ")";
      bad = true;
      return v;
    }
    SmallVector<int64_t> left(cast<RankedTensorType>(v.getType()).getShape());
    left[joined->first] = dims[joined->first];
    real[v] = left;
    runs[v] = *joined;
    return v;
  }

  LogicalResult visit(Operation *op, const ShardingRule &rule);
  /// A convolution whose window reads across rows, or a group norm, over an
  /// input padded in its rows only; false for any other op.
  FailureOr<bool> visitPaddedRows(Operation *op, const ShardingRule &rule);
  /// A concatenation of padded sequences along their tokens, or a slice of
  /// whole ones; false for any other op.
  FailureOr<bool> visitJoined(Operation *op);
  /// Runs of the results from the operands' (which must agree).
  LogicalResult carryRuns(Operation *op, const ShardingRule &rule);
  /// (padded, real) of each sequence `v` joins along `dim`: one when it
  /// does not join sequences.
  Runs runsOf(Value v, int64_t dim) const {
    if (auto it = runs.find(v); it != runs.end() && it->second.first == dim)
      return it->second.second;
    return {{cast<RankedTensorType>(v.getType()).getDimSize(dim),
             realShape(v)[dim]}};
  }

  func::FuncOp fn;
  SmallVector<std::pair<Operation *, std::optional<ShardingRule>>> ops;
  /// The real (unpadded) shape of every padded value.
  llvm::DenseMap<Value, SmallVector<int64_t>> real;
  /// Values joining padded sequences: the dimension and the runs.
  llvm::DenseMap<Value, std::pair<int64_t, Runs>> runs;
  bool bad = false; // an error was reported
};

/// The product of a dimension's minor factors.
int64_t minorSize(const ShardingRule &rule, ArrayRef<int64_t> fs) {
  int64_t m = 1;
  for (int64_t f : fs.drop_front())
    m *= rule.factors[f].size;
  return m;
}

FailureOr<bool> Padder::visitJoined(Operation *op) {
  auto setPadded = [&](Value r, SmallVector<int64_t> shape,
                       SmallVector<int64_t> realDims, int64_t axis,
                       const Runs &rs) {
    auto t = cast<RankedTensorType>(r.getType());
    r.setType(RankedTensorType::get(shape, t.getElementType()));
    if (shape != realDims)
      real[r] = realDims;
    runs[r] = {axis, rs};
    return checkInferredTypes(op, "fresco-pad-uneven expected the padded type");
  };
  if (auto c = dyn_cast<ConcatOp>(op)) {
    int64_t axis = int64_t(c.getAxis());
    axis += axis < 0 ? c.getType().getRank() : 0;
    Value first = c.getInputs().front();
    SmallVector<int64_t> shape(
        cast<RankedTensorType>(first.getType()).getShape());
    SmallVector<int64_t> realDims = realShape(first);
    // Joined sequences: some padded (with a run), the others whole.
    Runs rs;
    bool joined = false;
    for (Value v : c.getInputs()) {
      auto vs = cast<RankedTensorType>(v.getType()).getShape();
      SmallVector<int64_t> vr = realShape(v);
      for (int64_t d = 0; d < int64_t(vs.size()); ++d)
        if (d != axis && (vs[d] != shape[d] || vr[d] != realDims[d]))
          return false; // padded otherwise: the generic step
      auto it = runs.find(v);
      bool run = it != runs.end() && it->second.first == axis;
      if (!run && vs[axis] != vr[axis])
        return false; // other padding: the generic step
      joined |= run;
      llvm::append_range(rs, runsOf(v, axis));
    }
    if (!joined)
      return false;
    shape[axis] = realDims[axis] = 0;
    for (auto [padded, n] : rs) {
      shape[axis] += padded;
      realDims[axis] += n;
    }
    if (failed(setPadded(c.getResult(), shape, realDims, axis, rs)))
      return failure();
    return true;
  }
  auto s = dyn_cast<SliceOp>(op);
  if (!s)
    return false;
  int64_t axis = int64_t(s.getAxis());
  axis += axis < 0 ? s.getType().getRank() : 0;
  auto it = runs.find(s.getInput());
  if (it == runs.end() || it->second.first != axis ||
      it->second.second.size() < 2)
    return false;
  // The slice counts real tokens: whole sequences, taken with their padding.
  const Runs &rs = it->second.second;
  int64_t start = int64_t(s.getStart()), size = int64_t(s.getSize());
  int64_t first = -1, last = -1, at = 0, paddedAt = 0, from = 0, to = 0;
  for (auto [k, run] : llvm::enumerate(rs)) {
    if (at == start) {
      first = int64_t(k);
      from = paddedAt;
    }
    at += run.second;
    paddedAt += run.first;
    if (at == start + size && first >= 0) {
      last = int64_t(k) + 1;
      to = paddedAt;
    }
  }
  if (first < 0 || last <= first)
    return op->emitError("fresco-pad-uneven: this slice's elements [")
           << start << ", " << start + size
           << ") are not whole sequences of the padded ones it joins";
  OpBuilder b(op);
  s.setStartAttr(b.getI64IntegerAttr(from));
  s.setSizeAttr(b.getI64IntegerAttr(to - from));
  SmallVector<int64_t> shape(
      cast<RankedTensorType>(s.getInput().getType()).getShape());
  SmallVector<int64_t> realDims = realShape(s.getInput());
  shape[axis] = to - from;
  realDims[axis] = size;
  if (failed(setPadded(s.getResult(), shape, realDims, axis,
                       Runs(ArrayRef(rs).slice(first, last - first)))))
    return failure();
  return true;
}

FailureOr<bool> Padder::visitPaddedRows(Operation *op,
                                        const ShardingRule &rule) {
  if (!isa<Conv2dOp, GroupNormOp>(op))
    return false;
  Value x = op->getOperand(0);
  auto t = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> realDims = realShape(x);
  if (!padded(x) || t.getRank() != 4 || realDims[2] == t.getDimSize(2))
    return false;
  for (int64_t d : {0, 1, 3})
    if (realDims[d] != t.getDimSize(d))
      return false; // padded otherwise: the generic step
  for (Value v : op->getOperands().drop_front())
    if (padded(v))
      return false;
  // A window that tiles its input (a 1x1 convolution) keeps each output
  // row with its input row: the generic step carries the padding.
  const TensorFactors &tf = rule.operands[0];
  if (tf[2].empty() ||
      rule.factors[tf[2].front()].kind != FactorKind::NeedReplication)
    return false;
  const int64_t rows = realDims[2];
  auto r = op->getResult(0);
  if (auto n = dyn_cast<GroupNormOp>(op)) {
    n.setValidRowsAttr(OpBuilder(op).getI64IntegerAttr(rows));
    r.setType(t);
    real[r] = realDims;
  } else {
    auto c = cast<Conv2dOp>(op);
    const int64_t stride = c.getStrides()[0];
    auto out = cast<RankedTensorType>(c.getType());
    // Only a convolution whose output rows are its input rows / stride
    // keeps the padding at the bottom (and its halo split).
    if (out.getDimSize(2) * stride != realDims[2] || rows % stride != 0)
      return op->emitError("fresco-pad-uneven padded the rows of this "
                           "convolution's input (")
             << rows << " real of " << t.getDimSize(2)
             << "), but its output rows are not its input rows / stride "
             << stride << "; only such a convolution can take padded rows";
    if (t.getDimSize(2) % stride != 0)
      return op->emitError("fresco-pad-uneven padded this convolution's ")
             << rows << " input rows to " << t.getDimSize(2)
             << ", which its stride " << stride
             << " does not divide (the levels do not halve exactly)";
    c.setValidRowsAttr(OpBuilder(op).getI64IntegerAttr(rows));
    SmallVector<int64_t> shape(out.getShape());
    real[r] = shape;
    shape[2] = t.getDimSize(2) / stride;
    r.setType(RankedTensorType::get(shape, out.getElementType()));
  }
  if (failed(
          checkInferredTypes(op, "fresco-pad-uneven expected the padded type")))
    return failure();
  return true;
}

LogicalResult Padder::carryRuns(Operation *op, const ShardingRule &rule) {
  if (runs.empty())
    return success();
  for (int64_t f = 0; f < int64_t(rule.factors.size()); ++f) {
    std::optional<Runs> order;
    bool joined = false;
    for (OpOperand &use : op->getOpOperands())
      for (auto [d, fs] :
           llvm::enumerate(rule.operands[use.getOperandNumber()])) {
        if (fs.empty() || fs.front() != f)
          continue;
        Runs rs = runsOf(use.get(), int64_t(d));
        auto it = runs.find(use.get());
        joined |= it != runs.end() && it->second.first == int64_t(d);
        if (rs.size() > 1 && fs.size() > 1)
          return op->emitError("fresco-pad-uneven would fold joined padded "
                               "sequences into a larger dimension");
        if (order && *order != rs)
          return op->emitError("fresco-pad-uneven: operand ")
                 << use.getOperandNumber() << " pads the tokens of dimension "
                 << d << " otherwise than another operand";
        order = rs;
      }
    if (!joined)
      continue;
    for (auto [j, r] : llvm::enumerate(op->getResults()))
      for (auto [d, fs] : llvm::enumerate(rule.results[j])) {
        if (fs.empty() || fs.front() != f)
          continue;
        // One run folded into a larger dimension (the unpatchify of padded
        // image tokens into padded patch rows) is plain padding there.
        if (fs.size() > 1 && order->size() == 1)
          continue;
        if (fs.size() > 1)
          return op->emitError("fresco-pad-uneven would fold joined padded "
                               "sequences into result dimension ")
                 << d;
        runs[r] = {int64_t(d), *order};
      }
  }
  return success();
}

LogicalResult Padder::visit(Operation *op, const ShardingRule &rule) {
  if (FailureOr<bool> done = visitJoined(op); failed(done) || *done)
    return failure(failed(done));
  if (FailureOr<bool> done = visitPaddedRows(op, rule); failed(done) || *done)
    return failure(failed(done));
  // 1. The padded size of each factor, from the padded operands; padding
  // that the op cannot take is sliced off its operand, and we look again.
  SmallVector<int64_t> paddedSize;
  for (bool again = true; again && !bad;) {
    again = false;
    paddedSize.assign(rule.factors.size(), 0);
    auto drop = [&](OpOperand &use) {
      use.set(unpad(use.get(), op)); // joined sequences: an error, bad
      again = true;
    };
    for (OpOperand &use : op->getOpOperands()) {
      if (!padded(use.get()))
        continue;
      SmallVector<int64_t> realDims = realShape(use.get());
      auto shape = cast<RankedTensorType>(use.get().getType()).getShape();
      const TensorFactors &tf = rule.operands[use.getOperandNumber()];
      for (auto [d, fs] : llvm::enumerate(tf)) {
        if (shape[d] == realDims[d])
          continue;
        int64_t m = fs.empty() ? 0 : minorSize(rule, fs);
        int64_t f = fs.empty() ? -1 : fs.front();
        // Padding whole units of the minor factors pads the major one.
        if (f < 0 || realDims[d] % m || shape[d] % m ||
            rule.factors[f].size != realDims[d] / m ||
            (paddedSize[f] && paddedSize[f] != shape[d] / m)) {
          drop(use);
          break;
        }
        paddedSize[f] = shape[d] / m;
      }
      if (again)
        break;
    }
    if (again)
      continue;
    // 2. What each padded factor's kind allows.
    for (auto [f, size] : llvm::enumerate(paddedSize)) {
      if (!size)
        continue;
      bool ok = true;
      switch (rule.factors[f].kind) {
      case FactorKind::Parallel:
        // A quotient of padding is 0/0: not zero, and no longer safe to
        // multiply by a zero weight.
        ok = !isa<DivOp>(op);
        break;
      case FactorKind::KeySequence: // masked by key_valid
        ok = isa<AttentionOp>(op);
        break;
      case FactorKind::Reduction: {
        // Exact when a parameter's zero padding multiplies the padding.
        ok = false;
        for (auto [i, tf] : llvm::enumerate(rule.operands))
          for (const auto &fs : tf)
            if (llvm::is_contained(fs, int64_t(f)) &&
                op->getOperand(i).getDefiningOp<ParamOp>())
              ok = true;
        break;
      }
      case FactorKind::NeedReplication:
        ok = false;
        break;
      }
      // A padded factor must be the major part wherever it appears.
      for (const auto &tensors :
           {std::cref(rule.operands), std::cref(rule.results)})
        for (const TensorFactors &tf : tensors.get())
          for (const auto &fs : tf)
            for (auto [k, g] : llvm::enumerate(fs))
              if (g == int64_t(f) && k != 0)
                ok = false;
      if (ok)
        continue;
      for (OpOperand &use : op->getOpOperands()) {
        if (!padded(use.get()))
          continue;
        for (const auto &fs : rule.operands[use.getOperandNumber()])
          if (!fs.empty() && fs.front() == int64_t(f)) {
            drop(use);
            break;
          }
      }
      break;
    }
  }
  if (bad)
    return failure();
  if (llvm::all_of(paddedSize, [](int64_t s) { return s == 0; }))
    return success(); // every padding was sliced off
  // 3. Operands that span a padded factor get zeros to match.
  auto grown = [&](ArrayRef<int64_t> shape, const TensorFactors &tf) {
    SmallVector<int64_t> out(shape);
    for (auto [d, fs] : llvm::enumerate(tf))
      if (!fs.empty() && paddedSize[fs.front()])
        out[d] = paddedSize[fs.front()] * minorSize(rule, fs);
    return out;
  };
  for (OpOperand &use : op->getOpOperands()) {
    auto t = cast<RankedTensorType>(use.get().getType());
    use.set(padTo(use.get(),
                  grown(t.getShape(), rule.operands[use.getOperandNumber()]),
                  op));
  }
  // 4. Results: the padded types, and their real shapes.
  for (auto [j, r] : llvm::enumerate(op->getResults())) {
    auto t = cast<RankedTensorType>(r.getType());
    SmallVector<int64_t> shape = grown(t.getShape(), rule.results[j]);
    if (shape == t.getShape())
      continue;
    real[r] = SmallVector<int64_t>(t.getShape());
    r.setType(RankedTensorType::get(shape, t.getElementType()));
  }
  // 5. Attributes that count a padded factor.
  if (rule.headsFactor && paddedSize[*rule.headsFactor])
    setHeadCount(op, paddedSize[*rule.headsFactor]);
  if (auto a = dyn_cast<AttentionOp>(op)) {
    int64_t tk = rule.operands[1][1].front();
    if (auto it = runs.find(a.getKey()); it != runs.end()) {
      // Padding inside the sequence: the fewest segments that mask it.
      if (std::optional<SmallVector<int64_t>> valid =
              keyValidOf({joinedMask(it->second.second)}))
        a.setKeyValid(*valid);
    } else if (paddedSize[tk]) {
      a.setKeyValid(ArrayRef<int64_t>{rule.factors[tk].size});
    }
  }
  // 6. The op's own inference must agree.
  if (failed(
          checkInferredTypes(op, "fresco-pad-uneven expected the padded type")))
    return failure();
  return carryRuns(op, rule);
}

/// The tokens [B, T, D] the [B, C, H, W] `image` becomes after its patch
/// embedding (the first rank-3 value down the chain, or its [0, 2, 1]
/// transpose), if a sequence split of `degree` ranks needs them padded:
/// when the degree does not divide the patch rows. `from`: the chain's
/// first op (the image's single user by default).
std::optional<Value> imageTokensToPad(Value image, int64_t degree,
                                      Operation *from = nullptr) {
  auto t = cast<RankedTensorType>(image.getType());
  Value v = image;
  bool rowsDivide = t.getDimSize(2) % degree == 0;
  while (from || v.hasOneUse()) {
    Operation *user = from ? from : *v.getUsers().begin();
    from = nullptr;
    if (user->getNumResults() != 1)
      break;
    v = user->getResult(0);
    if (isa<Conv2dOp>(user))
      rowsDivide =
          cast<RankedTensorType>(v.getType()).getDimSize(2) % degree == 0;
    if (cast<RankedTensorType>(v.getType()).getRank() == 3) {
      if (rowsDivide) // the row split works as it is
        return std::nullopt;
      // diffusers' PatchEmbed: flattened [B, D, T], then transposed.
      if (v.hasOneUse())
        if (auto t = dyn_cast<TransposeOp>(*v.getUsers().begin());
            t && t.getPermutation() == ArrayRef<int64_t>{0, 2, 1})
          return t.getResult();
      return v;
    }
  }
  return std::nullopt;
}

/// The size `tokens` (an image's patch tokens, [B, T, D]) are padded to for
/// a sequence split of `degree` ranks: the next multiple of the degree; or,
/// when T divides already but the patch rows do not (the shares would end
/// inside a row, which the unpatchify's reshape cannot carry), whole rows
/// up to a multiple of the degree (`wholeRows`: not for DistriFusion's or
/// PipeFusion's patches, which refuse such a cut instead).
int64_t paddedTokenCount(Value tokens, int64_t degree, bool wholeRows) {
  const int64_t n = cast<RankedTensorType>(tokens.getType()).getDimSize(1);
  if (n % degree != 0)
    return roundUp(n, degree);
  if (!wholeRows)
    return n;
  // The patch embedding's [B, D, h, w] output, up its chain of ops.
  Value v = tokens;
  for (int i = 0; i < 4 && v.getDefiningOp(); ++i) {
    Operation *def = v.getDefiningOp();
    if (isa<Conv2dOp>(def)) {
      auto t = cast<RankedTensorType>(v.getType());
      if (t.getDimSize(2) * t.getDimSize(3) == n)
        return roundUp(t.getDimSize(2), degree) * t.getDimSize(3);
      break;
    }
    if (def->getNumOperands() == 0)
      break;
    v = def->getOperand(0);
  }
  return n;
}

/// The rows a UNet's [B, C, H, W] latents are padded to so that a
/// sequence split of `degree` ranks divides the rows of every level (no
/// patch embedding: imageTokensToPad found no tokens); nullopt when they
/// divide already. H rounds up to degree x H / (the fewest rows of any
/// convolution's input or output), the levels halving H.
std::optional<int64_t> rowsToPad(func::FuncOp fn, BlockArgument image,
                                 int64_t degree) {
  const int64_t H = cast<RankedTensorType>(image.getType()).getDimSize(2);
  int64_t fewest = H;
  bool divide = true;
  fn.walk([&](Conv2dOp c) {
    for (Value v : {c.getInput(), c.getResult()}) {
      int64_t rows = cast<RankedTensorType>(v.getType()).getDimSize(2);
      fewest = std::min(fewest, rows);
      divide &= rows % degree == 0;
    }
  });
  if (divide || fewest <= 0 || H % fewest != 0)
    return std::nullopt; // even, or no halving to pad for: the split says
  int64_t rows = roundUp(H, degree * (H / fewest));
  if (rows == H)
    return std::nullopt; // levels that do not halve exactly: the split says
  return rows;
}

/// An argument marked as a sequence along the rows of a [B, C, H, W] image:
/// SD3's latent (its tokens appear after the patch embedding), or a UNet's
/// latents and control image beside a ControlNet.
bool isMarkedImage(func::FuncOp fn, BlockArgument arg) {
  auto dim = fn.getArgAttrOfType<IntegerAttr>(
      arg.getArgNumber(), FrescoDialect::kSequenceDimAttrName);
  return dim && dim.getInt() == 2 &&
         cast<RankedTensorType>(arg.getType()).getRank() == 4;
}

/// The token sequence of a denoiser, if a sequence split of `degree` ranks
/// needs it padded: the image tokens of its single [B, C, H, W] image
/// (imageTokensToPad); or a packed [B, T, C] token argument whose T it does
/// not divide.
std::optional<Value> tokensToPad(func::FuncOp fn, int64_t degree) {
  Block &block = fn.getBody().front();
  for (BlockArgument arg : block.getArguments())
    if (cast<RankedTensorType>(arg.getType()).getRank() == 4)
      return imageTokensToPad(arg, degree);
  // Packed latents are the denoiser's first input (the text tokens of a
  // joint attention are another: not the sequence the strategies split).
  if (block.getNumArguments() > 0) {
    BlockArgument arg = block.getArgument(0);
    auto t = cast<RankedTensorType>(arg.getType());
    if (t.getRank() == 3 && t.getDimSize(1) % degree != 0)
      return Value(arg);
  }
  return std::nullopt;
}

/// The model's token arguments (fresco.sequence_dim) that a sequence split
/// of `degree` ranks needs padded, each with its token dimension.
SmallVector<std::pair<BlockArgument, int64_t>> markedToPad(func::FuncOp fn,
                                                           int64_t degree) {
  SmallVector<std::pair<BlockArgument, int64_t>> out;
  for (BlockArgument arg : fn.getArguments())
    if (auto dim = fn.getArgAttrOfType<IntegerAttr>(
            arg.getArgNumber(), FrescoDialect::kSequenceDimAttrName))
      if (!isMarkedImage(fn, arg) &&
          cast<RankedTensorType>(arg.getType()).getDimSize(dim.getInt()) %
                  degree !=
              0)
        out.push_back({arg, dim.getInt()});
  return out;
}

/// The single [B, C, H, W] argument of a denoiser without a patch
/// embedding (a UNet: its first op on the image is a convolution that keeps
/// the rows); null otherwise.
BlockArgument unetImage(func::FuncOp fn) {
  BlockArgument image;
  for (BlockArgument arg : fn.getArguments())
    if (cast<RankedTensorType>(arg.getType()).getRank() == 4) {
      if (image)
        return BlockArgument();
      image = arg;
    }
  if (!image || !image.hasOneUse())
    return BlockArgument();
  auto c = dyn_cast<Conv2dOp>(*image.getUsers().begin());
  if (!c || c.getInput() != image ||
      c.getType().getDimSize(2) !=
          cast<RankedTensorType>(image.getType()).getDimSize(2))
    return BlockArgument();
  return image;
}

bool hasMarkedSequences(func::FuncOp fn) {
  return llvm::any_of(fn.getArguments(), [&](BlockArgument arg) {
    return fn.getArgAttr(arg.getArgNumber(),
                         FrescoDialect::kSequenceDimAttrName);
  });
}

LogicalResult padFunction(func::FuncOp fn, int64_t tp, int64_t ulysses,
                          int64_t ring, bool wholeRows) {
  Padder padder(fn);
  // Heads: split by tp, then the heads left on a tp rank by ulysses.
  if (int64_t degree = tp * ulysses; degree > 1) {
    SmallVector<AttentionOp> attentions;
    fn.walk([&](AttentionOp a) { attentions.push_back(a); });
    for (AttentionOp a : attentions) {
      int64_t heads = a.getNumHeads();
      if (heads % degree == 0)
        continue;
      int64_t headDim = a.getQuery().getType().getDimSize(2) / heads;
      llvm::SmallPtrSet<Operation *, 6> done;
      for (Value v : {a.getQuery(), a.getKey(), a.getValue()}) {
        SmallVector<LinearOp> ls = projectionsOf(v);
        if (ls.empty())
          return a.emitError("attention has ")
                 << heads << " heads, not divisible by " << degree
                 << " (tp x ulysses); padding them needs q, k and v to come "
                    "from their own linear layers";
        for (LinearOp l : ls)
          if (done.insert(l).second)
            padder.padRows(l, roundUp(heads, degree) * headDim);
      }
    }
  }
  if (tp > 1)
    for (LinearOp fc1 : tokenMlpInputs(fn)) {
      int64_t hidden = fc1.getWeight().getType().getDimSize(0);
      if (hidden % tp != 0)
        padder.padRows(fc1, roundUp(hidden, tp));
    }
  int64_t degree = ulysses * ring;
  if (degree > 1 && hasMarkedSequences(fn)) {
    // Each marked sequence on its own (the text and the image tokens).
    for (auto [arg, dim] : markedToPad(fn, degree)) {
      int64_t n = cast<RankedTensorType>(arg.getType()).getDimSize(dim);
      padder.padTokens(arg, dim, roundUp(n, degree), /*marked=*/true);
    }
    // An image marked on its rows: rows of latent pixels padded would
    // become padding inside the patches; its tokens are padded instead.
    // (SD3 with a ControlNet: the latents feed two patch embeddings, the
    // transformer's and the net's, each padded.)
    SmallVector<BlockArgument> rowImages;
    for (BlockArgument arg : fn.getArguments())
      if (isMarkedImage(fn, arg)) {
        SmallVector<Value> all;
        llvm::SetVector<Operation *> users(arg.getUsers().begin(),
                                           arg.getUsers().end());
        for (Operation *user : users)
          if (std::optional<Value> tokens = imageTokensToPad(arg, degree, user))
            all.push_back(*tokens);
        if (!all.empty() && all.size() != users.size())
          return fn.emitError("argument ")
                 << arg.getArgNumber() << " feeds " << users.size()
                 << " ops of which " << all.size()
                 << " become patch tokens: fresco-pad-uneven pads the tokens "
                    "of every patch embedding of an image or none";
        if (all.empty())
          rowImages.push_back(arg);
        for (Value tokens : all)
          padder.padTokens(tokens, 1,
                           paddedTokenCount(tokens, degree, wholeRows),
                           /*marked=*/true);
      }
    // A UNet with a ControlNet: the latents and the control image (f times
    // their rows) are padded at the bottom alike, f times as many rows, so
    // that the ControlNet's residuals add to the UNet's row for row.
    if (rowImages.size() > 1)
      if (std::optional<int64_t> rows =
              rowsToPad(fn, rowImages.front(), degree)) {
        const int64_t real =
            cast<RankedTensorType>(rowImages.front().getType()).getDimSize(2);
        for (BlockArgument image : rowImages) {
          const int64_t h =
              cast<RankedTensorType>(image.getType()).getDimSize(2);
          if (h % real != 0)
            return fn.emitError("argument ")
                   << image.getArgNumber() << "'s " << h
                   << " rows are not a multiple of the latents' " << real
                   << ": fresco-pad-uneven cannot pad them alike";
          padder.padTokens(image, 2, *rows * (h / real));
        }
        fn->setAttr(FrescoDialect::kPaddedRowsAttrName,
                    DenseI64ArrayAttr::get(fn.getContext(), {real, *rows}));
      }
  } else if (degree > 1) {
    if (std::optional<Value> tokens = tokensToPad(fn, degree)) {
      padder.padTokens(*tokens, 1,
                       paddedTokenCount(*tokens, degree, wholeRows));
    } else if (BlockArgument image = unetImage(fn)) {
      if (std::optional<int64_t> rows = rowsToPad(fn, image, degree)) {
        padder.padTokens(image, 2, *rows);
        // For the compile summary: what the split costs in padding.
        int64_t real = cast<RankedTensorType>(image.getType()).getDimSize(2);
        fn->setAttr(FrescoDialect::kPaddedRowsAttrName,
                    DenseI64ArrayAttr::get(fn.getContext(), {real, *rows}));
      }
    }
  }
  return padder.propagate();
}

struct PadUnevenPass : impl::PadUnevenBase<PadUnevenPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    if (!grid)
      return;
    auto degree = [&](StringRef name) {
      auto a = grid->axis(name);
      return a ? a->second : int64_t(1);
    };
    // Patch splits tokens as ring does, heads never (they stay whole);
    // PipeFusion's patches too, and its warm-up twin is padded alike, so
    // that both write the same caches.
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(padFunction(fn, degree("tp"), degree("ulysses"),
                             degree("ring") * degree("patch") *
                                 degree(kPipeFusionAxis),
                             degree("patch") * degree(kPipeFusionAxis) == 1)))
        return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
