//===- Safetensors.h - Bounds-checked safetensors reader/writer -*- C++ -*-===//
//
// A safetensors file is an 8-byte little-endian header length N, N bytes of
// JSON describing every tensor (dtype, shape, [begin, end) byte offsets into
// the data section) and then the data section itself.
//
// SafetensorsFile mmaps a file read-only and validates the whole header up
// front, so that every TensorInfo it hands out points at bytes that really
// are inside the mapping: a corrupt or truncated file is a fresco::Error
// naming the file and the problem, never a crash. Ranks read only the slices
// they need straight from the mapping (readSlice / readSliceAsF32).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_IO_SAFETENSORS_H
#define FRESCO_RUNTIME_IO_SAFETENSORS_H

#include "runtime/core/DType.h"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

namespace fresco {

/// One tensor of a safetensors file. `data` points into the file's mapping
/// and stays valid while the owning SafetensorsFile is alive (moving the file
/// object keeps it valid).
struct TensorInfo {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t *data = nullptr; ///< May be unaligned: read with memcpy.
  size_t byteSize = 0;
  uint64_t fileOffset = 0; ///< Where the bytes start in the file.
  std::string file;        ///< The file it came from, for error messages.

  int64_t numel() const { return numElements(shape); }
};

/// A safetensors file, mmapped and validated. Move-only.
class SafetensorsFile {
public:
  SafetensorsFile() = default;
  /// Same as default construction followed by open(path).
  explicit SafetensorsFile(const std::string &path);
  ~SafetensorsFile();
  SafetensorsFile(SafetensorsFile &&other) noexcept;
  SafetensorsFile &operator=(SafetensorsFile &&other) noexcept;
  SafetensorsFile(const SafetensorsFile &) = delete;
  SafetensorsFile &operator=(const SafetensorsFile &) = delete;

  /// Maps and validates `path`; throws fresco::Error on any problem. A file
  /// object that was already open is closed first.
  void open(const std::string &path);
  void close();
  bool isOpen() const { return base_ != nullptr; }

  const std::string &path() const { return path_; }
  uint64_t fileSize() const { return size_; }
  /// All tensors, in data-section order.
  const std::vector<TensorInfo> &tensors() const { return tensors_; }
  /// Tensor names, sorted.
  std::vector<std::string> names() const;
  /// nullptr when the file has no tensor of that name.
  const TensorInfo *find(const std::string &name) const;
  /// Like find(), but a missing tensor is an error naming the file.
  const TensorInfo &get(const std::string &name) const;
  /// Says this process is done reading tensor `t` of this file for now:
  /// the mapped pages wholly inside its bytes leave the resident set (they
  /// stay in the page cache, and a later read maps them again), so a loader
  /// that copies tensor by tensor holds the checkpoint once, not twice.
  /// Best effort; a `t` that is not this file's is ignored.
  void releasePages(const TensorInfo &t) const;
  /// The optional "__metadata__" string map (empty when absent).
  const std::map<std::string, std::string> &metadata() const {
    return metadata_;
  }

private:
  void parseHeader();

  std::string path_;
  uint8_t *base_ = nullptr;
  uint64_t size_ = 0;
  std::vector<TensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
};

/// Parses a safetensors dtype string ("F32", "BF16", ...); returns false for
/// dtypes the runtime does not support (F64, I8, BOOL, ...).
bool parseSafetensorsDType(const std::string &s, DType &out);
/// The safetensors spelling of a dtype ("F32", "F16", "BF16", "I64", "I32").
const char *safetensorsDTypeName(DType t);

/// Converts the whole tensor to f32 into `dst` (numel() floats). Supports
/// F32, F16 and BF16 tensors; integer tensors are an error.
void readAsF32(const TensorInfo &t, float *dst);

/// Copies the hyper-rectangle [offsets, offsets + sizes) of `t` into `dst`,
/// row-major, converted to f32 (F32/F16/BF16 tensors). offsets and sizes must
/// have one entry per dimension and lie inside the shape.
void readSliceAsF32(const TensorInfo &t, const std::vector<int64_t> &offsets,
                    const std::vector<int64_t> &sizes, float *dst);

/// Same slice as readSliceAsF32 but copies raw elements in the tensor's own
/// dtype (any dtype); `dst` receives numElements(sizes) * dtypeSize bytes.
void readSlice(const TensorInfo &t, const std::vector<int64_t> &offsets,
               const std::vector<int64_t> &sizes, void *dst);

/// One tensor to write; `data` holds numElements(shape) elements of `dtype`,
/// row-major, little-endian.
struct SafetensorsEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void *data = nullptr;
};

/// Writes a safetensors file laid out as the Python library lays it out:
/// compact JSON header with "__metadata__" first, tensors ordered by dtype
/// size (largest first) then name so every tensor is aligned to its element
/// size, header padded with spaces to a multiple of 8. Pass an empty
/// `metadata` to omit "__metadata__". Writes a temporary file next to `path`
/// and renames it, so readers never see a half-written file.
void writeSafetensors(const std::string &path,
                      const std::vector<SafetensorsEntry> &entries,
                      const std::map<std::string, std::string> &metadata = {
                          {"format", "pt"}});

/// A contiguous run of bytes for writeFileAtomically.
struct ByteSpan {
  const void *data;
  size_t size;
};

/// Writes `chunks` to `path` through a temporary file in the same directory
/// and a rename; `what` ("safetensors file", "npy file") words the errors.
void writeFileAtomically(const std::string &path,
                         const std::vector<ByteSpan> &chunks, const char *what);

} // namespace fresco

#endif // FRESCO_RUNTIME_IO_SAFETENSORS_H
