//===- VAEBuilder.h - Emit diffusers' AutoencoderKL decoder -----*- C++ -*-===//
#ifndef FRESCO_MODELS_VAE_VAEBUILDER_H
#define FRESCO_MODELS_VAE_VAEBUILDER_H

#include "models/vae/VAEConfig.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"

namespace fresco::models {

/// Appends `func.func @<name>(latents [B, latent_channels, h, w]) -> sample
/// [B, out_channels, h * upscale, w * upscale]`: diffusers'
/// AutoencoderKL.decode (post_quant_conv unless use_post_quant_conv is
/// false, as FLUX.1's; then the Decoder), parameters named by their
/// state_dict keys. The caller applies / scaling_factor (+ shift_factor)
/// first, as the pipelines do.
mlir::func::FuncOp buildVAEDecoder(mlir::ModuleOp module,
                                   const VAEConfig &config, int64_t batch,
                                   int64_t latentHeight, int64_t latentWidth,
                                   llvm::StringRef name);

} // namespace fresco::models

#endif // FRESCO_MODELS_VAE_VAEBUILDER_H
