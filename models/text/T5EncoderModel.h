//===- T5EncoderModel.h - T5EncoderModel as fresco IR ----------*- C++ -*-===//
#ifndef FRESCO_MODELS_TEXT_T5ENCODERMODEL_H
#define FRESCO_MODELS_TEXT_T5ENCODERMODEL_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace fresco::models {

/// The keys of transformers' T5Config that T5 v1.1's encoder uses (Flux's
/// text_encoder_2); defaults are its constructor's.
struct T5Config {
  int64_t vocabSize = 32128;
  int64_t dModel = 512;
  int64_t dKv = 64;
  int64_t dFf = 2048;
  int64_t numLayers = 6;
  int64_t numHeads = 8;
  int64_t numBuckets = 32;
  int64_t maxDistance = 128;
  double layerNormEps = 1e-6;

  int64_t innerDim() const { return numHeads * dKv; }
  /// Parses and validates; the error names the offending key. Only the
  /// gated-GELU feed-forward of T5 v1.1 is supported.
  static llvm::Expected<T5Config> fromJSON(const llvm::json::Object &config);
  /// True when `config` describes a T5EncoderModel.
  static bool matches(const llvm::json::Object &config);
};

/// Appends `func.func @<name>(input_ids [B, T] i64) -> last_hidden_state
/// [B, T, d_model]`: the forward of transformers 4.46's T5EncoderModel
/// without attention mask, every parameter named by its state_dict key.
mlir::func::FuncOp buildT5Encoder(mlir::ModuleOp module, const T5Config &config,
                                  int64_t batch, int64_t tokens,
                                  llvm::StringRef name);

} // namespace fresco::models

#endif // FRESCO_MODELS_TEXT_T5ENCODERMODEL_H
