//===- FloatStorage.h - How a module's floats are stored --------*- C++ -*-===//
//
// fresco-compile --dtype bf16|f16 marks the module `fresco.float_storage`;
// buffer assignment and the plan emitter then store every float value in
// two bytes, but for the timesteps (999 has no bf16 value), which stay f32
// together with whatever only moves them.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_DIALECTS_FRESCO_IR_FLOATSTORAGE_H
#define FRESCO_DIALECTS_FRESCO_IR_FLOATSTORAGE_H

#include "dialects/Fresco/IR/FrescoDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"

namespace mlir::fresco {

constexpr llvm::StringLiteral kFloatStorageAttr =
    FrescoDialect::kFloatStorageAttrName;

/// "f32" (no attribute), "bf16" or "f16": the storage of the module that
/// holds `op`.
StringRef floatStorage(Operation *op);
/// Bytes of one stored float element: 4 for f32, 2 for bf16/f16.
unsigned floatStorageBytes(Operation *op);

/// The f32 values of `fn` that keep four bytes under 2-byte storage: the
/// operands of timestep embeddings, and whatever only moves them (slices,
/// reshapes, collectives, stage transfers). Emits an error and fails where
/// such a value is also computed on, or is a parameter.
FailureOr<llvm::DenseSet<Value>> keptF32(func::FuncOp fn);

} // namespace mlir::fresco

#endif // FRESCO_DIALECTS_FRESCO_IR_FLOATSTORAGE_H
