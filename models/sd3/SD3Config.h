//===- SD3Config.h - diffusers SD3Transformer2DModel config -----*- C++ -*-===//
#ifndef FRESCO_MODELS_SD3_SD3CONFIG_H
#define FRESCO_MODELS_SD3_SD3CONFIG_H

#include "mlir/Support/LLVM.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace fresco::models {

/// The keys of diffusers 0.31's SD3Transformer2DModel config.json; defaults
/// are diffusers' constructor defaults (SD3 medium's sizes).
struct SD3Config {
  int64_t sampleSize = 128;
  int64_t patchSize = 2;
  int64_t inChannels = 16;
  int64_t numLayers = 18;
  int64_t attentionHeadDim = 64;
  int64_t numAttentionHeads = 18;
  int64_t jointAttentionDim = 4096;
  int64_t captionProjectionDim = 1152;
  int64_t pooledProjectionDim = 2048;
  int64_t outChannels = 16;
  int64_t posEmbedMaxSize = 96;
  /// Blocks with a second self-attention on the image stream (SD3.5 medium).
  llvm::SmallVector<int64_t> dualAttentionLayers;
  /// qk_norm "rms_norm": RMSNorm over each head of q, k and the added q, k.
  bool qkRmsNorm = false;

  /// StableDiffusion3Pipeline's prompt embeds: 77 CLIP + 256 T5 tokens.
  static constexpr int64_t kDefaultTextTokens = 333;

  int64_t innerDim() const { return numAttentionHeads * attentionHeadDim; }
  bool dualAttention(int64_t layer) const {
    return llvm::is_contained(dualAttentionLayers, layer);
  }

  /// Parses and validates; the error names the offending key.
  static llvm::Expected<SD3Config> fromJSON(const llvm::json::Object &config);
  /// True when `config` describes an SD3 transformer.
  static bool matches(const llvm::json::Object &config);
  /// The keys without the class check.
  static llvm::Expected<SD3Config> fromKeys(const llvm::json::Object &config);
};

/// diffusers 0.31's SD3ControlNetModel: an SD3 transformer's keys (its own
/// position table, fewer joint blocks, none context_pre_only), plus
/// pos_embed_input (a zero-initialized patch embedding of the VAE-encoded
/// control image, no position table) and a zero-initialized linear per
/// block whose output the transformer adds after its block of the same
/// index (scaled to the transformer's block count).
struct SD3ControlNetConfig {
  SD3Config sd3;
  /// extra_conditioning_channels: pos_embed_input reads the control latents
  /// and this many more channels (an inpainting net's mask: 1).
  int64_t extraChannels = 0;

  static llvm::Expected<SD3ControlNetConfig>
  fromJSON(const llvm::json::Object &config);
  static bool matches(const llvm::json::Object &config);
};

} // namespace fresco::models

#endif // FRESCO_MODELS_SD3_SD3CONFIG_H
