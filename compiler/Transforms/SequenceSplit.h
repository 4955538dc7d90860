//===- SequenceSplit.h - Seeding a split of a denoiser's tokens -*- C++ -*-===//
//
// The seed that sequence-parallel strategies (Ulysses, ring attention)
// share: each rank on the axis takes a band of the latent image's rows, and
// the ops' sharding rules carry that split (fresco-propagate-shardings): a
// patch embedding whose stride equals its kernel turns the band into a
// contiguous block of tokens, reshapes and transposes keep it on the
// tokens, every per-token op stays local, and a replicated operand that
// spans the tokens (the position table) is sliced. Only attention needs
// every token; the propagation resolves that by the axis's kind
// (SequenceAttention.cpp: Ulysses' all_to_alls or ring attention), so a
// strategy here is its seed. An op whose rule cannot take the split is a
// located error rather than a guess.
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

#include "compiler/Transforms/Partitioning.h"

namespace mlir::fresco {

/// Seeds `fn`'s tokens split over `axis` (`parts` ranks); `strategy`
/// ("ulysses", "ring") names the axis in messages.
LogicalResult seedSequenceSplit(func::FuncOp fn, const GridInfo &grid,
                                StringRef strategy, int16_t axis,
                                int64_t parts);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_SEQUENCESPLIT_H
