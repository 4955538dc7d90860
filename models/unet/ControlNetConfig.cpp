//===- ControlNetConfig.cpp - diffusers' ControlNetModel config -----------===//
#include "models/unet/ControlNetConfig.h"
#include "models/JsonConfig.h"

using namespace llvm;

namespace fresco::models {

std::string controlNetFolder(size_t k) {
  return k == 0 ? "controlnet" : "controlnet_" + std::to_string(k);
}

bool ControlNetConfig::matches(const json::Object &config) {
  auto cls = config.getString("_class_name");
  return cls && *cls == "ControlNetModel";
}

Expected<ControlNetConfig>
ControlNetConfig::fromJSON(const json::Object &config) {
  if (!matches(config))
    return configError("not a ControlNetModel config");
  ControlNetConfig c;
  // diffusers raises for any order but "rgb" and "bgr" (null too).
  if (const json::Value *v =
          config.get("controlnet_conditioning_channel_order");
      v && v->getAsString() != std::optional<StringRef>("rgb")) {
    std::string text;
    raw_string_ostream os(text);
    os << *v;
    return configError("config key 'controlnet_conditioning_channel_order' = " +
                       os.str() + " is not implemented (supported: \"rgb\")");
  }
  // null is falsy there.
  if (const json::Value *v = config.get("global_pool_conditions");
      v && !v->getAsNull() && v->getAsBoolean() != std::optional<bool>(false))
    return configError("config key 'global_pool_conditions' is not "
                       "implemented (supported: false)");
  if (Error e = readInt(config, "conditioning_channels", c.conditioningChannels,
                        1, 64))
    return std::move(e);
  if (const json::Value *v = config.get("conditioning_embedding_out_channels");
      v && v->kind() != json::Value::Null) {
    const json::Array *a = v->getAsArray();
    if (!a || a->empty() || a->size() > 8)
      return configError("config key 'conditioning_embedding_out_channels' "
                         "must list 1 to 8 channel counts");
    c.embeddingChannels.clear();
    for (const json::Value &e : *a) {
      std::optional<int64_t> i = e.getAsInteger();
      if (!i || *i < 1 || *i > (1 << 16))
        return configError("config key 'conditioning_embedding_out_channels' "
                           "must list channel counts in [1, 65536]");
      c.embeddingChannels.push_back(*i);
    }
  }
  // The rest is a UNet2DConditionModel's down half: read it as one whose up
  // blocks mirror the down blocks and whose output is its input.
  json::Object unet = config;
  unet["_class_name"] = "UNet2DConditionModel";
  for (StringRef key :
       {"controlnet_conditioning_channel_order", "global_pool_conditions",
        "conditioning_channels", "conditioning_embedding_out_channels",
        "addition_embed_type_num_heads"})
    unet.erase(key);
  // (Absent down blocks: UNetConfig's defaults, whose up blocks mirror.)
  if (const json::Array *down = config.getArray("down_block_types")) {
    json::Array up;
    for (size_t i = down->size(); i-- > 0;)
      up.push_back((*down)[i].getAsString() ==
                           std::optional<StringRef>("CrossAttnDownBlock2D")
                       ? "CrossAttnUpBlock2D"
                       : "UpBlock2D");
    unet["up_block_types"] = std::move(up);
  }
  Expected<UNetConfig> u = UNetConfig::fromJSON(unet);
  if (!u)
    return u.takeError();
  c.unet = *u;
  // No output head: out_channels (defaulted above) is never read; keep it
  // equal to in_channels as a UNet's.
  c.unet.outChannels = c.unet.inChannels;
  return c;
}

} // namespace fresco::models
