//===- Passes.h - Fresco compiler passes ------------------------*- C++ -*-===//
#ifndef FRESCO_COMPILER_TRANSFORMS_PASSES_H
#define FRESCO_COMPILER_TRANSFORMS_PASSES_H

#include "dialects/Fresco/IR/FrescoDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/Pass/Pass.h"

namespace mlir::fresco {

#define GEN_PASS_DECL
#include "compiler/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "compiler/Transforms/Passes.h.inc"

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_PASSES_H
