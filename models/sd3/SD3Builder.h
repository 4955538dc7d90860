//===- SD3Builder.h - Emit a diffusers SD3 transformer ----------*- C++ -*-===//
#ifndef FRESCO_MODELS_SD3_SD3BUILDER_H
#define FRESCO_MODELS_SD3_SD3BUILDER_H

#include "models/sd3/SD3Config.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace fresco::models {

/// Sizes of one SD3 transformer function (shapes are static).
struct SD3Shape {
  int64_t batch = 1;
  /// The latent grid, multiples of patch_size whose patches fit
  /// pos_embed_max_size; 0: sample_size.
  int64_t height = 0, width = 0;
  /// StableDiffusion3Pipeline's prompt embeds: 77 CLIP + 256 T5 tokens.
  int64_t textTokens = SD3Config::kDefaultTextTokens;
};

/// Appends `func.func @<name>` with the inputs of diffusers'
/// SD3Transformer2DModel.forward, in its order: hidden_states [B, C, H, W]
/// (the shape's latent grid), encoder_hidden_states [B, T,
/// joint_attention_dim],
/// pooled_projections [B, pooled_projection_dim], timestep [B] (in
/// [0, 1000], as the pipeline passes it); the result is sample
/// [B, out_channels, H, W]. Every parameter is named by its state_dict key.
/// With `controlnets` (SD3ControlNetModels, folders controlnet,
/// controlnet_1, ...) two inputs follow: controlnet_cond [B, K P, H, W] (each
/// net's control latents, P = C + its extra_conditioning_channels, side by
/// side in the channels) and conditioning_scale [B, K].
mlir::func::FuncOp
buildSD3(mlir::ModuleOp module, const SD3Config &config, const SD3Shape &shape,
         llvm::StringRef name,
         llvm::ArrayRef<SD3ControlNetConfig> controlnets = {});

} // namespace fresco::models

#endif // FRESCO_MODELS_SD3_SD3BUILDER_H
