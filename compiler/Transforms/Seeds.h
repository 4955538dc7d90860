//===- Seeds.h - A strategy's seeds, written and propagated -----*- C++ -*-===//
//
// A strategy pass writes seeds and nothing else; fresco-propagate-shardings
// reads them all and partitions (ShardingPropagation). A seed is data in the
// IR:
//   - `fresco.sharding` on a function argument: the argument split as it
//     enters (sliced at the function's start, in argument order; cfg);
//   - `fresco.seed` (a `#fresco.sharding` without partial axes) on a
//     function argument or an op: the value split where it is, after the
//     slices that earlier axes' seeds of it made (the sequence strategies'
//     tokens); on a `fresco.param`, each use loads its slice (tp);
//   - `fresco.gather_after` (`#fresco.axes`) on an op: its results, split
//     over those axes, are gathered right after it (tp's per-sample layers);
//   - the module's `fresco.seed_order`: the grid axes in the order their
//     seeds are propagated, one axis at a time (each strategy appends its
//     own), so that a later axis cuts the blocks an earlier one made.
// Seeds on axes missing from the order are propagated together, first.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_SEEDS_H
#define FRESCO_COMPILER_TRANSFORMS_SEEDS_H

#include "compiler/Transforms/Partitioning.h"

#include <string>

namespace mlir::fresco {

/// Appends `axis` to the module's seed order (a strategy's first seed).
void addSeedAxis(ModuleOp module, int16_t axis);

/// Seeds argument `arg` of `fn` split along `dim` over `axis` as it enters.
void seedArgumentSplit(func::FuncOp fn, unsigned arg, int64_t dim,
                       int16_t axis);
/// Seeds `v` (a function argument or an op's single result) split along
/// `dim` over `axis` where it is; a parameter: as each use loads it.
void seedSplit(Value v, int64_t dim, int16_t axis);
/// Seeds `op`'s results split over `axis` to be gathered right after it.
void seedGatherAfter(Operation *op, int16_t axis);

/// The degree that the seeds already on `v` split `dim` by, e.g.
/// "ulysses=2", and its number of ranks; 1 and "" when none.
std::pair<int64_t, std::string> seededDegree(Value v, int64_t dim,
                                             const GridInfo &grid);

/// Whether `fn` carries any seed (an argument's `fresco.sharding` or
/// `fresco.seed`, an op's `fresco.seed` or `fresco.gather_after`).
bool hasSeeds(func::FuncOp fn);

/// Propagates every seed of `fn` (removing them): those on axes missing
/// from `order` together, then axis by axis in `order`. Each group slices
/// its seeds, carries them through the ops and marks the split results for
/// fresco-insert-collectives.
LogicalResult propagateSeeds(func::FuncOp fn, const GridInfo &grid,
                             ArrayRef<int16_t> order);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_SEEDS_H
