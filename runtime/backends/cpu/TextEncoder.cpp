//===- TextEncoder.cpp - T5's position bias and CLIP's EOS pooling --------===//
#include "runtime/backends/RelativeBucket.h"
#include "runtime/backends/cpu/CpuKernels.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace fresco {
namespace cpu {

void relativePositionBias(const float *table, float *out, int64_t H, int64_t Tq,
                          int64_t Tk, int64_t numBuckets, int64_t maxDistance,
                          bool bidirectional) {
  // One bucket per relative position j - i, in [-(Tq - 1), Tk - 1].
  const int64_t span = Tq + Tk - 1;
  std::vector<int64_t> buckets(size_t(std::max<int64_t>(span, 0)));
  for (int64_t r = 0; r < span; ++r)
    buckets[size_t(r)] =
        relativeBucket(r - (Tq - 1), numBuckets, maxDistance, bidirectional);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Tq; ++i) {
      float *row = out + (h * Tq + i) * Tk;
      const int64_t *bk = buckets.data() + (Tq - 1 - i);
      for (int64_t j = 0; j < Tk; ++j)
        row[j] = table[bk[j] * H + h];
    }
}

void eosPool(const float *x, const int64_t *ids, float *out, int64_t B,
             int64_t T, int64_t D, int64_t tokenId, bool argmax) {
  for (int64_t b = 0; b < B; ++b) {
    const int64_t *row = ids + b * T;
    int64_t p = 0;
    if (argmax) {
      for (int64_t t = 1; t < T; ++t)
        if (row[t] > row[p])
          p = t;
    } else {
      // torch's argmax of (ids == eos): the first match, or 0 without one.
      for (int64_t t = 0; t < T; ++t)
        if (row[t] == tokenId) {
          p = t;
          break;
        }
    }
    std::memcpy(out + b * D, x + (b * T + p) * D, size_t(D) * sizeof(float));
  }
}

} // namespace cpu
} // namespace fresco
