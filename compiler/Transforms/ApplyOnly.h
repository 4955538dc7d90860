//===- ApplyOnly.h - A fusion pass's own rewrites only ------*- C++ -*-===//
//
// The fusion passes apply their patterns greedily with no folding and no
// region simplification: the IR changes only where they fuse. A fused op
// keeps the pipeline stage of the op it replaces (StageListener.h).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_APPLYONLY_H
#define FRESCO_COMPILER_TRANSFORMS_APPLYONLY_H

#include "compiler/Transforms/StageListener.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace mlir::fresco {

inline LogicalResult applyOnly(Operation *op, RewritePatternSet &&patterns) {
  GreedyRewriteConfig config;
  config.enableFolding(false).setRegionSimplificationLevel(
      GreedySimplifyRegionLevel::Disabled);
  config.setListener(&stageListener());
  return applyPatternsGreedily(op, std::move(patterns), config);
}

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_APPLYONLY_H
