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
// work on at once. PipeFusion's stages overlap too (each on another patch),
// so its step follows the busiest stage: there the cut balances a roofline
// estimate of each stage's time in the patched step instead of the bytes
// (stagesByWork), where that is clearly better. The `#fresco.stage` marks
// survive later rewrites (StageListener.h); the lowering runs the pass at its
// end, just before fresco-assign-buffers, so that the stages are cut over the
// fused ops.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FloatStorage.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/Support/Debug.h"

#include <limits>

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

/// The fewest-bytes cut of `bytes` (each > 0, in order) into `stages`
/// contiguous non-empty runs: the largest run as small as it can be, ties
/// broken by the sum of squares. Returns each entry's run.
SmallVector<int64_t> evenestRuns(ArrayRef<uint64_t> bytes, int64_t stages) {
  const int64_t n = int64_t(bytes.size());
  SmallVector<double> before(n + 1, 0);
  for (int64_t i = 0; i < n; ++i)
    before[i + 1] = before[i] + double(bytes[i]);
  using Cost = std::pair<double, double>; // (largest run, sum of squares)
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<Cost>> best(stages,
                                      std::vector<Cost>(n + 1, {inf, inf}));
  std::vector<std::vector<int64_t>> from(stages,
                                         std::vector<int64_t>(n + 1, 0));
  for (int64_t j = 1; j <= n; ++j)
    best[0][j] = {before[j], before[j] * before[j]};
  for (int64_t s = 1; s < stages; ++s)
    for (int64_t j = s + 1; j <= n; ++j)
      for (int64_t i = j - 1; i >= s; --i) {
        const double run = before[j] - before[i];
        if (run > best[s][j].first)
          break; // earlier starts only make the run larger
        Cost c{std::max(best[s - 1][i].first, run),
               best[s - 1][i].second + run * run};
        if (c < best[s][j]) {
          best[s][j] = c;
          from[s][j] = i;
        }
      }
  SmallVector<int64_t> runOf(n, 0);
  for (int64_t s = stages - 1, j = n; s > 0; --s) {
    const int64_t i = from[s][j];
    for (int64_t k = i; k < j; ++k)
      runOf[k] = s;
    j = i;
  }
  return runOf;
}

/// Stages by position, weighted by the parameter bytes each op reads: an
/// op belongs to the stage of the parameter bytes read up to and including
/// its own, so the ops after a layer's last weight stay with it and a
/// stage begins at the first op that reads its weights. Where one weight
/// holds more than 1/P of the bytes (an embedding table of a small model),
/// that proportional cut leaves a stage without weights: then the ops that
/// bring new bytes are cut into P runs whose largest is as small as it can
/// be (evenestRuns). With `params`, only records each parameter's stage
/// there (where it is first read). `firstReads`: a parameter's bytes count
/// at its first read only (a function unrolled over micro-batches reads each
/// once per micro-batch).
LogicalResult stagesByBytes(func::FuncOp fn, int64_t stages,
                            llvm::DenseMap<ParamKey, int64_t> *params,
                            bool firstReads = false) {
  Block &block = fn.getBody().front();
  OpBuilder b(fn.getContext());
  // The ops that are not repeated, and the parameter bytes each brings.
  SmallVector<Operation *> ops;
  SmallVector<uint64_t> brings;
  uint64_t total = 0;
  llvm::DenseSet<Value> counted;
  for (Operation &op : block.without_terminator()) {
    uint64_t bytes = 0;
    for (Value v : op.getOperands())
      if (v.getDefiningOp<ParamOp>() &&
          (!firstReads || counted.insert(v).second))
        bytes += bytesOf(v.getType());
    total += bytes;
    if (!repeated(&op)) { // those are placed with their users (splitStages)
      ops.push_back(&op);
      brings.push_back(bytes);
    }
  }
  if (total == 0)
    return fn.emitError("fresco-pipeline-parallel: '")
           << fn.getSymName() << "' reads no parameters to balance";
  SmallVector<int64_t> stageOfOp(ops.size(), 0);
  llvm::SmallSet<int64_t, 8> withWeights;
  uint64_t seen = 0;
  for (auto [i, op] : llvm::enumerate(ops)) {
    seen += brings[i];
    stageOfOp[i] =
        seen == 0 ? 0
                  : std::min<int64_t>(stages - 1,
                                      int64_t(double(seen - 1) *
                                              double(stages) / double(total)));
    if (brings[i])
      withWeights.insert(stageOfOp[i]);
  }
  SmallVector<uint64_t> units;
  for (uint64_t bytes : brings)
    if (bytes)
      units.push_back(bytes);
  // Too few units: splitStages names the problem.
  if (int64_t(withWeights.size()) < stages && int64_t(units.size()) >= stages) {
    SmallVector<int64_t> runOf = evenestRuns(units, stages);
    int64_t unit = -1;
    for (auto [i, op] : llvm::enumerate(ops)) {
      if (brings[i])
        ++unit;
      stageOfOp[i] = unit < 0 ? 0 : runOf[unit];
    }
  }
  for (auto [i, op] : llvm::enumerate(ops)) {
    if (!params) {
      op->setAttr(kStage, StageAttr::get(b.getContext(), stageOfOp[i]));
      continue;
    }
    for (Value v : op->getOperands())
      if (auto p = v.getDefiningOp<ParamOp>())
        params->try_emplace(keyOf(p), stageOfOp[i]);
  }
  return success();
}

/// Elements of a ranked tensor type (1 for anything else).
double elementsOf(Type t) {
  auto tt = dyn_cast<RankedTensorType>(t);
  return tt ? double(tt.getNumElements()) : 1;
}

/// Stored bytes of a value: floats at the module's storage.
double storedBytes(Type t, unsigned floatBytes) {
  auto tt = dyn_cast<RankedTensorType>(t);
  if (!tt)
    return 0;
  unsigned es = isa<FloatType>(tt.getElementType())
                    ? floatBytes
                    : (tt.getElementTypeBitWidth() + 7) / 8;
  return double(tt.getNumElements()) * es;
}

/// A window or join along `axis` of `t` that the buffer assignment can
/// place in place (nothing before the axis but 1s): no copy of its own.
bool inPlaceAlong(Type t, int64_t axis) {
  auto tt = dyn_cast<RankedTensorType>(t);
  if (!tt || axis > tt.getRank())
    return false;
  for (int64_t d = 0; d < axis; ++d)
    if (tt.getDimSize(d) != 1)
      return false;
  return true;
}

/// The roofline seconds of one op on one GPU of the planner's h100-sxm-8
/// preset (bf16 989.5 or f32 67 TFLOPS and 3.35 TB/s, both at 70%, 2 us a
/// launch), counted as the planner counts a plan instruction (InstrWork):
/// FLOPs from the shapes, every operand and result read or written once.
/// Only the ratios matter to the cut: a per-patch GEMM that re-reads its
/// weights, a patch's copy of the whole cached keys and values, and the
/// launches of M small kernels all count.
double secondsOf(Operation *op, unsigned floatBytes) {
  if (op->getNumOperands() == 0 ||
      !isa_and_nonnull<FrescoDialect>(op->getDialect()) ||
      isa<ReshapeOp, WaitOp>(op))
    return 0; // parameters and views; collectives are not compute
  if (auto s = dyn_cast<SliceOp>(op);
      s && inPlaceAlong(s.getInput().getType(), s.getAxis()))
    return 0;
  if (auto c = dyn_cast<ConcatOp>(op);
      c && inPlaceAlong(c.getType(), c.getAxis()))
    return 0;
  double bytes = 0;
  for (Value v : op->getOperands())
    bytes += storedBytes(v.getType(), floatBytes);
  for (Value v : op->getResults())
    bytes += storedBytes(v.getType(), floatBytes);
  double out = op->getNumResults() ? elementsOf(op->getResult(0).getType()) : 0;
  // An operand's shape; empty for one that is missing or unranked.
  auto shape = [&](unsigned i) -> ArrayRef<int64_t> {
    auto t = i < op->getNumOperands()
                 ? dyn_cast<RankedTensorType>(op->getOperand(i).getType())
                 : RankedTensorType();
    return t ? t.getShape() : ArrayRef<int64_t>();
  };
  double flops = out;
  if (isa<LinearOp>(op) && !shape(0).empty()) {
    flops = 2 * out * double(shape(0).back());
  } else if (ArrayRef<int64_t> w = shape(1);
             isa<Conv2dOp>(op) && w.size() == 4) { // [O, C, KH, KW]
    flops = 2 * out * double(w[1] * w[2] * w[3]);
  } else if (ArrayRef<int64_t> q = shape(0), k = shape(1);
             isa<AttentionOp>(op) && q.size() == 3 && k.size() == 3) {
    // [B, T, H*Dh]: Q K^T and P V.
    flops = 4 * double(q[0]) * double(q[1]) * double(k[1]) * double(q[2]);
  } else if (isa<LayerNormOp, RmsNormOp, GroupNormOp>(op)) {
    flops = 8 * out;
  } else if (isa<RopeOp>(op)) {
    flops = (op->getNumOperands() == 3 ? 9 : 1) * out;
  }
  const double efficiency = 0.7, bandwidth = 3.35e12,
               peak = floatBytes == 4 ? 67e12 : 989.5e12, launch = 2e-6;
  return std::max(flops / peak, bytes / bandwidth) / efficiency + launch;
}

/// The cut's model of the sends: a value that crosses a stage boundary
/// goes over an NVLink 4 link at 80% with 3 us a message (the planner's
/// h100-sxm-8 preset), counted on the stages at both ends. It steers a cut away
/// from a boundary that would send a whole cached key or value for every patch.
constexpr double kLinkBytesPerSecond = 450e9 * 0.8, kLinkLatency = 3e-6;

/// The cut keeps the twin's byte balance unless the cut by time makes the
/// busiest stage at least this much faster: within that the estimate
/// cannot tell the two apart, and bytes keep the weights even.
constexpr double kMargin = 0.02;

/// Micro-batches' cut by time may give a stage at most this much more
/// parameter bytes than the byte balance's largest stage.
constexpr double kMicrobatchMemorySlack = 0.10;

/// The latest position among `op`'s operands: a parameter's in `params`,
/// another defined value's as `valueAt` gives it (nullopt: not counted);
/// `floor` when none counts. A parameter missing from `params` is an error.
FailureOr<int64_t>
latestOperand(Operation *op, const llvm::DenseMap<ParamKey, int64_t> &params,
              int64_t floor,
              function_ref<std::optional<int64_t>(Operation *)> valueAt) {
  int64_t at = floor;
  for (Value v : op->getOperands()) {
    Operation *d = v.getDefiningOp();
    if (!d)
      continue;
    if (auto p = dyn_cast<ParamOp>(d)) {
      auto it = params.find(keyOf(p));
      if (it == params.end())
        return p.emitError("fresco-pipeline-parallel: a parameter the "
                           "warm-up function does not read");
      at = std::max(at, it->second);
    } else if (std::optional<int64_t> s = valueAt(d)) {
      at = std::max(at, *s);
    }
  }
  return at;
}

/// What the cut weighs, over the twin's parameters in the order of their
/// first reads: an op of the patched functions runs on the stage of the
/// latest parameter it depends on (stagesByDataflow), so its time counts
/// there; ops that depend on none run on stage 0.
struct CutCosts {
  std::vector<double> prefix; // [j]: the time of parameters [0, j) and of
                              // the ops that read none
  std::vector<double> cross;  // [i]: bytes crossing a boundary before i
  std::vector<double> sends;  // [i]: values crossing it

  /// A stage of the parameters [i, j): its ops and its sends.
  double stage(int64_t i, int64_t j) const {
    const int64_t n = int64_t(prefix.size()) - 1;
    double t = prefix[j] - (i ? prefix[i] : 0);
    if (i > 0)
      t += cross[i] / kLinkBytesPerSecond + sends[i] * kLinkLatency;
    if (j < n)
      t += cross[j] / kLinkBytesPerSecond + sends[j] * kLinkLatency;
    return t;
  }
};

FailureOr<CutCosts> cutCosts(const llvm::DenseMap<ParamKey, int64_t> &index,
                             ArrayRef<func::FuncOp> patched,
                             unsigned floatBytes) {
  const int64_t n = int64_t(index.size());
  CutCosts c;
  c.prefix.assign(n + 1, 0);
  std::vector<double> work(n + 1, 0), delta(n + 2, 0), count(n + 2, 0);
  for (func::FuncOp fn : patched) {
    llvm::DenseMap<Operation *, int64_t> latest;
    Block &block = fn.getBody().front();
    for (Operation &op : block.without_terminator()) {
      if (op.getNumOperands() == 0)
        continue;
      FailureOr<int64_t> at = latestOperand(&op, index, -1, [&](Operation *d) {
        auto it = latest.find(d);
        return it == latest.end() ? std::nullopt
                                  : std::optional<int64_t>(it->second);
      });
      if (failed(at))
        return failure();
      latest[&op] = *at;
      work[*at + 1] += secondsOf(&op, floatBytes);
    }
    // A value defined at `at` and read up to `last` crosses the
    // boundaries before at + 1 .. last.
    for (Operation &op : block.without_terminator()) {
      auto it = latest.find(&op);
      if (it == latest.end())
        continue;
      for (Value v : op.getResults()) {
        int64_t last = it->second;
        for (Operation *user : v.getUsers())
          if (auto u = latest.find(user); u != latest.end())
            last = std::max(last, u->second);
        if (last > it->second) {
          delta[std::max<int64_t>(1, it->second + 1)] +=
              storedBytes(v.getType(), floatBytes);
          delta[last + 1] -= storedBytes(v.getType(), floatBytes);
          count[std::max<int64_t>(1, it->second + 1)] += 1;
          count[last + 1] -= 1;
        }
      }
    }
  }
  c.prefix[0] = work[0];
  for (int64_t i = 0; i < n; ++i)
    c.prefix[i + 1] = c.prefix[i] + work[i + 1];
  c.cross.assign(n + 1, 0);
  c.sends.assign(n + 1, 0);
  double live = 0, values = 0;
  for (int64_t i = 0; i <= n; ++i) {
    c.cross[i] = live += delta[i];
    c.sends[i] = values += count[i];
  }
  return c;
}

/// PipeFusion's cut: the twin's parameters, in the order of their first
/// reads, split into `stages` runs that balance the roofline time of the
/// patched functions (the steps after the warm-up), not the bytes. The
/// runs minimise the busiest stage's time (PipeFusion's step is about M
/// times it, plus the fill), ties broken by the sum of squares. `params`
/// comes with the twin's byte balance and keeps it within kMargin.
/// `memorySlack` >= 0 caps each stage's parameter bytes at (1 + slack) times
/// the byte balance's largest stage (micro-batches: pipeline=S is there to
/// save memory); below 0, no cap (PipeFusion: for speed).
LogicalResult stagesByWork(func::FuncOp twin, ArrayRef<func::FuncOp> patched,
                           int64_t stages,
                           llvm::DenseMap<ParamKey, int64_t> &params,
                           double memorySlack = -1) {
  llvm::DenseMap<ParamKey, int64_t> index;
  SmallVector<ParamKey> order;
  for (Operation &op : twin.getBody().front().without_terminator())
    for (Value v : op.getOperands())
      if (auto p = v.getDefiningOp<ParamOp>())
        if (index.try_emplace(keyOf(p), int64_t(index.size())).second)
          order.push_back(keyOf(p));
  const int64_t n = int64_t(order.size());
  if (n < stages)
    return success(); // splitStages says so
  FailureOr<CutCosts> costs = cutCosts(index, patched, floatStorageBytes(twin));
  if (failed(costs))
    return failure();
  // Parameter bytes of [i, j) in `order`, and the cap on a stage's.
  SmallVector<uint64_t> bytesBefore(n + 1, 0);
  for (int64_t i = 0; i < n; ++i)
    bytesBefore[i + 1] = bytesBefore[i] + bytesOf(order[i].second);
  auto runBytes = [&](int64_t i, int64_t j) {
    return bytesBefore[j] - bytesBefore[i];
  };
  double cap = std::numeric_limits<double>::infinity();
  if (memorySlack >= 0) {
    uint64_t largest = 0;
    for (int64_t s = 0, i = 0; s < stages; ++s) {
      int64_t j = i;
      while (j < n && params.lookup(order[j]) == s)
        ++j;
      largest = std::max(largest, runBytes(i, j));
      i = j;
    }
    cap = double(largest) * (1 + memorySlack);
  }
  // best[s][j]: stages 0..s over parameters [0, j), as (busiest, squares);
  // from[s][j]: where stage s begins.
  using Cost = std::pair<double, double>;
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<Cost>> best(stages,
                                      std::vector<Cost>(n + 1, {inf, inf}));
  std::vector<std::vector<int64_t>> from(stages,
                                         std::vector<int64_t>(n + 1, 0));
  for (int64_t j = 1; j <= n; ++j) {
    const double t = costs->stage(0, j);
    if (double(runBytes(0, j)) <= cap)
      best[0][j] = {t, t * t};
  }
  for (int64_t s = 1; s < stages; ++s)
    for (int64_t j = s + 1; j <= n; ++j)
      for (int64_t i = s; i < j; ++i) {
        if (double(runBytes(i, j)) > cap)
          continue;
        const Cost &before = best[s - 1][i];
        const double t = costs->stage(i, j);
        Cost c{std::max(before.first, t), before.second + t * t};
        if (c < best[s][j]) {
          best[s][j] = c;
          from[s][j] = i;
        }
      }
  // The byte balance's busiest stage (an empty stage: it cannot run).
  double bytesBusiest = 0;
  for (int64_t s = 0, i = 0; s < stages; ++s) {
    int64_t j = i;
    while (j < n && params.lookup(order[j]) == s)
      ++j;
    bytesBusiest = std::max(bytesBusiest, j > i ? costs->stage(i, j) : inf);
    i = j;
  }
  LLVM_DEBUG(llvm::dbgs() << "pipefusion cut: busiest stage "
                          << bytesBusiest * 1e3 << " ms by bytes, "
                          << best[stages - 1][n].first * 1e3
                          << " ms by time\n");
  if (!(best[stages - 1][n].first < (1 - kMargin) * bytesBusiest))
    return success();
  for (int64_t s = stages - 1, j = n; s >= 0; --s) {
    const int64_t i = s == 0 ? 0 : from[s][j];
    for (int64_t k = i; k < j; ++k)
      params[order[k]] = s;
    j = i;
  }
  return success();
}

/// PipeFusion's pair (the patched denoiser and its warm-up twin): stages
/// by dataflow, so that both cut alike whatever the order their patches
/// run in. A parameter has the stage stagesByWork gives it; an
/// op, the latest stage of the parameters it reads and of the values it
/// reads. A patch_cache thus lands on the same stage (rank) in both.
LogicalResult
stagesByDataflow(func::FuncOp fn,
                 const llvm::DenseMap<ParamKey, int64_t> &params) {
  OpBuilder b(fn.getContext());
  for (Operation &op : fn.getBody().front().without_terminator()) {
    if (repeated(&op))
      continue;
    FailureOr<int64_t> s = latestOperand(&op, params, 0, [](Operation *d) {
      return repeated(d) ? std::nullopt : std::optional<int64_t>(stageOf(d));
    });
    if (failed(s))
      return failure();
    op.setAttr(kStage, StageAttr::get(b.getContext(), *s));
  }
  return success();
}

/// The most parameter bytes one stage loads, once every op that reads
/// something has its stage: a parameter on each stage that reads it (as
/// splitStages copies it).
uint64_t largestStageLoad(func::FuncOp fn) {
  llvm::DenseMap<int64_t, uint64_t> load;
  fn.walk([&](ParamOp p) {
    llvm::SmallSet<int64_t, 4> stages;
    for (Operation *user : p->getUsers())
      if (user->hasAttr(kStage))
        stages.insert(stageOf(user));
    for (int64_t s : stages)
      load[s] += bytesOf(p->getResult(0).getType());
  });
  uint64_t most = 0;
  for (auto &[s, b] : load)
    most = std::max(most, b);
  return most;
}

LogicalResult relayTransfers(func::FuncOp fn, ArrayRef<Operation *> ops,
                             int16_t axis, int64_t stages);
LogicalResult broadcastResults(func::FuncOp fn, int16_t axis);

/// Operand-free ops, transfers and the results' broadcast, once every op
/// that reads something has its stage.
LogicalResult splitStages(func::FuncOp fn, int16_t axis, int64_t stages) {
  Block &block = fn.getBody().front();
  OpBuilder b(fn.getContext());
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
      int64_t s = 0;
      if (isa<func::ReturnOp>(user)) {
        // A returned slice of an argument: stage 0's copy is broadcast.
        if (!argumentSlice(op))
          return op->emitError("fresco-pipeline-parallel: a function result "
                               "that no stage computes");
      } else {
        s = stageOf(user);
      }
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
  // Micro-batches relay them instead (below).
  if (fn->hasAttr(kMicrobatchesAttr))
    return relayTransfers(fn, ops, axis, stages);
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
  return broadcastResults(fn, axis);
}

/// Micro-batches: a value crosses one stage boundary at a time (relayed by
/// the stages between), each hop just before the next stage's first op
/// after it. A send blocks until its peer takes it (Gloo; NCCL holds the
/// stream): sent where it is made, a micro-batch's conditioning would hold
/// its stage until a later stage finished the micro-batch before. So each
/// stage passes a micro-batch's values on when it is done with it, as the
/// next stage starts on it. Every rank meets the transfers in program
/// order, so they cannot deadlock.
LogicalResult relayTransfers(func::FuncOp fn, ArrayRef<Operation *> ops,
                             int16_t axis, int64_t stages) {
  OpBuilder b(fn.getContext());
  // The first op of stage s after `pos` that waits for nothing of its own
  // (not a repeated op), or null.
  auto nextOn = [](Operation *pos, int64_t s) -> Operation * {
    for (Operation *o = pos->getNextNode(); o; o = o->getNextNode())
      if (o->hasAttr(kStage) && !repeated(o) && stageOf(o) == s &&
          !isa<StageTransferOp>(o))
        return o;
    return nullptr;
  };
  for (Operation *op : ops) {
    const int64_t from = stageOf(op);
    for (Value v : op->getResults()) {
      int64_t last = from;
      for (Operation *user : v.getUsers()) {
        if (isa<func::ReturnOp, StageTransferOp, StageBroadcastOp>(user))
          continue;
        const int64_t to = stageOf(user);
        if (to < from)
          return user->emitError("fresco-pipeline-parallel: stage ")
                 << to << " uses a value of the later stage " << from;
        last = std::max(last, to);
      }
      Value cur = v;
      Operation *pos = op;
      for (int64_t s = from + 1; s <= last; ++s) {
        Operation *at = nextOn(pos, s);
        if (at)
          b.setInsertionPoint(at);
        else
          b.setInsertionPointAfter(pos);
        auto t = StageTransferOp::create(
            b, op->getLoc(), v.getType(), cur, b.getI16IntegerAttr(axis),
            b.getI64IntegerAttr(s - 1), b.getI64IntegerAttr(s));
        for (OpOperand &use : llvm::make_early_inc_range(v.getUses())) {
          Operation *user = use.getOwner();
          if (!isa<func::ReturnOp, StageTransferOp, StageBroadcastOp>(user) &&
              stageOf(user) == s)
            use.set(t);
        }
        cur = t;
        pos = t;
      }
    }
  }
  (void)stages;
  return broadcastResults(fn, axis);
}

/// Every stage's sampling loop needs the results: broadcast from the stage
/// that makes each.
LogicalResult broadcastResults(func::FuncOp fn, int16_t axis) {
  OpBuilder b(fn.getContext());
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
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
    SmallVector<func::FuncOp> patched;
    for (func::FuncOp fn : fns)
      if (fn != twin)
        patched.push_back(fn);
    if (twin && (failed(stagesByBytes(twin, axis->second, &params)) ||
                 failed(stagesByWork(twin, patched, axis->second, params))))
      return signalPassFailure();
    for (func::FuncOp fn : fns) {
      // Micro-batches run in turn (fresco-pipefusion), so the stages
      // overlap as PipeFusion's do: each parameter's stage from the time
      // balance over the parameters' first reads (or the bytes, where that
      // is as good), then by dataflow, so every micro-batch crosses the same
      // stages.
      if (!twin && fn->hasAttr(kMicrobatchesAttr)) {
        params.clear();
        if (failed(stagesByBytes(fn, axis->second, &params, true)))
          return signalPassFailure();
        llvm::DenseMap<ParamKey, int64_t> byBytes = params;
        if (failed(stagesByWork(fn, {fn}, axis->second, params,
                                kMicrobatchMemorySlack)))
          return signalPassFailure();
        // The cap counts a parameter where it is first read; by dataflow it
        // is also loaded where later ops read it: the loads decide.
        if (failed(stagesByDataflow(fn, params)))
          return signalPassFailure();
        const uint64_t byTime = largestStageLoad(fn);
        if (failed(stagesByDataflow(fn, byBytes)))
          return signalPassFailure();
        if (double(byTime) >
            double(largestStageLoad(fn)) * (1 + kMicrobatchMemorySlack))
          params = std::move(byBytes);
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
