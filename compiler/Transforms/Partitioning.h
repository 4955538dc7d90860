//===- Partitioning.h - Shared pieces of the partitioning passes -*- C++
//-*-===//
//
// The partitioning passes rewrite a component function from the global view
// into the per-rank (SPMD) view on a device grid: `shard.grid @grid` plus the
// module attribute `fresco.grid_axes` naming each grid axis ("cfg", "tp").
// They annotate instead of communicating, with one typed attribute,
// `fresco.sharding = #fresco.sharding<[{dim 0's axes}, ...], partial = {..}>`
// (FrescoAttributes.td); fresco-insert-collectives turns it into shard
// dialect collectives:
//   - on an op: partial axes mean its result is a partial sum over them
//     (an all_reduce follows);
//   - on a function result: each rank returns its slice of the split
//     dimensions (an all_gather over their axes follows);
//   - on a fresco.param: the rank loads the slice of the checkpoint tensor
//     that its grid coordinates select (the plan emitter computes offsets).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_PARTITIONING_H
#define FRESCO_COMPILER_TRANSFORMS_PARTITIONING_H

#include "dialects/Fresco/IR/FrescoAttributes.h"
#include "dialects/Fresco/IR/FrescoDialect.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/BuiltinOps.h"

#include <optional>

namespace mlir::fresco {

constexpr llvm::StringLiteral kGridName = "grid";
constexpr llvm::StringLiteral kSharding = FrescoDialect::kShardingAttrName;
constexpr llvm::StringLiteral kStage = FrescoDialect::kStageAttrName;
/// fresco-pad-uneven's marks (FrescoBase.td).
constexpr llvm::StringLiteral kSequenceSeed =
    FrescoDialect::kSequenceSeedAttrName;
constexpr llvm::StringLiteral kUnpad = FrescoDialect::kUnpadAttrName;

/// The module's grid and its axis names, if fresco-create-grid ran.
struct GridInfo {
  mutable shard::GridOp grid; // accessors are non-const in MLIR
  SmallVector<std::string> axisNames;

  /// The index of axis `name` and its size; nullopt when absent or size 1.
  std::optional<std::pair<int16_t, int64_t>> axis(StringRef name) const;
  /// The ranks the grid spans: the product of its axes but the virtual
  /// ones (`pipefusion`, `microbatch`), whose coordinates every rank runs
  /// in turn.
  int64_t ranks() const;
};
std::optional<GridInfo> getGrid(ModuleOp module);

/// Whether a grid axis of this kind (its name) splits the tokens, resolved
/// at attention by Ulysses' all_to_alls, ring attention or stale gathers
/// (patch). The sequence strategies run after cfg and tp.
inline bool isSequenceAxis(StringRef kind) {
  std::optional<GridAxisKind> k = symbolizeGridAxisKind(kind);
  return k == GridAxisKind::Ulysses || k == GridAxisKind::Ring ||
         k == GridAxisKind::Patch || k == GridAxisKind::PipeFusion;
}

/// The name of PipeFusion's virtual axis (fresco-create-grid) and the
/// `fresco.pipeline` entry naming the denoiser's warm-up twin
/// (fresco-pipefusion-warmup).
constexpr llvm::StringLiteral kPipeFusionAxis = "pipefusion";
constexpr llvm::StringLiteral kWarmupEntry = "denoiser_warmup";
/// The virtual axis of micro-batches through the pipeline stages
/// (`--microbatches M`): the batch split M ways, run in turn.
constexpr llvm::StringLiteral kMicrobatchAxis = "microbatch";
/// On a function fresco-pipefusion unrolled over micro-batches: their count.
constexpr llvm::StringLiteral kMicrobatchesAttr =
    FrescoDialect::kMicrobatchesAttrName;

/// Whether grid axis `name` is virtual: no rank owns its coordinates, each
/// runs all of them in turn (fresco-pipefusion unrolls it).
inline bool isVirtualAxis(StringRef name) {
  return name == kPipeFusionAxis || name == kMicrobatchAxis;
}

/// How a user asked for `size` along axis `name`, for messages: "tp=2",
/// for PipeFusion's patches "--pipefusion-patches 4", for micro-batches
/// "--microbatches 2".
inline std::string axisDegree(StringRef name, int64_t size) {
  return (name == kPipeFusionAxis   ? "--pipefusion-patches "
          : name == kMicrobatchAxis ? "--microbatches "
                                    : name + "=")
             .str() +
         std::to_string(size);
}

/// Functions a data-parallel style pass applies to: the pipeline's denoiser
/// (and its PipeFusion warm-up twin) when the module holds a pipeline, else
/// every public function.
SmallVector<func::FuncOp> denoiserFunctions(ModuleOp module);
/// The pipeline's PipeFusion warm-up twin of the denoiser, if any.
func::FuncOp warmupFunction(ModuleOp module);

/// Sets the head count of an op whose sharding rule names a heads factor
/// (attention, rope; a group norm's groups): a split divides it, padding
/// grows it.
void setHeadCount(Operation *op, int64_t heads);
/// Its head count (0 for another op).
int64_t headCount(Operation *op);
/// Checks that `op`'s own type inference agrees with the result types a
/// rewrite gave it; `what` names the types in the error ("local type").
LogicalResult checkInferredTypes(Operation *op, const Twine &what);

/// Whether `op` talks to other ranks (a shard collective or halo exchange,
/// ring attention, a group norm whose statistics span ranks, a pipeline
/// stage's transfer): such ops keep their relative order, and none may run
/// inside an asynchronous collective's window.
bool communicates(Operation *op);

/// The fresco.slice that takes block `index` of `sl`'s slice axis from
/// `input` (the slice's operand as it is where the builder stands), with
/// its discardable attributes; replaces nothing.
SliceOp sliceBlock(OpBuilder &b, shard::AllSliceOp sl, Value input,
                   int64_t index);

/// A linear layer whose weight (and bias, if any) are parameters.
bool isParamLinear(Operation *op);

/// The projections behind an attention operand: the parameter linear at
/// the end of a chain of single-use ops (reshapes, per-head norms: Flux's
/// q/k RMS norm, rotary embedding), or one per input where the chain meets
/// a concatenation of token sequences (Flux's joint [text; image]
/// attention). Empty when a branch ends elsewhere.
SmallVector<LinearOp> projectionsOf(Value v);

/// The first linear of every token-wise MLP (param linear -> GELU or SiLU
/// -> param linear on [B, T, D] tokens; gated, both first linears:
/// linear_h(x) * act(linear_g(x)) -> linear), in program order. Per-sample
/// [B, D] layers (embedders, adaLN) are left out: splitting them would
/// cost an all_reduce's latency to save a GEMV.
SmallVector<LinearOp> tokenMlpInputs(func::FuncOp fn);

/// Calls `rewrite` on every linear of the denoiser functions. The linears
/// are collected first: `rewrite` may erase the one it is given.
void rewriteDenoiserLinears(ModuleOp module,
                            llvm::function_ref<void(LinearOp)> rewrite);

/// rewriteDenoiserLinears when the grid has a tp axis (the pre-strategy
/// rewrites that only tp needs; one rank keeps its single GEMMs).
void rewriteLinearsUnderTp(ModuleOp module,
                           llvm::function_ref<void(LinearOp)> rewrite);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_PARTITIONING_H
