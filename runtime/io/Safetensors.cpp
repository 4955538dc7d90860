//===- Safetensors.cpp - Bounds-checked safetensors reader/writer ---------===//
//
// Every number read from the file is untrusted: sizes and offsets are checked
// with overflow-safe arithmetic before any pointer into the mapping is formed.
//
//===----------------------------------------------------------------------===//
#include "runtime/io/Safetensors.h"
#include "runtime/core/BoundedJson.h"

#include "runtime/core/Error.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <numeric>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unordered_set>

// The file format is little-endian and tensors are handed out as raw bytes.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "fresco's io layer assumes a little-endian host");

namespace fresco {

namespace {

/// Header lengths above this are corruption, not checkpoints (the Python
/// library uses the same limit).
constexpr uint64_t kMaxHeaderSize = 100'000'000;

template <typename... Parts>
[[noreturn]] void badFile(const std::string &path, const Parts &...parts) {
  fail("safetensors file '", path, "': ", parts...);
}

/// numel * elemSize with overflow checks; false when it does not fit.
bool checkedByteSize(const std::vector<int64_t> &shape, size_t elemSize,
                     uint64_t &out) {
  uint64_t n = elemSize;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, uint64_t(d), &n))
      return false;
  }
  out = n;
  return true;
}

/// Reads a non-negative JSON integer; false for anything else (floats,
/// negatives, strings, values beyond uint64).
bool jsonToUInt(const nlohmann::json &v, uint64_t &out) {
  if (v.is_number_unsigned()) {
    out = v.get<uint64_t>();
    return true;
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) {
    out = uint64_t(v.get<int64_t>());
    return true;
  }
  return false;
}

void requireFloatDType(const TensorInfo &t) {
  check(
      t.dtype == DType::F32 || t.dtype == DType::F16 || t.dtype == DType::BF16,
      "tensor '", t.name, "' in '", t.file, "' has dtype ", dtypeName(t.dtype),
      "; only f32, f16 and bf16 tensors can be read as f32");
}

/// Converts `n` elements starting at `src` (possibly unaligned) to f32.
void convertToF32(const uint8_t *src, DType dtype, size_t n, float *dst) {
  switch (dtype) {
  case DType::F32:
    std::memcpy(dst, src, n * 4);
    return;
  case DType::F16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, src + 2 * i, 2);
      dst[i] = halfToFloat(h);
    }
    return;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i) {
      uint16_t b;
      std::memcpy(&b, src + 2 * i, 2);
      dst[i] = bf16ToFloat(b);
    }
    return;
  default:
    fail("internal error: convertToF32 on ", dtypeName(dtype));
  }
}

/// Validates a slice request and calls fn(srcElement, dstElement, count) for
/// each contiguous run of the slice in row-major order. Trailing dimensions
/// taken whole are merged into one run so full-row slices copy in one go.
template <typename Fn>
void forEachSliceRun(const TensorInfo &t, const std::vector<int64_t> &offsets,
                     const std::vector<int64_t> &sizes, Fn fn) {
  const size_t rank = t.shape.size();
  check(offsets.size() == rank && sizes.size() == rank, "slice of tensor '",
        t.name, "' in '", t.file, "' has ", offsets.size(), " offsets and ",
        sizes.size(), " sizes, the tensor has rank ", rank, " (shape ",
        shapeToString(t.shape), ")");
  for (size_t i = 0; i < rank; ++i) {
    // offsets[i] <= dim and sizes[i] <= dim - offsets[i]: no overflow.
    check(offsets[i] >= 0 && sizes[i] >= 0 && offsets[i] <= t.shape[i] &&
              sizes[i] <= t.shape[i] - offsets[i],
          "slice offsets ", shapeToString(offsets), " sizes ",
          shapeToString(sizes), " are outside tensor '", t.name, "' in '",
          t.file, "' of shape ", shapeToString(t.shape));
  }
  for (int64_t s : sizes)
    if (s == 0)
      return;
  if (rank == 0) {
    fn(0, 0, 1);
    return;
  }
  std::vector<int64_t> stride(rank, 1);
  for (size_t i = rank - 1; i > 0; --i)
    stride[i - 1] = stride[i] * t.shape[i];
  // k: the outermost dimension of the contiguous run.
  size_t k = rank - 1;
  while (k > 0 && offsets[k] == 0 && sizes[k] == t.shape[k])
    --k;
  const int64_t run = sizes[k] * stride[k];
  std::vector<int64_t> idx(k, 0);
  int64_t dst = 0;
  while (true) {
    int64_t src = offsets[k] * stride[k];
    for (size_t j = 0; j < k; ++j)
      src += (offsets[j] + idx[j]) * stride[j];
    fn(src, dst, run);
    dst += run;
    // Odometer over the outer dimensions 0..k-1.
    size_t j = k;
    while (j > 0) {
      --j;
      if (++idx[j] < sizes[j])
        break;
      idx[j] = 0;
      if (j == 0)
        return;
    }
    if (k == 0)
      return;
  }
}

/// The order the Python library writes tensors in: by dtype, larger types
/// first (its enum order, descending), so every tensor stays aligned.
int writeRank(DType t) {
  switch (t) {
  case DType::I64:
    return 0;
  case DType::F32:
    return 1;
  case DType::I32:
    return 2;
  case DType::BF16:
    return 3;
  case DType::F16:
    return 4;
  }
  return 5;
}

} // namespace

bool parseSafetensorsDType(const std::string &s, DType &out) {
  static const std::pair<const char *, DType> kTypes[] = {{"F32", DType::F32},
                                                          {"F16", DType::F16},
                                                          {"BF16", DType::BF16},
                                                          {"I64", DType::I64},
                                                          {"I32", DType::I32}};
  for (const auto &[name, t] : kTypes) {
    if (s == name) {
      out = t;
      return true;
    }
  }
  return false;
}

const char *safetensorsDTypeName(DType t) {
  switch (t) {
  case DType::F32:
    return "F32";
  case DType::F16:
    return "F16";
  case DType::BF16:
    return "BF16";
  case DType::I64:
    return "I64";
  case DType::I32:
    return "I32";
  }
  return "?";
}

//===----------------------------------------------------------------------===//
// SafetensorsFile
//===----------------------------------------------------------------------===//

SafetensorsFile::SafetensorsFile(const std::string &path) { open(path); }

SafetensorsFile::~SafetensorsFile() { close(); }

SafetensorsFile::SafetensorsFile(SafetensorsFile &&other) noexcept {
  *this = std::move(other);
}

SafetensorsFile &SafetensorsFile::operator=(SafetensorsFile &&other) noexcept {
  if (this == &other)
    return *this;
  close();
  path_ = std::move(other.path_);
  base_ = other.base_;
  size_ = other.size_;
  // Moving the vector keeps its buffer, so TensorInfo::data and pointers
  // returned by find() stay valid.
  tensors_ = std::move(other.tensors_);
  index_ = std::move(other.index_);
  metadata_ = std::move(other.metadata_);
  other.base_ = nullptr;
  other.size_ = 0;
  return *this;
}

void SafetensorsFile::releasePages(const TensorInfo &t) const {
  // Only ever on our own read-only mapping: on other memory, MADV_DONTNEED
  // would discard data.
  const uintptr_t base = uintptr_t(base_), data = uintptr_t(t.data);
  if (!base_ || data < base || t.byteSize > size_ ||
      data - base > size_ - t.byteSize)
    return;
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (data + page - 1) / page * page;
  const uintptr_t end = (data + t.byteSize) / page * page;
  if (end > begin)
    ::madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
}

void SafetensorsFile::close() {
  if (base_)
    ::munmap(base_, size_);
  base_ = nullptr;
  size_ = 0;
  tensors_.clear();
  index_.clear();
  metadata_.clear();
}

void SafetensorsFile::open(const std::string &path) {
  close();
  path_ = path;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    badFile(path, "cannot open: ", std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    badFile(path, "cannot stat: ", std::strerror(err));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    badFile(path, "is not a regular file");
  }
  uint64_t size = uint64_t(st.st_size);
  if (size < 8) {
    ::close(fd);
    badFile(path, "is ", size,
            " bytes long, too short to be a safetensors file (the 8-byte "
            "header length alone is missing)");
  }
  // MAP_PRIVATE + PROT_READ: pages come from the page cache on demand and
  // ranks touching only their slices never read the rest.
  void *p = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  int err = errno;
  ::close(fd); // the mapping keeps the file alive
  if (p == MAP_FAILED)
    badFile(path, "cannot mmap: ", std::strerror(err));
  base_ = static_cast<uint8_t *>(p);
  size_ = size;
  try {
    parseHeader();
  } catch (...) {
    close();
    throw;
  }
}

void SafetensorsFile::parseHeader() {
  uint64_t headerLen;
  std::memcpy(&headerLen, base_, 8);
  if (headerLen > kMaxHeaderSize)
    badFile(path_, "header length ", headerLen, " is implausibly large (limit ",
            kMaxHeaderSize,
            " bytes): the file is corrupt or not a safetensors file");
  if (headerLen > size_ - 8)
    badFile(path_, "header length ", headerLen, " exceeds the ", size_ - 8,
            " bytes that follow it: the file is truncated or corrupt");
  const char *hb = reinterpret_cast<const char *>(base_ + 8);
  // nlohmann's lexer stops at a NUL byte and would ignore what follows; the
  // Python library rejects such headers, so do the same.
  if (std::memchr(hb, 0, headerLen) != nullptr)
    badFile(path_, "header is not valid JSON (it contains NUL bytes)");
  nlohmann::json header;
  try {
    header = parseBoundedJson(hb, hb + headerLen);
  } catch (const nlohmann::json::exception &e) {
    badFile(path_, "header is not valid JSON (", e.what(), ")");
  }
  if (!header.is_object())
    badFile(path_, "header is JSON but not an object");

  const uint64_t dataStart = 8 + headerLen;
  const uint64_t dataSize = size_ - dataStart;
  std::vector<std::pair<uint64_t, uint64_t>> ranges; // [begin, end)
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string &name = it.key();
    const nlohmann::json &v = it.value();
    if (name == "__metadata__") {
      if (v.is_null())
        continue;
      if (!v.is_object())
        badFile(path_, "\"__metadata__\" must be an object of strings");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          badFile(path_, "\"__metadata__\" entry '", m.key(),
                  "' is not a string");
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    if (!v.is_object())
      badFile(path_, "entry for tensor '", name, "' is not an object");

    TensorInfo t;
    t.name = name;
    t.file = path_;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string())
      badFile(path_, "tensor '", name, "' has no \"dtype\" string");
    if (!parseSafetensorsDType(dt->get<std::string>(), t.dtype))
      badFile(path_, "unsupported dtype ", dt->get<std::string>(),
              " for tensor '", name, "' (supported: F32, F16, BF16, I64, I32)");

    auto sh = v.find("shape");
    if (sh == v.end() || !sh->is_array())
      badFile(path_, "tensor '", name, "' has no \"shape\" array");
    for (const auto &d : *sh) {
      uint64_t dim;
      if (!jsonToUInt(d, dim) || dim > uint64_t(INT64_MAX))
        badFile(path_, "tensor '", name, "' has shape ", sh->dump(),
                ": dimensions must be non-negative integers");
      t.shape.push_back(int64_t(dim));
    }

    auto off = v.find("data_offsets");
    uint64_t begin, end;
    if (off == v.end() || !off->is_array() || off->size() != 2 ||
        !jsonToUInt((*off)[0], begin) || !jsonToUInt((*off)[1], end))
      badFile(path_, "tensor '", name,
              "' needs \"data_offsets\": [begin, end] with non-negative "
              "integers");
    if (begin > end || end > dataSize)
      badFile(path_, "tensor '", name, "' has data_offsets [", begin, ", ", end,
              "] outside the data section of ", dataSize,
              " bytes: the file is truncated or corrupt");
    uint64_t expected;
    if (!checkedByteSize(t.shape, dtypeSize(t.dtype), expected))
      badFile(path_, "tensor '", name, "' of shape ", shapeToString(t.shape),
              " is too large to address");
    if (end - begin != expected)
      badFile(path_, "tensor '", name, "' (", safetensorsDTypeName(t.dtype),
              ", shape ", shapeToString(t.shape), ") needs ", expected,
              " bytes but data_offsets [", begin, ", ", end, "] span ",
              end - begin);
    t.data = base_ + dataStart + begin;
    t.byteSize = size_t(expected);
    t.fileOffset = dataStart + begin;
    ranges.emplace_back(begin, end);
    tensors_.push_back(std::move(t));
  }

  // Data-section order; then overlapping byte ranges are neighbours.
  std::vector<size_t> order(tensors_.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return ranges[a] < ranges[b]; });
  for (size_t i = 1; i < order.size(); ++i) {
    const auto &prev = ranges[order[i - 1]], &cur = ranges[order[i]];
    if (cur.first < prev.second && cur.first < cur.second)
      badFile(path_, "tensors '", tensors_[order[i - 1]].name, "' and '",
              tensors_[order[i]].name, "' overlap in the data section");
  }
  std::vector<TensorInfo> sorted;
  sorted.reserve(tensors_.size());
  for (size_t i : order)
    sorted.push_back(std::move(tensors_[i]));
  tensors_ = std::move(sorted);
  for (size_t i = 0; i < tensors_.size(); ++i)
    index_.emplace(tensors_[i].name, i);
}

std::vector<std::string> SafetensorsFile::names() const {
  std::vector<std::string> out;
  out.reserve(tensors_.size());
  for (const auto &t : tensors_)
    out.push_back(t.name);
  std::sort(out.begin(), out.end());
  return out;
}

const TensorInfo *SafetensorsFile::find(const std::string &name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

const TensorInfo &SafetensorsFile::get(const std::string &name) const {
  const TensorInfo *t = find(name);
  if (!t)
    badFile(path_, "has no tensor '", name, "'");
  return *t;
}

//===----------------------------------------------------------------------===//
// Reading helpers
//===----------------------------------------------------------------------===//

void readAsF32(const TensorInfo &t, float *dst) {
  requireFloatDType(t);
  convertToF32(t.data, t.dtype, t.byteSize / dtypeSize(t.dtype), dst);
}

void readSliceAsF32(const TensorInfo &t, const std::vector<int64_t> &offsets,
                    const std::vector<int64_t> &sizes, float *dst) {
  requireFloatDType(t);
  const size_t es = dtypeSize(t.dtype);
  forEachSliceRun(t, offsets, sizes, [&](int64_t src, int64_t d, int64_t n) {
    convertToF32(t.data + size_t(src) * es, t.dtype, size_t(n), dst + d);
  });
}

void readSlice(const TensorInfo &t, const std::vector<int64_t> &offsets,
               const std::vector<int64_t> &sizes, void *dst) {
  const size_t es = dtypeSize(t.dtype);
  uint8_t *out = static_cast<uint8_t *>(dst);
  forEachSliceRun(t, offsets, sizes, [&](int64_t src, int64_t d, int64_t n) {
    std::memcpy(out + size_t(d) * es, t.data + size_t(src) * es,
                size_t(n) * es);
  });
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

void writeFileAtomically(const std::string &path,
                         const std::vector<ByteSpan> &chunks,
                         const char *what) {
  static std::atomic<unsigned> counter{0};
  // Same directory as the target, so the rename cannot cross filesystems.
  const std::string tmp = path + ".tmp-" + std::to_string(::getpid()) + "-" +
                          std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0)
    fail("cannot write ", what, " '", path, "': ", std::strerror(errno),
         " (while creating temporary file '", tmp, "')");
  auto abandon = [&](const char *step, int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail("cannot write ", what, " '", path, "': ", step, ": ",
         std::strerror(err));
  };
  for (const ByteSpan &c : chunks) {
    const char *p = static_cast<const char *>(c.data);
    size_t left = c.size;
    while (left > 0) {
      ssize_t n = ::write(fd, p, left);
      if (n < 0) {
        if (errno == EINTR)
          continue;
        abandon("write failed", errno);
      }
      p += n;
      left -= size_t(n);
    }
  }
  if (::fsync(fd) != 0)
    abandon("fsync failed", errno);
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot write ", what, " '", path,
         "': close failed: ", std::strerror(err));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail("cannot write ", what, " '", path, "': ", std::strerror(err),
         " (while renaming '", tmp, "' into place)");
  }
}

void writeSafetensors(const std::string &path,
                      const std::vector<SafetensorsEntry> &entries,
                      const std::map<std::string, std::string> &metadata) {
  auto badEntry = [&](const SafetensorsEntry &e, const auto &...parts) {
    fail("cannot write safetensors file '", path, "': tensor '", e.name, "' ",
         parts...);
  };
  std::vector<uint64_t> bytes(entries.size());
  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const SafetensorsEntry &e = entries[i];
    if (e.name.empty() || e.name == "__metadata__")
      badEntry(e, "has a reserved or empty name");
    if (!checkedByteSize(e.shape, dtypeSize(e.dtype), bytes[i]))
      badEntry(e, "has an invalid shape ", shapeToString(e.shape));
    if (bytes[i] > 0 && !e.data)
      badEntry(e, "has no data");
    order[i] = i;
  }
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    int ra = writeRank(entries[a].dtype), rb = writeRank(entries[b].dtype);
    return ra != rb ? ra < rb : entries[a].name < entries[b].name;
  });
  std::unordered_set<std::string> seen;
  for (const SafetensorsEntry &e : entries)
    if (!seen.insert(e.name).second)
      badEntry(e, "appears twice");

  // ordered_json keeps insertion order: metadata first, then data order.
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) {
    nlohmann::ordered_json meta = nlohmann::ordered_json::object();
    for (const auto &[k, v] : metadata)
      meta[k] = v;
    header["__metadata__"] = meta;
  }
  uint64_t offset = 0;
  std::vector<ByteSpan> chunks(1);
  for (size_t i : order) {
    const SafetensorsEntry &e = entries[i];
    nlohmann::ordered_json t = nlohmann::ordered_json::object();
    t["dtype"] = safetensorsDTypeName(e.dtype);
    t["shape"] = e.shape;
    t["data_offsets"] = {offset, offset + bytes[i]};
    header[e.name] = t;
    offset += bytes[i];
    if (bytes[i] > 0)
      chunks.push_back({e.data, size_t(bytes[i])});
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const nlohmann::json::exception &e) {
    fail("cannot write safetensors file '", path,
         "': tensor names and metadata must be valid UTF-8 (", e.what(), ")");
  }
  // Pad to 8 so the data section (and every tensor in it) stays aligned.
  text.append((8 - text.size() % 8) % 8, ' ');
  uint64_t len = text.size();
  std::string prefix(8, '\0');
  std::memcpy(prefix.data(), &len, 8);
  prefix += text;
  chunks[0] = {prefix.data(), prefix.size()};
  writeFileAtomically(path, chunks, "safetensors file");
}

} // namespace fresco
