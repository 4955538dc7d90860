//===- ScheduleCollectives.cpp - Issue collectives as early as possible ---===//
//
// Moves each all_to_all and all_gather up to just after the last definition
// of its operands, so that the instructions between it and its first use
// can overlap its communication (the runtime issues such a collective
// asynchronously on GPUs). Ulysses' q, k and v projections come out as
// q, k, v, then their three all_to_alls; scheduled, q's all_to_all travels
// while k and v are projected. Collectives keep their order among
// themselves (every rank must issue them in the same order), and never
// move above another communicating op (a collective or ring attention).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-schedule-collectives"

namespace mlir::fresco {
#define GEN_PASS_DEF_SCHEDULECOLLECTIVES
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct ScheduleCollectivesPass
    : impl::ScheduleCollectivesBase<ScheduleCollectivesPass> {
  void runOnOperation() override {
    func::FuncOp fn = getOperation();
    if (fn.isExternal() || !fn.getBody().hasOneBlock())
      return;
    Block &block = fn.getBody().front();
    SmallVector<Operation *> ops;
    for (Operation &op : block)
      ops.push_back(&op);
    Operation *lastComm = nullptr; // after its move, if it moved
    for (Operation *op : ops) {
      if (!communicates(op))
        continue;
      if (isa<shard::AllToAllOp, shard::AllGatherOp>(op)) {
        // The latest of: its operands' definitions in this block, the
        // previous communicating op.
        Operation *after = lastComm;
        for (Value v : op->getOperands()) {
          Operation *def = v.getDefiningOp();
          if (def && def->getBlock() == &block &&
              (!after || after->isBeforeInBlock(def)))
            after = def;
        }
        if (after && after->getNextNode() != op) {
          LLVM_DEBUG(llvm::dbgs()
                     << "moving " << *op << " after " << *after << "\n");
          op->moveAfter(after);
        } else if (!after && &block.front() != op) {
          // Operands are all block arguments: right at the start.
          op->moveBefore(&block.front());
        }
      }
      lastComm = op;
    }
  }
};

} // namespace
} // namespace mlir::fresco
