//===- RingParallel.cpp - Ring attention sequence parallelism ------------===//
//
// The tokens are split over the ring axis (SequenceSplit) and stay split
// through attention too: each rank keeps its queries, and its block of keys
// and values travels around the ring of ranks on the axis, one hop per
// block, while every rank folds each visiting block into its running
// softmax (AttentionOp's ring_axes; the runtime does the passing). Unlike
// Ulysses, no rank ever holds all tokens of any tensor, and the head count
// needs not divide the degree. After Ulysses (the USP hybrid) it cuts each
// Ulysses band further and rides through Ulysses' all_to_alls.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "compiler/Transforms/SequenceSplit.h"

#define DEBUG_TYPE "fresco-ring-parallel"

namespace mlir::fresco {
#define GEN_PASS_DEF_RINGPARALLEL
#include "compiler/Transforms/Passes.h.inc"

namespace {

class Ring : public SequenceSplit {
public:
  Ring(func::FuncOp fn, const GridInfo &grid, int16_t axis, int64_t parts,
       int64_t ulysses)
      : SequenceSplit(fn, grid, "ring", axis, parts), ulysses(ulysses) {}

private:
  LogicalResult attention(AttentionOp a) override;
  LogicalResult maskPadding(AttentionOp a);

  int64_t ulysses; // the degree of a Ulysses split made before
};

/// Padded tokens (fresco-pad-uneven's key_valid: the first n of the whole
/// sequence are real) per ring block: the block of ring rank r is, after
/// Ulysses' all_to_all, U segments of c tokens, segment u holding the
/// sequence's block u * R + r (Ulysses' split is the major one).
LogicalResult Ring::maskPadding(AttentionOp a) {
  std::optional<ArrayRef<int64_t>> valid = a.getKeyValid();
  if (!valid)
    return success();
  // Joined sequences (Flux's [text; image]), each padded and split on its
  // own: each block holds a chunk of every one.
  if (SmallVector<int64_t> sizes = prop.segmentsOf(a.getKey(), 1);
      sizes.size() > 1) {
    std::optional<SmallVector<int64_t>> table =
        joinedKeyValid(a, sizes, ulysses, parts);
    if (!table)
      return a.emitError() << pass() << " cannot mask the padded keys";
    a.setKeyValid(*table);
    return success();
  }
  if (valid->size() != 1)
    return a.emitError() << pass()
                         << ": key_valid must count the real keys of the "
                            "whole sequence before the ring splits it";
  int64_t n = valid->front();
  int64_t tk = a.getKey().getType().getDimSize(1);
  if (tk % ulysses != 0)
    return a.emitError() << pass() << ": " << tk
                         << " keys per ring block do not divide into "
                         << ulysses << " Ulysses segments";
  int64_t c = tk / ulysses;
  SmallVector<int64_t> table;
  for (int64_t r = 0; r < parts; ++r)
    for (int64_t u = 0; u < ulysses; ++u)
      table.push_back(std::clamp<int64_t>(n - (u * parts + r) * c, 0, c));
  a.setKeyValid(table);
  return success();
}

/// Self-attention (keys and values split like the queries) becomes ring
/// attention; attention to a context every rank holds in full stays local.
LogicalResult Ring::attention(AttentionOp a) {
  if (splitDim(a.getQuery()) != 1)
    return a.emitError() << pass()
                         << " needs the attention query split along the "
                            "sequence (dimension 1)";
  FailureOr<SmallVector<int64_t>> order = tokenOrder(a);
  if (failed(order))
    return failure();
  int64_t k = splitDim(a.getKey()), v = splitDim(a.getValue());
  bool kSplit = k >= 0, vSplit = v >= 0;
  if (kSplit != vSplit)
    return a.emitError() << pass()
                         << ": attention key and value must both be split "
                            "along the sequence or both be replicated";
  if (kSplit) {
    if (k != 1 || v != 1)
      return a.emitError() << pass() << ": attention key and value are split "
                           << "along dimensions " << k << " and " << v
                           << ", not the sequence (1)";
    if (a.getRingAxesAttr())
      return a.emitError() << pass()
                           << ": this attention is already ring attention";
    a.setRingAxesAttr(GridAxesAttr::get(b.getContext(), {axis}));
    if (failed(maskPadding(a)))
      return failure();
  }
  if (failed(retype(a, 1, cast<RankedTensorType>(a.getType()))))
    return failure();
  prop.setSegments(a.getResult(), 1, *order);
  return success();
}

struct RingParallelPass : impl::RingParallelBase<RingParallelPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    std::optional<GridInfo> grid = getGrid(module);
    auto axis = grid ? grid->axis("ring") : std::nullopt;
    if (!axis)
      return;
    // With Ulysses (run before): each ring rank holds a ring block of its
    // Ulysses band, and ring attention runs on the heads Ulysses left it.
    if (auto ulysses = grid->axis("ulysses");
        ulysses && ulysses->first > axis->first) {
      module.emitError("ring=")
          << axis->second << " with ulysses=" << ulysses->second
          << ": list ulysses before ring in --parallel (e.g. ulysses="
          << ulysses->second << ",ring=" << axis->second << ")";
      return signalPassFailure();
    }
    for (func::FuncOp fn : denoiserFunctions(module))
      if (failed(Ring(fn, *grid, axis->first, axis->second,
                      grid->axis("ulysses") ? grid->axis("ulysses")->second
                                            : 1)
                     .run()))
        return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
