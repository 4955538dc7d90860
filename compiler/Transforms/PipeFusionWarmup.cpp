//===- PipeFusionWarmup.cpp - PipeFusion's exact warm-up function ---------===//
//
// PipeFusion (`--parallel pipefusion=S`) runs a step patch by patch, each
// attention reading the keys and values the other patches left in the
// rank's cache: this step's for the patches before, the previous step's
// for those after. The first steps have no previous step to read, so they
// run a twin of the denoiser that is split into the same pipeline stages
// but not into patches: exact, and writing every cache whole for the
// patched steps after it (fresco-pipefusion inserts those writes). This
// pass makes the twin, `<denoiser>_warmup`, named in `fresco.pipeline` as
// `denoiser_warmup`, before any strategy runs, so that every strategy but
// the patches' split applies to both alike.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

#define DEBUG_TYPE "fresco-pipefusion-warmup"

namespace mlir::fresco {
#define GEN_PASS_DEF_PIPEFUSIONWARMUP
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct PipeFusionWarmupPass : impl::PipeFusionWarmupBase<PipeFusionWarmupPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis(kPipeFusionAxis) : std::nullopt;
    if (!axis)
      return;
    auto p = module->getAttrOfType<DictionaryAttr>("fresco.pipeline");
    auto d = p ? p.getAs<StringAttr>("denoiser") : StringAttr();
    if (!d) {
      module.emitError("pipefusion needs a pipeline (its first steps run a "
                       "warm-up function that the sampling loop picks); a "
                       "bare model cannot run it: use pipeline=");
      return signalPassFailure();
    }
    if (p.get(kWarmupEntry)) {
      module.emitError("the pipeline already names a warm-up function");
      return signalPassFailure();
    }
    auto fn = module.lookupSymbol<func::FuncOp>(d);
    if (!fn) {
      module.emitError("the pipeline's denoiser '")
          << d.getValue() << "' is not a function of the module";
      return signalPassFailure();
    }
    std::string name = (d.getValue() + "_warmup").str();
    if (module.lookupSymbol(name)) {
      module.emitError("cannot name the warm-up function '")
          << name << "': the module has a symbol of that name";
      return signalPassFailure();
    }
    OpBuilder b(fn);
    b.setInsertionPointAfter(fn);
    auto twin = cast<func::FuncOp>(b.clone(*fn));
    twin.setSymName(name);
    NamedAttrList entries(p);
    entries.set(kWarmupEntry, b.getStringAttr(name));
    module->setAttr("fresco.pipeline", entries.getDictionary(&getContext()));
  }
};

} // namespace
} // namespace mlir::fresco
