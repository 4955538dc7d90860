//===- KeyMask.cpp - Padded keys of joined sequences, per block -----------===//
//
// See KeyMask.h.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/KeyMask.h"

#include <cassert>

namespace mlir::fresco {

KeyMask keyMask(std::optional<ArrayRef<int64_t>> valid, int64_t n) {
  if (!valid || valid->empty())
    return KeyMask(n, true);
  int64_t s = int64_t(valid->size()), len = n / s;
  KeyMask mask(n, false);
  for (int64_t i = 0; i < s; ++i)
    for (int64_t j = 0; j < (*valid)[i] && j < len; ++j)
      mask[i * len + j] = true;
  return mask;
}

KeyMask joinedMask(ArrayRef<std::pair<int64_t, int64_t>> runs) {
  KeyMask mask;
  for (auto [padded, real] : runs)
    for (int64_t j = 0; j < padded; ++j)
      mask.push_back(j < real);
  return mask;
}

KeyMask chunkOf(ArrayRef<bool> mask, ArrayRef<int64_t> sizes, int64_t parts,
                int64_t chunk) {
  KeyMask out;
  int64_t at = 0;
  for (int64_t size : sizes) {
    int64_t len = size / parts;
    auto part = mask.slice(at + chunk * len, len);
    out.append(part.begin(), part.end());
    at += size;
  }
  assert(at == int64_t(mask.size()) && "sizes must cover the mask");
  return out;
}

std::optional<SmallVector<int64_t>> keyValidOf(ArrayRef<KeyMask> rows) {
  int64_t n = int64_t(rows.front().size());
  for (int64_t s = 1; s <= n; ++s) {
    if (n % s != 0)
      continue;
    int64_t len = n / s;
    SmallVector<int64_t> table;
    bool ok = true;
    for (const KeyMask &row : rows)
      for (int64_t i = 0; i < s && ok; ++i) {
        int64_t real = 0;
        while (real < len && row[i * len + real])
          ++real;
        for (int64_t j = real; j < len && ok; ++j)
          ok = !row[i * len + j];
        table.push_back(real);
      }
    if (ok)
      return table;
  }
  return std::nullopt;
}

} // namespace mlir::fresco
