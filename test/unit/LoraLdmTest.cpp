//===- LoraLdmTest.cpp - Stable Diffusion's original UNet names -----------===//
//
// LDM names against diffusers' for an SD 1.x layout (attention in the first
// three down blocks and the last three up blocks) and an SDXL one (no
// attention in the first down block or the last up block), 2 layers per
// block; the names were checked against diffusers 0.31's
// convert_ldm_unet_checkpoint. Names that fall on no module are refused.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/LoraLdm.h"

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

using fresco::lora::ldmUnetModule;

namespace {

// The UNet's module prefixes (diffusers' names, '_' for '.'): 4 or 3 down
// and up blocks, which of them have attention, 2 layers per block.
std::set<std::string> layout(int blocks, std::vector<bool> downAttention,
                             std::vector<bool> upAttention) {
  std::set<std::string> names;
  for (int b = 0; b < blocks; ++b) {
    const std::string d = "down_blocks_" + std::to_string(b) + "_",
                      u = "up_blocks_" + std::to_string(b) + "_";
    for (int j = 0; j < 2; ++j) {
      names.insert(d + "resnets_" + std::to_string(j) + "_conv1");
      if (downAttention[size_t(b)])
        names.insert(d + "attentions_" + std::to_string(j) + "_proj_in");
    }
    for (int j = 0; j < 3; ++j) {
      names.insert(u + "resnets_" + std::to_string(j) + "_conv1");
      if (upAttention[size_t(b)])
        names.insert(u + "attentions_" + std::to_string(j) + "_proj_in");
    }
  }
  return names;
}

void expectMaps(const std::set<std::string> &names,
                const std::vector<std::pair<std::string, std::string>> &pairs) {
  auto has = [&](const std::string &prefix) {
    auto it = names.lower_bound(prefix);
    return it != names.end() && it->rfind(prefix, 0) == 0;
  };
  for (const auto &[ldm, diffusers] : pairs) {
    std::optional<std::string> got = ldmUnetModule(ldm, has);
    if (diffusers.empty())
      EXPECT_FALSE(got.has_value()) << ldm << " -> " << got.value_or("");
    else
      EXPECT_EQ(got.value_or("(none)"), diffusers) << ldm;
  }
}

} // namespace

TEST(LoraLdm, StableDiffusion1Layout) {
  expectMaps(
      layout(4, {true, true, true, false}, {false, true, true, true}),
      {{"input_blocks_0_0", "conv_in"},
       {"time_embed_0", "time_embedding_linear_1"},
       {"time_embed_2", "time_embedding_linear_2"},
       {"out_2", "conv_out"},
       {"input_blocks_1_0_in_layers_2", "down_blocks_0_resnets_0_conv1"},
       {"input_blocks_2_1_transformer_blocks_0_attn1_to_q",
        "down_blocks_0_attentions_1_transformer_blocks_0_attn1_to_q"},
       {"input_blocks_3_0_op", "down_blocks_0_downsamplers_0_conv"},
       {"input_blocks_4_0_skip_connection",
        "down_blocks_1_resnets_0_conv_shortcut"},
       {"input_blocks_11_0_emb_layers_1",
        "down_blocks_3_resnets_1_time_emb_proj"},
       {"middle_block_0_out_layers_3", "mid_block_resnets_0_conv2"},
       {"middle_block_1_proj_in", "mid_block_attentions_0_proj_in"},
       {"middle_block_2_in_layers_2", "mid_block_resnets_1_conv1"},
       {"output_blocks_0_0_skip_connection",
        "up_blocks_0_resnets_0_conv_shortcut"},
       // Up block 0 has no attention: its upsampler is entry [1].
       {"output_blocks_2_1_conv", "up_blocks_0_upsamplers_0_conv"},
       {"output_blocks_5_1_proj_out", "up_blocks_1_attentions_2_proj_out"},
       {"output_blocks_5_2_conv", "up_blocks_1_upsamplers_0_conv"},
       {"output_blocks_11_1_transformer_blocks_0_ff_net_2",
        "up_blocks_3_attentions_2_transformer_blocks_0_ff_net_2"},
       // Slots that hold no module.
       {"input_blocks_3_1_proj_in", ""},
       {"input_blocks_3_0_in_layers_2", ""},
       {"output_blocks_1_2_conv", ""},
       {"output_blocks_4_2_conv", ""},
       {"output_blocks_3_3_proj_in", ""},
       {"middle_block_3_in_layers_2", ""},
       {"input_blocks_1234567_0_in_layers_2", ""},
       {"input_blocks_1", ""},
       {"input_blocks_x_0_op", ""},
       {"down_blocks_0_resnets_0_conv1", ""}});
}

TEST(LoraLdm, StableDiffusionXLLayout) {
  expectMaps(
      layout(3, {false, true, true}, {true, true, false}),
      {{"label_emb_0_0", "add_embedding_linear_1"},
       {"label_emb_0_2", "add_embedding_linear_2"},
       {"input_blocks_1_0_in_layers_2", "down_blocks_0_resnets_0_conv1"},
       {"input_blocks_3_0_op", "down_blocks_0_downsamplers_0_conv"},
       {"input_blocks_4_1_proj_in", "down_blocks_1_attentions_0_proj_in"},
       {"input_blocks_7_1_transformer_blocks_9_attn2_to_k",
        "down_blocks_2_attentions_0_transformer_blocks_9_attn2_to_k"},
       {"input_blocks_8_0_skip_connection",
        "down_blocks_2_resnets_1_conv_shortcut"},
       {"output_blocks_2_2_conv", "up_blocks_0_upsamplers_0_conv"},
       {"output_blocks_3_1_proj_out", "up_blocks_1_attentions_0_proj_out"},
       // The last up block has no attention: [1] is its upsampler
       // slot, and only on its last entry.
       {"output_blocks_7_1_proj_in", ""},
       {"output_blocks_8_1_conv", "up_blocks_2_upsamplers_0_conv"}});
}

TEST(LoraLdm, NoDownBlocksNoMapping) {
  auto none = [](const std::string &) { return false; };
  EXPECT_EQ(ldmUnetModule("out_2", none).value_or(""), "conv_out");
  EXPECT_FALSE(ldmUnetModule("input_blocks_1_0_in_layers_2", none));
}
