//===- FloatStorage.cpp - How a module's floats are stored ----------------===//
#include "dialects/Fresco/IR/FloatStorage.h"
#include "dialects/Fresco/IR/FrescoOps.h"

namespace mlir::fresco {
namespace {

/// Ops that move elements without computing on them (the shard dialect's
/// by name: this library does not link it).
bool movesData(Operation *op) {
  if (isa<ReshapeOp, WaitOp, SliceOp, PadOp, ConcatOp, TransposeOp,
          StageTransferOp, StageBroadcastOp, SendOp, RecvOp, BroadcastOp>(op))
    return true;
  StringRef name = op->getName().getStringRef();
  return name == "shard.all_gather" || name == "shard.all_to_all" ||
         name == "shard.all_slice";
}

bool isF32Tensor(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  return t && t.getElementType().isF32();
}

} // namespace

StringRef floatStorage(Operation *op) {
  auto module =
      isa<ModuleOp>(op) ? cast<ModuleOp>(op) : op->getParentOfType<ModuleOp>();
  Attribute attr = module ? module->getAttr(kFloatStorageAttr) : Attribute();
  if (!attr)
    return "f32";
  auto text = dyn_cast<StringAttr>(attr);
  return text ? text.getValue() : StringRef("(not a string)");
}

unsigned floatStorageBytes(Operation *op) {
  return floatStorage(op) == "f32" ? 4 : 2;
}

FailureOr<llvm::DenseSet<Value>> keptF32(func::FuncOp fn) {
  llvm::DenseSet<Value> kept;
  // Buffer assignment and the emitter both start here: an unknown storage
  // stops them before they could size values differently.
  StringRef storage = floatStorage(fn);
  if (storage != "f32" && storage != "bf16" && storage != "f16") {
    Operation *module = fn->getParentOfType<ModuleOp>();
    return (module ? module : fn.getOperation())->emitError()
           << kFloatStorageAttr
           << " must be \"bf16\" or \"f16\" (f32 when absent), got " << storage;
  }
  if (fn.isExternal() || storage == "f32")
    return kept;
  fn.walk([&](TimestepEmbeddingOp t) {
    if (isF32Tensor(t.getTimesteps()))
      kept.insert(t.getTimesteps());
  });
  // A rank's transfer of them (fresco-specialize-ranks), where its stage
  // does not hold their use.
  for (BlockArgument arg : fn.getArguments())
    if (fn.getArgAttr(arg.getArgNumber(), FrescoDialect::kKeepF32AttrName) &&
        isF32Tensor(arg))
      kept.insert(arg);
  fn.walk([&](Operation *op) {
    if (!op->hasAttr(FrescoDialect::kKeepF32AttrName))
      return;
    for (Value v : llvm::concat<Value>(op->getOperands(), op->getResults()))
      if (isF32Tensor(v))
        kept.insert(v);
  });
  // Through data movement, both ways, until nothing changes.
  for (bool changed = !kept.empty(); changed;) {
    changed = false;
    fn.walk([&](Operation *op) {
      if (!movesData(op))
        return;
      bool any = llvm::any_of(op->getOperands(),
                              [&](Value v) { return kept.contains(v); }) ||
                 llvm::any_of(op->getResults(),
                              [&](Value v) { return kept.contains(v); });
      if (!any)
        return;
      for (Value v : llvm::concat<Value>(op->getOperands(), op->getResults()))
        if (isF32Tensor(v) && kept.insert(v).second)
          changed = true;
    });
  }

  for (Value v : kept) {
    Operation *def = v.getDefiningOp();
    if (def && !movesData(def))
      return def->emitError("with ")
             << storage
             << " storage the timesteps stay f32, but this op computes them "
                "(or they are a parameter); compile with --dtype f32";
    for (Operation *user : v.getUsers())
      if (!movesData(user) && !isa<TimestepEmbeddingOp, func::ReturnOp>(user))
        return user->emitError("with ")
               << storage
               << " storage the timesteps stay f32, but this op computes on "
                  "them; compile with --dtype f32";
  }
  return kept;
}

} // namespace mlir::fresco
