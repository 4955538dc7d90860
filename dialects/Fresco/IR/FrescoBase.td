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
    /// group (i32 array; also a halo exchange's and a group norm's whose
    /// statistics span ranks); ring attention's ring; a transfer of values that
    /// stay f32 under 2-byte float storage (unit).
    static constexpr ::llvm::StringLiteral kRankAttrName = "fresco.rank";
    static constexpr ::llvm::StringLiteral kMembersAttrName = "fresco.members";
    static constexpr ::llvm::StringLiteral kRingMembersAttrName =
        "fresco.ring_members";
    static constexpr ::llvm::StringLiteral kKeepF32AttrName = "fresco.keep_f32";
    /// i16 grid axis on a function split into stages.
    static constexpr ::llvm::StringLiteral kPipelineAxisAttrName =
        "fresco.pipeline_axis";
    /// i64 >= 2 on a denoiser unrolled over micro-batches
    /// (fresco-pipefusion, `--microbatches`): their count.
    static constexpr ::llvm::StringLiteral kMicrobatchesAttrName =
        "fresco.microbatches";
    /// array<i64: sums, chunks> on a function whose tp sums
    /// fresco-chunk-tp-reduction split: how many, into how many chunks
    /// each (for fresco-compile's summary).
    static constexpr ::llvm::StringLiteral kChunkedSumsAttrName =
        "fresco.chunked_sums";
    /// array<i64: real, padded> on a UNet whose latent rows
    /// fresco-pad-uneven padded at the bottom for a sequence split.
    static constexpr ::llvm::StringLiteral kPaddedRowsAttrName =
        "fresco.padded_rows";
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

    /// fresco-pad-uneven's unit marks: on the fresco.pad that pads the
    /// token sequence (where the sequence passes seed their split), and on
    /// a fresco.slice that takes padding off again (a split along it is
    /// gathered first).
    static constexpr ::llvm::StringLiteral kSequenceSeedAttrName =
        "fresco.sequence_seed";
    static constexpr ::llvm::StringLiteral kUnpadAttrName = "fresco.unpad";
    /// On a shard.update_halo along padded rows (fresco-pad-uneven's): the
    /// whole tensor's real rows; the exchange zeroes the rows from there.
    static constexpr ::llvm::StringLiteral kValidRowsAttrName =
        "fresco.valid_rows";
    /// fresco-create-grid: the module's array of grid axis names, one per
    /// dimension of the grid.
    static constexpr ::llvm::StringLiteral kGridAxesAttrName =
        "fresco.grid_axes";
    /// fresco-compile --dtype: the module's float storage, "bf16" or
    /// "f16" (f32 when absent).
    static constexpr ::llvm::StringLiteral kFloatStorageAttrName =
        "fresco.float_storage";
    /// Model builders: the pipeline component a function is (string), and
    /// the name of a function's argument or result (string).
    static constexpr ::llvm::StringLiteral kComponentAttrName =
        "fresco.component";
    static constexpr ::llvm::StringLiteral kNameAttrName = "fresco.name";
    /// fresco-placement: the world ranks a function runs on (i64 array).
    static constexpr ::llvm::StringLiteral kRanksAttrName = "fresco.ranks";
    /// fresco-assign-buffers: the arena offset of an op's result or a
    /// function argument, and a function's arena and intermediate sizes
    /// (i64 bytes).
    static constexpr ::llvm::StringLiteral kOffsetAttrName = "fresco.offset";
    static constexpr ::llvm::StringLiteral kArenaBytesAttrName =
        "fresco.arena_bytes";
    static constexpr ::llvm::StringLiteral kIntermediateBytesAttrName =
        "fresco.intermediate_bytes";
    /// fresco-place-waits: a shard.all_to_all or shard.all_gather that
    /// starts asynchronously, completed by its fresco.wait (unit).
    static constexpr ::llvm::StringLiteral kAsyncAttrName = "fresco.async";
    /// fresco-assign-buffers: a fresco.slice whose result is a window of its
    /// input's buffer, or a fresco.concat whose operands (some or all) were
    /// written in place inside its result (unit): the copy is skipped.
    static constexpr ::llvm::StringLiteral kInPlaceAttrName =
        "fresco.in_place";

    /// fresco-fold-into-reduction: a linear whose result is one member's
    /// part of a sum over grid axes (`axes`, i16 array), whose bias the
    /// sum counts once (`once = ["bias"]`): the member at coordinate 0 on
    /// those axes adds it, fresco-specialize-ranks drops it elsewhere.
    static constexpr ::llvm::StringLiteral kPartialSumAttrName =
        "fresco.partial_sum";

    /// Checks of the attributes above that the partitioning seeds' checks
    /// (FrescoAttributes.cpp) leave (DiscardableAttributes.cpp).
    static ::llvm::LogicalResult
    verifyLoweringAttribute(::mlir::Operation *op, ::mlir::NamedAttribute attr);
    static ::llvm::LogicalResult
    verifyLoweringArgAttribute(::mlir::Operation *op, unsigned arg,
                               ::mlir::NamedAttribute attr);
    static ::llvm::LogicalResult
    verifyLoweringResultAttribute(::mlir::Operation *op, unsigned result,
                                  ::mlir::NamedAttribute attr);
  }];
}

// Every op declares its sharding rule (ShardingRules.cpp).
class Fresco_Op<string mnemonic, list<Trait> traits = []>
    : Op<Fresco_Dialect, mnemonic, !listconcat(traits,
         [DeclareOpInterfaceMethods<Fresco_ShardingRuleOpInterface>])>;

def Fresco_FloatTensor : RankedTensorOf<[F32, F16, BF16]>;
def Fresco_IndexTensor : RankedTensorOf<[I64, I32]>;

#endif // FRESCO_BASE_TD
