//===- Summary.h - fresco-compile's per-function summary --------*- C++ -*-===//
#ifndef FRESCO_TOOLS_FRESCO_COMPILE_SUMMARY_H
#define FRESCO_TOOLS_FRESCO_COMPILE_SUMMARY_H

#include "mlir/IR/BuiltinOps.h"

#include <cstdint>
#include <string>

namespace fresco::compile {

/// One line per function of the lowered `module` (the SPMD view, before
/// per-rank copies): instructions, weights, arena vs no reuse. With
/// `chunks` > 1 (--tp-chunks), how many all_reduces were chunked; with
/// `reduceScatter` (--tp-reduce-scatter), how many of tp's sums were
/// scattered; a function that scattered none is named in `warning`.
std::string summarize(mlir::ModuleOp module, int64_t chunks, bool reduceScatter,
                      std::string &warning);

} // namespace fresco::compile

#endif // FRESCO_TOOLS_FRESCO_COMPILE_SUMMARY_H
