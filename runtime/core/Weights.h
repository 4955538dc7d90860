//===- Weights.h - A rank's weight slices in memory -------------*- C++ -*-===//
#ifndef FRESCO_RUNTIME_CORE_WEIGHTS_H
#define FRESCO_RUNTIME_CORE_WEIGHTS_H

#include "runtime/core/DType.h"
#include "runtime/core/Plan.h"

#include <cstdint>
#include <string>
#include <vector>

namespace fresco {

class LoraSet;

/// Loads the weight table of one rank from a diffusers model folder or a
/// pipeline folder (model_index.json + one folder per component), reading
/// only each slice from the mmapped safetensors; where a slice reaches past
/// its tensor (a zero-padded weight) it holds zeros. Each slice stays in its
/// checkpoint's dtype (f32, f16 or bf16) until a consumer asks for another:
/// a device upload converts one tensor at a time with copyAs(), so a bf16
/// checkpoint run in bf16 never exists as f32 in host memory; a backend
/// that uses host weights in place gets f32 from data().
class WeightStore {
public:
  /// `loras`, when given, adds its adapters to the weights they target as
  /// each slice is read, in f32; an adapted slice is then held in
  /// `adaptedDtype` (the run's float storage: kept exact in f32, rounded
  /// once into bf16/f16).
  WeightStore(const plan::RankProgram &rank, const std::string &folder,
              const LoraSet *loras = nullptr, DType adaptedDtype = DType::F32);

  size_t size() const { return slices_.size(); }
  /// Element count of weight `index`.
  size_t count(int index) const { return slices_.at(index).count; }
  /// The dtype weight `index` is held in: its checkpoint's, or F32 once
  /// data() has widened it.
  DType dtype(int index) const { return slices_.at(index).dtype; }
  /// Its count(index) elements of dtype(index).
  const void *bytes(int index) const { return slices_.at(index).bytes.data(); }

  /// Writes weight `index` to `dst` as count(index) elements of `to` (F32,
  /// BF16 or F16): copied when it is held in `to`, else converted (widening
  /// is exact; narrowing rounds to nearest even; bf16 <-> f16 goes through
  /// f32, rounding once).
  void copyAs(int index, DType to, void *dst) const;

  /// Weight `index` as f32, valid as long as the store. A weight held in
  /// bf16/f16 is widened in place on first call (the store then holds it
  /// as f32). Not safe to call concurrently.
  const float *data(int index) const;

  /// Bytes this rank read from the checkpoints (each slice in its
  /// checkpoint's dtype).
  uint64_t bytesLoaded() const { return bytes_; }

private:
  struct Slice {
    DType dtype = DType::F32;
    size_t count = 0;
    std::vector<uint8_t> bytes;
  };
  // data() widens in place: the store is logically const to its users.
  mutable std::vector<Slice> slices_;
  uint64_t bytes_ = 0;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_WEIGHTS_H
