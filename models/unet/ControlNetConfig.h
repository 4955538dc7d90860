//===- ControlNetConfig.h - diffusers' ControlNetModel config ---*- C++ -*-===//
//
// A ControlNetModel is a UNet2DConditionModel's time embedding, conv_in,
// down blocks and mid block (the same config keys), plus a small
// convolutional embedding of the control image and a zero-initialized 1x1
// convolution per residual it hands to the UNet.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_MODELS_UNET_CONTROLNETCONFIG_H
#define FRESCO_MODELS_UNET_CONTROLNETCONFIG_H

#include "models/unet/UNetConfig.h"

namespace fresco::models {

struct ControlNetConfig {
  /// The down half's keys, read as UNet2DConditionModel's (no up blocks).
  UNetConfig unet;
  /// conditioning_channels: the control image's channels.
  int64_t conditioningChannels = 3;
  /// conditioning_embedding_out_channels: each entry after the first
  /// halves the control image's size.
  llvm::SmallVector<int64_t, 4> embeddingChannels = {16, 32, 96, 256};

  /// How much the embedding shrinks the control image (2^(entries - 1)):
  /// it must land on the latent grid.
  int64_t embeddingDownscale() const {
    return int64_t(1) << (embeddingChannels.size() - 1);
  }

  /// Parses and validates; BGR channel order and global pooling (the
  /// shuffle ControlNet) are refused as not implemented.
  static llvm::Expected<ControlNetConfig>
  fromJSON(const llvm::json::Object &config);
  static bool matches(const llvm::json::Object &config);
};

/// The pipeline folder's subfolder of ControlNet `k`, as diffusers'
/// MultiControlNetModel saves them: controlnet, controlnet_1, ...
std::string controlNetFolder(size_t k);

} // namespace fresco::models

#endif // FRESCO_MODELS_UNET_CONTROLNETCONFIG_H
