//===- SequenceSplit.h - Splitting a denoiser's tokens over a grid axis ---===//
//
// The part that sequence-parallel strategies (Ulysses, ring attention)
// share: each rank on the axis takes a band of the latent image's rows. A
// patch embedding whose stride equals its kernel turns that band into a
// contiguous block of tokens, so every per-token op stays local; only
// attention needs every token, and each strategy says how it gets them. The
// split dimension of every value is tracked through reshapes and transposes;
// an op that cannot be mapped is a located error rather than a guess.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_SEQUENCESPLIT_H
#define FRESCO_COMPILER_TRANSFORMS_SEQUENCESPLIT_H

#include "compiler/Transforms/Partitioning.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

#include <string>

namespace mlir::fresco {

class SequenceSplit {
public:
  /// `strategy` names the axis ("ulysses", "ring") in messages.
  SequenceSplit(func::FuncOp fn, StringRef strategy, int16_t axis,
                int64_t parts)
      : fn(fn), strategy(strategy.str()), axis(axis), parts(parts),
        b(fn.getContext()) {}
  virtual ~SequenceSplit() = default;

  /// Splits `fn`; results still split are all-gathered before the return.
  LogicalResult run();

protected:
  /// Rewrites one attention whose query is split along the tokens
  /// (dimension 1); must leave its (replacement) result in `split`.
  virtual LogicalResult attention(AttentionOp a) = 0;

  /// "fresco-ulysses-parallel": the pass, for messages.
  std::string pass() const { return "fresco-" + strategy + "-parallel"; }
  /// "ulysses=4": the degree as the user wrote it.
  std::string degree() const { return strategy + "=" + std::to_string(parts); }
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
  /// Values holding this rank's 1/parts of one dimension; absent: replicated.
  llvm::DenseMap<Value, int64_t> split;

private:
  LogicalResult splitImage();
  LogicalResult visit(Operation *op);
  LogicalResult conv(Conv2dOp c, int64_t d);
  LogicalResult reshape(ReshapeOp r, int64_t d);
  LogicalResult elementwise(Operation *op);
};

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_SEQUENCESPLIT_H
