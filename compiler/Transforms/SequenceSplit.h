//===- SequenceSplit.h - Splitting a denoiser's tokens over a grid axis ---===//
//
// The part that sequence-parallel strategies (Ulysses, ring attention)
// share: each rank on the axis takes a band of the latent image's rows, and
// the ops' sharding rules carry that split (ShardingPropagation): a patch
// embedding whose stride equals its kernel turns the band into a contiguous
// block of tokens, reshapes and transposes keep it on the tokens, every
// per-token op stays local, and a replicated operand that spans the tokens
// (the position table) is sliced. Only attention needs every token; each
// strategy says how it gets them (attention()). An op whose rule cannot
// take the split is a located error rather than a guess.
//
// A model whose tokens are not an image (Flux: packed latents and text
// tokens, joined in every attention) marks the arguments that hold them
// (fresco.sequence_dim); each is split along its tokens, so every rank
// holds its share of the text and of the image tokens (and of their
// position ids), and a joined sequence is carried as concatenated
// segments (ShardingPropagation). A [B, C, H, W] image marked on its rows
// (SD3's latent, joined with marked context tokens) is split by rows as
// above, or along its tokens where fresco-pad-uneven padded them after the
// patch embedding.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_SEQUENCESPLIT_H
#define FRESCO_COMPILER_TRANSFORMS_SEQUENCESPLIT_H

#include "compiler/Transforms/ShardingPropagation.h"

#include "mlir/IR/Builders.h"

#include <string>

namespace mlir::fresco {

class SequenceSplit {
public:
  /// `strategy` names the axis ("ulysses", "ring") in messages.
  SequenceSplit(func::FuncOp fn, const GridInfo &grid, StringRef strategy,
                int16_t axis, int64_t parts);
  virtual ~SequenceSplit() = default;

  /// Splits `fn`; results still split are all-gathered before the return.
  LogicalResult run();

protected:
  /// Rewrites one attention with a split operand; must record its
  /// (replacement) result's split (setSplitDim).
  virtual LogicalResult attention(AttentionOp a) = 0;

  /// "fresco-ulysses-parallel": the pass, for messages.
  std::string pass() const { return "fresco-" + strategy + "-parallel"; }
  /// "ulysses=4": the degree as the user wrote it.
  std::string degree() const { return strategy + "=" + std::to_string(parts); }
  /// The dimension `v` is split along on this axis; -1 when replicated.
  int64_t splitDim(Value v) const;
  /// Records `v` as split along `dim` on this axis.
  void setSplitDim(Value v, int64_t dim);
  /// This rank's slice of replicated `v` along `dim` (no communication).
  Value slice(Value v, int64_t dim, Operation *before);
  /// Sets op's result to its global type with `dim` divided by the degree,
  /// checking it against the op's own type inference where it has one.
  LogicalResult retype(Operation *op, int64_t dim, RankedTensorType global);

  func::FuncOp fn;
  std::string strategy;
  int16_t axis;
  int64_t parts;
  OpBuilder b;
  ShardingPropagation prop;

  /// The order in which `a`'s query holds its split tokens (segments of
  /// concatenated sequences, e.g. Flux's [text; image]); a split key and
  /// value must hold theirs alike. The attention's output follows it.
  FailureOr<SmallVector<int64_t>> tokenOrder(AttentionOp a);
  /// key_valid of `a` after this split of keys that join padded sequences
  /// of global lengths `sizes` (key_valid counts them before the split,
  /// `bands` times over when an earlier Ulysses all_to_all joined that many
  /// blocks): a row per block of `members` (the ring's; 1 for Ulysses).
  std::optional<SmallVector<int64_t>> joinedKeyValid(AttentionOp a,
                                                     ArrayRef<int64_t> sizes,
                                                     int64_t bands,
                                                     int64_t members);

private:
  LogicalResult splitImage();
  FailureOr<bool> splitSequences();
};

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_SEQUENCESPLIT_H
