//===- UNetConfig.h - diffusers' UNet2DConditionModel config -----*- C++
//-*-===//
#ifndef FRESCO_MODELS_UNET_UNETCONFIG_H
#define FRESCO_MODELS_UNET_UNETCONFIG_H

#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace fresco::models {

/// The keys of UNet2DConditionModel that Stable Diffusion 1.x / 2.x and SDXL
/// use; defaults are diffusers 0.31's. Per-block lists are expanded to one
/// entry per down block (the up blocks mirror them).
struct UNetConfig {
  int64_t inChannels = 4, outChannels = 4, sampleSize = 64;
  llvm::SmallVector<int64_t, 4> blockOutChannels = {320, 640, 1280, 1280};
  llvm::SmallVector<bool, 4> crossAttention = {true, true, true, false};
  int64_t layersPerBlock = 2;
  int64_t crossAttentionDim = 1280;
  /// Heads of each block's attention (diffusers' legacy attention_head_dim
  /// counts heads, not their width).
  llvm::SmallVector<int64_t, 4> heads = {8, 8, 8, 8};
  llvm::SmallVector<int64_t, 4> transformerLayers = {1, 1, 1, 1};
  int64_t normNumGroups = 32;
  double normEps = 1e-5;
  bool useLinearProjection = false;
  bool flipSinToCos = true;
  double freqShift = 0;
  /// SDXL's added conditions (addition_embed_type "text_time"): the width
  /// of each time id's sinusoids (addition_time_embed_dim) and the input of
  /// add_embedding (projection_class_embeddings_input_dim); 0 without them.
  int64_t additionTimeEmbedDim = 0;
  int64_t addEmbeddingInputDim = 0;

  int64_t numBlocks() const { return int64_t(blockOutChannels.size()); }
  /// A ControlNet of this config's residuals: conv_in's output, each down
  /// block's layers and downsampler, the mid block (SD 1.5's 13).
  int64_t controlResiduals() const {
    return numBlocks() * (layersPerBlock + 1) + 1;
  }
  int64_t timeEmbedDim() const { return 4 * blockOutChannels[0]; }
  /// Latent size divisor: every block but the last halves the size.
  int64_t downscale() const { return int64_t(1) << (numBlocks() - 1); }
  bool hasTextTime() const { return additionTimeEmbedDim > 0; }
  /// StableDiffusionXLPipeline's time ids: original size, crop top-left and
  /// target size; the refiner's (requires_aesthetics_score) are 5: original
  /// size, crop top-left and an aesthetic score.
  static constexpr int64_t kTimeIds = 6, kRefinerTimeIds = 5;
  /// How many time ids the UNet takes: not in its config, the pipeline
  /// sets it (kTimeIds unless the pipeline says otherwise).
  int64_t timeIds = kTimeIds;
  /// The pooled text embedding's width: what add_embedding's input leaves
  /// beside the time ids' sinusoids.
  int64_t textEmbedsDim() const {
    return addEmbeddingInputDim - timeIds * additionTimeEmbedDim;
  }

  /// Parses and validates; the error names the offending key, and a value
  /// this builder does not implement (other added conditions, other block
  /// types) says so.
  static llvm::Expected<UNetConfig> fromJSON(const llvm::json::Object &config);
  static bool matches(const llvm::json::Object &config);
};

} // namespace fresco::models

#endif // FRESCO_MODELS_UNET_UNETCONFIG_H
