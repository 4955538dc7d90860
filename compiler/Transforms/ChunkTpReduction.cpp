//===- ChunkTpReduction.cpp - tp's all_reduce overlapping its GEMM --------===//
//
// A row-parallel linear under tp ends in an all_reduce of its partial sums
// that nothing can overlap: everything after it reads the sum. Split over
// the rows (tokens, or samples) into C chunks, chunk i's all_reduce runs
// while chunk i + 1's GEMM computes, and only the last chunk's sum is
// exposed:
//
//   all_reduce(linear(x, W, b gate g residual p))
//     -> concat_i all_reduce(linear(x_i, W, b gate g_i residual p_i))
//
// x_i, g_i, p_i are windows of contiguous rows (views, fresco-assign-buffers
// places them and each chunk's sum inside the concatenation: nothing is
// copied), and fresco-place-waits starts every chunk's all_reduce but the
// last asynchronously. A split projection's other part (p, a linear itself)
// is chunked alike. Runs after fresco-fold-into-reduction, whose bias and
// gate it carries along.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Epilogues.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-chunk-tp-reduction"

namespace mlir::fresco {
#define GEN_PASS_DEF_CHUNKTPREDUCTION
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// How a [B, T, *] value is cut into chunks of contiguous rows: viewed as
/// [B * perSample, T / perSample, *] (perSample > 1), then `group` rows of
/// that first dimension per chunk.
struct Cut {
  int64_t perSample = 1, group = 1;
};

/// The cut of [B, T, *] into `chunks`, if any: whole samples per chunk, or
/// whole parts of one sample's tokens.
std::optional<Cut> cutFor(int64_t batch, int64_t tokens, int64_t chunks) {
  if (batch % chunks == 0)
    return Cut{1, batch / chunks};
  if (chunks % batch == 0 && tokens % (chunks / batch) == 0)
    return Cut{chunks / batch, 1};
  return std::nullopt;
}

class Chunker {
public:
  Chunker(OpBuilder &b, Location loc, Cut cut) : b(b), loc(loc), cut(cut) {}

  /// Chunk `i` of the [B, T, *] value `v`.
  Value rows(Value v, int64_t i) {
    auto t = cast<RankedTensorType>(v.getType());
    Value viewed = v;
    if (cut.perSample > 1) {
      auto it = views.find(v);
      if (it == views.end()) {
        SmallVector<int64_t> shape(t.getShape());
        shape[0] *= cut.perSample;
        shape[1] /= cut.perSample;
        it = views
                 .insert({v, ReshapeOp::create(
                                 b, loc,
                                 RankedTensorType::get(shape,
                                                       t.getElementType()),
                                 v)})
                 .first;
      }
      viewed = it->second;
    }
    return slice(viewed, i * cut.group, cut.group);
  }

  /// Chunk `i` of a gate [B or 1, 1, N]: its sample's row.
  Value gate(Value g, int64_t i) {
    auto t = cast<RankedTensorType>(g.getType());
    if (t.getDimSize(0) == 1)
      return g;
    int64_t rowsPer = cut.perSample > 1 ? 1 : cut.group;
    int64_t sample = cut.perSample > 1 ? i / cut.perSample : i * cut.group;
    return slice(g, sample, rowsPer);
  }

  /// The chunks' results [group, T', N] back to [B, T, N].
  Value join(ArrayRef<Value> parts, RankedTensorType whole) {
    auto part = cast<RankedTensorType>(parts.front().getType());
    SmallVector<int64_t> shape(part.getShape());
    shape[0] *= int64_t(parts.size());
    Value c = ConcatOp::create(
        b, loc, RankedTensorType::get(shape, part.getElementType()), parts,
        b.getI64IntegerAttr(0));
    if (cut.perSample > 1)
      c = ReshapeOp::create(b, loc, whole, c);
    return c;
  }

private:
  /// Rows [start, start + size) of v; one slice per window (a gate's row
  /// serves several chunks).
  Value slice(Value v, int64_t start, int64_t size) {
    Value &s = slices[{v, start}];
    if (s)
      return s;
    auto t = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(t.getShape());
    shape[0] = size;
    s = SliceOp::create(b, loc, RankedTensorType::get(shape, t.getElementType()),
                        v, b.getI64IntegerAttr(0), b.getI64IntegerAttr(start),
                        b.getI64IntegerAttr(size));
    return s;
  }

  OpBuilder &b;
  Location loc;
  Cut cut;
  llvm::DenseMap<Value, Value> views;
  llvm::DenseMap<std::pair<Value, int64_t>, Value> slices;
};

/// `l`'s chunk `i`: its rows' linear, with the split projection's other
/// part (its residual, a linear of its own) chunked too.
Value chunkLinear(OpBuilder &b, Chunker &c, LinearOp l, int64_t i) {
  IRMapping map;
  map.map(l.getInput(), c.rows(l.getInput(), i));
  if (Value g = l.getGate())
    map.map(g, c.gate(g, i));
  if (Value r = l.getResidual()) {
    LinearOp part = splitPart(l);
    map.map(r, part ? chunkLinear(b, c, part, i) : c.rows(r, i));
  }
  Operation *clone = b.clone(*l, map);
  auto t = cast<RankedTensorType>(
      cast<LinearOp>(clone).getInput().getType());
  SmallVector<int64_t> shape(t.getShape());
  shape.back() = l.getType().getShape().back();
  clone->getResult(0).setType(RankedTensorType::get(shape,
                                                    l.getType().getElementType()));
  return clone->getResult(0);
}

/// Whether every activation `l` reads (its input, a split part's input, a
/// residual) is [B, T, *] as its result.
bool chunkable(LinearOp l) {
  auto type = l.getType();
  auto same = [&](Value v) {
    auto t = cast<RankedTensorType>(v.getType());
    return t.getRank() == 3 && t.getDimSize(0) == type.getDimSize(0) &&
           t.getDimSize(1) == type.getDimSize(1);
  };
  if (!same(l.getInput()))
    return false;
  if (Value r = l.getResidual()) {
    if (LinearOp part = splitPart(l))
      return chunkable(part);
    return same(r);
  }
  return true;
}

struct ChunkTpReductionPass
    : impl::ChunkTpReductionBase<ChunkTpReductionPass> {
  using ChunkTpReductionBase::ChunkTpReductionBase;

  void runOnOperation() override {
    if (chunks < 2)
      return;
    SmallVector<shard::AllReduceOp> reductions;
    getOperation().walk([&](shard::AllReduceOp r) {
      if (r.getReduction() == shard::ReductionKind::Sum &&
          !r.getGridAxes().empty())
        reductions.push_back(r);
    });
    for (shard::AllReduceOp r : reductions) {
      auto l = r.getInput().getDefiningOp<LinearOp>();
      if (!l || !l.getResult().hasOneUse() || l.getType().getRank() != 3 ||
          !chunkable(l))
        continue;
      const int64_t batch = l.getType().getDimSize(0),
                    tokens = l.getType().getDimSize(1);
      std::optional<Cut> cut = cutFor(batch, tokens, chunks);
      if (!cut)
        continue;
      LLVM_DEBUG(llvm::dbgs() << "chunking " << l << "\n");
      OpBuilder b(l);
      Chunker c(b, l.getLoc(), *cut);
      SmallVector<Value> sums;
      for (int64_t i = 0; i < chunks; ++i) {
        Value part = chunkLinear(b, c, l, i);
        Operation *sum = b.clone(*r);
        sum->setOperand(0, part);
        sum->getResult(0).setType(part.getType());
        sums.push_back(sum->getResult(0));
      }
      r.getResult().replaceAllUsesWith(c.join(sums, cast<RankedTensorType>(r.getType())));
      LinearOp part = splitPart(l);
      r.erase();
      l.erase();
      if (part)
        part.erase();
    }
  }
};

} // namespace
} // namespace mlir::fresco
