//===- SpecializeRanks.cpp - One program per rank
//--------------------------===//
//
// The partitioned functions are SPMD: one function for every rank of the
// grid, written for "this rank". Before emission each rank gets its own
// copy, in a nested module `@rank<r>` (`fresco.rank = r`), with everything
// that depends on which rank it is resolved:
//   - a function split into pipeline stages keeps only the rank's stage
//     (its stage transfers become fresco.send / fresco.recv, its final
//     broadcast fresco.broadcast, with the world ranks of the group);
//   - shard.all_slice becomes the fresco.slice of the rank's block;
//   - a split parameter (`fresco.sharding`) becomes the slice it loads
//     (`offsets`, `checkpoint_shape`);
//   - a linear's bias that a partial sum counts once
//     (`fresco.partial_sum`) stays on the group's first member only;
//   - every collective, halo exchange and group norm over split rows, and
//     ring attention get their members' world ranks (`fresco.members`,
//     `fresco.ring_members`).
// The plan emitter then writes what it finds: it knows nothing of grids,
// coordinates or stages.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FloatStorage.h"

#include "mlir/IR/IRMapping.h"

#define DEBUG_TYPE "fresco-specialize-ranks"

namespace mlir::fresco {
#define GEN_PASS_DEF_SPECIALIZERANKS
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Where a function runs, and where this rank sits on its grid.
struct RankContext {
  SmallVector<int64_t> gridShape; // empty: not partitioned
  SmallVector<int64_t> coords;
  SmallVector<int64_t> fnRanks; // world rank of each grid linear index

  /// The world ranks of this rank's group along `axes`, in group order
  /// (row-major over the grid, the other axes at this rank's coordinates).
  SmallVector<int32_t> group(ArrayRef<int16_t> axes) const {
    SmallVector<int32_t> members;
    int64_t total = 1;
    for (int64_t d : gridShape)
      total *= d;
    for (int64_t idx = 0; idx < total; ++idx) {
      int64_t rest = idx;
      bool same = true;
      for (int64_t a = int64_t(gridShape.size()) - 1; a >= 0; --a) {
        int64_t c = rest % gridShape[a];
        rest /= gridShape[a];
        if (!llvm::is_contained(axes, a) && c != coords[a])
          same = false;
      }
      if (same)
        members.push_back(int32_t(fnRanks[idx]));
    }
    return members;
  }
};

SmallVector<int64_t> ranksOf(func::FuncOp fn, int64_t worldSize) {
  SmallVector<int64_t> r;
  if (auto a =
          fn->getAttrOfType<DenseI64ArrayAttr>(FrescoDialect::kRanksAttrName))
    r.assign(a.asArrayRef().begin(), a.asArrayRef().end());
  else
    for (int64_t i = 0; i < worldSize; ++i)
      r.push_back(i);
  return r;
}

class Specializer {
public:
  Specializer(func::FuncOp fn, const RankContext &rc,
              const llvm::DenseSet<Value> &keptF32)
      : fn(fn), rc(rc), keptF32(keptF32), b(fn.getContext()) {}

  LogicalResult run();

private:
  LogicalResult stages(int16_t axis);
  LogicalResult resolve(Operation *op);
  /// The group's world ranks, in grid order (row-major): `op` must list
  /// its axes major to minor for that to be its order.
  FailureOr<DenseI32ArrayAttr> members(Operation *op, ArrayRef<int16_t> axes) {
    if (!llvm::is_sorted(axes) || llvm::adjacent_find(axes) != axes.end())
      return op->emitError("grid axes must be listed major to minor, each "
                           "once, to name the group's ranks in order");
    return b.getDenseI32ArrayAttr(rc.group(axes));
  }
  /// Keeps `fresco.offset` and marks a transfer of f32 timesteps, which
  /// the specialised function alone could no longer tell (FloatStorage).
  void carry(Operation *from, Operation *to, Value original) {
    if (auto offset = from->getAttr(FrescoDialect::kOffsetAttrName))
      to->setAttr(FrescoDialect::kOffsetAttrName, offset);
    if (keptF32.contains(original))
      to->setAttr(FrescoDialect::kKeepF32AttrName, b.getUnitAttr());
  }

  func::FuncOp fn;
  const RankContext &rc;
  const llvm::DenseSet<Value> &keptF32; // of the original function
  OpBuilder b;

public:
  /// The original function's value for a clone's value (for keptF32).
  IRMapping toOriginal;
};

/// Only this rank's stage: transfers become sends and receives (tags in
/// program order, the same on every rank), the other stages' ops go.
LogicalResult Specializer::stages(int16_t axis) {
  if (axis < 0 || axis >= int16_t(rc.gridShape.size()))
    return fn.emitError("pipeline stages outside the grid");
  int64_t mine = rc.coords[axis];
  int32_t tag = 0;
  SmallVector<Operation *> drop;
  for (Operation &op : fn.getBody().front().without_terminator()) {
    if (auto t = dyn_cast<StageTransferOp>(op)) {
      b.setInsertionPoint(t);
      Value original = toOriginal.lookupOrDefault(t.getResult());
      if (mine == int64_t(t.getFromStage())) {
        auto s = SendOp::create(b, t.getLoc(), t.getInput(),
                                b.getDenseI32ArrayAttr(rc.group({axis})),
                                b.getI64IntegerAttr(t.getToStage()),
                                b.getI32IntegerAttr(tag));
        carry(t, s, original);
        s->removeAttr(FrescoDialect::kOffsetAttrName);
      } else if (mine == int64_t(t.getToStage())) {
        auto r = RecvOp::create(b, t.getLoc(), t.getType(),
                                b.getDenseI32ArrayAttr(rc.group({axis})),
                                b.getI64IntegerAttr(t.getFromStage()),
                                b.getI32IntegerAttr(tag));
        carry(t, r, original);
        t.getResult().replaceAllUsesWith(r.getResult());
      }
      ++tag;
      drop.push_back(t);
      continue;
    }
    if (auto bc = dyn_cast<StageBroadcastOp>(op)) {
      b.setInsertionPoint(bc);
      bool root = mine == int64_t(bc.getFromStage());
      auto c = BroadcastOp::create(b, bc.getLoc(), bc.getType(),
                                   root ? bc.getInput() : Value(),
                                   b.getDenseI32ArrayAttr(rc.group({axis})),
                                   b.getI64IntegerAttr(bc.getFromStage()));
      carry(bc, c, toOriginal.lookupOrDefault(bc.getResult()));
      bc.getResult().replaceAllUsesWith(c.getResult());
      drop.push_back(bc);
      continue;
    }
    auto stage = op.getAttrOfType<StageAttr>(kStage);
    if (!stage)
      return op.emitError("an op without a pipeline stage in a function "
                          "split into stages");
    if (stage.getIndex() != mine)
      drop.push_back(&op);
    else
      op.removeAttr(kStage);
  }
  for (Operation *op : llvm::reverse(drop)) {
    if (!op->use_empty())
      return op->emitError("a value of another pipeline stage is used "
                           "without a stage transfer");
    op->erase();
  }
  fn->removeAttr(FrescoDialect::kPipelineAxisAttrName);
  return success();
}

LogicalResult Specializer::resolve(Operation *op) {
  auto partitioned = [&]() -> LogicalResult {
    if (rc.gridShape.empty())
      return op->emitError("a collective in a function that is not "
                           "partitioned over the grid");
    return success();
  };
  if (auto param = dyn_cast<ParamOp>(op)) {
    auto sharding = param->getAttrOfType<ShardingAttr>(kSharding);
    if (!sharding)
      return success();
    // Each split dimension's block index is this rank's coordinate over
    // the dimension's axes, major to minor.
    ArrayRef<int64_t> local = param.getType().getShape();
    SmallVector<int64_t> full(local), offsets(local.size(), 0);
    // A slice of the tensor already (fresco-split-concat-linear): the
    // rank's block is within it.
    SmallVector<int64_t> base(local.size(), 0);
    if (std::optional<ArrayRef<int64_t>> o = param.getOffsets())
      base.assign(o->begin(), o->end());
    for (int64_t dim = 0; dim < sharding.getRank(); ++dim) {
      int64_t parts = 1, index = 0;
      for (int16_t axis : sharding.getDimAxes(dim)) {
        if (axis >= int64_t(rc.gridShape.size()))
          return param.emitError("sharded parameter outside the grid");
        parts *= rc.gridShape[axis];
        index = index * rc.gridShape[axis] + rc.coords[axis];
      }
      full[dim] = local[dim] * parts;
      offsets[dim] = base[dim] + local[dim] * index;
    }
    if (!param.getCheckpointShape())
      param.setCheckpointShape(full);
    param.setOffsets(offsets);
    param->removeAttr(kSharding);
    return success();
  }
  if (auto linear = dyn_cast<LinearOp>(op)) {
    auto partial = linear->getAttrOfType<DictionaryAttr>(
        FrescoDialect::kPartialSumAttrName);
    if (!partial)
      return success();
    // The sum counts these once: on the member at coordinate 0.
    auto axes = partial.getAs<DenseI16ArrayAttr>("axes");
    if (llvm::any_of(axes.asArrayRef(), [&](int16_t a) {
          return a >= int64_t(rc.gridShape.size());
        }))
      return linear.emitError("a partial sum over grid axes the function "
                              "is not partitioned over");
    const bool first = llvm::all_of(
        axes.asArrayRef(), [&](int16_t a) { return rc.coords[a] == 0; });
    if (!first)
      linear.getBiasMutable().clear(); // `once` is ["bias"] (verifier)
    linear->removeAttr(FrescoDialect::kPartialSumAttrName);
    return success();
  }
  if (auto sl = dyn_cast<shard::AllSliceOp>(op)) {
    if (failed(partitioned()))
      return failure();
    // No communication: this rank's block of its replicated input.
    if (sl.getGridAxes().size() != 1)
      return sl.emitError("all_slice over exactly one grid axis is "
                          "supported");
    b.setInsertionPoint(sl);
    SliceOp s =
        sliceBlock(b, sl, sl->getOperand(0), rc.coords[sl.getGridAxes()[0]]);
    sl.getResult().replaceAllUsesWith(s.getResult());
    sl.erase();
    return success();
  }
  ArrayRef<int16_t> axes;
  if (auto r = dyn_cast<shard::AllReduceOp>(op))
    axes = r.getGridAxes();
  else if (auto g = dyn_cast<shard::AllGatherOp>(op))
    axes = g.getGridAxes();
  else if (auto s = dyn_cast<shard::ReduceScatterOp>(op))
    axes = s.getGridAxes();
  else if (auto t = dyn_cast<shard::AllToAllOp>(op))
    axes = t.getGridAxes();
  else if (auto h = dyn_cast<shard::UpdateHaloOp>(op)) {
    // One split dimension: its neighbours are the ranks along its axes.
    for (shard::GridAxesAttr a : h.getSplitAxes().getAxes())
      if (!a.empty()) {
        if (!axes.empty())
          return h.emitError("a halo exchange along one split dimension is "
                             "supported");
        axes = a.asArrayRef();
      }
  } else if (auto sg = dyn_cast<StaleGatherOp>(op))
    axes = sg.getAxes().getAxes();
  else if (auto n = dyn_cast<GroupNormOp>(op); n && n.getStatsAxesAttr())
    axes = n.getStatsAxesAttr().getAxes();
  else if (auto a = dyn_cast<AttentionOp>(op); a && a.getRingAxesAttr()) {
    if (rc.gridShape.empty())
      return a.emitError("ring attention in a function that is not "
                         "partitioned over the grid");
    FailureOr<DenseI32ArrayAttr> ring =
        members(a, a.getRingAxesAttr().getAxes());
    if (failed(ring))
      return failure();
    a->setAttr(FrescoDialect::kRingMembersAttrName, *ring);
    return success();
  } else
    return success();
  if (failed(partitioned()))
    return failure();
  FailureOr<DenseI32ArrayAttr> group = members(op, axes);
  if (failed(group))
    return failure();
  op->setAttr(FrescoDialect::kMembersAttrName, *group);
  return success();
}

LogicalResult Specializer::run() {
  // Arguments that stay f32: a rank whose stage does not read them must
  // still take them as the other ranks do (the loop feeds every rank).
  for (BlockArgument arg : fn.getArguments())
    if (keptF32.contains(toOriginal.lookupOrDefault(Value(arg))))
      fn.setArgAttr(arg.getArgNumber(), FrescoDialect::kKeepF32AttrName,
                    b.getUnitAttr());
  if (auto axis = fn->getAttrOfType<IntegerAttr>(
          FrescoDialect::kPipelineAxisAttrName)) {
    if (rc.gridShape.empty())
      return fn.emitError("pipeline stages outside the grid");
    if (failed(stages(int16_t(axis.getInt()))))
      return failure();
  }
  SmallVector<Operation *> ops;
  fn.walk([&](Operation *op) { ops.push_back(op); });
  for (Operation *op : ops)
    if (failed(resolve(op)))
      return failure();
  return success();
}

struct SpecializeRanksPass : impl::SpecializeRanksBase<SpecializeRanksPass> {
  using SpecializeRanksBase::SpecializeRanksBase;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (module->hasAttr(FrescoDialect::kRankAttrName) ||
        llvm::any_of(module.getOps<ModuleOp>(), [](ModuleOp m) {
          return m->hasAttr(FrescoDialect::kRankAttrName);
        })) {
      module.emitError("the module is already specialised per rank");
      return signalPassFailure();
    }
    int64_t worldSize = ranks;
    if (worldSize < 1) {
      module.emitError("fresco-specialize-ranks needs ranks >= 1");
      return signalPassFailure();
    }
    SmallVector<int64_t> gridShape;
    auto grid = module.lookupSymbol<shard::GridOp>(kGridName);
    if (grid)
      gridShape.assign(grid.getShape().begin(), grid.getShape().end());
    int64_t gridSize = 1;
    for (int64_t d : gridShape)
      gridSize *= d;
    SmallVector<func::FuncOp> fns;
    for (auto fn : module.getOps<func::FuncOp>())
      if (!fn.isExternal() && !fn.isPrivate())
        fns.push_back(fn);
    if (fns.empty()) {
      module.emitError("the module has no public function to compile");
      return signalPassFailure();
    }
    // What a function keeps in f32 under 2-byte storage, on the whole
    // function (a rank's stage alone may not show the timesteps' use).
    llvm::DenseMap<func::FuncOp, llvm::DenseSet<Value>> kept;
    for (func::FuncOp fn : fns) {
      for (int64_t r : ranksOf(fn, worldSize))
        if (r < 0 || r >= worldSize) {
          fn.emitError("placed on rank ")
              << r << " outside the " << worldSize << " ranks";
          return signalPassFailure();
        }
      FailureOr<llvm::DenseSet<Value>> k = fresco::keptF32(fn);
      if (failed(k))
        return signalPassFailure();
      kept[fn] = std::move(*k);
    }
    OpBuilder b(module.getContext());
    b.setInsertionPointToEnd(module.getBody());
    for (int64_t r = 0; r < worldSize; ++r) {
      auto rankModule =
          ModuleOp::create(module.getLoc(), ("rank" + Twine(r)).str());
      b.insert(rankModule);
      rankModule->setAttr(FrescoDialect::kRankAttrName, b.getI64IntegerAttr(r));
      if (auto storage = module->getAttr(kFloatStorageAttr))
        rankModule->setAttr(kFloatStorageAttr, storage);
      OpBuilder inner = OpBuilder::atBlockEnd(rankModule.getBody());
      if (grid)
        inner.clone(*grid);
      for (func::FuncOp fn : fns) {
        SmallVector<int64_t> fnRanks = ranksOf(fn, worldSize);
        auto it = llvm::find(fnRanks, r);
        if (it == fnRanks.end())
          continue;
        RankContext rc;
        if (int64_t(fnRanks.size()) == gridSize && !gridShape.empty()) {
          rc.gridShape = gridShape;
          rc.fnRanks = fnRanks;
          int64_t idx = it - fnRanks.begin();
          rc.coords.assign(gridShape.size(), 0);
          for (int64_t a = int64_t(gridShape.size()) - 1; a >= 0; --a) {
            rc.coords[a] = idx % gridShape[a];
            idx /= gridShape[a];
          }
        }
        IRMapping map;
        auto copy = cast<func::FuncOp>(inner.clone(*fn, map));
        Specializer s(copy, rc, kept[fn]);
        for (auto [from, to] : map.getValueMap())
          s.toOriginal.map(to, from);
        if (failed(s.run()))
          return signalPassFailure();
      }
    }
    for (func::FuncOp fn : fns)
      fn.erase();
  }
};

} // namespace
} // namespace mlir::fresco
