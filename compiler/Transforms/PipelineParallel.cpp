//===- PipelineParallel.cpp - Layer sharding into pipeline stages ---------===//
//
// The denoiser's ops, in program order, are cut into P contiguous stages
// that each hold about 1/P of its parameter bytes: stage s runs on the
// ranks whose coordinate on the pipeline axis is s, and loads only the
// parameters its ops use. A value one stage computes and a later one uses
// goes there with a fresco.stage_transfer (a send and a receive); the
// function's results are broadcast from the stage that computes them, since
// every rank's sampling loop needs them. Ops without operands (parameters,
// the position table) and slices of the arguments are repeated in each
// stage that uses them rather than sent. Values only ever flow forward, so
// the sends cannot deadlock.
//
// Layer sharding saves memory, not time: for one batch the stages run one
// after the other, unless the batch is cut into micro-batches
// (`--microbatches`, unrolled by fresco-pipefusion), which the stages then
// work on at once. The `#fresco.stage` marks survive later rewrites
// (StageListener.h); the lowering runs the pass at its end, just before
// fresco-assign-buffers, so that the stages are cut over the fused ops.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/SetVector.h"

#define DEBUG_TYPE "fresco-pipeline-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_PIPELINEPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

uint64_t bytesOf(Type t) {
  auto tt = cast<RankedTensorType>(t);
  return uint64_t(tt.getNumElements()) *
         ((tt.getElementTypeBitWidth() + 7) / 8);
}

/// A slice of a function argument: every stage has the argument, so the
/// slice is repeated where it is used rather than sent (cfg's batch half,
/// a micro-batch's share).
bool argumentSlice(Operation *op) {
  return isa<SliceOp, shard::AllSliceOp>(op) &&
         llvm::all_of(op->getOperands(),
                      [](Value v) { return isa<BlockArgument>(v); });
}

/// Placed with its users (splitStages), not by the balance.
bool repeated(Operation *op) {
  return op->getNumOperands() == 0 || argumentSlice(op);
}

int64_t stageOf(Operation *op) {
  return op->getAttrOfType<StageAttr>(kStage).getIndex();
}

/// A parameter as both functions of a PipeFusion pair read it.
using ParamKey = std::pair<Attribute, Type>;
ParamKey keyOf(Operation *param) {
  return {param->getAttrDictionary(), param->getResult(0).getType()};
}

/// Stages by position, weighted by the parameter bytes each op reads: an
/// op belongs to the stage of the parameter bytes read up to and including
/// its own, so the ops after a layer's last weight stay with it and a
/// stage begins at the first op that reads its weights. With `params`,
/// only records each parameter's stage there (where it is first read).
/// `firstReads`: a parameter's bytes count at its first read only (a
/// function unrolled over micro-batches reads each once per micro-batch).
LogicalResult stagesByBytes(func::FuncOp fn, int64_t stages,
                            llvm::DenseMap<ParamKey, int64_t> *params,
                            bool firstReads = false) {
  Block &block = fn.getBody().front();
  OpBuilder b(fn.getContext());
  SmallVector<Operation *> ops;
  uint64_t total = 0;
  llvm::DenseSet<Value> counted;
  auto counts = [&](Value v) {
    return v.getDefiningOp<ParamOp>() &&
           (!firstReads || counted.insert(v).second);
  };
  for (Operation &op : block.without_terminator()) {
    ops.push_back(&op);
    for (Value v : op.getOperands())
      if (counts(v))
        total += bytesOf(v.getType());
  }
  counted.clear();
  if (total == 0)
    return fn.emitError("fresco-pipeline-parallel: '")
           << fn.getSymName() << "' reads no parameters to balance";
  uint64_t seen = 0;
  for (Operation *op : ops) {
    if (repeated(op))
      continue; // placed with its users below
    for (Value v : op->getOperands())
      if (counts(v))
        seen += bytesOf(v.getType());
    int64_t s =
        seen == 0 ? 0
                  : std::min<int64_t>(stages - 1,
                                      int64_t(double(seen - 1) *
                                              double(stages) / double(total)));
    if (!params) {
      op->setAttr(kStage, StageAttr::get(b.getContext(), s));
      continue;
    }
    for (Value v : op->getOperands())
      if (auto p = v.getDefiningOp<ParamOp>())
        params->try_emplace(keyOf(p), s);
  }
  return success();
}

/// PipeFusion's pair (the patched denoiser and its warm-up twin): stages
/// by dataflow, so that both cut alike whatever the order their patches
/// run in. A parameter has the stage the twin's byte balance gives it; an
/// op, the latest stage of the parameters it reads and of the values it
/// reads. A patch_cache thus lands on the same stage (rank) in both.
LogicalResult
stagesByDataflow(func::FuncOp fn,
                 const llvm::DenseMap<ParamKey, int64_t> &params) {
  OpBuilder b(fn.getContext());
  for (Operation &op : fn.getBody().front().without_terminator()) {
    if (repeated(&op))
      continue;
    int64_t s = 0;
    for (Value v : op.getOperands()) {
      Operation *d = v.getDefiningOp();
      if (!d)
        continue;
      if (auto p = dyn_cast<ParamOp>(d)) {
        auto it = params.find(keyOf(p));
        if (it == params.end())
          return p.emitError("fresco-pipeline-parallel: a parameter the "
                             "warm-up function does not read");
        s = std::max(s, it->second);
      } else if (!repeated(d)) {
        s = std::max(s, stageOf(d));
      }
    }
    op.setAttr(kStage, StageAttr::get(b.getContext(), s));
  }
  return success();
}

/// Operand-free ops, transfers and the results' broadcast, once every op
/// that reads something has its stage.
LogicalResult splitStages(func::FuncOp fn, int16_t axis, int64_t stages) {
  Block &block = fn.getBody().front();
  OpBuilder b(fn.getContext());
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  SmallVector<Operation *> ops;
  for (Operation &op : block.without_terminator())
    ops.push_back(&op);

  // A stage without parameters would be an empty shard of the weights
  // (stage 0 may hold param-free ops only, when the first weight read is
  // more than 1/P of the bytes: count the ops that read parameters).
  llvm::SmallSetVector<int64_t, 8> used;
  for (Operation *op : ops)
    if (llvm::any_of(op->getOperands(),
                     [](Value v) { return v.getDefiningOp<ParamOp>(); }))
      used.insert(stageOf(op));
  if (int64_t(used.size()) != stages)
    return fn.emitError("fresco-pipeline-parallel: '")
           << fn.getSymName() << "' cannot be cut into " << stages
           << " stages with parameters each (pipeline=" << stages
           << " is more than its layers allow)";

  // 2. Operand-free ops (parameters, the position table) and slices of the
  // arguments: one copy in each stage that uses them.
  for (Operation *op : ops) {
    if (!repeated(op))
      continue;
    if (op->getNumResults() != 1) // none in the dialect today
      return op->emitError("fresco-pipeline-parallel: an op without "
                           "operands must have exactly one result");
    llvm::DenseMap<int64_t, Operation *> copies;
    for (OpOperand &use : llvm::make_early_inc_range(op->getUses())) {
      Operation *user = use.getOwner();
      if (isa<func::ReturnOp>(user))
        return op->emitError("fresco-pipeline-parallel: a function result "
                             "that no stage computes");
      int64_t s = stageOf(user);
      Operation *&copy = copies[s];
      if (!copy) {
        if (copies.size() == 1) {
          copy = op; // the original serves the first stage seen
          op->setAttr(kStage, StageAttr::get(b.getContext(), s));
        } else {
          b.setInsertionPoint(op);
          copy = b.clone(*op);
          copy->setAttr(kStage, StageAttr::get(b.getContext(), s));
        }
      }
      use.set(copy->getResult(0));
    }
    if (!op->hasAttr(kStage)) // unused
      op->setAttr(kStage, StageAttr::get(b.getContext(), 0));
  }

  // 3. Values used by later stages travel there, one transfer per stage.
  for (Operation *op : ops) {
    int64_t from = stageOf(op);
    for (Value v : op->getResults()) {
      llvm::DenseMap<int64_t, Value> arrived;
      for (OpOperand &use : llvm::make_early_inc_range(v.getUses())) {
        Operation *user = use.getOwner();
        if (isa<func::ReturnOp>(user) ||
            isa<StageTransferOp, StageBroadcastOp>(user))
          continue;
        int64_t to = stageOf(user);
        if (to == from)
          continue;
        if (to < from)
          return user->emitError("fresco-pipeline-parallel: stage ")
                 << to << " uses a value of the later stage " << from;
        Value &t = arrived[to];
        if (!t) {
          b.setInsertionPointAfter(op);
          t = StageTransferOp::create(
              b, op->getLoc(), v.getType(), v, b.getI16IntegerAttr(axis),
              b.getI64IntegerAttr(from), b.getI64IntegerAttr(to));
        }
        use.set(t);
      }
    }
  }

  // 4. Every stage's sampling loop needs the results.
  b.setInsertionPoint(ret);
  for (OpOperand &use : ret->getOpOperands()) {
    Operation *def = use.get().getDefiningOp();
    if (!def)
      continue; // an argument: every stage has it
    use.set(StageBroadcastOp::create(b, ret.getLoc(), use.get().getType(),
                                     use.get(), b.getI16IntegerAttr(axis),
                                     b.getI64IntegerAttr(stageOf(def))));
  }
  fn->setAttr(FrescoDialect::kPipelineAxisAttrName, b.getI16IntegerAttr(axis));
  return success();
}

/// Every patch_cache of one cache on one stage: the rank that keeps it.
LogicalResult checkCaches(ArrayRef<func::FuncOp> fns) {
  llvm::DenseMap<int64_t, int64_t> stageOfCache;
  for (func::FuncOp fn : fns) {
    WalkResult r = fn.walk([&](PatchCacheOp c) {
      auto [it, fresh] = stageOfCache.try_emplace(c.getCache(), stageOf(c));
      if (!fresh && it->second != stageOf(c)) {
        c.emitError("fresco-pipeline-parallel: cache ")
            << c.getCache() << " is written on stages " << it->second << " and "
            << stageOf(c);
        return WalkResult::interrupt();
      }
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return failure();
  }
  return success();
}

struct PipelineParallelPass : impl::PipelineParallelBase<PipelineParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("pipeline") : std::nullopt;
    if (!axis)
      return;
    SmallVector<func::FuncOp> fns = denoiserFunctions(module);
    for (func::FuncOp fn : fns)
      if (!fn.getBody().hasOneBlock()) {
        fn.emitError("fresco-pipeline-parallel needs a single-block "
                     "function");
        return signalPassFailure();
      }
    // PipeFusion: the twin's balance decides every parameter's stage.
    llvm::DenseMap<ParamKey, int64_t> params;
    func::FuncOp twin = warmupFunction(module);
    if (twin && failed(stagesByBytes(twin, axis->second, &params)))
      return signalPassFailure();
    for (func::FuncOp fn : fns) {
      // Micro-batches run in turn (fresco-pipefusion): each parameter's
      // stage from the bytes at its first read, then by dataflow, so every
      // micro-batch crosses the same stages.
      if (!twin && fn->hasAttr(kMicrobatchesAttr)) {
        params.clear();
        if (failed(stagesByBytes(fn, axis->second, &params, true)))
          return signalPassFailure();
      }
      if (failed(!params.empty() ? stagesByDataflow(fn, params)
                                 : stagesByBytes(fn, axis->second, nullptr)) ||
          failed(splitStages(fn, axis->first, axis->second)))
        return signalPassFailure();
    }
    if (twin && failed(checkCaches(fns)))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
