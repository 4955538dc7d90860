//===- Npy.h - NumPy .npy reader and writer ---------------------*- C++ -*-===//
//
// .npy is how reference latents, noise and embeddings travel between the
// PyTorch references and the runtime. The reader accepts format versions
// 1.0, 2.0 and 3.0 with little-endian f4/f2/i8/i4 data in C order; anything
// else is a fresco::Error saying what to change on the Python side. The
// writer produces version 1.0 files laid out as numpy.save lays them out.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_IO_NPY_H
#define FRESCO_RUNTIME_IO_NPY_H

#include "runtime/core/DType.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace fresco {

struct NpyArray {
  DType dtype = DType::F32;
  std::vector<int64_t> shape; ///< Empty for a 0-d array.
  std::vector<uint8_t> data;  ///< numel * dtypeSize bytes, row-major.

  int64_t numel() const { return numElements(shape); }
  /// The data as f32 (F32, F16 and BF16 arrays; integers are an error).
  std::vector<float> toF32() const;
};

/// Reads a .npy file; throws fresco::Error naming the file and the problem.
NpyArray readNpy(const std::string &path);

/// Parses .npy bytes already in memory; `name` is used in error messages.
NpyArray parseNpy(const uint8_t *bytes, size_t size, const std::string &name);

/// Serialises to .npy version 1.0 bytes (F32, F16, I64, I32; numpy has no
/// bfloat16, so BF16 is an error). `data` holds numElements(shape) elements.
std::vector<uint8_t> encodeNpy(DType dtype, const std::vector<int64_t> &shape,
                               const void *data);

/// encodeNpy written to `path` through a temporary file and a rename.
void writeNpy(const std::string &path, DType dtype,
              const std::vector<int64_t> &shape, const void *data);

} // namespace fresco

#endif // FRESCO_RUNTIME_IO_NPY_H
