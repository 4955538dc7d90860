//===- DiTConfig.cpp - diffusers DiT transformer config -------------------===//
#include "models/dit/DiTConfig.h"
#include "models/JsonConfig.h"
#include "models/SizeEstimate.h"

using namespace llvm;

namespace fresco::models {

bool DiTConfig::matches(const json::Object &config) {
  auto cls = config.getString("_class_name");
  if (!cls)
    return false;
  if (*cls == "DiTTransformer2DModel")
    return true;
  auto norm = config.getString("norm_type");
  return *cls == "Transformer2DModel" && norm && *norm == "ada_norm_zero";
}

Expected<DiTConfig> DiTConfig::fromJSON(const json::Object &config) {
  DiTConfig c;

  if (!matches(config))
    return configError("not a DiT transformer config: expected _class_name "
                       "'DiTTransformer2DModel', or 'Transformer2DModel' with "
                       "norm_type 'ada_norm_zero'");
  std::optional<StringRef> norm, act;
  if (Error e = readString(config, "norm_type", norm))
    return std::move(e);
  if (norm && *norm != "ada_norm_zero")
    return configError("norm_type '" + *norm +
                       "' is not supported for DiT (only 'ada_norm_zero')");
  if (Error e = readInt(config, "num_attention_heads", c.numAttentionHeads))
    return std::move(e);
  if (Error e = readInt(config, "attention_head_dim", c.attentionHeadDim))
    return std::move(e);
  if (Error e = readInt(config, "in_channels", c.inChannels))
    return std::move(e);
  if (Error e =
          readInt(config, "out_channels", c.outChannels, 1, int64_t(1) << 16,
                  /*allowNull=*/true))
    return std::move(e);
  if (Error e = readInt(config, "num_layers", c.numLayers, 1, 1024))
    return std::move(e);
  if (Error e = readInt(config, "sample_size", c.sampleSize))
    return std::move(e);
  if (Error e = readInt(config, "patch_size", c.patchSize))
    return std::move(e);
  if (const json::Value *v = config.get("num_embeds_ada_norm");
      v && v->kind() == json::Value::Null)
    return configError("config key 'num_embeds_ada_norm' is null: a "
                       "class-conditional DiT needs the number of classes");
  if (Error e = readInt(config, "num_embeds_ada_norm", c.numEmbedsAdaNorm, 1,
                        int64_t(1) << 24))
    return std::move(e);
  if (Error e = readBool(config, "attention_bias", c.attentionBias))
    return std::move(e);
  if (Error e =
          readBool(config, "norm_elementwise_affine", c.normElementwiseAffine))
    return std::move(e);
  if (const json::Value *v = config.get("norm_eps")) {
    std::optional<double> d = v->getAsNumber();
    if (!d || *d <= 0)
      return configError("config key 'norm_eps' must be a positive number");
    c.normEps = *d;
  }
  if (Error e = readString(config, "activation_fn", act))
    return std::move(e);
  if (act) {
    if (*act == "gelu-approximate")
      c.geluTanh = true;
    else if (*act == "gelu")
      c.geluTanh = false;
    else
      return configError("activation_fn '" + *act +
                         "' is not supported for DiT (use 'gelu-approximate' "
                         "or 'gelu')");
  }
  if (c.sampleSize % c.patchSize != 0)
    return configError("sample_size " + Twine(c.sampleSize) +
                       " is not divisible by patch_size " + Twine(c.patchSize));
  if (c.innerDim() > (int64_t(1) << 18))
    return configError("num_attention_heads * attention_head_dim = " +
                       Twine(c.innerDim()) + " is more than the " +
                       Twine(int64_t(1) << 18) + " this builder accepts");
  if (c.innerDim() % 4 != 0)
    return configError(
        "num_attention_heads * attention_head_dim = " + Twine(c.innerDim()) +
        " must be divisible by 4 for the 2-D position "
        "embedding");
  // Per block: attention 4 d^2, feed-forward 8 d^2, adaLN-Zero 6 d^2; the
  // largest activations are the tokens' and the attention's heads x
  // tokens^2 scores.
  SizeEstimate est;
  int64_t d = c.innerDim(), side = c.sampleSize / c.patchSize;
  int64_t tokens = saturatingProduct({side, side});
  est.params({d, d, 18}, c.numLayers);
  est.params({c.numEmbedsAdaNorm, d});
  est.activation({tokens, d, 4});
  est.activation({c.numAttentionHeads, tokens, tokens});
  if (Error e = est.check("DiT",
                          "num_layers, num_attention_heads and "
                          "attention_head_dim",
                          "sample_size, patch_size and the attention width"))
    return std::move(e);
  return c;
}

} // namespace fresco::models
