//===- Weights.cpp - A rank's weight slices in memory ---------------------===//
#include "runtime/core/Weights.h"
#include "runtime/core/Error.h"
#include "runtime/io/Checkpoint.h"

#include <cstring>
#include <map>
#include <memory>

namespace fresco {
namespace {

/// Checkpoints saved before diffusers 0.14 name the VAE attention
/// projections query/key/value/proj_attn (same shapes); diffusers renames
/// them on load, and so does Fresco.
std::string legacyName(const std::string &name) {
  static const std::pair<const char *, const char *> renames[] = {
      {".to_q.", ".query."},
      {".to_k.", ".key."},
      {".to_v.", ".value."},
      {".to_out.0.", ".proj_attn."}};
  if (name.find(".attentions.") == std::string::npos)
    return "";
  for (auto [now, old] : renames) {
    size_t at = name.find(now);
    if (at != std::string::npos)
      return name.substr(0, at) + old + name.substr(at + std::strlen(now));
  }
  return "";
}

} // namespace

WeightStore::WeightStore(const plan::RankProgram &rank,
                         const std::string &folder) {
  if (!rank.weights())
    return;
  // One open checkpoint per component folder, kept while loading.
  std::map<std::string, std::unique_ptr<Checkpoint>> checkpoints;
  buffers_.resize(rank.weights()->size());
  for (flatbuffers::uoffset_t i = 0; i < rank.weights()->size(); ++i) {
    const plan::WeightSlice *w = rank.weights()->Get(i);
    std::string component = w->component()->str();
    auto &ckpt = checkpoints[component];
    if (!ckpt)
      ckpt = std::make_unique<Checkpoint>(
          resolveComponentFolder(folder, component));
    std::vector<int64_t> full(w->full_shape()->begin(), w->full_shape()->end());
    std::string name = w->name()->str();
    std::string legacy = legacyName(name);
    if (!ckpt->find(name) && !legacy.empty() && ckpt->find(legacy))
      name = legacy;
    const TensorInfo &t = ckpt->checkShape(name, full);
    check(t.dtype == DType::F32 || t.dtype == DType::F16 ||
              t.dtype == DType::BF16,
          "tensor '", t.name, "' in ", t.file, " has dtype ",
          dtypeName(t.dtype), "; weights must be f32, f16 or bf16");
    std::vector<int64_t> offsets(w->offsets()->begin(), w->offsets()->end());
    std::vector<int64_t> sizes(w->sizes()->begin(), w->sizes()->end());
    buffers_[i].resize(numElements(sizes));
    if (sizes == full)
      readAsF32(t, buffers_[i].data());
    else
      readSliceAsF32(t, offsets, sizes, buffers_[i].data());
    bytes_ += buffers_[i].size() * sizeof(float);
  }
}

} // namespace fresco
