//===- StageListener.h - Rewrites keep pipeline stages ----------*- C++ -*-===//
//
// An op's pipeline stage (`fresco.stage`) is a discardable attribute, which
// a rewrite pattern building a replacement op would drop. This listener,
// given to the greedy rewrite drivers of the lowering (the fusion passes and
// canonicalize), gives the ops that replace a staged op, and the new ops
// feeding them, the replaced op's stage. In a function split into stages
// every op but the stage transfers has a stage, so an unstaged op reached
// from a replacement is one the pattern just built. So stages survive
// fusion, and fresco-pipeline-parallel need not run after every rewrite.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_STAGELISTENER_H
#define FRESCO_COMPILER_TRANSFORMS_STAGELISTENER_H

#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/PatternMatch.h"

namespace mlir::fresco {

struct StageListener : RewriterBase::Listener {
  void notifyOperationReplaced(Operation *op, ValueRange with) override {
    Attribute stage = op->getAttr(FrescoDialect::kStageAttrName);
    if (!stage)
      return;
    SmallVector<Operation *> work;
    for (Value v : with)
      if (Operation *def = v.getDefiningOp())
        work.push_back(def);
    while (!work.empty()) {
      Operation *def = work.pop_back_val();
      if (def->hasAttr(FrescoDialect::kStageAttrName) ||
          isa<StageTransferOp, StageBroadcastOp>(def))
        continue;
      def->setAttr(FrescoDialect::kStageAttrName, stage);
      for (Value v : def->getOperands())
        if (Operation *d = v.getDefiningOp())
          work.push_back(d);
    }
  }
};

/// The listener for rewrite drivers built once (it holds no state).
inline StageListener &stageListener() {
  static StageListener listener;
  return listener;
}

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_STAGELISTENER_H
