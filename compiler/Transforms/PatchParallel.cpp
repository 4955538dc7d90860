//===- PatchParallel.cpp - Displaced patch parallelism (DistriFusion) -----===//
//
// A strategy as a seed: the tokens split over the patch axis exactly as
// Ulysses and ring split them (SequenceSplit). The axis's kind makes the
// propagation resolve a self-attention's split keys and values with
// fresco.stale_gather (SequenceAttention.cpp): each rank attends with its
// own block of keys and values fresh and the other ranks' blocks from the
// previous denoising step, so that exchange can travel while the step
// computes. Approximate by design (DistriFusion, Li et al. 2024); the
// pipeline's first steps run fresh (Pipeline.fresh_steps).
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/Seeds.h"
#include "compiler/Transforms/SequenceSplit.h"

#define DEBUG_TYPE "fresco-patch-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_PATCHPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct PatchParallelPass : impl::PatchParallelBase<PatchParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    if (!grid)
      return;
    // PipeFusion's patches (a virtual axis: fresco-pipefusion unrolls it)
    // resolve attention the same way, but only in the denoiser: its
    // warm-up twin stays whole.
    for (StringRef kind : {StringRef("patch"), StringRef(kPipeFusionAxis)}) {
      auto axis = grid->axis(kind);
      if (!axis)
        continue;
      // Stale blocks of a Ulysses head group or a ring block would be a
      // different approximation; not built.
      for (StringRef other : {"ulysses", "ring", "patch"})
        if (auto o = grid->axis(other); o && other != kind) {
          module.emitError(kind)
              << "="
              << (kind == "patch" ? axis->second
                                  : grid->axis("pipeline")->second)
              << " with " << other << "=" << o->second << ": "
              << (kind == "patch" ? "displaced patches"
                                  : "PipeFusion's patches")
              << " do not compose with another sequence split (use one of "
                 "patch, pipefusion, ulysses, ring, or ulysses with ring)";
          return signalPassFailure();
        }
      // A ControlNet compiled into the denoiser (its parameters name
      // their own folder) would read stale activations too: an
      // approximation nobody has checked against a reference.
      for (func::FuncOp fn : denoiserFunctions(module)) {
        WalkResult r = fn.walk([](ParamOp p) {
          return p.getComponent() ? WalkResult::interrupt()
                                  : WalkResult::advance();
        });
        if (r.wasInterrupted()) {
          module.emitError(kind)
              << " with a ControlNet in '" << fn.getName()
              << "' is not implemented (its stale activations are not "
                 "verified against a reference): use ulysses or ring (not "
                 "with a ControlNet-Union), tp, pipeline or placement";
          return signalPassFailure();
        }
      }
      func::FuncOp twin = warmupFunction(module);
      for (func::FuncOp fn : denoiserFunctions(module))
        if (fn != twin && failed(seedSequenceSplit(fn, *grid, kind, axis->first,
                                                   axis->second)))
          return signalPassFailure();
      addSeedAxis(module, axis->first);
    }
  }
};

} // namespace
} // namespace mlir::fresco
