//===- VAEConfig.h - diffusers AutoencoderKL config -------------*- C++ -*-===//
#ifndef FRESCO_MODELS_VAE_VAECONFIG_H
#define FRESCO_MODELS_VAE_VAECONFIG_H

#include "mlir/Support/LLVM.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <vector>

namespace fresco::models {

/// The keys of diffusers' AutoencoderKL config.json that the encoder and
/// decoder use.
/// Defaults are diffusers' constructor defaults.
struct VAEConfig {
  int64_t inChannels = 3, outChannels = 3;
  int64_t latentChannels = 4;
  std::vector<int64_t> blockOutChannels = {64};
  int64_t layersPerBlock = 1;
  int64_t normNumGroups = 32;
  int64_t sampleSize = 32;
  double scalingFactor = 0.18215;
  std::optional<double> shiftFactor; // SD3/Flux; null for DiT's VAE
  /// latents_mean / latents_std (Playground v2.5's SDXL VAE): one value per
  /// latent channel each; both empty unless the config gives both, since
  /// the SDXL pipelines use them only together.
  std::vector<double> latentsMean, latentsStd;
  bool useQuantConv = true, usePostQuantConv = true;
  bool midBlockAddAttention = true;

  /// Image pixels per latent pixel: one 2x upsampling per block but the last.
  int64_t upscale() const {
    return int64_t(1) << (blockOutChannels.size() - 1);
  }

  static llvm::Expected<VAEConfig> fromJSON(const llvm::json::Object &config);
  static bool matches(const llvm::json::Object &config);
};

} // namespace fresco::models

#endif // FRESCO_MODELS_VAE_VAECONFIG_H
