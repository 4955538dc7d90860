//===- CLIPTextModel.cpp - transformers' CLIPTextModel as fresco IR -------===//
//
// Mirrors transformers 4.46's CLIPTextTransformer.forward: token + position
// embeddings, pre-LN encoder layers with causal self-attention, the final
// layer norm, and the pooled output at each row's end-of-text token
// (projected by CLIPTextModelWithProjection's text_projection).
// Locations name the transformers module each op belongs to.
//
//===----------------------------------------------------------------------===//
#include "models/text/CLIPTextModel.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "models/JsonConfig.h"
#include "models/ModelSizes.h"

#include "mlir/IR/Builders.h"

#include <algorithm>
#include <array>
#include <cmath>

using namespace llvm;
using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {

bool CLIPTextConfig::matches(const json::Object &config) {
  // CLIPTextModelWithProjection shares model_type "clip_text_model": the
  // architecture decides when it is given.
  if (config.getArray("architectures"))
    return hasArchitecture(config, "CLIPTextModel") ||
           hasArchitecture(config, "CLIPTextModelWithProjection");
  return config.getString("model_type") == StringRef("clip_text_model");
}

Expected<CLIPTextConfig> CLIPTextConfig::fromJSON(const json::Object &config) {
  CLIPTextConfig c;
  if (!matches(config))
    return configError(
        "not a CLIPTextModel config: expected architectures "
        "[\"CLIPTextModel\"] or [\"CLIPTextModelWithProjection\"]"
        ", or model_type 'clip_text_model'");
  c.withProjection = hasArchitecture(config, "CLIPTextModelWithProjection");
  const int64_t kMax = int64_t(1) << 16;
  if (Error e = readInt(config, "vocab_size", c.vocabSize, 1, 1 << 24))
    return std::move(e);
  if (Error e = readInt(config, "hidden_size", c.hiddenSize, 1, kMax))
    return std::move(e);
  if (Error e =
          readInt(config, "intermediate_size", c.intermediateSize, 1, kMax * 4))
    return std::move(e);
  if (Error e = readInt(config, "num_hidden_layers", c.numLayers, 1, 1024))
    return std::move(e);
  if (Error e = readInt(config, "num_attention_heads", c.numHeads, 1, 1024))
    return std::move(e);
  if (Error e =
          readInt(config, "max_position_embeddings", c.maxPositions, 1, kMax))
    return std::move(e);
  if (Error e = readPositive(config, "layer_norm_eps", c.layerNormEps))
    return std::move(e);
  if (Error e = readInt(config, "eos_token_id", c.eosTokenId, 0, 1 << 24))
    return std::move(e);
  if (Error e = readInt(config, "projection_dim", c.projectionDim, 1, kMax))
    return std::move(e);
  if (const json::Value *v = config.get("hidden_act")) {
    std::optional<StringRef> act = v->getAsString();
    if (act == StringRef("quick_gelu"))
      c.act = Act::QuickGelu;
    else if (act == StringRef("gelu"))
      c.act = Act::GeluErf;
    else if (act == StringRef("gelu_new") ||
             act == StringRef("gelu_pytorch_tanh"))
      c.act = Act::GeluTanh;
    else
      return configError("hidden_act '" + act.value_or("<not a string>") +
                         "' is not supported for CLIPTextModel (use "
                         "quick_gelu, gelu, gelu_new or gelu_pytorch_tanh)");
  }
  if (c.hiddenSize % c.numHeads != 0)
    return configError("hidden_size " + Twine(c.hiddenSize) +
                       " is not divisible by num_attention_heads " +
                       Twine(c.numHeads));
  if (Error e = checkCLIPSize(c))
    return std::move(e);
  return c;
}

namespace {

class CLIPTextEmitter {
public:
  CLIPTextEmitter(OpBuilder &b, const CLIPTextConfig &c, int64_t batch)
      : b(b), c(c), batch(batch), f32(b.getF32Type()) {}

  /// last_hidden_state, the penultimate hidden state, the pooled output
  /// (text_embeds with a projection) and clip_skip's hidden state; only
  /// what `outputs` asks for is built.
  std::array<Value, 4> forward(Value ids, const CLIPOutputs &outputs);

private:
  Location loc(const Twine &scope) {
    return NameLoc::get(b.getStringAttr(scope));
  }
  Value param(const Twine &name, ArrayRef<int64_t> shape) {
    std::string n = name.str();
    return ParamOp::create(b, loc(n), RankedTensorType::get(shape, f32),
                           b.getStringAttr(n));
  }
  /// nn.Linear at `prefix`, with bias.
  Value linear(const Twine &prefix, Value x, int64_t in, int64_t out) {
    std::string p = prefix.str();
    return LinearOp::create(b, loc(p), x, param(p + ".weight", {out, in}),
                            param(p + ".bias", {out}));
  }
  /// nn.LayerNorm at `prefix`, with weight and bias.
  Value layerNorm(const Twine &prefix, Value x) {
    std::string p = prefix.str();
    int64_t d = c.hiddenSize;
    SmallVector<Value> affine = {param(p + ".weight", {d}),
                                 param(p + ".bias", {d})};
    return LayerNormOp::create(b, loc(p), x, affine,
                               b.getF64FloatAttr(c.layerNormEps));
  }
  Value layer(int64_t i, Value h);

  OpBuilder &b;
  const CLIPTextConfig &c;
  int64_t batch;
  Type f32;
};

Value CLIPTextEmitter::layer(int64_t i, Value h) {
  int64_t d = c.hiddenSize;
  std::string p = "text_model.encoder.layers." + std::to_string(i);
  Value n = layerNorm(p + ".layer_norm1", h);
  std::string a = p + ".self_attn";
  Value q = linear(a + ".q_proj", n, d, d);
  Value k = linear(a + ".k_proj", n, d, d);
  Value v = linear(a + ".v_proj", n, d, d);
  Value o = AttentionOp::create(
      b, loc(a), q, k, v, /*bias=*/Value(), b.getI64IntegerAttr(c.numHeads),
      b.getF64FloatAttr(1.0 / std::sqrt(double(c.headDim()))),
      /*ring_axes=*/nullptr, /*key_valid=*/nullptr, b.getUnitAttr());
  o = linear(a + ".out_proj", o, d, d);
  h = AddOp::create(b, loc(p), h, o);

  n = layerNorm(p + ".layer_norm2", h);
  std::string m = p + ".mlp";
  Value f = linear(m + ".fc1", n, d, c.intermediateSize);
  switch (c.act) {
  case CLIPTextConfig::Act::QuickGelu:
    f = QuickGeluOp::create(b, loc(m), f);
    break;
  case CLIPTextConfig::Act::GeluErf:
    f = GeluOp::create(b, loc(m), f, b.getStringAttr("none"));
    break;
  case CLIPTextConfig::Act::GeluTanh:
    f = GeluOp::create(b, loc(m), f, b.getStringAttr("tanh"));
    break;
  }
  f = linear(m + ".fc2", f, c.intermediateSize, d);
  return AddOp::create(b, loc(p), h, f);
}

std::array<Value, 4> CLIPTextEmitter::forward(Value ids,
                                              const CLIPOutputs &outputs) {
  int64_t d = c.hiddenSize, t = c.maxPositions;
  std::string e = "text_model.embeddings";
  Value table = param(e + ".token_embedding.weight", {c.vocabSize, d});
  Value h = EmbeddingOp::create(b, loc(e + ".token_embedding"), table, ids);
  // Positions 0..T-1 of a T = max_position_embeddings sequence: the whole
  // table, broadcast over the batch.
  Value pos = param(e + ".position_embedding.weight", {t, d});
  pos = ReshapeOp::create(b, loc(e + ".position_embedding"),
                          RankedTensorType::get({1, t, d}, f32), pos);
  h = AddOp::create(b, loc(e), h, pos);
  // hidden_states[j] is the output of j layers (0: the embeddings); only
  // the layers some output reads are built.
  const bool needFinal = outputs.lastHidden || outputs.pooled;
  const int64_t skipAt =
      outputs.skipFromEnd > 0 ? c.numLayers + 1 - outputs.skipFromEnd : -1;
  const int64_t layers = std::max(
      {needFinal ? c.numLayers : int64_t(0),
       outputs.penultimateHidden ? c.numLayers - 1 : int64_t(0), skipAt});
  Value penultimate, skipped;
  for (int64_t i = 0; i <= layers; ++i) {
    if (i == c.numLayers - 1)
      penultimate = h; // hidden_states[-2]: the embeddings when N = 1
    if (i == skipAt)
      skipped =
          outputs.skipNorm ? layerNorm("text_model.final_layer_norm", h) : h;
    if (i < layers)
      h = layer(i, h);
  }
  if (!needFinal)
    return {Value(), penultimate, Value(), skipped};
  h = layerNorm("text_model.final_layer_norm", h);
  Value pooled;
  if (outputs.pooled) {
    // transformers' legacy configs (eos_token_id 2) pool at the largest id.
    const bool legacy = c.eosTokenId == 2;
    pooled = EosPoolOp::create(b, loc("text_model.pooler"), h, ids,
                               b.getI64IntegerAttr(c.eosTokenId),
                               legacy ? b.getUnitAttr() : nullptr);
    if (c.withProjection)
      pooled = LinearOp::create(
          b, loc("text_projection"), pooled,
          param("text_projection.weight", {c.projectionDim, d}), Value());
  }
  return {h, penultimate, pooled, skipped};
}

} // namespace

func::FuncOp buildCLIPText(ModuleOp module, const CLIPTextConfig &config,
                           int64_t batch, StringRef name, CLIPOutputs outputs) {
  assert((outputs.lastHidden || outputs.penultimateHidden || outputs.pooled ||
          outputs.skipFromEnd) &&
         "a CLIP text function needs an output");
  assert((outputs.skipFromEnd == 0 ||
          (outputs.skipFromEnd >= 2 &&
           outputs.skipFromEnd <= config.numLayers + 1)) &&
         "clip_skip's hidden state is out of range (checked by the caller)");
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  Type f32 = b.getF32Type();
  int64_t t = config.maxPositions, d = config.hiddenSize;
  auto idsTy = RankedTensorType::get({batch, t}, b.getI64Type());
  auto hiddenTy = RankedTensorType::get({batch, t, d}, f32);
  SmallVector<Type> results;
  SmallVector<StringRef> names;
  if (outputs.lastHidden) {
    results.push_back(hiddenTy);
    names.push_back("last_hidden_state");
  }
  if (outputs.penultimateHidden) {
    results.push_back(hiddenTy);
    names.push_back("penultimate_hidden_state");
  }
  if (outputs.pooled) {
    results.push_back(RankedTensorType::get(
        {batch, config.withProjection ? config.projectionDim : d}, f32));
    names.push_back(config.withProjection ? "text_embeds" : "pooler_output");
  }
  if (outputs.skipFromEnd) {
    results.push_back(hiddenTy);
    names.push_back("clip_skip_hidden_state");
  }
  auto fnTy = FunctionType::get(module.getContext(), {idsTy}, results);
  auto fn =
      func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name, fnTy);
  fn->setAttr(FrescoDialect::kComponentAttrName, b.getStringAttr(name));
  fn.setArgAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("input_ids"));
  for (auto [i, n] : llvm::enumerate(names))
    fn.setResultAttr(unsigned(i), FrescoDialect::kNameAttrName,
                     b.getStringAttr(n));

  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  CLIPTextEmitter emitter(b, config, batch);
  auto [h, penultimate, pooled, skipped] =
      emitter.forward(entry->getArgument(0), outputs);
  SmallVector<Value> returned;
  if (outputs.lastHidden)
    returned.push_back(h);
  if (outputs.penultimateHidden)
    returned.push_back(penultimate);
  if (outputs.pooled)
    returned.push_back(pooled);
  if (outputs.skipFromEnd)
    returned.push_back(skipped);
  func::ReturnOp::create(b, fn.getLoc(), returned);
  return fn;
}

} // namespace fresco::models
