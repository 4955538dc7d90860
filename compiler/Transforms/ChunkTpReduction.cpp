//===- ChunkTpReduction.cpp - tp's all_reduce overlapping compute ---------===//
//
// A row-parallel linear under tp ends in an all_reduce of its partial sums
// that nothing can overlap: everything after it reads the sum. Split over
// the rows (tokens, or samples) into C chunks, chunk i's all_reduce can run
// while other chunks compute:
//
//   all_reduce(linear(x, W, b gate g residual p))
//     -> concat_i all_reduce(linear(x_i, W, b gate g_i residual p_i))
//
// and the row-wise ops after the sum (the residual add, the next norm and
// modulation, the MLP, the next block's projections: every op whose rows
// depend on the same rows of its operands) run per chunk too, up to an op
// that needs every row (attention, a reshape), where the chunks are
// concatenated. The MLP's own row-parallel linear, reading chunks, sums each
// chunk apart. The ops are then ordered chunk by chunk within each stretch
// up to the next chunked sum: chunk i's sum travels while chunk i + 1's ops
// compute (fresco-place-waits starts it; NCCL overlaps it).
//
// x_i, g_i, p_i are windows of contiguous rows (views: fresco-assign-buffers
// places them, and each chunk's sum inside a concatenation, without
// copies). A split projection's other part (p, a linear itself) is chunked
// alike. Runs after fresco-fold-into-reduction, whose bias and gate it
// carries along.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Epilogues.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/Debug.h"

#include <queue>

#define DEBUG_TYPE "fresco-chunk-tp-reduction"

namespace mlir::fresco {
#define GEN_PASS_DEF_CHUNKTPREDUCTION
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// How [B, T, *] values are cut into `chunks` of contiguous rows: viewed as
/// [B * perSample, T / perSample, *] (perSample > 1), then `group` rows of
/// that first dimension per chunk.
struct Cut {
  int64_t batch = 0, tokens = 0, perSample = 1, group = 1;
  bool operator==(const Cut &o) const {
    return batch == o.batch && tokens == o.tokens && perSample == o.perSample &&
           group == o.group;
  }
};

/// The cut of [B, T, *] into `chunks`, if any: whole samples per chunk, or
/// whole parts of one sample's tokens.
std::optional<Cut> cutFor(int64_t batch, int64_t tokens, int64_t chunks) {
  if (batch % chunks == 0)
    return Cut{batch, tokens, 1, batch / chunks};
  if (chunks % batch == 0 && tokens % (chunks / batch) == 0)
    return Cut{batch, tokens, chunks / batch, 1};
  return std::nullopt;
}

/// The cut a [B, T, *] result of rank >= 3 takes.
std::optional<Cut> cutOf(Type t, int64_t chunks) {
  auto r = dyn_cast<RankedTensorType>(t);
  if (!r || r.getRank() < 3)
    return std::nullopt;
  return cutFor(r.getDimSize(0), r.getDimSize(1), chunks);
}

/// A value's chunks (same cut for all).
struct Chunks {
  Cut cut;
  SmallVector<Value> parts;
};

/// Where an op's clones go in the final order: the original op it stands
/// for, its chunk (-1: shared by every chunk).
struct Tag {
  Operation *original = nullptr;
  int64_t chunk = -1;
};

class ChunkTpReduction {
public:
  ChunkTpReduction(func::FuncOp fn, int64_t chunks)
      : fn(fn), chunks(chunks), b(fn.getContext()) {}

  LogicalResult run();

private:
  // Operand kinds of a row-wise op.
  enum class Kind { Rows, PerSample, AsIs };

  bool isRoot(Operation *op);
  bool feedsRoot(LinearOp l);
  std::optional<Cut> sinkCut(Operation *op);
  bool operandFits(Operation *op, Value v, const Cut &cut);
  Kind kindOf(Operation *op, Value v);
  Value operand(Operation *op, Value v, const Cut &cut, int64_t i);
  Value rows(Value v, const Cut &cut, int64_t i);
  Value sampleRows(Value v, const Cut &cut, int64_t i);
  Value slice(Value v, int64_t start, int64_t size);
  RankedTensorType chunkType(RankedTensorType whole, const Cut &cut);
  Operation *cloneChunk(Operation *op, const Cut &cut, int64_t i,
                        IRMapping &map);
  void chunkRoot(shard::AllReduceOp r, const Cut &cut);
  void sink(Operation *op, const Cut &cut);
  Value join(Value whole, const Chunks &c);
  LogicalResult reorder(const llvm::DenseMap<Operation *, int64_t> &index,
                        const llvm::DenseMap<Operation *, int64_t> &anchors,
                        const llvm::DenseMap<Operation *, int64_t> &joins);
  void tag(Operation *op) {
    tags[op] = current;
    made.push_back(op);
  }

  func::FuncOp fn;
  int64_t chunks;
  OpBuilder b;
  llvm::DenseMap<Value, Chunks> chunked;
  // The originals cut, in the order they were (a root's linears with its
  // all_reduce): every user after what it reads.
  llvm::SetVector<Operation *> sunk;
  int64_t roots = 0;
  llvm::DenseMap<Operation *, Tag> tags;
  SmallVector<Operation *> made; // in creation order
  Tag current;
  // Keyed by what they depend on: a view by the cut's runs per sample.
  llvm::DenseMap<std::pair<Value, int64_t>, Value> views;
  llvm::DenseMap<std::tuple<Value, int64_t, int64_t>, Value> slices;
};

/// A sum all_reduce over grid axes of a linear it alone reads, whose
/// activations are all [B, T, *] as its result.
bool ChunkTpReduction::isRoot(Operation *op) {
  auto r = dyn_cast<shard::AllReduceOp>(op);
  if (!r || r.getReduction() != shard::ReductionKind::Sum ||
      r.getGridAxes().empty())
    return false;
  auto l = r.getInput().getDefiningOp<LinearOp>();
  if (!l || !l.getResult().hasOneUse() || !cutOf(l.getType(), chunks))
    return false;
  auto same = [&](Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    return t.getRank() == l.getType().getRank() &&
           t.getDimSize(0) == l.getType().getDimSize(0) &&
           t.getDimSize(1) == l.getType().getDimSize(1);
  };
  for (LinearOp part = l; part; part = splitPart(part)) {
    if (!same(part.getInput()))
      return false;
    if (part.getResidual() && !splitPart(part) && !same(part.getResidual()))
      return false;
  }
  return true;
}

/// Whether `l` is chunked with a root's all_reduce: the linear it sums, or
/// that linear's split part.
bool ChunkTpReduction::feedsRoot(LinearOp l) {
  if (!l.getResult().hasOneUse())
    return false;
  Operation *user = *l.getResult().getUsers().begin();
  if (isRoot(user))
    return true;
  auto main = dyn_cast<LinearOp>(user);
  return main && splitPart(main) == l && feedsRoot(main);
}

/// How `v` enters a row-wise op: its rows, its sample's row (a [B, D]
/// modulation), or whole (a weight, a bias).
ChunkTpReduction::Kind ChunkTpReduction::kindOf(Operation *op, Value v) {
  if (auto l = dyn_cast<LinearOp>(op);
      l && v == l.getWeight() && v != l.getInput())
    return Kind::AsIs;
  if (auto n = dyn_cast<LayerNormOp>(op);
      n && v != n.getInput() && llvm::is_contained(n.getModulation(), v))
    return Kind::PerSample;
  if (auto m = dyn_cast<ModulateOp>(op);
      m && v != m.getInput() && (v == m.getShift() || v == m.getScale()))
    return Kind::PerSample;
  return Kind::Rows;
}

/// Whether `v` can be cut for `op` under `cut` (op's result of rank R):
/// chunked alike; rows [B or 1, T or 1, ...] of rank R; a per-sample
/// [B or 1, D]; or broadcast whole (rank <= R - 2, right-aligned).
bool ChunkTpReduction::operandFits(Operation *op, Value v, const Cut &cut) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t)
    return false;
  const int64_t rank =
      cast<RankedTensorType>(op->getResult(0).getType()).getRank();
  // A chunked value of lower rank would broadcast against other axes.
  if (auto it = chunked.find(v); it != chunked.end())
    return it->second.cut == cut && t.getRank() == rank;
  auto batchOk = [&](int64_t d) { return d == cut.batch || d == 1; };
  switch (kindOf(op, v)) {
  case Kind::AsIs:
    return true;
  case Kind::PerSample:
    return t.getRank() == 2 && batchOk(t.getDimSize(0));
  case Kind::Rows:
    if (t.getRank() <= rank - 2)
      return true;
    return t.getRank() == rank && batchOk(t.getDimSize(0)) &&
           (t.getDimSize(1) == cut.tokens || t.getDimSize(1) == 1);
  }
  return false;
}

/// The cut under which `op` runs per chunk: a row-wise op with a [B, T, *]
/// result reading a chunked value, every operand fitting that value's cut.
std::optional<Cut> ChunkTpReduction::sinkCut(Operation *op) {
  if (!isa<AddOp, SubOp, MulOp, DivOp, MulAddOp, GeluOp, SiluOp, QuickGeluOp,
           LayerNormOp, RmsNormOp, ModulateOp, LinearOp>(op) ||
      op->getNumResults() != 1)
    return std::nullopt;
  std::optional<Cut> cut;
  for (Value v : op->getOperands())
    if (auto it = chunked.find(v); it != chunked.end())
      cut = it->second.cut;
  if (!cut)
    return std::nullopt;
  auto t = cast<RankedTensorType>(op->getResult(0).getType());
  if (t.getRank() < 3 || t.getDimSize(0) != cut->batch ||
      t.getDimSize(1) != cut->tokens)
    return std::nullopt;
  for (Value v : op->getOperands())
    if (!operandFits(op, v, *cut))
      return std::nullopt;
  return cut;
}

Value ChunkTpReduction::slice(Value v, int64_t start, int64_t size) {
  Value &s = slices[{v, start, size}];
  if (s)
    return s;
  auto t = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[0] = size;
  auto op = SliceOp::create(b, v.getLoc(),
                            RankedTensorType::get(shape, t.getElementType()), v,
                            b.getI64IntegerAttr(0), b.getI64IntegerAttr(start),
                            b.getI64IntegerAttr(size));
  tag(op);
  s = op;
  return s;
}

/// Chunk `i` of a [B or 1, T or 1, *] value (T's rows only where it has
/// them, B's only where it has them).
Value ChunkTpReduction::rows(Value v, const Cut &cut, int64_t i) {
  auto t = cast<RankedTensorType>(v.getType());
  const bool perBatch = t.getDimSize(0) == cut.batch && cut.batch > 1;
  if (cut.perSample > 1 && t.getDimSize(1) == cut.tokens && cut.tokens > 1) {
    // [B', T, *] as [B' * c, T / c, *], one row each.
    Value &view = views[{v, cut.perSample}];
    if (!view) {
      SmallVector<int64_t> shape(t.getShape());
      shape[0] *= cut.perSample;
      shape[1] /= cut.perSample;
      Tag saved = current;
      current.chunk = -1;
      auto op = ReshapeOp::create(
          b, v.getLoc(), RankedTensorType::get(shape, t.getElementType()), v);
      tag(op);
      current = saved;
      view = op;
    }
    return slice(view, perBatch ? i : i % cut.perSample, 1);
  }
  return sampleRows(v, cut, i);
}

/// Chunk `i`'s samples of a [B or 1, ...] value (whole where it has one).
Value ChunkTpReduction::sampleRows(Value v, const Cut &cut, int64_t i) {
  if (cast<RankedTensorType>(v.getType()).getDimSize(0) != cut.batch ||
      cut.batch == 1)
    return v;
  return cut.perSample > 1 ? slice(v, i / cut.perSample, 1)
                           : slice(v, i * cut.group, cut.group);
}

Value ChunkTpReduction::operand(Operation *op, Value v, const Cut &cut,
                                int64_t i) {
  if (auto it = chunked.find(v); it != chunked.end())
    return it->second.parts[i];
  auto t = cast<RankedTensorType>(v.getType());
  const int64_t rank =
      cast<RankedTensorType>(op->getResult(0).getType()).getRank();
  switch (kindOf(op, v)) {
  case Kind::AsIs:
    return v;
  case Kind::PerSample:
    return sampleRows(v, cut, i);
  case Kind::Rows:
    return t.getRank() <= rank - 2 ? v : rows(v, cut, i);
  }
  return v;
}

RankedTensorType ChunkTpReduction::chunkType(RankedTensorType whole,
                                             const Cut &cut) {
  SmallVector<int64_t> shape(whole.getShape());
  shape[0] = cut.perSample > 1 ? 1 : cut.group;
  shape[1] /= cut.perSample;
  return RankedTensorType::get(shape, whole.getElementType());
}

/// `op`'s chunk `i`, its operands mapped in `map` or cut.
Operation *ChunkTpReduction::cloneChunk(Operation *op, const Cut &cut,
                                        int64_t i, IRMapping &map) {
  for (Value v : op->getOperands())
    if (!map.contains(v))
      map.map(v, operand(op, v, cut, i));
  Operation *c = b.clone(*op, map);
  c->getResult(0).setType(
      chunkType(cast<RankedTensorType>(op->getResult(0).getType()), cut));
  tag(c);
  return c;
}

/// The all_reduce `r` of a linear as one linear and one all_reduce per
/// chunk; a split projection's other part chunked with it.
void ChunkTpReduction::chunkRoot(shard::AllReduceOp r, const Cut &cut) {
  auto l = r.getInput().getDefiningOp<LinearOp>();
  LinearOp part = splitPart(l);
  b.setInsertionPoint(r);
  Chunks out{cut, {}};
  for (int64_t i = 0; i < chunks; ++i) {
    current = {r, i};
    IRMapping map;
    if (part) {
      IRMapping partMap;
      map.map(part.getResult(),
              cloneChunk(part, cut, i, partMap)->getResult(0));
    }
    Operation *linear = cloneChunk(l, cut, i, map);
    Operation *sum = b.clone(*r);
    sum->setOperand(0, linear->getResult(0));
    sum->getResult(0).setType(linear->getResult(0).getType());
    tag(sum);
    out.parts.push_back(sum->getResult(0));
  }
  chunked[r.getResult()] = out;
  ++roots;
  if (part)
    sunk.insert(part);
  sunk.insert(l);
  sunk.insert(r);
}

void ChunkTpReduction::sink(Operation *op, const Cut &cut) {
  b.setInsertionPoint(op);
  Chunks out{cut, {}};
  for (int64_t i = 0; i < chunks; ++i) {
    current = {op, i};
    IRMapping map;
    out.parts.push_back(cloneChunk(op, cut, i, map)->getResult(0));
  }
  chunked[op->getResult(0)] = out;
  sunk.insert(op);
}

/// The chunks of `whole` concatenated (and viewed back as [B, T, *]).
Value ChunkTpReduction::join(Value whole, const Chunks &c) {
  auto part = cast<RankedTensorType>(c.parts.front().getType());
  SmallVector<int64_t> shape(part.getShape());
  shape[0] *= int64_t(c.parts.size());
  Value v = ConcatOp::create(
      b, whole.getLoc(), RankedTensorType::get(shape, part.getElementType()),
      c.parts, b.getI64IntegerAttr(0));
  if (c.cut.perSample > 1)
    v = ReshapeOp::create(b, whole.getLoc(), whole.getType(), v);
  return v;
}

LogicalResult ChunkTpReduction::run() {
  Block &block = fn.getBody().front();
  llvm::DenseMap<Operation *, int64_t> index;
  SmallVector<Operation *> ops;
  for (Operation &op : block) {
    index[&op] = int64_t(ops.size());
    ops.push_back(&op);
  }
  for (Operation *op : ops) {
    if (isRoot(op)) {
      chunkRoot(cast<shard::AllReduceOp>(op),
                *cutOf(op->getResult(0).getType(), chunks));
      continue;
    }
    // A root's linears are chunked with its all_reduce.
    if (auto l = dyn_cast<LinearOp>(op); l && feedsRoot(l))
      continue;
    if (std::optional<Cut> cut = sinkCut(op))
      sink(op, *cut);
  }
  if (sunk.empty())
    return success();
  fn->setAttr(FrescoDialect::kChunkedSumsAttrName,
              b.getDenseI64ArrayAttr({roots, chunks}));
  // Each original's place in the final order: the stretch it belongs to
  // ends at the next chunked sum downstream (its own, for a root) or at the
  // first reader of the concatenated chunks, whichever comes first.
  llvm::DenseMap<Operation *, int64_t> anchors;
  for (Operation *op : llvm::reverse(sunk)) {
    int64_t anchor = index[op];
    // (The only all_reduces cut are roots; an op nothing reads stays where
    // it was.)
    if (!isa<shard::AllReduceOp>(op) && !op->getResult(0).use_empty()) {
      anchor = std::numeric_limits<int64_t>::max();
      for (Operation *user : op->getResult(0).getUsers())
        anchor =
            std::min(anchor, sunk.contains(user) ? anchors[user] : index[user]);
    }
    anchors[op] = anchor;
  }
  // Readers that need every row read the chunks concatenated, just before
  // the first of them.
  llvm::DenseMap<Operation *, int64_t> joins;
  for (Operation *op : sunk) {
    Value whole = op->getResult(0);
    Operation *first = nullptr;
    for (Operation *user : whole.getUsers())
      if (!sunk.contains(user) && (!first || user->isBeforeInBlock(first)))
        first = user;
    if (!first)
      continue;
    b.setInsertionPoint(first);
    Value joined = join(whole, chunked[whole]);
    whole.replaceUsesWithIf(
        joined, [&](OpOperand &use) { return !sunk.contains(use.getOwner()); });
    for (Operation *j = joined.getDefiningOp(); j && !index.count(j);
         j = j->getOperand(0).getDefiningOp()) {
      joins[j] = index[first];
      if (!isa<ReshapeOp>(j))
        break;
    }
  }
  for (Operation *op : llvm::reverse(sunk))
    op->erase();
  return reorder(index, anchors, joins);
}

/// Orders the block by key, respecting every def-use: an original op keeps
/// its place; a clone goes to its stretch's end, chunk by chunk; a
/// concatenation just before its first reader.
LogicalResult
ChunkTpReduction::reorder(const llvm::DenseMap<Operation *, int64_t> &index,
                          const llvm::DenseMap<Operation *, int64_t> &anchors,
                          const llvm::DenseMap<Operation *, int64_t> &joins) {
  Block &block = fn.getBody().front();
  using Key = std::tuple<int64_t, int64_t, int64_t>;
  llvm::DenseMap<Operation *, Key> key;
  llvm::DenseMap<Operation *, int64_t> seq;
  for (auto [n, op] : llvm::enumerate(made))
    seq[op] = int64_t(n);
  int64_t extra = 0;
  for (Operation &op : block) {
    if (auto it = tags.find(&op); it != tags.end())
      key[&op] = {2 * anchors.lookup(it->second.original), it->second.chunk + 2,
                  seq[&op]};
    else if (auto j = joins.find(&op); j != joins.end())
      key[&op] = {2 * j->second - 1, 0, extra++};
    else
      key[&op] = {2 * index.lookup(&op), 0, 0};
  }
  // A window or view goes with its first reader (a slice one chunk of an
  // op made may serve a later op's chunk).
  for (Operation *op : llvm::reverse(made))
    if (isa<SliceOp, ReshapeOp>(op))
      for (Operation *user : op->getResult(0).getUsers())
        if (key.count(user))
          key[op] = std::min(key[op], key[user]);
  Operation *terminator = block.getTerminator();
  llvm::DenseMap<Operation *, int64_t> waiting;
  using Entry = std::pair<Key, Operation *>;
  auto later = [](const Entry &a, const Entry &c) { return c.first < a.first; };
  std::priority_queue<Entry, std::vector<Entry>, decltype(later)> ready(later);
  for (Operation &op : block) {
    if (&op == terminator)
      continue;
    int64_t n = 0;
    for (Value v : op.getOperands())
      if (Operation *d = v.getDefiningOp(); d && d->getBlock() == &block)
        ++n;
    waiting[&op] = n;
    if (n == 0)
      ready.push({key[&op], &op});
  }
  SmallVector<Operation *> order;
  while (!ready.empty()) {
    Operation *op = ready.top().second;
    ready.pop();
    order.push_back(op);
    for (Value r : op->getResults())
      for (OpOperand &use : r.getUses()) {
        Operation *user = use.getOwner();
        if (user == terminator || !waiting.count(user))
          continue;
        if (--waiting[user] == 0)
          ready.push({key[user], user});
      }
  }
  if (order.size() != waiting.size())
    return fn.emitError("fresco-chunk-tp-reduction: ")
           << waiting.size() - order.size()
           << " ops could not be ordered (a cycle?)";
  for (Operation *op : order)
    op->moveBefore(terminator);
  return success();
}

struct ChunkTpReductionPass : impl::ChunkTpReductionBase<ChunkTpReductionPass> {
  using ChunkTpReductionBase::ChunkTpReductionBase;

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (chunks < 2 || fn.isExternal() || !fn.getBody().hasOneBlock())
      return;
    if (failed(ChunkTpReduction(fn, chunks).run()))
      signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
