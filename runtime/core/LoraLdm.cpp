//===- LoraLdm.cpp - Stable Diffusion's original UNet names ---------------===//
//
// The layout is diffusers' UNet2DConditionModel's and LDM's openaimodel:
// input_blocks[0] is conv_in; then each down block contributes
// layers_per_block entries (a ResNet [0] and its attention [1]) and, but
// for the last, one downsampler ([0].op); middle_block is ResNet,
// attention, ResNet; each up block contributes layers_per_block + 1
// entries (a ResNet [0], its attention [1] where the block has attention,
// and, but for the last block, on its last entry the upsampler: [2], or
// [1] without attention). A slot a layout lacks maps to a name its UNet
// does not have, which the caller refuses.
// diffusers 0.31's own converter (_maybe_map_sgm_blocks_to_diffusers) takes
// an up block's upsampler at [1] for an attention; Fresco follows LDM.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/LoraLdm.h"

#include <cctype>

namespace fresco::lora {
namespace {

// Splits "4_1_proj_in" into 4, 1 and "proj_in"; false when it does not
// start with two numbers.
bool splitIndices(const std::string &s, int &first, int &second,
                  std::string &rest) {
  size_t at = 0;
  auto number = [&](int &out) {
    size_t end = at;
    while (end < s.size() && end - at < 6 &&
           std::isdigit(static_cast<unsigned char>(s[end])))
      ++end;
    if (end == at)
      return false;
    out = std::stoi(s.substr(at, end - at));
    at = end;
    return true;
  };
  if (!number(first) || at >= s.size() || s[at++] != '_' || !number(second))
    return false;
  if (at < s.size() && s[at] != '_')
    return false;
  rest = at < s.size() ? s.substr(at + 1) : "";
  return true;
}

// A ResNet's LDM parts: in_layers[2] is conv1, out_layers[3] conv2,
// emb_layers[1] time_emb_proj, skip_connection conv_shortcut.
std::string resnetPart(const std::string &rest) {
  static const std::pair<const char *, const char *> kParts[] = {
      {"in_layers_2", "conv1"},
      {"out_layers_3", "conv2"},
      {"emb_layers_1", "time_emb_proj"},
      {"skip_connection", "conv_shortcut"}};
  for (auto [ldm, diffusers] : kParts)
    if (rest == ldm)
      return diffusers;
  return rest;
}

} // namespace

std::optional<std::string> ldmUnetModule(const std::string &ldm,
                                         const UnetHasPrefix &has) {
  static const std::pair<const char *, const char *> kWhole[] = {
      {"input_blocks_0_0", "conv_in"},
      {"time_embed_0", "time_embedding_linear_1"},
      {"time_embed_2", "time_embedding_linear_2"},
      {"label_emb_0_0", "add_embedding_linear_1"},
      {"label_emb_0_2", "add_embedding_linear_2"},
      {"out_2", "conv_out"}};
  for (auto [name, diffusers] : kWhole)
    if (ldm == name)
      return std::string(diffusers);
  // Layers per block: the first down block's ResNets.
  int perBlock = 0;
  while (perBlock < 64 &&
         has("down_blocks_0_resnets_" + std::to_string(perBlock) + "_"))
    ++perBlock;
  if (perBlock == 0)
    return std::nullopt;
  int i = 0, sub = 0;
  std::string rest;
  const std::string input = "input_blocks_", middle = "middle_block_",
                    output = "output_blocks_";
  if (ldm.rfind(input, 0) == 0 &&
      splitIndices(ldm.substr(input.size()), i, sub, rest) && i >= 1) {
    const std::string block =
        "down_blocks_" + std::to_string((i - 1) / (perBlock + 1)) + "_";
    const int j = (i - 1) % (perBlock + 1);
    if (j == perBlock)
      return sub == 0 && rest == "op"
                 ? std::optional(block + "downsamplers_0_conv")
                 : std::nullopt;
    if (sub == 0)
      return block + "resnets_" + std::to_string(j) + "_" + resnetPart(rest);
    if (sub == 1)
      return block + "attentions_" + std::to_string(j) + "_" + rest;
    return std::nullopt;
  }
  if (ldm.rfind(middle, 0) == 0) {
    std::string tail = ldm.substr(middle.size());
    size_t us = tail.find('_');
    if (us == std::string::npos || us != 1 || tail[0] < '0' || tail[0] > '2')
      return std::nullopt;
    rest = tail.substr(2);
    if (tail[0] == '1')
      return "mid_block_attentions_0_" + rest;
    return "mid_block_resnets_" + std::string(tail[0] == '0' ? "0" : "1") +
           "_" + resnetPart(rest);
  }
  if (ldm.rfind(output, 0) == 0 &&
      splitIndices(ldm.substr(output.size()), i, sub, rest)) {
    const std::string block =
        "up_blocks_" + std::to_string(i / (perBlock + 1)) + "_";
    const int j = i % (perBlock + 1);
    const bool attention = has(block + "attentions_0_");
    if (sub == 0)
      return block + "resnets_" + std::to_string(j) + "_" + resnetPart(rest);
    if (sub == 1 && attention)
      return block + "attentions_" + std::to_string(j) + "_" + rest;
    if (sub == (attention ? 2 : 1) && j == perBlock)
      return block + "upsamplers_0_" + rest;
    return std::nullopt;
  }
  return std::nullopt;
}

} // namespace fresco::lora
