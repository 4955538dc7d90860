//===- Weights.cpp - A rank's weight slices in memory ---------------------===//
#include "runtime/core/Weights.h"
#include "runtime/core/Error.h"
#include "runtime/io/Checkpoint.h"

#include <map>
#include <memory>

namespace fresco {

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
    const TensorInfo &t = ckpt->checkShape(w->name()->str(), full);
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
