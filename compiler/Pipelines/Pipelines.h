//===- Pipelines.h - Named pass pipelines -----------------------*- C++ -*-===//
#ifndef FRESCO_COMPILER_PIPELINES_PIPELINES_H
#define FRESCO_COMPILER_PIPELINES_PIPELINES_H

#include "mlir/Pass/PassManager.h"

namespace mlir::fresco {

struct LowerOptions {
  int64_t tpChunks = 0; // fresco-chunk-tp-reduction's chunks (< 2: none)
};

/// Everything between a global fresco-dialect module and plan emission for
/// one rank: simplification, then the static memory plan.
void buildLowerToPlanPipeline(OpPassManager &pm, const LowerOptions &o = {});

struct PartitionOptions {
  int64_t ranks = 1;
  std::string parallel;              // e.g. "cfg=2,tp=2"
  std::string place;                 // e.g. "vae=0,transformer=1"
  int64_t tpSplitMinBytes = 8 << 20; // see fresco-tensor-parallel
  int64_t pipefusionPatches = 0;     // pipefusion=S: patches (0: S)
  int64_t microbatches = 0;          // pipeline=S: micro-batches (0: none)
  bool tpReduceScatter = false;      // tp: reduce_scatter over the tokens
};

/// From the global view to per-rank programs on a device grid: grid,
/// placement, the strategy passes, then collectives.
void buildPartitionPipeline(OpPassManager &pm, const PartitionOptions &o);

/// Registers the pipelines above as `fresco-lower-to-plan` for fresco-opt.
void registerFrescoPipelines();

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_PIPELINES_PIPELINES_H
