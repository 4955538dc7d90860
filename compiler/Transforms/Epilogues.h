//===- Epilogues.h - What a linear's GEMM epilogue can take ------*- C++
//-*-===//
//
// Shared by fresco-fuse-epilogues, fresco-fold-into-reduction and
// fresco-chunk-tp-reduction.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_EPILOGUES_H
#define FRESCO_COMPILER_TRANSFORMS_EPILOGUES_H

#include "dialects/Fresco/IR/FrescoOps.h"
#include "mlir/IR/Value.h"

namespace mlir::fresco {

/// True when `g` can gate a linear of result type `result` (LinearOp's
/// verifier): its rank, the output features last, 1 in every middle
/// dimension, the result's first dimension or 1 first; a rank-2 gate only
/// as [1, N].
bool isGateShaped(Value g, Type result);

/// The other part of a split projection (tp's partial sums of Flux's
/// single-block output, one linear per part of its input): `l`'s residual,
/// when it is a linear used by `l` alone, without activation or residual,
/// gated as `l` is (both take a gate together). Null otherwise.
LinearOp splitPart(LinearOp l);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_EPILOGUES_H
