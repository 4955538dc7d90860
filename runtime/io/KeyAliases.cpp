//===- KeyAliases.cpp - Older names of checkpoint tensors -----------------===//
#include "runtime/io/KeyAliases.h"

#include <cstring>
#include <utility>

namespace fresco {

std::vector<std::string> checkpointKeyAliases(const std::string &name) {
  // diffusers' _convert_deprecated_attention_blocks, for the names it maps.
  static const std::pair<const char *, const char *> renames[] = {
      {".to_q.", ".query."},
      {".to_k.", ".key."},
      {".to_v.", ".value."},
      {".to_out.0.", ".proj_attn."}};
  if (name == "shared.weight")
    return {"encoder.embed_tokens.weight"};
  if (name.find(".attentions.") == std::string::npos)
    return {};
  for (auto [now, old] : renames) {
    size_t at = name.find(now);
    if (at != std::string::npos)
      return {name.substr(0, at) + old + name.substr(at + std::strlen(now))};
  }
  return {};
}

} // namespace fresco
