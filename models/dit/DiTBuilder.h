//===- DiTBuilder.h - Emit a diffusers DiT as fresco IR ---------*- C++ -*-===//
#ifndef FRESCO_MODELS_DIT_DITBUILDER_H
#define FRESCO_MODELS_DIT_DITBUILDER_H

#include "models/dit/DiTConfig.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace fresco::models {

/// Appends `func.func @<name>(latents [B,C,H,W] f32, timestep [B] f32,
/// class_labels [B] i64) -> sample [B, out_channels, H, W]` to `module`:
/// the forward of diffusers' DiTTransformer2DModel, every parameter named by
/// its state_dict key. The timestep is f32 because diffusers' embedding
/// takes `timesteps.float()`; the runtime converts integer timesteps.
mlir::func::FuncOp buildDiT(mlir::ModuleOp module, const DiTConfig &config,
                            int64_t batch, llvm::StringRef name);

} // namespace fresco::models

#endif // FRESCO_MODELS_DIT_DITBUILDER_H
