//===- FluxBuilder.h - Emit a diffusers Flux transformer --------*- C++ -*-===//
#ifndef FRESCO_MODELS_FLUX_FLUXBUILDER_H
#define FRESCO_MODELS_FLUX_FLUXBUILDER_H

#include "models/flux/FluxConfig.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace fresco::models {

/// Token counts of one Flux transformer function (shapes are static).
struct FluxShape {
  int64_t batch = 1;
  int64_t imageTokens = 4096; // packed 2x2 latents: (H / 16) * (W / 16)
  int64_t textTokens = 512;   // T5's max_sequence_length
};

/// Appends `func.func @<name>` with the inputs of diffusers'
/// FluxTransformer2DModel.forward, in its order: hidden_states [B, Ti, C],
/// encoder_hidden_states [B, Tt, joint_attention_dim], pooled_projections
/// [B, pooled_projection_dim], timestep [B] (in [0, 1]: the model scales it
/// by 1000), img_ids [Ti, A], txt_ids [Tt, A] (A = len(axes_dims_rope)),
/// and guidance [B] when the model has guidance_embeds; the result is
/// sample [B, Ti, patch_size^2 * C]. Every parameter is named by its
/// state_dict key. With `controlnets` (FluxControlNetModels, folders
/// controlnet, controlnet_1, ...) two inputs follow: controlnet_cond [B, Ti,
/// K in_channels] (each net's packed control latents side by side per
/// token) and conditioning_scale [B, K], and with a ControlNet-Union net
/// controlnet_mode [B, K] (i64; other nets ignore theirs); the nets run
/// first and the transformer adds their summed, scaled block samples.
mlir::func::FuncOp
buildFlux(mlir::ModuleOp module, const FluxConfig &config,
          const FluxShape &shape, llvm::StringRef name,
          llvm::ArrayRef<FluxControlNetConfig> controlnets = {});

} // namespace fresco::models

#endif // FRESCO_MODELS_FLUX_FLUXBUILDER_H
