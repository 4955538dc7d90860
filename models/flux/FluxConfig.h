//===- FluxConfig.h - diffusers FluxTransformer2DModel config ---*- C++ -*-===//
#ifndef FRESCO_MODELS_FLUX_FLUXCONFIG_H
#define FRESCO_MODELS_FLUX_FLUXCONFIG_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace fresco::models {

/// The keys of diffusers' FluxTransformer2DModel config.json; defaults are
/// diffusers' constructor defaults (FLUX.1's sizes).
struct FluxConfig {
  int64_t patchSize = 1;
  int64_t inChannels = 64;
  int64_t numLayers = 19;
  int64_t numSingleLayers = 38;
  int64_t attentionHeadDim = 128;
  int64_t numAttentionHeads = 24;
  int64_t jointAttentionDim = 4096;
  int64_t pooledProjectionDim = 768;
  bool guidanceEmbeds = false;
  llvm::SmallVector<int64_t, 3> axesDimsRope = {16, 56, 56};

  int64_t innerDim() const { return numAttentionHeads * attentionHeadDim; }
  /// proj_out's width: the packed latent channels per token.
  int64_t outChannels() const { return patchSize * patchSize * inChannels; }

  /// Parses and validates; the error names the offending key.
  static llvm::Expected<FluxConfig> fromJSON(const llvm::json::Object &config);
  /// True when `config` describes a Flux transformer.
  static bool matches(const llvm::json::Object &config);
  /// The transformer's keys without the class check; `model` names the
  /// class in size errors.
  static llvm::Expected<FluxConfig> fromKeys(const llvm::json::Object &config,
                                             llvm::StringRef model);
};

/// diffusers' FluxControlNetModel (InstantX-style: it reads the control
/// image VAE-encoded and packed as the latents): a FluxTransformer2DModel's
/// keys, usually with fewer blocks, plus a zero-initialized linear per
/// block whose output the transformer adds after its block of the same
/// index (scaled to the transformer's block counts). The pixel embedding
/// (conditioning_embedding_channels) is refused as not implemented.
struct FluxControlNetConfig {
  FluxConfig flux;
  /// ControlNet-Union's num_mode: a mode embedding token joins the text
  /// tokens; 0 without.
  int64_t numMode = 0;
  /// The checkpoint folder (controlnet, controlnet_1, ...): several entries
  /// name the same folder when one union net reads several control images.
  std::string folder;

  static llvm::Expected<FluxControlNetConfig>
  fromJSON(const llvm::json::Object &config);
  static bool matches(const llvm::json::Object &config);
};

} // namespace fresco::models

#endif // FRESCO_MODELS_FLUX_FLUXCONFIG_H
