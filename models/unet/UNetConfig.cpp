//===- UNetConfig.cpp - diffusers' UNet2DConditionModel config ------------===//
#include "models/unet/UNetConfig.h"
#include "models/JsonConfig.h"
#include "models/ModelSizes.h" // issue 15

using namespace llvm;

namespace fresco::models {
namespace {

constexpr int64_t kMaxChannels = 1 << 16, kMaxBlocks = 8, kMaxLayers = 64;

/// A key that is an integer or one integer per block.
Error readPerBlock(const json::Object &config, StringRef key, int64_t blocks,
                   SmallVectorImpl<int64_t> &dst, int64_t max) {
  const json::Value *v = config.get(key);
  if (!v || v->kind() == json::Value::Null)
    return Error::success();
  auto bad = [&] {
    return configError("config key '" + key + "' must be an integer in [1, " +
                       Twine(max) + "] or a list of one per block (" +
                       Twine(blocks) + ")");
  };
  if (std::optional<int64_t> i = v->getAsInteger()) {
    if (*i < 1 || *i > max)
      return bad();
    dst.assign(blocks, *i);
    return Error::success();
  }
  const json::Array *a = v->getAsArray();
  if (!a || int64_t(a->size()) != blocks)
    return bad();
  dst.clear();
  for (const json::Value &e : *a) {
    std::optional<int64_t> i = e.getAsInteger();
    if (!i || *i < 1 || *i > max)
      return bad();
    dst.push_back(*i);
  }
  return Error::success();
}

Error readStrings(const json::Object &config, StringRef key,
                  SmallVectorImpl<StringRef> &dst) {
  const json::Value *v = config.get(key);
  if (!v)
    return Error::success();
  const json::Array *a = v->getAsArray();
  if (!a)
    return configError("config key '" + key + "' must be a list of strings");
  dst.clear();
  for (const json::Value &e : *a) {
    std::optional<StringRef> s = e.getAsString();
    if (!s)
      return configError("config key '" + key + "' must be a list of strings");
    dst.push_back(*s);
  }
  return Error::success();
}

/// Keys whose non-default values this builder does not implement.
/// (upcast_attention, which SD 2.1 sets, is not among them: Fresco's
/// attention kernels compute in f32 whatever the storage.)
Error refuseUnsupported(const json::Object &config) {
  struct Key {
    const char *name;
    const char *neutral; // the JSON of the value that is supported
  };
  static const Key keys[] = {{"class_embed_type", "null"},
                             {"encoder_hid_dim", "null"},
                             {"time_cond_proj_dim", "null"},
                             {"act_fn", "\"silu\""},
                             {"center_input_sample", "false"},
                             {"dual_cross_attention", "false"},
                             {"only_cross_attention", "false"},
                             {"resnet_time_scale_shift", "\"default\""},
                             {"time_embedding_type", "\"positional\""},
                             {"conv_in_kernel", "3"},
                             {"conv_out_kernel", "3"},
                             {"downsample_padding", "1"},
                             {"mid_block_scale_factor", "1"},
                             {"mid_block_only_cross_attention", "null"},
                             {"cross_attention_norm", "null"},
                             {"attention_type", "\"default\""},
                             {"reverse_transformer_layers_per_block", "null"},
                             {"mid_block_type", "\"UNetMidBlock2DCrossAttn\""},
                             {"timestep_post_act", "null"},
                             {"time_embedding_act_fn", "null"},
                             {"class_embeddings_concat", "false"},
                             {"time_embedding_dim", "null"},
                             {"encoder_hid_dim_type", "null"},
                             {"num_class_embeds", "null"},
                             {"resnet_out_scale_factor", "1"},
                             {"resnet_skip_time_act", "false"}};
  for (const Key &k : keys) {
    const json::Value *v = config.get(k.name);
    // null is diffusers' default for upcast_attention (SDXL's config): false.
    if (!v || (v->kind() == json::Value::Null &&
               StringRef(k.name) == "upcast_attention"))
      continue;
    Expected<json::Value> neutral = json::parse(k.neutral);
    if (!neutral)
      return neutral.takeError();
    bool same = *v == *neutral;
    // 1 and 1.0 are the same scale factor.
    if (!same && v->getAsNumber() && neutral->getAsNumber())
      same = *v->getAsNumber() == *neutral->getAsNumber();
    if (!same) {
      std::string text;
      raw_string_ostream os(text);
      os << *v;
      return configError("config key '" + Twine(k.name) + "' = " + os.str() +
                         " is not implemented (supported: " + k.neutral + ")");
    }
  }
  return Error::success();
}

/// addition_embed_type: none, or SDXL's "text_time" with the widths of its
/// time sinusoids and of add_embedding's input.
Error readAddedConditions(const json::Object &config, UNetConfig &c) {
  const json::Value *v = config.get("addition_embed_type");
  if (!v || v->kind() == json::Value::Null)
    return Error::success();
  if (v->getAsString() != StringRef("text_time")) {
    std::string text;
    raw_string_ostream os(text);
    os << *v;
    return configError("config key 'addition_embed_type' = " + os.str() +
                       " is not implemented (supported: null, \"text_time\")");
  }
  for (auto [key, dst] :
       {std::pair<StringRef, int64_t *>{"addition_time_embed_dim",
                                        &c.additionTimeEmbedDim},
        {"projection_class_embeddings_input_dim", &c.addEmbeddingInputDim}}) {
    const json::Value *k = config.get(key);
    if (!k || k->kind() == json::Value::Null)
      return configError("addition_embed_type \"text_time\" needs config "
                         "key '" +
                         key + "'");
    if (Error e = readInt(config, key, *dst, 1, kMaxChannels * 16))
      return e;
  }
  if (c.additionTimeEmbedDim % 2 != 0)
    return configError("addition_time_embed_dim must be even (the time ids' "
                       "sin and cos halves)");
  if (c.textEmbedsDim() < 1)
    return configError("projection_class_embeddings_input_dim " +
                       Twine(c.addEmbeddingInputDim) +
                       " leaves no room for text_embeds "
                       "beside " +
                       Twine(UNetConfig::kTimeIds) +
                       " time ids of addition_time_embed_dim " +
                       Twine(c.additionTimeEmbedDim));
  return Error::success();
}

} // namespace

bool UNetConfig::matches(const json::Object &config) {
  auto cls = config.getString("_class_name");
  return cls && *cls == "UNet2DConditionModel";
}

Expected<UNetConfig> UNetConfig::fromJSON(const json::Object &config) {
  if (!matches(config))
    return configError("not a UNet2DConditionModel config");
  if (Error e = refuseUnsupported(config))
    return std::move(e);
  UNetConfig c;
  if (Error e = readAddedConditions(config, c))
    return std::move(e);
  for (auto [key, dst] :
       {std::pair<StringRef, int64_t *>{"in_channels", &c.inChannels},
        {"out_channels", &c.outChannels},
        {"cross_attention_dim", &c.crossAttentionDim},
        {"norm_num_groups", &c.normNumGroups}})
    if (Error e = readInt(config, key, *dst, 1, kMaxChannels))
      return std::move(e);
  if (Error e = readInt(config, "sample_size", c.sampleSize, 1, 1 << 14))
    return std::move(e);
  if (Error e =
          readInt(config, "layers_per_block", c.layersPerBlock, 1, kMaxLayers))
    return std::move(e);
  if (const json::Value *v = config.get("block_out_channels")) {
    const json::Array *a = v->getAsArray();
    if (!a || a->empty() || int64_t(a->size()) > kMaxBlocks)
      return configError("config key 'block_out_channels' must list 1 to " +
                         Twine(kMaxBlocks) + " channel counts");
    c.blockOutChannels.clear();
    for (const json::Value &e : *a) {
      std::optional<int64_t> i = e.getAsInteger();
      if (!i || *i < 1 || *i > kMaxChannels)
        return configError("config key 'block_out_channels' must list "
                           "channel counts in [1, " +
                           Twine(kMaxChannels) + "]");
      c.blockOutChannels.push_back(*i);
    }
  }
  const int64_t n = c.numBlocks();
  SmallVector<StringRef> down = {"CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                                 "CrossAttnDownBlock2D", "DownBlock2D"};
  SmallVector<StringRef> up = {"UpBlock2D", "CrossAttnUpBlock2D",
                               "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"};
  if (Error e = readStrings(config, "down_block_types", down))
    return std::move(e);
  if (Error e = readStrings(config, "up_block_types", up))
    return std::move(e);
  if (int64_t(down.size()) != n || int64_t(up.size()) != n)
    return configError("down_block_types and up_block_types must have one "
                       "entry per block_out_channels entry (" +
                       Twine(n) + ")");
  c.crossAttention.clear();
  for (int64_t i = 0; i < n; ++i) {
    StringRef d = down[i], u = up[n - 1 - i];
    bool cross = d == "CrossAttnDownBlock2D";
    if (!cross && d != "DownBlock2D")
      return configError("down block type '" + d +
                         "' is not supported; supported: "
                         "CrossAttnDownBlock2D, DownBlock2D");
    if (u != (cross ? "CrossAttnUpBlock2D" : "UpBlock2D"))
      return configError("up block type '" + u +
                         "' does not mirror down "
                         "block '" +
                         d +
                         "' (supported: CrossAttnUpBlock2D "
                         "for CrossAttnDownBlock2D, UpBlock2D for "
                         "DownBlock2D)");
    c.crossAttention.push_back(cross);
  }
  c.heads.assign(n, 8);
  if (Error e =
          readPerBlock(config, "attention_head_dim", n, c.heads, kMaxChannels))
    return std::move(e);
  // num_attention_heads, when given, wins (diffusers' legacy naming).
  if (Error e =
          readPerBlock(config, "num_attention_heads", n, c.heads, kMaxChannels))
    return std::move(e);
  c.transformerLayers.assign(n, 1);
  if (Error e = readPerBlock(config, "transformer_layers_per_block", n,
                             c.transformerLayers, kMaxLayers))
    return std::move(e);
  if (Error e = readPositive(config, "norm_eps", c.normEps))
    return std::move(e);
  if (Error e =
          readBool(config, "use_linear_projection", c.useLinearProjection))
    return std::move(e);
  if (Error e = readBool(config, "flip_sin_to_cos", c.flipSinToCos))
    return std::move(e);
  if (const json::Value *v = config.get("freq_shift")) {
    std::optional<double> d = v->getAsNumber();
    if (!d)
      return configError("config key 'freq_shift' must be a number");
    c.freqShift = *d;
  }
  for (int64_t i = 0; i < n; ++i) {
    int64_t ch = c.blockOutChannels[i];
    if (ch % c.normNumGroups != 0)
      return configError("block_out_channels entry " + Twine(ch) +
                         " is not a multiple of norm_num_groups " +
                         Twine(c.normNumGroups));
    if (c.crossAttention[i] && ch % c.heads[i] != 0)
      return configError("block " + Twine(i) + "'s " + Twine(ch) +
                         " channels do not divide into " + Twine(c.heads[i]) +
                         " attention heads");
  }
  if (c.blockOutChannels[0] % 2 != 0)
    return configError("block_out_channels[0] must be even (the timestep "
                       "embedding's sin and cos halves)");
  // issue 15: products of the bounded keys, estimated before building.
  if (Error e = checkUNetSize(c, c.sampleSize, c.sampleSize))
    return std::move(e);
  return c;
}

} // namespace fresco::models
