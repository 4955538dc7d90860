//===- AssignBuffers.cpp - Static arena planning --------------------------===//
#include "compiler/Analysis/MemoryPlanner.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FloatStorage.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "runtime/core/CheckedMath.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#define DEBUG_TYPE "fresco-assign-buffers"

namespace mlir::fresco {
#define GEN_PASS_DEF_ASSIGNBUFFERS
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// Bytes of `v` as stored: floats in the module's storage (two bytes under
/// bf16/f16) but for those kept f32. nullopt past what a plan may hold.
std::optional<uint64_t> byteSize(Value v, unsigned floatBytes,
                                 const llvm::DenseSet<Value> &keptF32) {
  auto tt = cast<RankedTensorType>(v.getType());
  int64_t bytes = (tt.getElementTypeBitWidth() + 7) / 8;
  if (tt.getElementType().isF32() && !keptF32.contains(v))
    bytes = floatBytes;
  std::optional<int64_t> n = ::fresco::checkedProduct(tt.getShape());
  if (n)
    n = ::fresco::checkedMul(*n, bytes);
  if (!n || *n > ::fresco::kMaxPlanBytes)
    return std::nullopt;
  return uint64_t(*n);
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

    // Storage root of each value: reshapes share their operand's storage.
    // Values rooted at a parameter live in the weight table, not the arena.
    llvm::DenseMap<Value, Value> root;
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
      // Views: a reshape, and a wait (the collective's result, complete),
      // share their input's storage, which they keep alive.
      if (isa<ReshapeOp, WaitOp>(op)) {
        auto it = root.find(op.getOperand(0));
        if (it != root.end()) {
          // root[] may grow the map and invalidate `it`: read it first.
          Value source = it->second;
          root[op.getResult(0)] = source;
        }
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
    OpBuilder b(fn.getContext());
    auto offsetAttr = [&](Value v) {
      return b.getI64IntegerAttr(plan.offsets[bufferOf[root[v]]]);
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
