//===- PipeFusion.cpp - PipeFusion's patches, one after the other ---------===//
//
// PipeFusion (Wang et al. 2024, xDiT): the denoiser's layers are cut into
// pipeline stages and its tokens into M patches; every stage runs the
// patches in order, so while stage s works on patch m, stage s + 1 works on
// patch m - 1. A self-attention's queries of patch m read the keys and
// values the rank keeps for the whole sequence: fresh for patch m and the
// patches before it (this step already wrote them), the previous step's
// for the patches after. So the step equals, whatever the stage count, M
// patches run one after the other through the whole model.
//
// The strategies see the patches as a virtual grid axis (`pipefusion`,
// fresco-create-grid): the tokens split over it exactly as for patch=P
// (SequenceSplit), self-attention resolved with fresco.stale_gather. This
// pass turns that SPMD function into the one program a rank runs:
//   - ops that do not depend on the patch are kept once;
//   - ops that do are cloned once per patch, in patch order, with the
//     patch's slice of the input (shard.all_slice at the patch's offset);
//   - a stale_gather over the axis becomes fresco.patch_cache (the cache
//     `id` of the gather, block m of M);
//   - the final all_gather over the axis becomes the concatenation of the
//     patches' blocks, after the last patch, and what reads it is kept once.
// The warm-up twin (fresco-pipefusion-warmup) gets, before each attention
// whose keys and values the denoiser caches, a patch_cache writing them
// whole (parts = 1) into the same cache, so the first patched step finds
// the previous (exact) step's blocks there. Then the axis leaves the grid:
// no rank owns it. Anything else that talks across the patches is refused.
//
// Micro-batches (`--microbatches M` with pipeline=S) are the same unroll
// over the virtual `microbatch` axis, which splits the batch: no attention
// reads across it, so there are no caches, and the result is exact. The
// function is marked `fresco.microbatches` for fresco-pipeline-parallel.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/DenseMap.h"

#define DEBUG_TYPE "fresco-pipefusion"

namespace mlir::fresco {
#define GEN_PASS_DEF_PIPEFUSION
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// What an op depends on: nothing of the patch, one patch's tokens, or
/// every patch's (after the final gather).
enum class Kind { Whole, Patch, Gathered };

/// A cached key or value: attention `attention`'s operand `operand` (in the
/// function's program order of attentions).
struct CacheUse {
  int64_t attention;
  unsigned operand;
  int64_t dim;
  Type whole;
  SmallVector<int64_t> segments; // of the whole tensor, several: block order
};

/// The grid axes an op communicates over, if it names any.
SmallVector<int16_t> axesOf(Operation *op) {
  SmallVector<int16_t> axes;
  auto add = [&](ArrayRef<int16_t> a) { llvm::append_range(axes, a); };
  if (auto r = dyn_cast<shard::AllReduceOp>(op))
    add(r.getGridAxes());
  else if (auto g = dyn_cast<shard::AllGatherOp>(op))
    add(g.getGridAxes());
  else if (auto t = dyn_cast<shard::AllToAllOp>(op))
    add(t.getGridAxes());
  else if (auto s = dyn_cast<shard::AllSliceOp>(op))
    add(s.getGridAxes());
  else if (auto h = dyn_cast<shard::UpdateHaloOp>(op)) {
    for (shard::GridAxesAttr a : h.getSplitAxes().getAxes())
      add(a.asArrayRef());
  } else if (auto sg = dyn_cast<StaleGatherOp>(op))
    add(sg.getAxes().getAxes());
  else if (auto n = dyn_cast<GroupNormOp>(op); n && n.getStatsAxesAttr())
    add(n.getStatsAxesAttr().getAxes());
  else if (auto a = dyn_cast<AttentionOp>(op); a && a.getRingAxesAttr())
    add(a.getRingAxesAttr().getAxes());
  else if (auto p = dyn_cast<ParamOp>(op))
    if (auto sh = p->getAttrOfType<ShardingAttr>(kSharding))
      for (int64_t d = 0; d < sh.getRank(); ++d)
        add(sh.getDimAxes(d));
  return axes;
}

class Unroller {
public:
  /// `micro`: the axis is the micro-batches', not PipeFusion's patches.
  Unroller(func::FuncOp fn, int16_t axis, int64_t patches, bool micro)
      : fn(fn), axis(axis), patches(patches), micro(micro), b(fn.getContext()) {
  }

  LogicalResult run();
  LogicalResult cacheTwin(func::FuncOp twin);

private:
  LogicalResult classify();
  LogicalResult clonePatch(Operation *op, int64_t m, IRMapping &map);

  func::FuncOp fn;
  int16_t axis;
  int64_t patches;
  bool micro;
  OpBuilder b;
  llvm::DenseMap<Operation *, Kind> kinds;
  llvm::DenseMap<Operation *, int64_t> cacheIds; // stale_gather -> id
  SmallVector<CacheUse> caches;
};

LogicalResult Unroller::classify() {
  int64_t attentions = 0;
  llvm::DenseMap<Operation *, int64_t> attentionIndex;
  fn.walk([&](AttentionOp a) { attentionIndex[a] = attentions++; });
  for (Operation &op : fn.getBody().front().without_terminator()) {
    if (op.getNumRegions() != 0)
      return op.emitError("fresco-pipefusion: an op with regions");
    Kind k = Kind::Whole;
    bool patch = false, gathered = false;
    for (Value v : op.getOperands())
      if (Operation *d = v.getDefiningOp()) {
        Kind dk = kinds.lookup(d);
        patch |= dk == Kind::Patch;
        gathered |= dk == Kind::Gathered;
      }
    if (patch && gathered)
      return op.emitError("fresco-pipefusion: an op reads both one patch's "
                          "tokens and every patch's (only the function's "
                          "results may gather the patches)");
    k = gathered ? Kind::Gathered : patch ? Kind::Patch : Kind::Whole;
    SmallVector<int16_t> axes = axesOf(&op);
    if (llvm::is_contained(axes, axis)) {
      auto only = [&]() { return axes.size() == 1; };
      if (isa<shard::AllSliceOp>(op) && only() && k == Kind::Whole) {
        k = Kind::Patch;
      } else if (isa<shard::AllGatherOp>(op) && k == Kind::Patch &&
                 (only() || (micro && axes.back() == axis))) {
        // With cfg, the batch's gather spans [cfg, microbatch]: the
        // micro-batches' blocks concatenated, then gathered over cfg.
        k = Kind::Gathered;
      } else if (isa<StaleGatherOp>(op) && only() && k == Kind::Patch &&
                 !micro) {
        Operation *user =
            op.hasOneUse() ? *op.getResult(0).getUsers().begin() : nullptr;
        auto att = dyn_cast_or_null<AttentionOp>(user);
        unsigned operand =
            att ? op.getResult(0).getUses().begin()->getOperandNumber() : 0;
        if (!att || (operand != 1 && operand != 2))
          return op.emitError("fresco-pipefusion: a stale_gather that is "
                              "not an attention's key or value");
        auto sg = cast<StaleGatherOp>(op);
        cacheIds[&op] = int64_t(caches.size());
        SmallVector<int64_t> segments;
        if (std::optional<ArrayRef<int64_t>> s = sg.getSegments())
          segments.assign(s->begin(), s->end());
        caches.push_back({attentionIndex.lookup(att), operand, sg.getDim(),
                          op.getResult(0).getType(), segments});
      } else if (isa<shard::UpdateHaloOp, GroupNormOp>(op) && !micro) {
        return op.emitError("fresco-pipefusion: a convolution's halo or a "
                            "group norm spans PipeFusion's patches: "
                            "pipefusion runs transformer denoisers (DiT, "
                            "Flux, SD3), not UNets, whose patches would need "
                            "rows of a patch run earlier or later (use "
                            "pipeline=, patch=, ulysses= or ring=)");
      } else if (micro) {
        return op.emitError("fresco-pipefusion: '")
               << op.getName()
               << "' communicates across the micro-batches, which a rank "
                  "runs one after the other (only their slices and the "
                  "final gather can)";
      } else {
        return op.emitError("fresco-pipefusion: '")
               << op.getName()
               << "' communicates across PipeFusion's patches, which a "
                  "rank runs one after the other (only their slices, "
                  "self-attention's keys and values and the final gather "
                  "can)";
      }
    }
    kinds[&op] = k;
  }
  return success();
}

LogicalResult Unroller::clonePatch(Operation *op, int64_t m, IRMapping &map) {
  if (auto sl = dyn_cast<shard::AllSliceOp>(op);
      sl && llvm::is_contained(sl.getGridAxes(), axis)) {
    SliceOp s = sliceBlock(b, sl, map.lookupOrDefault(sl->getOperand(0)), m);
    map.map(sl.getResult(), s.getResult());
    return success();
  }
  if (auto sg = dyn_cast<StaleGatherOp>(op); sg && cacheIds.count(op)) {
    auto c = PatchCacheOp::create(
        b, sg.getLoc(), sg.getType(), map.lookupOrDefault(sg.getInput()),
        b.getI64IntegerAttr(cacheIds.lookup(op)), b.getI64IntegerAttr(m),
        b.getI64IntegerAttr(patches), b.getI64IntegerAttr(sg.getDim()));
    map.map(sg.getResult(), c.getResult());
    return success();
  }
  b.clone(*op, map);
  return success();
}

LogicalResult Unroller::run() {
  if (failed(classify()))
    return failure();
  Block &block = fn.getBody().front();
  Operation *ret = block.getTerminator();
  SmallVector<Operation *> original;
  for (Operation &op : block.without_terminator())
    original.push_back(&op);
  b.setInsertionPoint(ret);
  // Ops of the whole sequence once (where patch 0 meets them), the
  // patches' own in patch order.
  IRMapping whole;
  SmallVector<IRMapping> perPatch(patches);
  for (int64_t m = 0; m < patches; ++m) {
    for (Operation *op : original) {
      Kind k = kinds.lookup(op);
      if (k == Kind::Gathered)
        continue;
      if (k == Kind::Whole) {
        if (m == 0) {
          Operation *c = b.clone(*op, whole);
          (void)c;
        }
        continue;
      }
      IRMapping &map = perPatch[m];
      // Whole values read by this patch: the kept copies.
      for (Value v : op->getOperands())
        if (!map.contains(v) && whole.contains(v))
          map.map(v, whole.lookup(v));
      if (failed(clonePatch(op, m, map)))
        return failure();
    }
  }
  // The gathered tail, once.
  for (Operation *op : original) {
    if (kinds.lookup(op) != Kind::Gathered)
      continue;
    if (auto g = dyn_cast<shard::AllGatherOp>(op);
        g && llvm::is_contained(g.getGridAxes(), axis)) {
      SmallVector<Value> blocks;
      for (int64_t m = 0; m < patches; ++m)
        blocks.push_back(perPatch[m].lookup(g.getInput()));
      const int64_t dim = g.getGatherAxis().getSExtValue();
      auto in = cast<RankedTensorType>(g.getInput().getType());
      SmallVector<int64_t> shape(in.getShape());
      shape[dim] *= patches;
      auto c = ConcatOp::create(
          b, g.getLoc(), RankedTensorType::get(shape, in.getElementType()),
          blocks, b.getI64IntegerAttr(dim));
      Value joined = c.getResult();
      if (g.getGridAxes().size() > 1) { // the other axes' gather, after
        IRMapping rest;
        rest.map(g.getInput(), joined);
        auto outer = cast<shard::AllGatherOp>(b.clone(*g, rest));
        outer.setGridAxesAttr(b.getDenseI16ArrayAttr(
            g.getGridAxes().drop_back()));
        joined = outer.getResult();
      }
      whole.map(g.getResult(), joined);
      continue;
    }
    b.clone(*op, whole);
  }
  for (OpOperand &use : ret->getOpOperands()) {
    Operation *d = use.get().getDefiningOp();
    if (d && kinds.lookup(d) == Kind::Patch)
      return ret->emitError("fresco-pipefusion: a result of one patch "
                            "that is never gathered");
    use.set(whole.lookupOrDefault(use.get()));
  }
  for (Operation *op : llvm::reverse(original)) {
    op->dropAllUses();
    op->erase();
  }
  return success();
}

LogicalResult Unroller::cacheTwin(func::FuncOp twin) {
  SmallVector<AttentionOp> attentions;
  twin.walk([&](AttentionOp a) { attentions.push_back(a); });
  for (auto [id, c] : llvm::enumerate(caches)) {
    if (c.attention >= int64_t(attentions.size()))
      return twin.emitError("fresco-pipefusion: the warm-up function has ")
             << attentions.size() << " attentions, the denoiser more";
    AttentionOp a = attentions[c.attention];
    Value v = a->getOperand(c.operand);
    if (v.getType() != c.whole)
      return a.emitError("fresco-pipefusion: the warm-up function's "
                         "attention operand ")
             << c.operand << " is " << v.getType()
             << " but the patched denoiser caches " << c.whole;
    b.setInsertionPoint(a);
    auto write = [&](Value whole) {
      return PatchCacheOp::create(
          b, a.getLoc(), whole.getType(), whole,
          b.getI64IntegerAttr(int64_t(id)), b.getI64IntegerAttr(0),
          b.getI64IntegerAttr(1), b.getI64IntegerAttr(c.dim));
    };
    if (c.segments.size() <= 1) {
      a->setOperand(c.operand, write(v).getResult());
      continue;
    }
    // Several segments: the cache holds them in block order (block m: the
    // m-th share of each), the twin's attention its own order.
    auto t = cast<RankedTensorType>(v.getType());
    SmallVector<Value> parts;
    for (int64_t m = 0; m < patches; ++m) {
      int64_t start = 0;
      for (int64_t size : c.segments) {
        if (size % patches != 0)
          return a.emitError("fresco-pipefusion: a token segment of ")
                 << size << " is not " << patches << " equal patches";
        int64_t chunk = size / patches;
        SmallVector<int64_t> shape(t.getShape());
        shape[c.dim] = chunk;
        parts.push_back(SliceOp::create(
            b, a.getLoc(), RankedTensorType::get(shape, t.getElementType()), v,
            b.getI64IntegerAttr(c.dim), b.getI64IntegerAttr(start + m * chunk),
            b.getI64IntegerAttr(chunk)));
        start += size;
      }
    }
    write(
        ConcatOp::create(b, a.getLoc(), t, parts, b.getI64IntegerAttr(c.dim)));
  }
  return success();
}

struct PipeFusionPass : impl::PipeFusionBase<PipeFusionPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis(kPipeFusionAxis) : std::nullopt;
    const bool micro = !axis && grid && grid->axis(kMicrobatchAxis);
    if (micro)
      axis = grid->axis(kMicrobatchAxis);
    if (!axis)
      return;
    func::FuncOp twin = warmupFunction(module);
    int64_t rank = grid->grid.getShape().size();
    if (axis->first != rank - 1 || (!twin && !micro)) {
      module.emitError("fresco-pipefusion needs the virtual axis last and, "
                       "for pipefusion, the warm-up function "
                       "(fresco-create-grid, fresco-pipefusion-warmup)");
      return signalPassFailure();
    }
    SmallVector<func::FuncOp> fns = denoiserFunctions(module);
    for (func::FuncOp fn : fns) {
      if (fn == twin)
        continue;
      if (!fn.getBody().hasOneBlock()) {
        fn.emitError("fresco-pipefusion needs a single-block function");
        return signalPassFailure();
      }
      Unroller u(fn, axis->first, axis->second, micro);
      if (failed(u.run()) || (twin && failed(u.cacheTwin(twin))))
        return signalPassFailure();
      if (micro)
        fn->setAttr(kMicrobatchesAttr,
                    IntegerAttr::get(IntegerType::get(fn.getContext(), 64),
                                     axis->second));
    }
    // Nothing names the axis any more: no rank owns it.
    WalkResult named = module.walk([&](Operation *op) {
      if (llvm::any_of(axesOf(op), [&](int16_t a) { return a >= rank - 1; })) {
        op->emitError("fresco-pipefusion: still split over the ")
            << (micro ? "micro-batches" : "patches");
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (named.wasInterrupted())
      return signalPassFailure();
    OpBuilder b(module.getContext());
    SmallVector<int64_t> shape(grid->grid.getShape().drop_back());
    grid->grid.setShape(shape);
    SmallVector<Attribute> names;
    for (const std::string &n : ArrayRef(grid->axisNames).drop_back())
      names.push_back(b.getStringAttr(n));
    module->setAttr(FrescoDialect::kGridAxesAttrName, b.getArrayAttr(names));
  }
};

} // namespace
} // namespace mlir::fresco
