//===- PlanEmitter.h - MLIR -> FlatBuffers plan -----------------*- C++ -*-===//
#ifndef FRESCO_COMPILER_TARGET_PLAN_PLANEMITTER_H
#define FRESCO_COMPILER_TARGET_PLAN_PLANEMITTER_H

#include "compiler/Target/Plan/GemmPrecision.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"

#include <cstdint>
#include <vector>

namespace mlir::fresco {

/// Serialises every public func.func of `module` (each a component function,
/// already through fresco-assign-buffers) into a plan for `worldSize` ranks:
/// each rank gets the functions placed on it (`fresco.ranks`, default all),
/// with its slices of sharded parameters and the member ranks of each of
/// its collectives resolved from its grid coordinates. With GemmMode::Fp8
/// the linears takesFp8 picks are marked LinearAttrs.fp8. Emits a located
/// error and fails on anything the plan cannot express.
LogicalResult emitPlan(ModuleOp module, std::vector<uint8_t> &out,
                       int64_t worldSize = 1,
                       GemmMode gemm = GemmMode::Default);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TARGET_PLAN_PLANEMITTER_H
