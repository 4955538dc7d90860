//===- ModelSizes.cpp - Each model's size, estimated before building ------===//
//
// Estimates count the large tensors only (convolutions, projections); they
// bound, not reproduce, what the builders make.
//
//===----------------------------------------------------------------------===//
#include "models/ModelSizes.h"
#include "models/SizeEstimate.h"
#include "models/sd3/SD3Config.h"
#include "models/text/CLIPTextModel.h"
#include "models/text/T5EncoderModel.h"
#include "models/unet/UNetConfig.h"
#include "models/vae/VAEConfig.h"

#include <algorithm>

namespace fresco::models {

llvm::Error checkVAESize(const VAEConfig &c, int64_t height, int64_t width) {
  SizeEstimate est;
  int64_t top = c.blockOutChannels.back(), widest = 0;
  est.params({top, c.latentChannels, 9});
  est.params({top, top, 9}, 4); // the mid block's two resnets
  est.params({top, top}, 4);    // and its attention
  for (int64_t ch : c.blockOutChannels) {
    // layers_per_block + 1 resnets of two convolutions, an upsampler.
    est.params({ch, ch, 9}, saturatingProduct({c.layersPerBlock + 1, 2}));
    est.params({ch, ch, 9});
    widest = std::max(widest, ch);
  }
  // The last block's output at full resolution.
  est.activation({height, width, widest});
  // The mid block's attention: one head over every latent pixel.
  int64_t latent =
      saturatingProduct({height / c.upscale(), width / c.upscale()});
  est.activation({latent, latent});
  return est.check("AutoencoderKL", "block_out_channels and layers_per_block",
                   "a " + llvm::Twine(height) + " x " + llvm::Twine(width) +
                       " image and block_out_channels");
}

llvm::Error checkUNetSize(const UNetConfig &c, int64_t height, int64_t width) {
  SizeEstimate est;
  int64_t side = 1; // the latent's halving per block, as a divisor
  // Resnets: layers_per_block down, layers_per_block + 1 up, two convs.
  const int64_t resnets =
      saturatingAdd(saturatingProduct({c.layersPerBlock, 2}), 1);
  for (int64_t i = 0; i < c.numBlocks(); ++i) {
    int64_t ch = c.blockOutChannels[i];
    est.params({ch, ch, 18}, resnets);
    int64_t tokens = saturatingProduct({height / side, width / side});
    est.activation({tokens, ch, 8}); // GEGLU's hidden width
    if (c.crossAttention[i]) {
      // Per transformer layer: self-attention 4 ch^2, feed-forward 12 ch^2,
      // cross-attention 2 ch^2 + 2 ch * cross_attention_dim.
      int64_t perLayer =
          saturatingAdd(saturatingProduct({ch, ch, 18}),
                        saturatingProduct({ch, c.crossAttentionDim, 2}));
      est.params({perLayer, c.transformerLayers[i]}, resnets);
      est.activation({c.heads[i], tokens, tokens});
    }
    side = saturatingProduct({side, 2});
  }
  // The timestep MLP, and SDXL's add_embedding (text_time): an MLP from the
  // pooled text and the time ids' sinusoids, whose input width is a key of
  // its own.
  const int64_t ted = c.timeEmbedDim();
  est.params({ted, c.blockOutChannels[0]});
  est.params({ted, ted}, c.hasTextTime() ? 2 : 1);
  if (c.hasTextTime())
    est.params({ted, c.addEmbeddingInputDim});
  return est.check("UNet2DConditionModel",
                   c.hasTextTime() ? "block_out_channels, layers_per_block, "
                                     "transformer_layers_per_block and "
                                     "projection_class_embeddings_input_dim"
                                   : "block_out_channels, layers_per_block and "
                                     "transformer_layers_per_block",
                   "a " + llvm::Twine(height) + " x " + llvm::Twine(width) +
                       " latent, block_out_channels and the attention "
                       "heads");
}

llvm::Error checkSD3Size(const SD3Config &c, int64_t textTokens) {
  SizeEstimate est;
  const int64_t d = c.innerDim();
  // Per block about 24 d^2 (two streams' adaLN, q/k/v/out, 4x MLPs), the
  // context embedder; the largest activation is the joint attention's
  // scores over the image and text tokens. Only the crop of the position
  // table is computed, so pos_embed_max_size sizes nothing.
  est.params({d, d, 24}, c.numLayers);
  est.params({c.jointAttentionDim, d});
  const int64_t side = c.sampleSize / c.patchSize;
  const int64_t tokens =
      saturatingAdd(saturatingProduct({side, side}), textTokens);
  est.activation({c.numAttentionHeads, tokens, tokens});
  return est.check("SD3Transformer2DModel",
                   "num_layers, num_attention_heads and attention_head_dim",
                   "sample_size, patch_size, the text tokens and the "
                   "attention heads");
}

llvm::Error checkCLIPSize(const CLIPTextConfig &c) {
  SizeEstimate est;
  int64_t d = c.hiddenSize;
  est.params({d, d, 4}, c.numLayers);
  est.params({d, c.intermediateSize, 2}, c.numLayers);
  est.params({c.vocabSize, d});
  est.activation({c.numHeads, c.maxPositions, c.maxPositions});
  return est.check("CLIPTextModel",
                   "num_hidden_layers, hidden_size, intermediate_size and "
                   "vocab_size",
                   "max_position_embeddings and num_attention_heads");
}

llvm::Error checkT5Size(const T5Config &c) {
  SizeEstimate est;
  est.params({c.dModel, c.innerDim(), 4}, c.numLayers);
  est.params({c.dModel, c.dFf, 3}, c.numLayers); // gated: wi_0, wi_1, wo
  est.params({c.vocabSize, c.dModel});
  return est.check("T5EncoderModel",
                   "num_layers, d_model, d_kv, num_heads, d_ff and vocab_size",
                   "");
}

} // namespace fresco::models
