//===- T5EncoderModel.cpp - transformers' T5EncoderModel as fresco IR -----===//
//
// Mirrors transformers 4.46's T5Stack.forward for an encoder: the shared
// token embedding, blocks of (RMS norm, self-attention with the relative
// position bias that block 0 computes and every block adds, residual) and
// (RMS norm, gated-GELU feed-forward, residual), the final RMS norm. T5's
// attention does not scale its scores.
//
//===----------------------------------------------------------------------===//
#include "models/text/T5EncoderModel.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "models/ModelSizes.h"
#include "models/JsonConfig.h"

#include "mlir/IR/Builders.h"

using namespace llvm;
using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {

bool T5Config::matches(const json::Object &config) {
  return hasArchitecture(config, "T5EncoderModel");
}

Expected<T5Config> T5Config::fromJSON(const json::Object &config) {
  T5Config c;
  if (!matches(config))
    return configError("not a T5EncoderModel config: expected architectures "
                       "[\"T5EncoderModel\"]");
  const int64_t kMax = int64_t(1) << 16;
  if (Error e = readInt(config, "vocab_size", c.vocabSize, 1, 1 << 24))
    return std::move(e);
  if (Error e = readInt(config, "d_model", c.dModel, 1, kMax))
    return std::move(e);
  if (Error e = readInt(config, "d_kv", c.dKv, 1, kMax))
    return std::move(e);
  if (Error e = readInt(config, "d_ff", c.dFf, 1, kMax * 4))
    return std::move(e);
  if (Error e = readInt(config, "num_layers", c.numLayers, 1, 1024))
    return std::move(e);
  if (Error e = readInt(config, "num_heads", c.numHeads, 1, 1024))
    return std::move(e);
  if (Error e = readInt(config, "relative_attention_num_buckets", c.numBuckets,
                        4, 1 << 20))
    return std::move(e);
  if (Error e = readInt(config, "relative_attention_max_distance",
                        c.maxDistance, 1, 1 << 24))
    return std::move(e);
  if (Error e = readPositive(config, "layer_norm_epsilon", c.layerNormEps))
    return std::move(e);
  // T5Config's default "relu" is T5 v1.0's feed-forward; Flux uses v1.1.
  std::optional<StringRef> ff = config.getString("feed_forward_proj");
  if (ff != StringRef("gated-gelu"))
    return configError("feed_forward_proj '" + ff.value_or("relu (default)") +
                       "' is not supported for T5EncoderModel (only "
                       "'gated-gelu', T5 v1.1)");
  if (const json::Value *v = config.get("is_decoder");
      v && v->getAsBoolean() == true)
    return configError("is_decoder is true: T5EncoderModel is an encoder");
  // Each direction has num_buckets / 2 buckets, half of them exact.
  if (c.maxDistance <= c.numBuckets / 4)
    return configError("relative_attention_max_distance " +
                       Twine(c.maxDistance) + " must exceed the " +
                       Twine(c.numBuckets / 4) + " exact buckets");
  if (Error e = checkT5Size(c))
    return std::move(e);
  return c;
}

namespace {

class T5Emitter {
public:
  T5Emitter(OpBuilder &b, const T5Config &c, int64_t batch, int64_t tokens)
      : b(b), c(c), batch(batch), tokens(tokens), f32(b.getF32Type()) {}

  Value forward(Value ids);

private:
  Location loc(const Twine &scope) {
    return NameLoc::get(b.getStringAttr(scope));
  }
  Value param(const Twine &name, ArrayRef<int64_t> shape) {
    std::string n = name.str();
    return ParamOp::create(b, loc(n), RankedTensorType::get(shape, f32),
                           b.getStringAttr(n));
  }
  /// nn.Linear at `prefix`, without bias (every T5 projection).
  Value linear(const Twine &prefix, Value x, int64_t in, int64_t out) {
    std::string p = prefix.str();
    return LinearOp::create(b, loc(p), x, param(p + ".weight", {out, in}),
                            Value());
  }
  /// T5LayerNorm at `prefix`: RMS norm with a weight, no bias.
  Value rmsNorm(const Twine &prefix, Value x) {
    std::string p = prefix.str();
    return RmsNormOp::create(b, loc(p), x, param(p + ".weight", {c.dModel}),
                             b.getF64FloatAttr(c.layerNormEps));
  }
  Value block(int64_t i, Value h, Value bias);

  OpBuilder &b;
  const T5Config &c;
  int64_t batch, tokens;
  Type f32;
};

Value T5Emitter::block(int64_t i, Value h, Value bias) {
  int64_t d = c.dModel, inner = c.innerDim();
  std::string p = "encoder.block." + std::to_string(i) + ".layer";
  Value n = rmsNorm(p + ".0.layer_norm", h);
  std::string a = p + ".0.SelfAttention";
  Value q = linear(a + ".q", n, d, inner);
  Value k = linear(a + ".k", n, d, inner);
  Value v = linear(a + ".v", n, d, inner);
  Value o = AttentionOp::create(b, loc(a), q, k, v, bias,
                                b.getI64IntegerAttr(c.numHeads),
                                b.getF64FloatAttr(1.0), /*ring_axes=*/nullptr,
                                /*key_valid=*/nullptr, /*causal=*/nullptr);
  o = linear(a + ".o", o, inner, d);
  h = AddOp::create(b, loc(p + ".0"), h, o);

  n = rmsNorm(p + ".1.layer_norm", h);
  std::string f = p + ".1.DenseReluDense";
  // gelu_new (the tanh approximation) of wi_0, times wi_1.
  Value g = linear(f + ".wi_0", n, d, c.dFf);
  g = GeluOp::create(b, loc(f), g, b.getStringAttr("tanh"));
  Value lin = linear(f + ".wi_1", n, d, c.dFf);
  Value y = linear(f + ".wo", MulOp::create(b, loc(f), g, lin), c.dFf, d);
  return AddOp::create(b, loc(p + ".1"), h, y);
}

Value T5Emitter::forward(Value ids) {
  Value table = param("shared.weight", {c.vocabSize, c.dModel});
  Value h = EmbeddingOp::create(b, loc("encoder.embed_tokens"), table, ids);
  // Block 0's table gives the bias of every block (T5Stack passes it on).
  std::string rel =
      "encoder.block.0.layer.0.SelfAttention.relative_attention_bias";
  Value bias = RelativePositionBiasOp::create(
      b, loc(rel), param(rel + ".weight", {c.numBuckets, c.numHeads}),
      b.getI64IntegerAttr(c.numBuckets), b.getI64IntegerAttr(c.maxDistance),
      b.getUnitAttr(), b.getI64IntegerAttr(tokens),
      b.getI64IntegerAttr(tokens));
  for (int64_t i = 0; i < c.numLayers; ++i)
    h = block(i, h, bias);
  return rmsNorm("encoder.final_layer_norm", h);
}

} // namespace

func::FuncOp buildT5Encoder(ModuleOp module, const T5Config &config,
                            int64_t batch, int64_t tokens, StringRef name) {
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  auto idsTy = RankedTensorType::get({batch, tokens}, b.getI64Type());
  auto outTy =
      RankedTensorType::get({batch, tokens, config.dModel}, b.getF32Type());
  auto fnTy = FunctionType::get(module.getContext(), {idsTy}, {outTy});
  auto fn =
      func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name, fnTy);
  fn->setAttr(FrescoDialect::kComponentAttrName, b.getStringAttr(name));
  fn.setArgAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("input_ids"));
  fn.setResultAttr(0, FrescoDialect::kNameAttrName,
                   b.getStringAttr("last_hidden_state"));

  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  T5Emitter emitter(b, config, batch, tokens);
  Value out = emitter.forward(entry->getArgument(0));
  func::ReturnOp::create(b, fn.getLoc(), out);
  return fn;
}

} // namespace fresco::models
