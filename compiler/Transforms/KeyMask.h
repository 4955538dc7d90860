//===- KeyMask.h - Padded keys of joined sequences, per block ---*- C++ -*-===//
//
// Attention's key_valid (S equal segments, each real in its first n keys)
// for keys that join several sequences padded on their own (Flux's
// [text; image] tokens under fresco-pad-uneven), so padding sits inside
// the sequence, and for the blocks a sequence split gives each rank: each
// rank holds its share (a contiguous chunk) of every sequence. The masks
// here say per key whether it is real; keyValidOf() writes one back as the
// fewest equal segments that describe it.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_KEYMASK_H
#define FRESCO_COMPILER_TRANSFORMS_KEYMASK_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace mlir::fresco {

using KeyMask = SmallVector<bool>;

/// Which of `n` keys key_valid `valid` marks real (all when absent).
KeyMask keyMask(std::optional<ArrayRef<int64_t>> valid, int64_t n);

/// The keys of sequences of `runs` (padded length, real count) joined in
/// order, each real in its first keys.
KeyMask joinedMask(ArrayRef<std::pair<int64_t, int64_t>> runs);

/// Chunk `chunk` of `parts` of every sequence of `sizes` (their lengths in
/// `mask`, joined in order), joined in the same order: the keys a rank
/// holds when each sequence is split on its own.
KeyMask chunkOf(ArrayRef<bool> mask, ArrayRef<int64_t> sizes, int64_t parts,
                int64_t chunk);

/// key_valid for blocks of keys of equal length (one row per block, a ring
/// member's each): the fewest equal segments in which every block's real
/// keys come first; nullopt when some segment length must be below 1
/// (cannot happen for chunks of prefix-real sequences).
std::optional<SmallVector<int64_t>> keyValidOf(ArrayRef<KeyMask> rows);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_KEYMASK_H
