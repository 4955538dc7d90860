//===- SD3Config.cpp - diffusers SD3Transformer2DModel config -------------===//
#include "models/sd3/SD3Config.h"
#include "models/JsonConfig.h"
#include "models/ModelSizes.h"

using namespace llvm;

namespace fresco::models {

bool SD3Config::matches(const json::Object &config) {
  auto cls = config.getString("_class_name");
  return cls && *cls == "SD3Transformer2DModel";
}

bool SD3ControlNetConfig::matches(const json::Object &config) {
  auto cls = config.getString("_class_name");
  return cls && *cls == "SD3ControlNetModel";
}

Expected<SD3Config> SD3Config::fromJSON(const json::Object &config) {
  if (!matches(config))
    return configError("not an SD3 transformer config: expected _class_name "
                       "'SD3Transformer2DModel'");
  return fromKeys(config);
}

Expected<SD3ControlNetConfig>
SD3ControlNetConfig::fromJSON(const json::Object &config) {
  if (!matches(config))
    return configError("not an SD3 ControlNet config: expected _class_name "
                       "'SD3ControlNetModel'");
  // diffusers 0.31's SD3ControlNetModel: plain joint blocks, a position
  // table, extra channels for an inpainting net. Later releases' keys
  // change the model.
  int64_t extra = 0;
  if (const json::Value *v = config.get("extra_conditioning_channels");
      v && !v->getAsNull()) {
    std::optional<int64_t> x = v->getAsInteger();
    if (!x || *x < 0 || *x > 64)
      return configError("config key 'extra_conditioning_channels' must be "
                         "an integer in 0..64");
    extra = *x;
  }
  for (StringRef key : {"qk_norm", "dual_attention_layers", "pos_embed_type",
                        "use_pos_embed", "force_zeros_for_pooled_projection"})
    if (const json::Value *v = config.get(key);
        v && !v->getAsNull() &&
        !(key == "force_zeros_for_pooled_projection" &&
          v->getAsBoolean() == std::optional<bool>(true)) &&
        !(key == "use_pos_embed" &&
          v->getAsBoolean() == std::optional<bool>(true)) &&
        !(key == "pos_embed_type" &&
          v->getAsString() == std::optional<StringRef>("sincos")) &&
        !(key == "dual_attention_layers" && v->getAsArray() &&
          v->getAsArray()->empty()))
      return configError("config key '" + key +
                         "' is set: the SD3.5 ControlNets' options (diffusers "
                         "0.32 and later) are not implemented; Fresco runs "
                         "diffusers 0.31's SD3ControlNetModel");
  Expected<SD3Config> sd3 = SD3Config::fromKeys(config);
  if (!sd3)
    return sd3.takeError();
  return SD3ControlNetConfig{std::move(*sd3), extra};
}

Expected<SD3Config> SD3Config::fromKeys(const json::Object &config) {
  SD3Config c;
  if (Error e = readInt(config, "sample_size", c.sampleSize))
    return std::move(e);
  if (Error e = readInt(config, "patch_size", c.patchSize, 1, 64))
    return std::move(e);
  if (Error e = readInt(config, "in_channels", c.inChannels))
    return std::move(e);
  if (Error e = readInt(config, "num_layers", c.numLayers, 1, 1024))
    return std::move(e);
  if (Error e = readInt(config, "attention_head_dim", c.attentionHeadDim))
    return std::move(e);
  if (Error e = readInt(config, "num_attention_heads", c.numAttentionHeads))
    return std::move(e);
  if (Error e = readInt(config, "joint_attention_dim", c.jointAttentionDim))
    return std::move(e);
  if (Error e =
          readInt(config, "caption_projection_dim", c.captionProjectionDim))
    return std::move(e);
  if (Error e = readInt(config, "pooled_projection_dim", c.pooledProjectionDim))
    return std::move(e);
  // out_channels null means in_channels, as diffusers.
  c.outChannels = c.inChannels;
  if (const json::Value *v = config.get("out_channels"); v && !v->getAsNull())
    if (Error e = readInt(config, "out_channels", c.outChannels))
      return std::move(e);
  if (const json::Value *v = config.get("pos_embed_max_size");
      v && v->getAsNull())
    return configError("config key 'pos_embed_max_size' is null: only the "
                       "cropped position table of SD3 (an integer) is "
                       "supported");
  if (Error e = readInt(config, "pos_embed_max_size", c.posEmbedMaxSize))
    return std::move(e);

  if (const json::Value *v = config.get("qk_norm"); v && !v->getAsNull()) {
    std::optional<StringRef> s = v->getAsString();
    if (!s)
      return configError("config key 'qk_norm' must be null or a string");
    if (*s != "rms_norm")
      return configError("config key 'qk_norm' is '" + *s +
                         "': only null and 'rms_norm' are supported");
    c.qkRmsNorm = true;
  }
  if (const json::Value *v = config.get("dual_attention_layers")) {
    const json::Array *a = v->getAsArray();
    if (!a)
      return configError("config key 'dual_attention_layers' must be a list "
                         "of block indices");
    for (const json::Value &x : *a) {
      std::optional<int64_t> i = x.getAsInteger();
      if (!i || *i < 0 || *i >= c.numLayers)
        return configError("config key 'dual_attention_layers' must hold "
                           "block indices in 0.." +
                           Twine(c.numLayers - 1) + " (num_layers " +
                           Twine(c.numLayers) + ")");
      c.dualAttentionLayers.push_back(*i);
    }
  }

  int64_t d = c.innerDim();
  if (d > (int64_t(1) << 18))
    return configError("num_attention_heads * attention_head_dim = " +
                       Twine(d) + " is more than the " +
                       Twine(int64_t(1) << 18) + " this builder accepts");
  // The context stream joins the image stream's attention and norms, so
  // diffusers only runs when the two widths agree.
  if (c.captionProjectionDim != d)
    return configError("caption_projection_dim " +
                       Twine(c.captionProjectionDim) +
                       " must equal num_attention_heads * attention_head_dim "
                       "= " +
                       Twine(d) + " (the context joins the image attention)");
  // get_2d_sincos_pos_embed splits the width in 4 (h/w, sin/cos).
  if (d % 4 != 0)
    return configError(
        "num_attention_heads * attention_head_dim = " + Twine(d) +
        " must be a multiple of 4 for the 2-D sin-cos "
        "position table");
  if (c.sampleSize % c.patchSize != 0)
    return configError("sample_size " + Twine(c.sampleSize) +
                       " is not a multiple of patch_size " +
                       Twine(c.patchSize));
  if (c.sampleSize / c.patchSize > c.posEmbedMaxSize)
    return configError(
        "sample_size / patch_size = " + Twine(c.sampleSize / c.patchSize) +
        " patches a side is more than pos_embed_max_size " +
        Twine(c.posEmbedMaxSize));
  // issue 15: products of the bounded keys, estimated before building, at
  // the pipeline's default text length.
  if (Error e = checkSD3Size(c, SD3Config::kDefaultTextTokens))
    return std::move(e);
  return c;
}

} // namespace fresco::models
