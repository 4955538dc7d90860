//===- FrescoAttributes.td - fresco dialect attributes -----*- tablegen -*-===//
//
// Typed partitioning attributes: where a value lives on the device grid
// (`#fresco.sharding`), a set of grid axes (`#fresco.axes`, ring attention's
// ring) and a pipeline stage (`#fresco.stage`). The dialect verifies them
// wherever they are attached (FrescoDialect.cpp), so a pass that writes a
// malformed one fails at the op, not in the plan emitter.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_ATTRIBUTES_TD
#define FRESCO_ATTRIBUTES_TD

include "dialects/Fresco/IR/FrescoBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

class Fresco_Attr<string name, string attrMnemonic, list<Trait> traits = []>
    : AttrDef<Fresco_Dialect, name, traits> {
  let mnemonic = attrMnemonic;
}

def Fresco_GridAxesAttr : Fresco_Attr<"GridAxes", "axes"> {
  let summary = "a non-empty set of axes of the module's @grid";
  let description = [{
    Axis indices of `shard.grid @grid`, in grid order (major to minor):
    the ranks that differ only along them form one group.

    ```mlir
    ring_axes = #fresco.axes<[1]>
    ```
  }];
  let parameters = (ins ArrayRefParameter<"int16_t">:$axes);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
}

def Fresco_ShardingAttr : Fresco_Attr<"Sharding", "sharding"> {
  let summary = "how a tensor is distributed over the module's @grid";
  let description = [{
    One entry per tensor dimension: the grid axes that split it (major to
    minor; `{}` keeps it whole), and optionally the axes over which each
    rank holds a partial sum (`partial = {...}`). An axis appears at most
    once. Where it is attached says what it asks for:

    - on a `fresco.param`: the rank loads its slice of the checkpoint
      tensor (no partial axes);
    - on an op (its single result): the result is distributed so;
      `fresco-insert-collectives` all-reduces the partial axes;
    - on a function result: the returned value is distributed so;
      `fresco-insert-collectives` all-gathers the split dimensions and
      all-reduces the partial axes, restoring the global value.

    Printed with one `{axes}` group per dimension inside square brackets,
    then `, partial = {axes}` when there are partial axes (examples in
    docs/dialect.md; a TableGen code block cannot spell them).
  }];
  let parameters = (ins "::mlir::ArrayAttr":$dims,
                        "::mlir::DenseI16ArrayAttr":$partial);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "::llvm::ArrayRef<::llvm::SmallVector<int16_t>>":$dims,
                     CArg<"::llvm::ArrayRef<int16_t>", "{}">:$partial)>
  ];
  let extraClassDeclaration = [{
    /// Dimension `dim` of a rank-`rank` tensor split over `axes`.
    static ShardingAttr getSplit(::mlir::MLIRContext *ctx, int64_t rank,
                                 int64_t dim, ::llvm::ArrayRef<int16_t> axes);
    /// A whole-shaped partial sum over `axes`.
    static ShardingAttr getPartial(::mlir::MLIRContext *ctx, int64_t rank,
                                   ::llvm::ArrayRef<int16_t> axes);
    int64_t getRank() const { return getDims().size(); }
    /// The axes splitting dimension `dim` (empty: whole).
    ::llvm::ArrayRef<int16_t> getDimAxes(int64_t dim) const;
    /// The same split dimensions without partial axes.
    ShardingAttr withoutPartial() const;
    bool isReplicated() const;
  }];
}

def Fresco_StageAttr : Fresco_Attr<"Stage", "stage"> {
  let summary = "the pipeline stage an op belongs to";
  let description = [{
    Set by `fresco-pipeline-parallel` on every op of a function split into
    stages (`fresco.pipeline_axis`). Rewrites keep it: CSE merges only ops
    of the same stage (the attribute is part of an op's identity), and the
    fresco rewrite drivers (fusion, canonicalisation in the lowering) give a
    replacement op the stage of the op it replaces (StageListener.h).

    ```mlir
    %y = fresco.silu %x {fresco.stage = #fresco.stage<1>} : ...
    ```
  }];
  let parameters = (ins "int64_t":$index);
  let assemblyFormat = "`<` $index `>`";
  let genVerifyDecl = 1;
}

// The kinds of grid axis a strategy splits over: `fresco.grid_axes` names
// one per axis of the module's grid (fresco-create-grid, from --parallel).
def Fresco_GridAxisKind : I32EnumAttr<"GridAxisKind", "kind of a grid axis", [
  I32EnumAttrCase<"Cfg", 0, "cfg">,
  I32EnumAttrCase<"Tp", 1, "tp">,
  I32EnumAttrCase<"Ulysses", 2, "ulysses">,
  I32EnumAttrCase<"Ring", 3, "ring">,
  I32EnumAttrCase<"Pipeline", 4, "pipeline">,
  // The size-1 axis of a one-rank grid (no --parallel).
  I32EnumAttrCase<"Replica", 5, "replica">,
  // Displaced patches (DistriFusion): tokens split, attention reads the
  // other ranks' keys and values of the previous step.
  I32EnumAttrCase<"Patch", 6, "patch">,
  // PipeFusion's patches: a virtual axis (no ranks) whose coordinates one
  // rank runs one after the other, unrolled by fresco-pipefusion.
  I32EnumAttrCase<"PipeFusion", 7, "pipefusion">,
  // Micro-batches through pipeline stages: a virtual axis over the batch
  // (--microbatches M), unrolled as PipeFusion's patches are.
  I32EnumAttrCase<"Microbatch", 8, "microbatch">
]> {
  let cppNamespace = "::mlir::fresco";
  let genSpecializedAttr = 0;
}

// How an op's rule says a dimension factor may be split (ShardingRule.h).
def Fresco_FactorKind : I32EnumAttr<"FactorKind", "kind of a sharding rule factor", [
  // Result and operand slices correspond: a split needs no communication.
  I32EnumAttrCase<"Parallel", 0, "parallel">,
  // Contracted: a split leaves a partial sum (an all_reduce follows).
  I32EnumAttrCase<"Reduction", 1, "reduction">,
  // Must be whole on every rank (norm statistics, a head's dimension).
  I32EnumAttrCase<"NeedReplication", 2, "need_replication">,
  // Attention's key/value tokens: a split is resolved by ring attention or
  // by all_to_alls that move it onto the heads.
  I32EnumAttrCase<"KeySequence", 3, "key_sequence">
]> {
  let cppNamespace = "::mlir::fresco";
  let genSpecializedAttr = 0;
}

#endif // FRESCO_ATTRIBUTES_TD
