//===- Pipelines.cpp - Named pass pipelines -------------------------------===//
#include "compiler/Pipelines/Pipelines.h"
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/StageListener.h"

#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

namespace {
/// canonicalize, keeping pipeline stages on the ops it rebuilds.
std::unique_ptr<mlir::Pass> createStagedCanonicalizer() {
  mlir::GreedyRewriteConfig config;
  config.setListener(&mlir::fresco::stageListener());
  return mlir::createCanonicalizerPass(config);
}
} // namespace

void mlir::fresco::buildLowerToPlanPipeline(OpPassManager &pm,
                                            const LowerOptions &o) {
  pm.addPass(createStagedCanonicalizer());
  pm.addPass(createCSEPass());
  // After CSE, so a linear it merges counts all its uses.
  pm.addNestedPass<func::FuncOp>(createFuseEpilogues());
  // A tp partial sum's bias and gate into its members' GEMMs, before
  // fuse-elementwise joins those adds with what follows.
  pm.addNestedPass<func::FuncOp>(createFoldIntoReduction());
  // Then each row-parallel linear as chunks whose sums overlap the next
  // chunk's GEMM, carrying the bias and gate just folded.
  if (o.tpChunks > 1) {
    ChunkTpReductionOptions chunk;
    chunk.chunks = o.tpChunks;
    pm.addNestedPass<func::FuncOp>(createChunkTpReduction(chunk));
  }
  // Likewise after CSE: a merged layer norm counts all its uses.
  pm.addNestedPass<func::FuncOp>(createFuseModulation());
  // And a merged q/k norm counts all its uses.
  pm.addNestedPass<func::FuncOp>(createFuseRopeNorm());
  pm.addNestedPass<func::FuncOp>(createFuseElementwise());
  // adaLN's chunks at batch > 1: one transpose, then windows.
  pm.addNestedPass<func::FuncOp>(createTransposeChunks());
  // Once the ops are final: collectives as early as their operands allow.
  pm.addNestedPass<func::FuncOp>(createScheduleCollectives());
  // Stages are cut over the fused ops; the marks would survive rewrites
  // after it too (StageListener).
  pm.addPass(createPipelineParallel());
  // Within the stages: which collectives overlap what, up to an explicit
  // wait.
  pm.addNestedPass<func::FuncOp>(createPlaceWaits());
  pm.addNestedPass<func::FuncOp>(createAssignBuffers());
}

void mlir::fresco::buildPartitionPipeline(OpPassManager &pm,
                                          const PartitionOptions &o) {
  CreateGridOptions grid;
  grid.parallel = o.parallel;
  grid.patches = o.pipefusionPatches;
  grid.microbatches = o.microbatches;
  pm.addPass(createCreateGrid(grid));
  // PipeFusion's exact twin, before any strategy, so that all but the
  // patches apply to it too.
  pm.addPass(createPipeFusionWarmup());
  PlacementOptions place;
  place.place = o.place;
  place.ranks = o.ranks;
  pm.addPass(createPlacement(place));
  // Flux's single blocks: the output projection of a concatenation, by
  // parts; GEGLU's projection read in halves, by halves (tp only); then
  // sizes the degrees do not divide, padded so that every split is even.
  pm.addPass(createSplitConcatLinear());
  pm.addPass(createSplitChunkedLinear());
  pm.addPass(createPadUneven());
  pm.addPass(createCfgParallel());
  TensorParallelOptions tp;
  tp.minSplitBytes = o.tpSplitMinBytes;
  pm.addPass(createTensorParallel(tp));
  // After tp: it sees whole attention blocks, and ulysses then splits the
  // heads tp left on each rank.
  pm.addPass(createUlyssesParallel());
  pm.addPass(createRingParallel());
  pm.addPass(createPatchParallel());
  // The strategies only seed: one step carries every seed through the ops.
  pm.addPass(createPropagateShardings());
  pm.addPass(createInsertCollectives());
  // Megatron's sequence parallelism over what insert-collectives made.
  if (o.tpReduceScatter)
    pm.addPass(createTpReduceScatter());
  // The patches' SPMD view into one program that runs them in turn.
  pm.addPass(createPipeFusion());
  pm.addPass(createCanonicalizerPass());
}

void mlir::fresco::registerFrescoPipelines() {
  PassPipelineRegistration<>(
      "fresco-lower-to-plan",
      "Simplify and plan the arena of every component function",
      [](OpPassManager &pm) { buildLowerToPlanPipeline(pm); });
}
