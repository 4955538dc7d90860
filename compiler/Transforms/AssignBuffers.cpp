//===- AssignBuffers.cpp - Static arena planning --------------------------===//
//
// Besides reshapes and waits, two layout ops need no bytes of their own
// where the elements they move are contiguous (every dimension before the
// axis is 1, as Flux's [1, T, D] token blocks at batch 1): a slice is a
// window of its input's buffer, and a concatenation's operands are written
// in place inside its result, so neither copies. Both stay instructions;
// the runtime skips a copy whose source and destination coincide, and
// copies where they do not (a value the runtime keeps in a slot of its
// own, as the f32 timesteps under 2-byte storage). An all_reduce sums in
// place where its operand is computed for it alone (tp's partial sums): the
// result is the operand's bytes, so no copy precedes the sum.
//
//===----------------------------------------------------------------------===//
#include "compiler/Analysis/MemoryPlanner.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FloatStorage.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "runtime/core/CheckedMath.h"
#include "runtime/core/DType.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#define DEBUG_TYPE "fresco-assign-buffers"

namespace mlir::fresco {
#define GEN_PASS_DEF_ASSIGNBUFFERS
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Bytes per element of `v` as stored.
int64_t elementBytes(Value v, unsigned floatBytes,
                     const llvm::DenseSet<Value> &keptF32) {
  auto tt = cast<RankedTensorType>(v.getType());
  if (tt.getElementType().isF32() && !keptF32.contains(v))
    return floatBytes;
  return (tt.getElementTypeBitWidth() + 7) / 8;
}

/// Bytes of `v` as stored: floats in the module's storage (two bytes under
/// bf16/f16) but for those kept f32. nullopt past what a plan may hold.
std::optional<uint64_t> byteSize(Value v, unsigned floatBytes,
                                 const llvm::DenseSet<Value> &keptF32) {
  auto tt = cast<RankedTensorType>(v.getType());
  std::optional<int64_t> n = ::fresco::checkedProduct(tt.getShape());
  if (n)
    n = ::fresco::checkedMul(*n, elementBytes(v, floatBytes, keptF32));
  if (!n || *n > ::fresco::kMaxPlanBytes)
    return std::nullopt;
  return uint64_t(*n);
}

/// A float value stored in the module's storage: what may share a buffer
/// at an offset (ids and the kept-f32 timesteps get slots of their own at
/// run time under 2-byte storage).
bool inFloatStorage(Value v, const llvm::DenseSet<Value> &keptF32) {
  return cast<RankedTensorType>(v.getType()).getElementType().isF32() &&
         !keptF32.contains(v);
}

/// Whether the all_reduce `op` sums in its operand's bytes: the operand is
/// a value computed for it alone (not a view of another value, not an
/// argument or parameter), of the same storage.
bool reducesInPlace(Operation *op, const llvm::DenseSet<Value> &kept) {
  auto reduce = dyn_cast<shard::AllReduceOp>(op);
  if (!reduce)
    return false;
  Value in = reduce.getInput();
  Operation *def = in.getDefiningOp();
  return in.hasOneUse() && def && def->getBlock() == op->getBlock() &&
         def->getNumResults() == 1 &&
         !isa<ParamOp, ReshapeOp, WaitOp, SliceOp, ConcatOp,
              shard::UpdateHaloOp>(def) &&
         in.getType() == reduce.getResult().getType() &&
         inFloatStorage(in, kept) && inFloatStorage(reduce.getResult(), kept);
}

/// Where a concatenation's operand is written inside its result.
struct InPlacePart {
  Value concat;
  int64_t delta; // bytes from the start of the concatenation's buffer
};

/// The concatenations whose operands can be written in place: along a
/// contiguous axis, each operand computed by an op of its own for this
/// concatenation alone (through single-use reshapes and waits), at an
/// aligned offset. Maps each such operand's storage root to its place.
llvm::DenseMap<Value, InPlacePart>
inPlaceConcats(Block &block, unsigned floatBytes,
               const llvm::DenseSet<Value> &kept, uint64_t alignment) {
  llvm::DenseMap<Value, InPlacePart> parts;
  for (Operation &op : block) {
    auto concat = dyn_cast<ConcatOp>(op);
    if (!concat || !inFloatStorage(concat.getResult(), kept))
      continue;
    auto type = concat.getType();
    int64_t axis = int64_t(concat.getAxis());
    axis += axis < 0 ? type.getRank() : 0;
    int64_t outer, inner;
    ::fresco::rowsAround(type.getShape(), axis, outer, inner);
    if (outer != 1)
      continue;
    const int64_t es = elementBytes(concat.getResult(), floatBytes, kept);
    int64_t at = 0;
    for (Value operand : concat.getInputs()) {
      const int64_t delta = at * inner * es;
      at += cast<RankedTensorType>(operand.getType()).getDimSize(axis);
      // Back through views used by the next step alone, and in-place sums.
      Value root = operand;
      while (root.hasOneUse() && root.getDefiningOp() &&
             (isa<ReshapeOp, WaitOp>(root.getDefiningOp()) ||
              reducesInPlace(root.getDefiningOp(), kept)))
        root = root.getDefiningOp()->getOperand(0);
      Operation *def = root.getDefiningOp();
      if (!root.hasOneUse() || !def || def->getBlock() != &block ||
          def->getNumResults() != 1 ||
          isa<ParamOp, ReshapeOp, WaitOp, SliceOp, ConcatOp>(def) ||
          !inFloatStorage(root, kept) || delta % int64_t(alignment) != 0)
        continue;
      parts[root] = {concat.getResult(), delta};
    }
  }
  return parts;
}

struct AssignBuffersPass : impl::AssignBuffersBase<AssignBuffersPass> {
  using AssignBuffersBase::AssignBuffersBase;

  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal())
      return;
    if (!fn.getBody().hasOneBlock()) {
      fn.emitError("fresco-assign-buffers needs a single-block function");
      return signalPassFailure();
    }
    Block &block = fn.getBody().front();
    FailureOr<llvm::DenseSet<Value>> kept = keptF32(fn);
    if (failed(kept))
      return signalPassFailure();
    const unsigned floatBytes = floatStorageBytes(fn);
    OpBuilder b(fn.getContext());

    // Storage root of each value: reshapes share their operand's storage,
    // slices and in-place concatenation operands part of it (`delta` bytes
    // in). Values rooted at a parameter live in the weight table, not the
    // arena.
    llvm::DenseMap<Value, Value> root;
    llvm::DenseMap<Value, int64_t> delta;
    const llvm::DenseMap<Value, InPlacePart> inPlace =
        inPlaceConcats(block, floatBytes, *kept, alignment);
    llvm::DenseMap<Value, unsigned> bufferOf;
    SmallVector<::fresco::BufferRequest> requests;
    SmallVector<Value> bufferRoot;
    auto newBuffer = [&](Value v, int64_t def) -> LogicalResult {
      std::optional<uint64_t> bytes = byteSize(v, floatBytes, *kept);
      if (!bytes)
        return emitError(v.getLoc())
               << "value of type " << v.getType()
               << " takes more than the 2^46 bytes a plan may hold";
      bufferOf[v] = requests.size();
      requests.push_back({*bytes, def, def});
      bufferRoot.push_back(v);
      root[v] = v;
      return success();
    };

    for (BlockArgument arg : block.getArguments()) {
      if (!isa<RankedTensorType>(arg.getType())) {
        fn.emitError("argument ")
            << arg.getArgNumber() << " is not a ranked tensor";
        return signalPassFailure();
      }
      if (failed(newBuffer(arg, 0)))
        return signalPassFailure();
    }

    int64_t index = 0;
    int64_t end = int64_t(block.getOperations().size()) + 1;
    for (Operation &op : block) {
      ++index;
      // Extend the live range of every storage this op reads.
      for (Value operand : op.getOperands()) {
        auto it = root.find(operand);
        if (it == root.end())
          continue; // a parameter
        ::fresco::BufferRequest &r = requests[bufferOf[it->second]];
        r.last = std::max(r.last, isa<func::ReturnOp>(op) ? end : index);
      }
      if (isa<ParamOp>(op))
        continue;
      // Views: a reshape, a wait (the collective's result, complete), an
      // all_reduce summing in place and a halo exchange into the padded
      // band it alone reads (filled in place) share their input's storage,
      // which they keep alive.
      if (isa<ReshapeOp, WaitOp>(op) || reducesInPlace(&op, *kept) ||
          (isa<shard::UpdateHaloOp>(op) && op.getOperand(0).hasOneUse())) {
        auto it = root.find(op.getOperand(0));
        if (it != root.end()) {
          // root[] may grow the map and invalidate `it`: read it first.
          Value source = it->second;
          root[op.getResult(0)] = source;
          delta[op.getResult(0)] = delta.lookup(op.getOperand(0));
        }
        continue;
      }
      if (auto slice = dyn_cast<SliceOp>(op)) {
        // A contiguous window at an aligned offset: a view of the input.
        auto it = root.find(slice.getInput());
        auto in = cast<RankedTensorType>(slice.getInput().getType());
        int64_t axis = int64_t(slice.getAxis()), outer, inner;
        axis += axis < 0 ? in.getRank() : 0;
        ::fresco::rowsAround(in.getShape(), axis, outer, inner);
        const int64_t at =
            delta.lookup(slice.getInput()) +
            int64_t(slice.getStart()) * inner *
                elementBytes(slice.getResult(), floatBytes, *kept);
        if (it != root.end() && outer == 1 &&
            inFloatStorage(slice.getInput(), *kept) &&
            inFloatStorage(slice.getResult(), *kept) &&
            at % int64_t(alignment) == 0) {
          Value source = it->second;
          root[slice.getResult()] = source;
          delta[slice.getResult()] = at;
          slice->setAttr(FrescoDialect::kInPlaceAttrName, b.getUnitAttr());
          continue;
        }
      }
      if (auto concat = dyn_cast<ConcatOp>(op)) {
        // Its buffer began with its first operand written in place.
        if (root.count(concat.getResult())) {
          concat->setAttr(FrescoDialect::kInPlaceAttrName, b.getUnitAttr());
          continue;
        }
      }
      auto it = op.getNumResults() == 1 ? inPlace.find(op.getResult(0))
                                        : inPlace.end();
      if (it != inPlace.end()) {
        Value whole = it->second.concat;
        if (!root.count(whole) && failed(newBuffer(whole, index)))
          return signalPassFailure();
        root[op.getResult(0)] = whole;
        delta[op.getResult(0)] = it->second.delta;
        continue;
      }
      for (Value result : op.getResults()) {
        if (!isa<RankedTensorType>(result.getType())) {
          op.emitError("result is not a ranked tensor");
          return signalPassFailure();
        }
        if (failed(newBuffer(result, index)))
          return signalPassFailure();
      }
    }

    ::fresco::MemoryPlan plan = ::fresco::planMemory(
        std::vector<::fresco::BufferRequest>(requests.begin(), requests.end()),
        alignment);
    // Each value fits, but the live ones together may not: the runtime's
    // loader refused the plan, reported as a compiler bug.
    if (plan.arenaBytes > uint64_t(::fresco::kMaxPlanBytes)) {
      fn.emitError("'") << fn.getSymName() << "' needs an arena of "
                        << plan.arenaBytes
                        << " bytes, more than the 2^46 bytes a plan may hold";
      return signalPassFailure();
    }
    auto offsetAttr = [&](Value v) {
      return b.getI64IntegerAttr(plan.offsets[bufferOf[root[v]]] +
                                 delta.lookup(v));
    };
    for (BlockArgument arg : block.getArguments())
      fn.setArgAttr(arg.getArgNumber(), FrescoDialect::kOffsetAttrName,
                    offsetAttr(arg));
    for (Operation &op : block)
      if (op.getNumResults() == 1 && root.count(op.getResult(0)))
        op.setAttr(FrescoDialect::kOffsetAttrName, offsetAttr(op.getResult(0)));
    fn->setAttr(FrescoDialect::kArenaBytesAttrName,
                b.getI64IntegerAttr(plan.arenaBytes));
    fn->setAttr(FrescoDialect::kIntermediateBytesAttrName,
                b.getI64IntegerAttr(plan.totalBytes));
  }
};

} // namespace
} // namespace mlir::fresco
