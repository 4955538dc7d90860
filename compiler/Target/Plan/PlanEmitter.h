//===- PlanEmitter.h - MLIR -> FlatBuffers plan -----------------*- C++ -*-===//
#ifndef FRESCO_COMPILER_TARGET_PLAN_PLANEMITTER_H
#define FRESCO_COMPILER_TARGET_PLAN_PLANEMITTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <vector>

namespace mlir::fresco {

/// Serialises every public func.func of `module` (each a component function,
/// already through fresco-assign-buffers) as a 1-rank plan. Emits a located
/// error and fails on anything the plan cannot express.
LogicalResult emitPlan(ModuleOp module, std::vector<uint8_t> &out);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TARGET_PLAN_PLANEMITTER_H
