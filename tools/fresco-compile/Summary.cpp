//===- Summary.cpp - fresco-compile's per-function summary ----------------===//
#include "tools/fresco-compile/Summary.h"
#include "dialects/Fresco/IR/FloatStorage.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/raw_ostream.h"

using namespace mlir;
using namespace llvm;

namespace fresco::compile {

std::string summarize(ModuleOp module, int64_t chunks, bool reduceScatter,
                      std::string &warning) {
  std::string text;
  llvm::raw_string_ostream errs(text);
  for (auto fn : module.getOps<func::FuncOp>()) {
    if (fn.isExternal())
      continue;
    size_t ops = 0, params = 0;
    uint64_t paramBytes = 0;
    fn.walk([&](Operation *op) {
      if (auto p = dyn_cast<mlir::fresco::ParamOp>(op)) {
        ++params;
        // As stored: floats at the plan's --dtype.
        auto t = p.getType();
        paramBytes += uint64_t(t.getNumElements()) *
                      (isa<FloatType>(t.getElementType())
                           ? mlir::fresco::floatStorageBytes(p)
                           : (t.getElementTypeBitWidth() + 7) / 8);
      } else if (!isa<mlir::fresco::ReshapeOp, func::ReturnOp, func::FuncOp>(
                     op)) {
        ++ops;
      }
    });
    auto attr = [&](StringRef n) -> uint64_t {
      auto a = fn->getAttrOfType<IntegerAttr>(n);
      return a ? a.getInt() : 0;
    };
    using mlir::fresco::FrescoDialect;
    errs << "fresco-compile: function '" << fn.getSymName() << "': " << ops
         << " instructions, " << params << " parameters ("
         << format("%.2f", paramBytes / 1048576.0) << " MiB), arena "
         << format("%.2f", attr(FrescoDialect::kArenaBytesAttrName) / 1048576.0)
         << " MiB (sum of intermediates "
         << format("%.2f",
                   attr(FrescoDialect::kIntermediateBytesAttrName) / 1048576.0)
         << " MiB)";
    if (uint64_t m = attr(FrescoDialect::kMicrobatchesAttrName))
      errs << ", " << m << " micro-batches through the stages";
    if (auto rows = fn->getAttrOfType<mlir::DenseI64ArrayAttr>(
            FrescoDialect::kPaddedRowsAttrName);
        rows && rows.size() == 2)
      errs << ", latent rows padded from " << rows[0] << " to " << rows[1]
           << " to split evenly";
    if (auto c = fn->getAttrOfType<DenseI64ArrayAttr>(
            FrescoDialect::kChunkedSumsAttrName)) {
      // Every chunked sum is `chunks` all_reduces now.
      int64_t sums = 0;
      fn.walk([&](shard::AllReduceOp r) {
        sums += r.getReduction() == shard::ReductionKind::Sum;
      });
      errs << ", " << c[0] << " of " << sums - c[0] * (c[1] - 1)
           << " all_reduced sums in " << c[1] << " chunks each (--tp-chunks)";
    }
    if (reduceScatter) {
      size_t scattered = 0, reduced = 0;
      fn.walk([&](shard::ReduceScatterOp) { ++scattered; });
      fn.walk([&](shard::AllReduceOp) { ++reduced; });
      if (scattered + reduced)
        errs << ", " << scattered << " of " << scattered + reduced
             << " tp sums reduce-scattered over the tokens";
      if (!scattered && reduced)
        warning += ("fresco-compile: warning: --tp-reduce-scatter scattered "
                    "none of '" +
                    fn.getSymName() +
                    "''s tp sums: no op after them takes a token split, or "
                    "each rank's tokens (after any ulysses/ring split and "
                    "padding) are not a multiple of the tp degree\n")
                       .str();
    }
    errs << "\n";
  }
  if (chunks > 1 &&
      llvm::none_of(module.getOps<func::FuncOp>(), [](func::FuncOp fn) {
        return fn->hasAttr(mlir::fresco::FrescoDialect::kChunkedSumsAttrName);
      }))
    warning += "fresco-compile: warning: --tp-chunks " +
               std::to_string(chunks) +
               " split no all_reduce: none sums a linear alone (under "
               "--tp-reduce-scatter tp's sums are reduce-scattered), or the "
               "batch and tokens do not divide into " +
               std::to_string(chunks) + " chunks\n";
  return text;
}

} // namespace fresco::compile
