//===- CLIPTextModel.h - CLIPTextModel as fresco IR ------------*- C++ -*-===//
#ifndef FRESCO_MODELS_TEXT_CLIPTEXTMODEL_H
#define FRESCO_MODELS_TEXT_CLIPTEXTMODEL_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace fresco::models {

/// The keys of transformers' CLIPTextConfig (the text_encoder folder of
/// Flux and Stable Diffusion pipelines, and SDXL's text_encoder_2, a
/// CLIPTextModelWithProjection); defaults are its constructor's.
struct CLIPTextConfig {
  enum class Act { QuickGelu, GeluErf, GeluTanh };
  int64_t vocabSize = 49408;
  int64_t hiddenSize = 512;
  int64_t intermediateSize = 2048;
  int64_t numLayers = 12;
  int64_t numHeads = 8;
  int64_t maxPositions = 77;
  Act act = Act::QuickGelu;
  double layerNormEps = 1e-5;
  int64_t eosTokenId = 49407;
  /// CLIPTextModelWithProjection (architectures): the pooled output goes
  /// through text_projection (no bias) to projection_dim, as text_embeds.
  bool withProjection = false;
  int64_t projectionDim = 512;

  int64_t headDim() const { return hiddenSize / numHeads; }
  /// Parses and validates; the error names the offending key.
  static llvm::Expected<CLIPTextConfig>
  fromJSON(const llvm::json::Object &config);
  /// True when `config` describes a CLIPTextModel or a
  /// CLIPTextModelWithProjection.
  static bool matches(const llvm::json::Object &config);
};

/// Which outputs a CLIP text function returns, in this order:
/// last_hidden_state [B, T, D] (after the final layer norm); the penultimate
/// hidden state [B, T, D], transformers' hidden_states[-2] (the output of
/// layer N-2 counting from 0, without the final layer norm: what SDXL's
/// pipeline reads from both encoders); the pooled output at the end-of-text
/// token, pooler_output [B, D], or text_embeds [B, projection_dim] for a
/// CLIPTextModelWithProjection.
/// With skipFromEnd > 0 (diffusers' clip_skip), one more output comes
/// last: hidden_states[-skipFromEnd] [B, T, D], through the final layer
/// norm when skipNorm (StableDiffusionPipeline's
/// final_layer_norm(hidden_states[-(clip_skip + 1)]); SDXL's and SD3's
/// hidden_states[-(clip_skip + 2)] go without), named
/// clip_skip_hidden_state. 2 <= skipFromEnd <= num_hidden_layers + 1.
struct CLIPOutputs {
  bool lastHidden = true;
  bool penultimateHidden = false;
  bool pooled = true;
  int64_t skipFromEnd = 0;
  bool skipNorm = false;

  static const CLIPOutputs Both;              // last_hidden_state, pooled
  static const CLIPOutputs Pooled;            // FluxPipeline's
  static const CLIPOutputs Hidden;            // Stable Diffusion 1.x / 2.x's
  static const CLIPOutputs Penultimate;       // SDXL's ViT-L
  static const CLIPOutputs PenultimatePooled; // SDXL's bigG, SD3's
};
inline const CLIPOutputs CLIPOutputs::Both = {true, false, true, 0, false};
inline const CLIPOutputs CLIPOutputs::Pooled = {false, false, true, 0, false};
inline const CLIPOutputs CLIPOutputs::Hidden = {true, false, false, 0, false};
inline const CLIPOutputs CLIPOutputs::Penultimate = {false, true, false, 0,
                                                     false};
inline const CLIPOutputs CLIPOutputs::PenultimatePooled = {false, true, true, 0,
                                                           false};

/// Appends `func.func @<name>(input_ids [B, max_position_embeddings] i64)
/// -> (the `outputs`)`: the forward of transformers 4.46's CLIPTextModel or
/// CLIPTextModelWithProjection (causal self-attention, pooled at the
/// end-of-text token), every parameter named by its state_dict key. At
/// least one output must be asked for.
mlir::func::FuncOp buildCLIPText(mlir::ModuleOp module,
                                 const CLIPTextConfig &config, int64_t batch,
                                 llvm::StringRef name,
                                 CLIPOutputs outputs = CLIPOutputs::Both);

} // namespace fresco::models

#endif // FRESCO_MODELS_TEXT_CLIPTEXTMODEL_H
