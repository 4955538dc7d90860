//===- CLIPTextModel.h - CLIPTextModel as fresco IR ------------*- C++ -*-===//
#ifndef FRESCO_MODELS_TEXT_CLIPTEXTMODEL_H
#define FRESCO_MODELS_TEXT_CLIPTEXTMODEL_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace fresco::models {

/// The keys of transformers' CLIPTextConfig (the text_encoder folder of
/// Flux and Stable Diffusion pipelines); defaults are its constructor's.
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

  int64_t headDim() const { return hiddenSize / numHeads; }
  /// Parses and validates; the error names the offending key.
  static llvm::Expected<CLIPTextConfig>
  fromJSON(const llvm::json::Object &config);
  /// True when `config` describes a CLIPTextModel.
  static bool matches(const llvm::json::Object &config);
};

/// Appends `func.func @<name>(input_ids [B, max_position_embeddings] i64)
/// -> (last_hidden_state [B, T, D], pooler_output [B, D])`: the forward of
/// transformers 4.46's CLIPTextModel (causal self-attention, pooled at the
/// end-of-text token), every parameter named by its state_dict key.
/// Which outputs the function returns: both, pooler_output alone (what
/// FluxPipeline reads) or last_hidden_state alone (Stable Diffusion's).
enum class CLIPOutputs { Both, Pooled, Hidden };
mlir::func::FuncOp buildCLIPText(mlir::ModuleOp module,
                                 const CLIPTextConfig &config, int64_t batch,
                                 llvm::StringRef name,
                                 CLIPOutputs outputs = CLIPOutputs::Both);

} // namespace fresco::models

#endif // FRESCO_MODELS_TEXT_CLIPTEXTMODEL_H
