//===- FrescoBase.td - The fresco dialect ------------------*- tablegen -*-===//
#ifndef FRESCO_BASE_TD
#define FRESCO_BASE_TD

include "dialects/Fresco/IR/ShardingRuleInterface.td"
include "mlir/IR/OpBase.td"

def Fresco_Dialect : Dialect {
  let name = "fresco";
  let summary = "Tensor ops of diffusion models in the global (unpartitioned) view";
  let description = [{
    Ops on builtin ranked tensors with static shapes. Parameters are
    `fresco.param` ops naming the checkpoint tensor (the diffusers state_dict
    key) they load, so a plan can say which slice of which tensor each rank
    reads. Result types are inferred from operands and attributes.
  }];
  let cppNamespace = "::mlir::fresco";
  let useDefaultAttributePrinterParser = 1;
  // The discardable partitioning attributes are checked where attached.
  let hasOperationAttrVerify = 1;
  let hasRegionArgAttrVerify = 1;
  let hasRegionResultAttrVerify = 1;
  let extraClassDeclaration = [{
    void registerAttributes();
    /// `#fresco.sharding` on a param, an op or a function result.
    static constexpr ::llvm::StringLiteral kShardingAttrName = "fresco.sharding";
    /// `#fresco.stage` on an op of a function split into stages.
    static constexpr ::llvm::StringLiteral kStageAttrName = "fresco.stage";
    /// fresco-specialize-ranks: a nested module holding rank r's copy of
    /// every function it runs (i64 r); the world ranks of a collective's
    /// group (i32 array); ring attention's ring; a transfer of values that
    /// stay f32 under 2-byte float storage (unit).
    static constexpr ::llvm::StringLiteral kRankAttrName = "fresco.rank";
    static constexpr ::llvm::StringLiteral kMembersAttrName = "fresco.members";
    static constexpr ::llvm::StringLiteral kRingMembersAttrName =
        "fresco.ring_members";
    static constexpr ::llvm::StringLiteral kKeepF32AttrName = "fresco.keep_f32";
    /// i16 grid axis on a function split into stages.
    static constexpr ::llvm::StringLiteral kPipelineAxisAttrName =
        "fresco.pipeline_axis";
    /// i64 on a function argument: the dimension holding the tokens of a
    /// sequence that a sequence split (ulysses, ring) cuts (Flux's packed
    /// latents, text tokens and their position ids).
    static constexpr ::llvm::StringLiteral kSequenceDimAttrName =
        "fresco.sequence_dim";
    /// A strategy's seeds, read by fresco-propagate-shardings: a
    /// `#fresco.sharding` split of a value where it is (on an op, its
    /// single result; on a function argument, the argument after earlier
    /// slices) or of a parameter as it is loaded; `#fresco.axes` on an op
    /// whose split results are gathered right after it; the module's i16
    /// array of grid axes in the order their seeds are propagated.
    static constexpr ::llvm::StringLiteral kSeedAttrName = "fresco.seed";
    static constexpr ::llvm::StringLiteral kGatherAfterAttrName =
        "fresco.gather_after";
    static constexpr ::llvm::StringLiteral kSeedOrderAttrName =
        "fresco.seed_order";
  }];
}

// Every op declares its sharding rule (ShardingRules.cpp).
class Fresco_Op<string mnemonic, list<Trait> traits = []>
    : Op<Fresco_Dialect, mnemonic, !listconcat(traits,
         [DeclareOpInterfaceMethods<Fresco_ShardingRuleOpInterface>])>;

def Fresco_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Fresco_IndexTensor : RankedTensorOf<[I64, I32]>;

#endif // FRESCO_BASE_TD
