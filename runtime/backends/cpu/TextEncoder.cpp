//===- TextEncoder.cpp - T5's position bias and CLIP's EOS pooling --------===//
#include "runtime/backends/cpu/CpuKernels.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace fresco {
namespace cpu {
namespace {

/// transformers' T5Attention._relative_position_bucket for one relative
/// position `rel` = key - query, with its float32 steps: the log ratio is
/// rounded to float32 where torch rounds it, so positions near a bucket
/// boundary land where PyTorch puts them.
int64_t bucketOf(int64_t rel, int64_t numBuckets, int64_t maxDistance,
                 bool bidirectional) {
  int64_t bucket = 0;
  if (bidirectional) {
    numBuckets /= 2;
    if (rel > 0)
      bucket += numBuckets;
    rel = rel < 0 ? -rel : rel;
  } else {
    rel = rel < 0 ? -rel : 0;
  }
  const int64_t maxExact = numBuckets / 2;
  if (rel < maxExact)
    return bucket + rel;
  // torch: log(float(rel) / max_exact) / math.log(max_distance / max_exact)
  // * (num_buckets - max_exact), each operation in float32 with the Python
  // scalars rounded to float32, then truncated.
  const float ratio = float(rel) / float(maxExact);
  const float denom =
      float(std::log(double(maxDistance) / double(maxExact)));
  const float scaled = std::log(ratio) / denom * float(numBuckets - maxExact);
  const int64_t large = maxExact + int64_t(scaled);
  return bucket + std::min(large, numBuckets - 1);
}

} // namespace

void relativePositionBias(const float *table, float *out, int64_t H,
                          int64_t Tq, int64_t Tk, int64_t numBuckets,
                          int64_t maxDistance, bool bidirectional) {
  // One bucket per relative position j - i, in [-(Tq - 1), Tk - 1].
  const int64_t span = Tq + Tk - 1;
  std::vector<int64_t> buckets(size_t(std::max<int64_t>(span, 0)));
  for (int64_t r = 0; r < span; ++r)
    buckets[size_t(r)] =
        bucketOf(r - (Tq - 1), numBuckets, maxDistance, bidirectional);
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
