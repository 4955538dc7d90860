//===- Weights.cpp - A rank's weight slices in memory ---------------------===//
#include "runtime/core/Weights.h"
#include "runtime/core/Error.h"
#include "runtime/core/Lora.h"
#include "runtime/io/Checkpoint.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

namespace fresco {
namespace {

bool isFloat(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

/// Reads [offsets, offsets + sizes) of `t` into `dst` (row-major, in t's
/// dtype). Where the slice reaches past the tensor (a weight zero-padded
/// for an even split) it reads zeros: all-zero bytes in every float dtype.
void readPaddedSlice(const TensorInfo &t, const std::vector<int64_t> &offsets,
                     const std::vector<int64_t> &sizes, uint8_t *dst) {
  const size_t rank = sizes.size(), es = dtypeSize(t.dtype);
  std::vector<int64_t> inside(rank);
  bool fits = true, empty = false;
  for (size_t d = 0; d < rank; ++d) {
    inside[d] = std::clamp<int64_t>(t.shape[d] - offsets[d], 0, sizes[d]);
    fits = fits && inside[d] == sizes[d];
    empty = empty || inside[d] == 0;
  }
  if (fits) {
    readSlice(t, offsets, sizes, dst);
    return;
  }
  std::memset(dst, 0, size_t(numElements(sizes)) * es);
  if (empty)
    return;
  // The part inside the tensor, then its rows to their places in dst.
  std::vector<uint8_t> part(size_t(numElements(inside)) * es);
  readSlice(t, offsets, inside, part.data());
  const int64_t row = inside[rank - 1], rows = numElements(inside) / row;
  std::vector<int64_t> idx(rank - 1, 0);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t at = 0;
    for (size_t d = 0; d + 1 < rank; ++d)
      at = at * sizes[d] + idx[d];
    std::memcpy(dst + size_t(at * sizes[rank - 1]) * es,
                part.data() + size_t(r * row) * es, size_t(row) * es);
    for (size_t d = rank - 1; d-- > 0;) {
      if (++idx[d] < inside[d])
        break;
      idx[d] = 0;
    }
  }
}

} // namespace

WeightStore::WeightStore(const plan::RankProgram &rank,
                         const std::string &folder, const LoraSet *loras,
                         DType adaptedDtype) {
  check(isFloat(adaptedDtype), "adapted weights are held in f32, bf16 or f16");
  if (!rank.weights())
    return;
  // One open checkpoint per component folder, kept while loading.
  std::map<std::string, std::unique_ptr<Checkpoint>> checkpoints;
  slices_.resize(rank.weights()->size());
  for (flatbuffers::uoffset_t i = 0; i < rank.weights()->size(); ++i) {
    const plan::WeightSlice *w = rank.weights()->Get(i);
    std::string component = w->component()->str();
    auto &ckpt = checkpoints[component];
    if (!ckpt)
      ckpt = std::make_unique<Checkpoint>(
          resolveComponentFolder(folder, component));
    std::vector<int64_t> full(w->full_shape()->begin(), w->full_shape()->end());
    const TensorInfo &t =
        ckpt->checkShape(ckpt->storedName(w->name()->str()), full);
    check(isFloat(t.dtype), "tensor '", t.name, "' in ", t.file, " has dtype ",
          dtypeName(t.dtype), "; weights must be f32, f16 or bf16");
    std::vector<int64_t> offsets(w->offsets()->begin(), w->offsets()->end());
    std::vector<int64_t> sizes(w->sizes()->begin(), w->sizes()->end());
    Slice &s = slices_[i];
    s.dtype = t.dtype;
    s.count = size_t(numElements(sizes));
    s.bytes.resize(s.count * dtypeSize(t.dtype));
    if (sizes == full && std::all_of(offsets.begin(), offsets.end(),
                                     [](int64_t o) { return o == 0; }))
      std::memcpy(s.bytes.data(), t.data, s.bytes.size());
    else
      readPaddedSlice(t, offsets, sizes, s.bytes.data());
    // Copied: its mapped pages need not stay resident beside the copy.
    ckpt->releasePages(t);
    bytes_ += s.bytes.size();
    if (loras && loras->adapts(*w)) {
      // Merged in f32, then held in the run's storage: a bf16 checkpoint
      // run in f32 keeps its update exact, as diffusers' unmerged LoRA
      // layers do.
      std::vector<uint8_t> read = std::move(s.bytes);
      std::vector<uint8_t> wide(s.count * sizeof(float));
      float *f32 = reinterpret_cast<float *>(wide.data());
      widenFloats(read.data(), f32, s.count, s.dtype);
      read = {};
      loras->apply(*w, f32);
      if (adaptedDtype == DType::F32) {
        s.bytes = std::move(wide);
      } else {
        s.bytes.resize(s.count * dtypeSize(adaptedDtype));
        narrowFloats(f32, s.bytes.data(), s.count, adaptedDtype);
      }
      s.dtype = adaptedDtype;
    }
  }
}

void WeightStore::copyAs(int index, DType to, void *dst) const {
  const Slice &s = slices_.at(index);
  check(isFloat(to), "weights can be read as f32, bf16 or f16, not ",
        dtypeName(to));
  if (s.dtype == to) {
    std::memcpy(dst, s.bytes.data(), s.bytes.size());
  } else if (to == DType::F32) {
    widenFloats(s.bytes.data(), static_cast<float *>(dst), s.count, s.dtype);
  } else if (s.dtype == DType::F32) {
    narrowFloats(reinterpret_cast<const float *>(s.bytes.data()), dst, s.count,
                 to);
  } else {
    // bf16 <-> f16: through f32 in blocks, never the whole tensor.
    constexpr size_t kBlock = 4096;
    float wide[kBlock];
    for (size_t at = 0; at < s.count; at += kBlock) {
      size_t n = std::min(kBlock, s.count - at);
      widenFloats(s.bytes.data() + at * 2, wide, n, s.dtype);
      narrowFloats(wide, static_cast<uint8_t *>(dst) + at * 2, n, to);
    }
  }
}

const float *WeightStore::data(int index) const {
  Slice &s = slices_.at(index);
  if (s.dtype != DType::F32) {
    std::vector<uint8_t> wide(s.count * sizeof(float));
    widenFloats(s.bytes.data(), reinterpret_cast<float *>(wide.data()), s.count,
                s.dtype);
    s.bytes = std::move(wide);
    s.dtype = DType::F32;
  }
  return reinterpret_cast<const float *>(s.bytes.data());
}

} // namespace fresco
