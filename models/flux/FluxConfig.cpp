//===- FluxConfig.cpp - diffusers FluxTransformer2DModel config -----------===//
#include "models/flux/FluxConfig.h"
#include "models/JsonConfig.h"
#include "models/SizeEstimate.h"

using namespace llvm;

namespace fresco::models {

bool FluxConfig::matches(const json::Object &config) {
  auto cls = config.getString("_class_name");
  return cls && *cls == "FluxTransformer2DModel";
}

bool FluxControlNetConfig::matches(const json::Object &config) {
  auto cls = config.getString("_class_name");
  return cls && *cls == "FluxControlNetModel";
}

Expected<FluxConfig> FluxConfig::fromJSON(const json::Object &config) {
  if (!matches(config))
    return configError("not a Flux transformer config: expected _class_name "
                       "'FluxTransformer2DModel'");
  return fromKeys(config, "FluxTransformer2DModel");
}

Expected<FluxControlNetConfig>
FluxControlNetConfig::fromJSON(const json::Object &config) {
  if (!matches(config))
    return configError("not a Flux ControlNet config: expected _class_name "
                       "'FluxControlNetModel'");
  // The pixel embedding changes the forward pass: refused until
  // implemented.
  if (const json::Value *v = config.get("conditioning_embedding_channels");
      v && !v->getAsNull())
    return configError(
        "config key 'conditioning_embedding_channels' is set: a ControlNet "
        "embedding the control image's pixels (input_hint_block, "
        "XLabs-style) is not implemented; Fresco runs the InstantX-style "
        "FluxControlNetModel, which reads the VAE-encoded control image");
  Expected<FluxConfig> flux =
      FluxConfig::fromKeys(config, "FluxControlNetModel");
  if (!flux)
    return flux.takeError();
  FluxControlNetConfig c{std::move(*flux)};
  // ControlNet-Union: null (none) or the number of modes.
  if (const json::Value *v = config.get("num_mode"); v && !v->getAsNull())
    if (Error e = readInt(config, "num_mode", c.numMode, 1, 1024))
      return std::move(e);
  return c;
}

Expected<FluxConfig> FluxConfig::fromKeys(const json::Object &config,
                                          StringRef model) {
  FluxConfig c;
  if (Error e = readInt(config, "patch_size", c.patchSize, 1, 64))
    return std::move(e);
  if (Error e = readInt(config, "in_channels", c.inChannels))
    return std::move(e);
  if (Error e = readInt(config, "num_layers", c.numLayers, 0, 1024))
    return std::move(e);
  if (Error e =
          readInt(config, "num_single_layers", c.numSingleLayers, 0, 1024))
    return std::move(e);
  if (Error e = readInt(config, "attention_head_dim", c.attentionHeadDim))
    return std::move(e);
  if (Error e = readInt(config, "num_attention_heads", c.numAttentionHeads))
    return std::move(e);
  if (Error e = readInt(config, "joint_attention_dim", c.jointAttentionDim))
    return std::move(e);
  if (Error e = readInt(config, "pooled_projection_dim", c.pooledProjectionDim))
    return std::move(e);
  if (const json::Value *v = config.get("guidance_embeds")) {
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return configError("config key 'guidance_embeds' must be true or false");
    c.guidanceEmbeds = *b;
  }
  if (const json::Value *v = config.get("axes_dims_rope")) {
    const json::Array *a = v->getAsArray();
    if (!a || a->empty() || a->size() > 16)
      return configError("config key 'axes_dims_rope' must be a list of 1 to "
                         "16 integers");
    c.axesDimsRope.clear();
    for (const json::Value &d : *a) {
      std::optional<int64_t> i = d.getAsInteger();
      if (!i || *i <= 0 || *i % 2 != 0 || *i > (int64_t(1) << 16))
        return configError("config key 'axes_dims_rope' must hold positive "
                           "even integers (each axis rotates pairs)");
      c.axesDimsRope.push_back(*i);
    }
  }
  if (c.innerDim() > (int64_t(1) << 18))
    return configError("num_attention_heads * attention_head_dim = " +
                       Twine(c.innerDim()) + " is more than the " +
                       Twine(int64_t(1) << 18) + " this builder accepts");
  int64_t rope = 0;
  for (int64_t d : c.axesDimsRope)
    rope += d;
  // The rotation covers every column of a head (FluxPosEmbed's tables are
  // sum(axes_dims_rope) wide and multiply the whole head).
  if (rope != c.attentionHeadDim)
    return configError("axes_dims_rope sums to " + Twine(rope) +
                       " but attention_head_dim is " +
                       Twine(c.attentionHeadDim) +
                       ": the rotary embedding must cover the head exactly");
  // A double block holds two streams of attention (4 d^2), MLP (8 d^2) and
  // adaLN (6 d^2); a single block 3 d^2 + 4 d^2 + 5 d^2 + 3 d^2. The
  // image size is the pipeline's, checked there.
  SizeEstimate est;
  int64_t d = c.innerDim();
  est.params({d, d, 36}, c.numLayers);
  est.params({d, d, 15}, c.numSingleLayers);
  est.params({d, c.jointAttentionDim});
  if (Error e = est.check(model,
                          "num_layers, num_single_layers, num_attention_heads "
                          "and attention_head_dim",
                          ""))
    return std::move(e);
  return c;
}

} // namespace fresco::models
