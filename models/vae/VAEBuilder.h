//===- VAEBuilder.h - Emit diffusers' AutoencoderKL halves ------*- C++ -*-===//
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

/// Appends `func.func @<name>(image [B, in_channels, height, width]) ->
/// latent_mean [B, latent_channels, height / upscale, width / upscale]`:
/// diffusers' AutoencoderKL.encode(image).latent_dist.mean (the Encoder,
/// then quant_conv unless use_quant_conv is false, as FLUX.1's), parameters
/// named by their state_dict keys. height and width must be multiples of
/// upscale(). The caller multiplies by scaling_factor, as the pipelines do.
/// `component` is the pipeline folder holding the weights (the decoder's,
/// "vae"); empty: `name`. With `logVar`, a second result `latent_logvar`
/// of the same shape: the distribution's log-variance (unclamped).
mlir::func::FuncOp
buildVAEEncoder(mlir::ModuleOp module, const VAEConfig &config, int64_t batch,
                int64_t height, int64_t width, llvm::StringRef name,
                llvm::StringRef component = "", bool logVar = false);

} // namespace fresco::models

#endif // FRESCO_MODELS_VAE_VAEBUILDER_H
