//===- UNetBuilder.h - Emit diffusers' UNet2DConditionModel -----*- C++ -*-===//
#ifndef FRESCO_MODELS_UNET_UNETBUILDER_H
#define FRESCO_MODELS_UNET_UNETBUILDER_H

#include "models/unet/ControlNetConfig.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace fresco::models {

/// Static sizes of one UNet function.
struct UNetShape {
  int64_t batch = 1;
  int64_t height = 64, width = 64; // latent size, multiples of downscale()
  int64_t textTokens = 77;         // encoder_hidden_states' sequence length
};

/// Appends `func.func @<name>(sample [B, in_channels, h, w], timestep [B],
/// encoder_hidden_states [B, T, cross_attention_dim]) -> sample [B,
/// out_channels, h, w]`: diffusers 0.31's UNet2DConditionModel.forward
/// (Stable Diffusion 1.x / 2.x), every parameter named by its state_dict
/// key. With SDXL's added conditions (config.hasTextTime()) two inputs
/// follow, added_cond_kwargs': text_embeds [B, textEmbedsDim()] and time_ids
/// [B, UNetConfig::timeIds]. With K `controlnets` (weights from the folders
/// controlNetFolder(k)) two more: controlnet_cond [B, 3 K, h x f, w x f]
/// (the K RGB control images side by side in the channels; f: their
/// embeddingDownscale()) in [0, 1] and conditioning_scale [B, K, R], each
/// net's scale per residual (R = controlResiduals(): its down residuals,
/// then the mid block's; guess mode scales them apart); each
/// ControlNet runs on the same sample, timestep and text, and the sum of
/// their residuals is added as diffusers' StableDiffusionControlNetPipeline
/// (with a MultiControlNetModel) passes it to the UNet.
mlir::func::FuncOp buildUNet(mlir::ModuleOp module, const UNetConfig &config,
                             const UNetShape &shape, llvm::StringRef name,
                             llvm::ArrayRef<ControlNetConfig> controlnets = {});

} // namespace fresco::models

#endif // FRESCO_MODELS_UNET_UNETBUILDER_H
