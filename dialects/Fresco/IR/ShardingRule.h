//===- ShardingRule.h - How an op's dimensions relate -----------*- C++ -*-===//
//
// A sharding rule describes an op's dimensions as factors of its iteration
// space, in the spirit of Shardy's OpShardingRule: each tensor dimension
// (of an operand or a result) is made of one or more factors, major to
// minor, and a factor shared by several tensors ties their dimensions
// together. Splitting a factor over grid axes splits every dimension it
// makes up (the major factor of a dimension: contiguous blocks). The kind
// of a factor says what a split costs:
//   - parallel: nothing, each rank computes its part of the result;
//   - reduction: contracted; each rank holds a partial sum of the result
//     (an all_reduce follows, and a bias is added once, after it);
//   - need_replication: the op needs it whole (norm statistics, a head's
//     dot product, a convolution window);
//   - key_sequence: attention's keys and values; a split is resolved either
//     by ring attention (the blocks travel around the ranks) or by
//     all_to_alls moving the split onto the heads factor (Ulysses).
// A dimension of size 1 that broadcasts against the result has no factor.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_DIALECT_SHARDINGRULE_H
#define FRESCO_DIALECT_SHARDINGRULE_H

#include "dialects/Fresco/IR/FrescoAttributes.h"

#include "mlir/IR/Operation.h"
#include "llvm/ADT/SmallVector.h"

#include <optional>

namespace mlir::fresco {

struct RuleFactor {
  int64_t size;
  FactorKind kind;
};

/// Per tensor dimension, the factors it is made of, major to minor.
using TensorFactors = SmallVector<SmallVector<int64_t, 2>>;

class ShardingRule {
public:
  /// A new factor; returns its index.
  int64_t addFactor(int64_t size, FactorKind kind);

  SmallVector<RuleFactor> factors;
  /// One entry per operand, then per result, in op order.
  SmallVector<TensorFactors> operands, results;
  /// For ops with a `num_heads` attribute (attention, rope): the heads
  /// factor, whose split divides num_heads. For attention also the factor
  /// onto which all_to_alls may move a split of the key_sequence factor
  /// (and of the query tokens).
  std::optional<int64_t> headsFactor;

  /// Checks the rule against `op`'s operand and result types: one entry
  /// per tensor and dimension, each dimension the product of its factors
  /// (or 1 without factors), every factor used.
  LogicalResult verify(Operation *op) const;
  /// Shardy's notation, factors named i, j, k, ...:
  /// `([i, j, k], [l, k], [l]) -> ([i, j, l]) {i=2, j=5, k=8, l=4}
  /// reduction={k}`; a dimension made of several factors prints `(k, l)`,
  /// one without factors `1`.
  void print(raw_ostream &os) const;
};

inline raw_ostream &operator<<(raw_ostream &os, const ShardingRule &rule) {
  rule.print(os);
  return os;
}

} // namespace mlir::fresco

#endif // FRESCO_DIALECT_SHARDINGRULE_H
