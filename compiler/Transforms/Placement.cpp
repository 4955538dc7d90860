//===- Placement.cpp - Assign component functions to ranks ----------------===//
#include "compiler/Transforms/Partitioning.h"
#include "compiler/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/StringMap.h"

#define DEBUG_TYPE "fresco-placement"

namespace mlir::fresco {
#define GEN_PASS_DEF_PLACEMENT
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct PlacementPass : impl::PlacementBase<PlacementPass> {
  using PlacementBase::PlacementBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (ranks < 1) {
      module.emitError("fresco-placement needs ranks >= 1");
      return signalPassFailure();
    }
    llvm::StringMap<SmallVector<int64_t>> chosen;
    SmallVector<StringRef> items;
    if (!StringRef(place).trim().empty())
      StringRef(place).split(items, ',', -1, /*KeepEmpty=*/true);
    func::FuncOp twin = warmupFunction(module);
    for (StringRef item : items) {
      if (item.trim().empty()) {
        module.emitError("--place '")
            << place
            << "' has an empty item: list component=ranks separated by "
               "single commas";
        return signalPassFailure();
      }
      auto [name, list] = item.trim().split('=');
      if (twin && name == twin.getSymName()) {
        module.emitError("--place names '")
            << name
            << "', PipeFusion's warm-up twin of the denoiser: it runs where "
               "the denoiser does; place the denoiser";
        return signalPassFailure();
      }
      if (!module.lookupSymbol<func::FuncOp>(name)) {
        std::string known;
        for (auto fn : module.getOps<func::FuncOp>())
          if (fn != twin)
            known += (known.empty() ? "" : ", ") + fn.getSymName().str();
        module.emitError("--place names component '")
            << name << "' but the module has: " << known;
        return signalPassFailure();
      }
      if (chosen.count(name)) {
        module.emitError("--place names '")
            << name << "' twice: list its ranks once, joined by '+'";
        return signalPassFailure();
      }
      SmallVector<StringRef> rankItems;
      if (!list.trim().empty())
        list.split(rankItems, '+', -1, /*KeepEmpty=*/true);
      for (StringRef r : rankItems) {
        int64_t rank;
        if (r.getAsInteger(10, rank) || rank < 0 || rank >= ranks) {
          module.emitError("--place ")
              << name << "=" << list << ": rank '" << r << "' is not in 0.."
              << int64_t(ranks) - 1;
          return signalPassFailure();
        }
        chosen[name].push_back(rank);
      }
      if (rankItems.empty()) {
        module.emitError("--place ") << item << " names no rank";
        return signalPassFailure();
      }
    }

    StringRef denoiser, decoder, warmup;
    if (auto p = module->getAttrOfType<DictionaryAttr>("fresco.pipeline")) {
      denoiser = p.getAs<StringAttr>("denoiser").getValue();
      decoder = p.getAs<StringAttr>("decoder").getValue();
      if (auto w = p.getAs<StringAttr>(kWarmupEntry))
        warmup = w.getValue();
    }
    std::optional<GridInfo> grid = getGrid(module);
    int64_t gridSize = grid ? grid->ranks() : 1;
    // The denoiser spans the grid on as many ranks (placed, or by default
    // 0..gridSize-1): a grid wider than the plan said only "rank 2 outside
    // the 2 ranks" later, not why.
    if (gridSize > ranks) {
      module.emitError("the parallel degrees make a grid of ")
          << gridSize << " ranks but the plan has " << int64_t(ranks)
          << " (--ranks): their product must equal the ranks the denoiser "
             "is placed on";
      return signalPassFailure();
    }
    // By default the denoiser spans ranks 0..gridSize-1: a rank past them
    // that nothing is placed on would only repeat the text encoders.
    if (gridSize < ranks && !chosen.count(denoiser)) {
      llvm::SmallSet<int64_t, 8> placed;
      for (auto &entry : chosen)
        placed.insert(entry.second.begin(), entry.second.end());
      for (int64_t r = gridSize; r < ranks; ++r)
        if (!placed.count(r)) {
          module.emitError("the parallel degrees make a grid of ")
              << gridSize << " rank(s) but the plan has " << int64_t(ranks)
              << " (--ranks), and nothing is placed on rank " << r
              << ": give degrees that multiply to " << int64_t(ranks)
              << ", or place components there with --place";
          return signalPassFailure();
        }
    }
    OpBuilder b(module.getContext());
    for (auto fn : module.getOps<func::FuncOp>()) {
      if (fn.isExternal() || fn.isPrivate())
        continue;
      SmallVector<int64_t> members;
      // The warm-up twin runs where the denoiser does.
      StringRef name = fn.getSymName() == warmup ? denoiser : fn.getSymName();
      if (chosen.count(name)) {
        members = chosen[name];
      } else if (fn.getSymName() == decoder) {
        members = {0};
      } else if (fn.getSymName() == denoiser || denoiser.empty() ||
                 fn.getSymName() == warmup) {
        for (int64_t r = 0; r < gridSize; ++r)
          members.push_back(r);
      } else {
        for (int64_t r = 0; r < ranks; ++r)
          members.push_back(r);
      }
      bool partitioned = denoiser.empty() || fn.getSymName() == denoiser ||
                         fn.getSymName() == warmup;
      if (partitioned && int64_t(members.size()) != gridSize) {
        fn.emitError("'") << fn.getSymName() << "' is placed on "
                          << members.size()
                          << " rank(s) but its parallel grid has " << gridSize;
        return signalPassFailure();
      }
      llvm::sort(members);
      if (std::unique(members.begin(), members.end()) != members.end()) {
        fn.emitError("a rank is listed twice in the placement of '")
            << fn.getSymName() << "'";
        return signalPassFailure();
      }
      fn->setAttr(FrescoDialect::kRanksAttrName,
                  b.getDenseI64ArrayAttr(members));
    }
  }
};

} // namespace
} // namespace mlir::fresco
