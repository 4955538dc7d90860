//===- PipelineEmitter.h - fresco.pipeline -> the Pipeline table -*- C++
//-*-===//
#ifndef FRESCO_COMPILER_TARGET_PLAN_PIPELINEEMITTER_H
#define FRESCO_COMPILER_TARGET_PLAN_PIPELINEEMITTER_H

#include "runtime/schema/plan_generated.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/SmallVector.h"

namespace mlir::fresco {

/// The Pipeline table described by `module`'s `fresco.pipeline` attribute
/// (docs/dialect.md), each component's ranks given by `ranksOf`; a null
/// offset when the module has no such attribute. A missing key, a key of
/// the wrong type, an unknown spelling or a component naming no function is
/// a located error.
FailureOr<flatbuffers::Offset<::fresco::plan::Pipeline>> emitPipeline(
    flatbuffers::FlatBufferBuilder &fbb, ModuleOp module,
    llvm::function_ref<std::optional<SmallVector<int64_t>>(StringRef)> ranksOf);

/// Whether a function of `module` reads keys and values of an earlier step
/// (patch=P's stale gathers, pipefusion's patch caches): then the
/// pipeline's first `fresh_steps` run exact.
bool readsStaleState(ModuleOp module);

/// The same checks without a plan, for tools to run before any pass reads
/// the attribute (the partitioning passes expect its `denoiser` and
/// `decoder` keys).
LogicalResult verifyPipelineAttribute(ModuleOp module);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TARGET_PLAN_PIPELINEEMITTER_H
