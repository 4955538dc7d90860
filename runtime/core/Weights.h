//===- Weights.h - A rank's weight slices in memory -------------*- C++ -*-===//
#ifndef FRESCO_RUNTIME_CORE_WEIGHTS_H
#define FRESCO_RUNTIME_CORE_WEIGHTS_H

#include "runtime/core/Plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fresco {

/// Loads the weight table of one rank from a diffusers model folder or a
/// pipeline folder (model_index.json + one folder per component), reading
/// only each slice from the mmapped safetensors and converting to f32.
class WeightStore {
public:
  WeightStore(const plan::RankProgram &rank, const std::string &folder);

  const float *data(int index) const { return buffers_.at(index).data(); }
  /// Element count of weight `index`.
  size_t count(int index) const { return buffers_.at(index).size(); }
  /// Bytes this rank holds (f32), i.e. what it read from the checkpoints.
  uint64_t bytesLoaded() const { return bytes_; }
  size_t size() const { return buffers_.size(); }

private:
  std::vector<std::vector<float>> buffers_;
  uint64_t bytes_ = 0;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_WEIGHTS_H
