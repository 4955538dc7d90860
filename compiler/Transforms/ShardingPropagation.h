//===- ShardingPropagation.h - Rule-driven partitioning ---------*- C++ -*-===//
//
// The strategy-independent step of partitioning: a strategy seeds splits
// (a function argument's dimension over grid axes), and the ops' sharding
// rules (ShardingRule.h) carry them forward through the function, rewriting
// it into the per-rank view as they go:
//   - a seeded argument is sliced (shard.all_slice: no communication);
//   - an op whose operands split some of its factors splits the result
//     dimensions those factors make up (parallel factors), or leaves a
//     partial sum (a reduction factor split on every operand that has it),
//     marked `fresco.sharding` for fresco-insert-collectives (a linear's
//     bias then moves after the reduction);
//   - a replicated operand that spans a split factor is sliced locally (a
//     parameter gets its own copy marked to load only its slice);
//   - result types become local (checked against the op's own inference),
//     and attention's head count follows a split of its heads factor;
//   - a split that the rule forbids (a factor that must stay whole,
//     attention's key sequence, a dimension's minor factor) is a located
//     error naming the strategy.
// Values it never reaches stay replicated. Split function results are
// marked `fresco.sharding` for fresco-insert-collectives to gather (added
// to an earlier strategy's mark).
//
// A concatenation of sequences split along the same dimension (Flux's
// [text; image] tokens, each split on its own) is split too: each rank's
// block is the concatenation of its share of every sequence, so the value
// is held in another token order than the global one. Its segments (the
// global lengths of the sequences) are recorded; ops that work token by
// token carry them, operands that meet must hold their tokens in the same
// order, and a slice of whole segments stays local. Attention does not
// care about the order of its keys, and its output follows its queries.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_SHARDINGPROPAGATION_H
#define FRESCO_COMPILER_TRANSFORMS_SHARDINGPROPAGATION_H

#include "compiler/Transforms/Partitioning.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/SmallPtrSet.h"

#include <optional>
#include <string>

namespace mlir::fresco {

/// "[4, 8]": segment lengths, for messages.
std::string listOf(ArrayRef<int64_t> sizes);

class ShardingPropagation {
public:
  /// `strategy` names the seeding strategy in messages ("cfg=2").
  ShardingPropagation(func::FuncOp fn, const GridInfo &grid,
                      StringRef strategy);

  /// Seeds: this rank's slice of argument `arg` along `dim` over `axes`
  /// (several dimensions: one call each).
  LogicalResult seedArgument(BlockArgument arg, int64_t dim,
                             ArrayRef<int16_t> axes);
  /// Seeds: this rank's slice of value `v` along `dim` over `axes`, taken
  /// right after its definition (an argument: at the function's start).
  LogicalResult seedValue(Value v, int64_t dim, ArrayRef<int16_t> axes);
  /// Seeds: `use`'s parameter split along `dim` over `axes` (the use gets
  /// its own copy, which each rank loads only its slice of).
  LogicalResult seedParam(OpOperand &use, int64_t dim, ArrayRef<int16_t> axes);
  /// `op`'s split results are all-gathered right after it (a strategy's
  /// choice: e.g. a big per-sample layer split for memory whose users need
  /// all of it).
  void gatherAfter(Operation *op);
  /// Propagates the seeds through the function's ops, in order, rewriting
  /// each into its per-rank form. An attention whose tokens are split over
  /// a sequence axis is resolved by the axis's kind (SequenceAttention.cpp:
  /// "ulysses" all_to_alls onto the heads, "ring" attention). An earlier
  /// sequence split's all_to_all keeps a split on both sides, and its
  /// gather of a split dimension takes this split's axes too (minor to its
  /// own).
  LogicalResult propagate();
  /// Marks the split function results (`fresco.sharding`) for
  /// fresco-insert-collectives to gather; an earlier strategy's mark of a
  /// result is kept, this split minor to it where they share a dimension.
  LogicalResult markResults();
  /// propagate(), then markResults().
  LogicalResult run();

  using Split = SmallVector<SmallVector<int16_t>>;
  /// How `v` is split: per dimension the grid axes; empty lists when
  /// replicated.
  Split splitOf(Value v) const;
  void setSplit(Value v, Split split);
  void clearSplit(Value v) { splits.erase(v); }
  bool isSplit(Value v) const { return splits.count(v); }
  /// The global lengths of the sequences that `v`'s dimension `dim`
  /// concatenates, each split on its own: one (the dimension's global
  /// size) when it is not such a concatenation.
  SmallVector<int64_t> segmentsOf(Value v, int64_t dim) const;
  /// Records `v`'s dimension `dim` as the concatenation of `sizes`.
  void setSegments(Value v, int64_t dim, ArrayRef<int64_t> sizes);
  /// Slices `v` to this rank's part along `dim` before `user` (no
  /// communication; a parameter gets its own copy loading its slice).
  Value slice(Value v, int64_t dim, ArrayRef<int16_t> axes, Operation *user);
  /// The number of ranks along `axes`.
  int64_t parts(ArrayRef<int16_t> axes) const;

private:
  LogicalResult visit(Operation *op, const ShardingRule &rule);
  LogicalResult visitForeign(Operation *op);
  /// A concatenation or slice along a split dimension (segments); false
  /// when `op` is neither, for the generic step.
  FailureOr<bool> visitSegmented(Operation *op);
  /// Segments of the results from the operands' (which must agree).
  LogicalResult carrySegments(Operation *op, const ShardingRule &rule,
                              ArrayRef<SmallVector<int16_t>> axesOf);
  /// The global size of `v`'s dimension `dim`.
  int64_t globalSize(Value v, int64_t dim) const;

  // A split of an image's rows (SpatialSplit.cpp).
  /// Whether `op` is a convolution or group norm whose input is split along
  /// a spatial dimension that its rule needs whole.
  bool splitsSpatially(Operation *op, const ShardingRule &rule) const;
  /// A convolution over split rows: this rank's band with halo rows from
  /// its neighbours (fresco.pad, shard.update_halo), unpadded along them.
  LogicalResult haloConvolution(Conv2dOp c, const ShardingRule &rule);
  /// A group norm over split rows: statistics over all ranks' bands
  /// (`stats_axes`).
  LogicalResult statsGroupNorm(GroupNormOp n);

  // A token split at attention (SequenceAttention.cpp).
  /// The sequence axis ("ulysses", "ring" or "patch") that splits an operand of
  /// `a`; nullopt: the generic step (which refuses a key token split).
  std::optional<int16_t> sequenceAxis(AttentionOp a) const;
  LogicalResult visitAttention(AttentionOp a, const ShardingRule &rule,
                               int16_t axis);
  LogicalResult headsExchange(AttentionOp a, const ShardingRule &rule,
                              int16_t axis);
  LogicalResult ringAttention(AttentionOp a, const ShardingRule &rule,
                              int16_t axis);
  LogicalResult staleAttention(AttentionOp a, const ShardingRule &rule,
                               int16_t axis);
  LogicalResult maskRingPadding(AttentionOp a, int64_t keyDim, int16_t axis);
  /// The keys' token dimension when key and value are split along it over
  /// `axis` (and the rule lets them: no causal mask, no bias); -1 when both
  /// are replicated (a context).
  FailureOr<int64_t> splitKeys(AttentionOp a, const ShardingRule &rule,
                               int16_t axis);
  /// key_valid of `a` once its keys, split over `members` ranks of `axis`
  /// in the token order `order`, are gathered whole (Ulysses' all_to_all, a
  /// stale gather).
  LogicalResult gatherKeyValid(AttentionOp a, ArrayRef<int64_t> order,
                               int64_t members, int16_t axis);
  /// The dimension `v` is split along over `axis`; -1 when none.
  int64_t splitDim(Value v, int16_t axis) const;
  /// Gives `op`'s result its global type with `dim` divided over `axis`
  /// (checked against the op's inference) and records that split;
  /// `degree` ("ulysses=4") names it in messages.
  LogicalResult retypeSplit(Operation *op, int64_t dim, int16_t axis,
                            StringRef degree);
  /// The order in which `a`'s query holds its split tokens (segments of
  /// concatenated sequences, e.g. Flux's [text; image]); a split key and
  /// value must hold theirs alike. The attention's output follows it.
  FailureOr<SmallVector<int64_t>> tokenOrder(AttentionOp a, int16_t axis,
                                             const ShardingRule &rule);
  /// key_valid of `a` after this split of keys that join padded sequences
  /// of global lengths `sizes` (key_valid counts them before the split,
  /// `bands` times over when an earlier Ulysses all_to_all joined that many
  /// blocks): a row per block of `members` (the ring's; 1 for Ulysses).
  std::optional<SmallVector<int64_t>> joinedKeyValid(AttentionOp a,
                                                     ArrayRef<int64_t> sizes,
                                                     int64_t bands,
                                                     int64_t members);

  func::FuncOp fn;
  const GridInfo &grid;
  std::string strategy;
  /// The function's ops with their rules (none: not a fresco op), taken
  /// on the global types.
  SmallVector<std::pair<Operation *, std::optional<ShardingRule>>> ops;
  /// Each seeded argument's local value, and the slices seeding made.
  llvm::DenseMap<Value, Value> seeded;
  llvm::SmallPtrSet<Operation *, 8> seededSlices;
  llvm::SmallPtrSet<Operation *, 8> gathered;
  /// Split values; absent: replicated.
  llvm::DenseMap<Value, Split> splits;
  /// Values split along a concatenation of sequences: the dimension and
  /// the sequences' global lengths (at least two).
  llvm::DenseMap<Value, std::pair<int64_t, SmallVector<int64_t>>> segments;
};

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_SHARDINGPROPAGATION_H
