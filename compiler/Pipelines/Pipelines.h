//===- Pipelines.h - Named pass pipelines -----------------------*- C++ -*-===//
#ifndef FRESCO_COMPILER_PIPELINES_PIPELINES_H
#define FRESCO_COMPILER_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace mlir::fresco {

/// Everything between a global fresco-dialect module and plan emission for
/// one rank: simplification, then the static memory plan.
void buildLowerToPlanPipeline(OpPassManager &pm);

/// Registers the pipelines above as `fresco-lower-to-plan` for fresco-opt.
void registerFrescoPipelines();

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_PIPELINES_PIPELINES_H
