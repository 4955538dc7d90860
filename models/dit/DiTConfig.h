//===- DiTConfig.h - diffusers DiT transformer config -----------*- C++ -*-===//
#ifndef FRESCO_MODELS_DIT_DITCONFIG_H
#define FRESCO_MODELS_DIT_DITCONFIG_H

#include "mlir/Support/LLVM.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <string>

namespace fresco::models {

/// The keys of diffusers' DiTTransformer2DModel config.json (also accepted:
/// Transformer2DModel with norm_type "ada_norm_zero", as the published DiT
/// folders name it). Defaults are diffusers' constructor defaults.
struct DiTConfig {
  int64_t numAttentionHeads = 16;
  int64_t attentionHeadDim = 72;
  int64_t inChannels = 4;
  int64_t outChannels = -1; // -1: in_channels
  int64_t numLayers = 28;
  int64_t sampleSize = 32;
  int64_t patchSize = 2;
  int64_t numEmbedsAdaNorm = 1000;
  bool attentionBias = true;
  bool normElementwiseAffine = false;
  double normEps = 1e-5;
  bool geluTanh = true; // activation_fn: "gelu-approximate" or "gelu"

  int64_t innerDim() const { return numAttentionHeads * attentionHeadDim; }
  int64_t outputChannels() const {
    return outChannels < 0 ? inChannels : outChannels;
  }

  /// Parses and validates; the error names the offending key.
  static llvm::Expected<DiTConfig> fromJSON(const llvm::json::Object &config);
  /// True when `config` describes a DiT transformer.
  static bool matches(const llvm::json::Object &config);
};

} // namespace fresco::models

#endif // FRESCO_MODELS_DIT_DITCONFIG_H
