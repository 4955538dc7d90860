//===- GemmPrecision.h - Which linears take FP8 GEMMs -----------*- C++ -*-===//
//
// fresco-compile --gemm fp8 decides here, per linear, which GEMMs the plan
// marks LinearAttrs.fp8 (docs/plan-format.md).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_TARGET_PLAN_GEMMPRECISION_H
#define FRESCO_COMPILER_TARGET_PLAN_GEMMPRECISION_H

#include "dialects/Fresco/IR/FrescoOps.h"

namespace mlir::fresco {

/// The GEMM precision fresco-compile --gemm asks for.
enum class GemmMode { Default, Fp8 };

/// True when `op` runs as an FP8 GEMM under GemmMode::Fp8: the token-wise
/// linears of the transformer blocks. That is a linear whose location
/// names a module inside diffusers' `transformer_blocks` or
/// `single_transformer_blocks` (DiT, Flux, SD3, and the UNets' attention
/// blocks: attention projections and feed-forwards) and whose input has a
/// token dimension (rank 3 or more). Left in the float storage, as FP8
/// recipes usually do: the per-sample layers (adaLN modulation, [B, D]
/// inputs), the embedders before the blocks, the final projection after
/// them, and the text encoders, which hold a small share of the FLOPs and
/// feed or produce everything else.
bool takesFp8(LinearOp op);

} // namespace mlir::fresco

#endif // FRESCO_COMPILER_TARGET_PLAN_GEMMPRECISION_H
