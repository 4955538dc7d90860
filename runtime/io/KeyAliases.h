//===- KeyAliases.h - Older names of checkpoint tensors ---------*- C++ -*-===//
//
// A checkpoint saved by an older diffusers may store a tensor under another
// name than today's, which diffusers renames on load; so does Fresco. The
// table of such renames lives here, with the rest of checkpoint reading.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_IO_KEYALIASES_H
#define FRESCO_RUNTIME_IO_KEYALIASES_H

#include <string>
#include <vector>

namespace fresco {

/// The other names tensor `name` (today's diffusers name) may be stored
/// under, most likely first; empty when it has none. Today: the VAE
/// attention projections saved before diffusers 0.14 (to_q, to_k, to_v,
/// to_out.0 of an ".attentions." block as query, key, value, proj_attn;
/// same shapes), and T5's token embedding `shared.weight`, which
/// T5EncoderModel ties to `encoder.embed_tokens.weight`: transformers saves
/// the first, exports that keep only the second load too.
std::vector<std::string> checkpointKeyAliases(const std::string &name);

} // namespace fresco

#endif // FRESCO_RUNTIME_IO_KEYALIASES_H
