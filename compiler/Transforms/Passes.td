//===- Passes.td - Fresco compiler passes ------------------*- tablegen -*-===//
#ifndef FRESCO_COMPILER_PASSES_TD
#define FRESCO_COMPILER_PASSES_TD

include "mlir/Pass/PassBase.td"

def AssignBuffers : Pass<"fresco-assign-buffers", "::mlir::func::FuncOp"> {
  let summary = "Plan the static arena: give every activation a byte offset";
  let description = [{
    Computes each activation's live range over the function's single block,
    lets `fresco.reshape` results share their operand's storage, and packs
    the buffers into one arena (greedy by size, live ranges that overlap
    never share bytes). Records `fresco.offset` on every op that defines an
    arena value and on every argument, `fresco.arena_bytes` (peak) and
    `fresco.intermediate_bytes` (sum without reuse) on the function.
    Parameters (`fresco.param`) and their reshapes live outside the arena.
  }];
  let options = [
    Option<"alignment", "alignment", "uint64_t", /*default=*/"64",
           "byte alignment of every buffer">
  ];
  let dependentDialects = ["::mlir::fresco::FrescoDialect"];
}

#endif // FRESCO_COMPILER_PASSES_TD
