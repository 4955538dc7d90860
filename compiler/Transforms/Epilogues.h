//===- Epilogues.h - What a linear's GEMM epilogue can take ------*- C++
//-*-===//
//
// Shared by fresco-fuse-epilogues and fresco-fold-into-reduction.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TRANSFORMS_EPILOGUES_H
#define FRESCO_COMPILER_TRANSFORMS_EPILOGUES_H

#include "mlir/IR/Value.h"

namespace mlir::fresco {

/// True when `g` can gate a linear of result type `result` (LinearOp's
/// verifier): its rank, the output features last, 1 in every middle
/// dimension, the result's first dimension or 1 first; a rank-2 gate only
/// as [1, N].
bool isGateShaped(Value g, Type result);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TRANSFORMS_EPILOGUES_H
