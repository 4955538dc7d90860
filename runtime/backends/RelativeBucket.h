//===- RelativeBucket.h - T5's relative position bucket ---------*- C++ -*-===//
//
// transformers' T5Attention._relative_position_bucket for one relative
// position, shared by the CPU and CUDA kernels so that both put every
// position in the same bucket. torch computes the log-spaced part in
// float32 (log(float(rel) / max_exact) / math.log(max_distance / max_exact)
// * (num_buckets - max_exact), then truncates); here each step is rounded
// to float32 where torch rounds it, and the log is the correctly rounded
// float32 log (the double log rounded once), which agrees with PyTorch's on
// every relative position up to 4096 for the usual bucket configurations
// (test/e2e checks T5-XXL's at 512 tokens against transformers).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_RELATIVEBUCKET_H
#define FRESCO_RUNTIME_BACKENDS_RELATIVEBUCKET_H

#include <cmath>
#include <cstdint>

#ifdef __CUDACC__
#define FRESCO_HOST_DEVICE __host__ __device__
#else
#define FRESCO_HOST_DEVICE
#endif

namespace fresco {

/// The bucket of relative position `rel` = key - query.
FRESCO_HOST_DEVICE inline int64_t relativeBucket(int64_t rel,
                                                 int64_t numBuckets,
                                                 int64_t maxDistance,
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
  const float ratio = float(rel) / float(maxExact);
  const float logRatio = float(log(double(ratio)));
  const float denom = float(log(double(maxDistance) / double(maxExact)));
  const float scaled = logRatio / denom * float(numBuckets - maxExact);
  const int64_t large = maxExact + int64_t(scaled);
  return bucket + (large < numBuckets - 1 ? large : numBuckets - 1);
}

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_RELATIVEBUCKET_H
