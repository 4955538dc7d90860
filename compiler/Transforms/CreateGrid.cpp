//===- CreateGrid.cpp - The device grid from a parallel spec --------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

#define DEBUG_TYPE "fresco-create-grid"

namespace mlir::fresco {
#define GEN_PASS_DEF_CREATEGRID
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct CreateGridPass : impl::CreateGridBase<CreateGridPass> {
  using CreateGridBase::CreateGridBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (module.lookupSymbol(kGridName)) {
      module.emitError("the module already has a grid");
      return signalPassFailure();
    }
    SmallVector<std::string> names;
    SmallVector<int64_t> shape;
    llvm::StringSet<> seen;
    int64_t product = 1;
    int64_t pipefusion = 0;
    SmallVector<StringRef> items;
    if (!StringRef(parallel).trim().empty())
      StringRef(parallel).split(items, ',', -1, /*KeepEmpty=*/true);
    for (StringRef item : items) {
      if (item.trim().empty()) {
        module.emitError("'") << parallel
                              << "' has an empty item: list the axes as "
                                 "axis=N separated by single commas";
        return signalPassFailure();
      }
      auto [key, value] = item.trim().split('=');
      int64_t degree = 0;
      if (std::optional<GridAxisKind> k = symbolizeGridAxisKind(key);
          !k || *k == GridAxisKind::Replica || *k == GridAxisKind::Microbatch) {
        module.emitError("unknown parallel axis '")
            << key << "' in '" << parallel
            << "' (valid: cfg=N, tp=N, ulysses=N, ring=N, patch=N, "
               "pipeline=N, pipefusion=N; micro-batches: --microbatches M)";
        return signalPassFailure();
      }
      if (value.getAsInteger(10, degree) || degree < 1) {
        module.emitError("parallel axis '")
            << key << "' needs a positive integer degree, got '" << value
            << "'";
        return signalPassFailure();
      }
      // fresco-compile's and fresco-run's --ranks limit; also keeps the
      // product exact (a degree of 2^63 - 1 hung placement).
      constexpr int64_t kMaxGridRanks = 4096;
      if (degree > kMaxGridRanks / product) {
        module.emitError("the parallel degrees '")
            << parallel << "' multiply to more than " << kMaxGridRanks
            << " ranks";
        return signalPassFailure();
      }
      if (!seen.insert(key).second) {
        module.emitError("parallel axis '") << key << "' is given twice";
        return signalPassFailure();
      }
      if (key == "pipefusion") {
        // The stages are a pipeline axis; the patches come last, below.
        if (seen.contains("pipeline") || degree < 2) {
          module.emitError("pipefusion=")
              << degree
              << (degree < 2 ? " needs at least 2 pipeline stages"
                             : " already cuts the pipeline stages: drop "
                               "pipeline=");
          return signalPassFailure();
        }
        pipefusion = degree;
        key = "pipeline";
      } else if (key == "pipeline" && pipefusion) {
        module.emitError("pipeline= with pipefusion=: pipefusion already "
                         "cuts the pipeline stages");
        return signalPassFailure();
      }
      names.push_back(key.str());
      shape.push_back(degree);
      product *= degree;
    }
    if (ranks > 0 && product != ranks) {
      module.emitError("the parallel degrees '")
          << parallel << "' multiply to " << product << " but the grid spans "
          << int64_t(ranks) << " rank(s)";
      return signalPassFailure();
    }
    if (patches != 0 && !pipefusion) {
      module.emitError("--pipefusion-patches applies to --parallel "
                       "pipefusion=S only");
      return signalPassFailure();
    }
    if (microbatches != 0) {
      // Virtual like PipeFusion's patches; the stages overlap on them.
      int64_t stages = 1;
      for (auto [n, d] : llvm::zip(names, shape))
        if (n == "pipeline")
          stages = d;
      if (stages < 2 || pipefusion) {
        module.emitError("--microbatches applies to --parallel pipeline=S "
                         "only")
            << (pipefusion ? " (pipefusion=S runs its patches through the "
                             "stages instead)"
                : stages == 1 && seen.contains("pipeline")
                    ? ", S >= 2 (one stage has nothing to overlap)"
                    : "");
        return signalPassFailure();
      }
      if (microbatches < 2 || microbatches > 64) {
        module.emitError("--microbatches must be in 2..64, got ")
            << int64_t(microbatches);
        return signalPassFailure();
      }
      names.push_back(kMicrobatchAxis.str());
      shape.push_back(microbatches);
    }
    if (pipefusion) {
      int64_t m = patches ? int64_t(patches) : pipefusion;
      if (m < 2 || m > 64) {
        module.emitError("--pipefusion-patches must be in 2..64, got ") << m;
        return signalPassFailure();
      }
      names.push_back("pipefusion");
      shape.push_back(m);
    }
    if (names.empty()) { // one rank: a trivial grid keeps later passes uniform
      names.push_back("replica");
      shape.push_back(1);
    }
    OpBuilder b(module.getBodyRegion());
    shard::GridOp::create(b, module.getLoc(), kGridName,
                          b.getDenseI64ArrayAttr(shape));
    SmallVector<Attribute> attrs;
    for (const std::string &n : names)
      attrs.push_back(b.getStringAttr(n));
    module->setAttr(FrescoDialect::kGridAxesAttrName, b.getArrayAttr(attrs));
  }
};

} // namespace
} // namespace mlir::fresco
