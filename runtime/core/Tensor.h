//===- Tensor.h - Host tensors passed in and out of the runtime -*- C++ -*-===//
#ifndef FRESCO_RUNTIME_CORE_TENSOR_H
#define FRESCO_RUNTIME_CORE_TENSOR_H

#include "runtime/core/DType.h"

#include <cstdint>
#include <vector>

namespace fresco {

/// A dense row-major tensor in host memory.
struct HostTensor {
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data; // numel * dtypeSize bytes

  int64_t numel() const { return numElements(shape); }
  template <typename T> T *as() { return reinterpret_cast<T *>(data.data()); }
  template <typename T> const T *as() const {
    return reinterpret_cast<const T *>(data.data());
  }
};

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_TENSOR_H
