//===- LoraLdm.h - Stable Diffusion's original UNet names -------*- C++ -*-===//
//
// kohya's sd-scripts names an SDXL UNet's modules (and other tools an SD
// 1.x / 2.x one's) as the original (LDM) code does: input_blocks, middle_block,
// output_blocks, a ResNet's in_layers / out_layers / emb_layers /
// skip_connection, time_embed, label_emb, out. This maps them to diffusers'
// UNet2DConditionModel names (internal to runtime/core/Lora.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_LORALDM_H
#define FRESCO_RUNTIME_CORE_LORALDM_H

#include <functional>
#include <optional>
#include <string>

namespace fresco::lora {

/// Whether the UNet has a module whose diffusers name, '.' written '_',
/// starts with `prefix` (e.g. "up_blocks_0_attentions_0_").
using UnetHasPrefix = std::function<bool(const std::string &prefix)>;

/// The diffusers name, '.' written '_', of the UNet module that kohya names
/// "lora_unet_" + `ldm` in LDM's names ("input_blocks_4_1_proj_in" ->
/// "down_blocks_1_attentions_0_proj_in" with 2 layers per block); nullopt
/// when `ldm` is not an LDM name. The block layout (layers per block, which
/// up blocks have attention) comes from `has`.
std::optional<std::string> ldmUnetModule(const std::string &ldm,
                                         const UnetHasPrefix &has);

} // namespace fresco::lora

#endif // FRESCO_RUNTIME_CORE_LORALDM_H
