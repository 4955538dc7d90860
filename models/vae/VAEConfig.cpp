//===- VAEConfig.cpp - diffusers AutoencoderKL config ---------------------===//
#include "models/vae/VAEConfig.h"
#include "models/JsonConfig.h"
#include "models/ModelSizes.h"

#include <cmath>

using namespace llvm;

namespace fresco::models {

bool VAEConfig::matches(const json::Object &config) {
  auto cls = config.getString("_class_name");
  return cls && *cls == "AutoencoderKL";
}

constexpr int64_t kMaxConfigInt = int64_t(1) << 16;
// Real VAEs have 4 blocks; each doubles the resolution (upscale() shifts).
constexpr int64_t kMaxBlocks = 8, kMaxLayers = 64;

Expected<VAEConfig> VAEConfig::fromJSON(const json::Object &config) {
  VAEConfig c;
  if (!matches(config))
    return configError("not an AutoencoderKL config");
  for (auto [key, dst] :
       {std::pair<StringRef, int64_t *>{"in_channels", &c.inChannels},
        {"out_channels", &c.outChannels},
        {"latent_channels", &c.latentChannels},
        {"layers_per_block", &c.layersPerBlock},
        {"norm_num_groups", &c.normNumGroups},
        {"sample_size", &c.sampleSize}})
    if (Error e = readInt(config, key, *dst, 1, kMaxConfigInt))
      return std::move(e);
  // Real VAEs have 2 or 3; each is a resnet per block, built one by one.
  if (c.layersPerBlock > kMaxLayers)
    return configError("config key 'layers_per_block' is " +
                       Twine(c.layersPerBlock) + ", more than the " +
                       Twine(kMaxLayers) + " this builder accepts");
  if (const json::Value *v = config.get("block_out_channels")) {
    const json::Array *a = v->getAsArray();
    if (!a || a->empty() || int64_t(a->size()) > kMaxBlocks)
      return configError("config key 'block_out_channels' must list 1 to " +
                         Twine(kMaxBlocks) + " positive integers");
    c.blockOutChannels.clear();
    for (const json::Value &e : *a) {
      std::optional<int64_t> i = e.getAsInteger();
      if (!i || *i <= 0 || *i > kMaxConfigInt)
        return configError("config key 'block_out_channels' must be a "
                           "non-empty list of positive integers up to " +
                           Twine(kMaxConfigInt));
      c.blockOutChannels.push_back(*i);
    }
  }
  if (const json::Value *v = config.get("up_block_types")) {
    const json::Array *a = v->getAsArray();
    if (!a || a->size() != c.blockOutChannels.size())
      return configError("config key 'up_block_types' must list one block "
                         "per entry of block_out_channels");
    for (const json::Value &e : *a)
      if (e.getAsString() != std::optional<StringRef>("UpDecoderBlock2D"))
        return configError("up block type '" +
                           e.getAsString().value_or("<not a string>") +
                           "' is not supported (only UpDecoderBlock2D)");
  }
  std::optional<StringRef> act;
  if (Error e = readString(config, "act_fn", act))
    return std::move(e);
  if (act && *act != "silu")
    return configError("act_fn '" + *act +
                       "' is not supported for AutoencoderKL (only 'silu')");
  if (const json::Value *v = config.get("scaling_factor")) {
    std::optional<double> d = v->getAsNumber();
    if (!d || *d == 0.0)
      return configError("config key 'scaling_factor' must be a non-zero "
                         "number");
    c.scalingFactor = *d;
  }
  if (const json::Value *v = config.get("shift_factor");
      v && v->kind() != json::Value::Null) {
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return configError("config key 'shift_factor' must be a number or null");
    c.shiftFactor = *d;
  }
  // latents_mean / latents_std: lists of numbers or null.
  std::vector<double> stats[2];
  const char *statKeys[2] = {"latents_mean", "latents_std"};
  for (int k = 0; k < 2; ++k) {
    const json::Value *v = config.get(statKeys[k]);
    if (!v || v->kind() == json::Value::Null)
      continue;
    const json::Array *a = v->getAsArray();
    if (!a)
      return configError(Twine("config key '") + statKeys[k] +
                         "' must be a list of numbers or null");
    for (const json::Value &e : *a) {
      std::optional<double> d = e.getAsNumber();
      if (!d || !std::isfinite(*d) || (k == 1 && *d == 0.0))
        return configError(Twine("config key '") + statKeys[k] +
                           "' must list finite numbers" +
                           (k == 1 ? ", none of them zero" : ""));
      stats[k].push_back(*d);
    }
  }
  if (!stats[0].empty() && !stats[1].empty()) {
    for (int k = 0; k < 2; ++k)
      if (int64_t(stats[k].size()) != c.latentChannels)
        return configError(Twine("config key '") + statKeys[k] + "' lists " +
                           Twine(stats[k].size()) +
                           " values for latent_channels " +
                           Twine(c.latentChannels));
    c.latentsMean = std::move(stats[0]);
    c.latentsStd = std::move(stats[1]);
  }
  if (const json::Value *v = config.get("down_block_types")) {
    const json::Array *a = v->getAsArray();
    if (!a || a->size() != c.blockOutChannels.size())
      return configError("config key 'down_block_types' must list one block "
                         "per entry of block_out_channels");
    for (const json::Value &e : *a)
      if (e.getAsString() != std::optional<StringRef>("DownEncoderBlock2D"))
        return configError("down block type '" +
                           e.getAsString().value_or("<not a string>") +
                           "' is not supported (only DownEncoderBlock2D)");
  }
  for (auto [key, dst] :
       {std::pair<StringRef, bool *>{"use_quant_conv", &c.useQuantConv},
        {"use_post_quant_conv", &c.usePostQuantConv},
        {"mid_block_add_attention", &c.midBlockAddAttention}})
    if (Error e = readBool(config, key, *dst))
      return std::move(e);
  for (int64_t ch : c.blockOutChannels)
    if (ch % c.normNumGroups != 0)
      return configError("block_out_channels entry " + Twine(ch) +
                         " is not divisible by norm_num_groups " +
                         Twine(c.normNumGroups));
  if (Error e = checkVAESize(c, c.sampleSize, c.sampleSize))
    return std::move(e);
  return c;
}

} // namespace fresco::models
