//===- GroupMoments.h - One group's moments from its blocks -----*- C++ -*-===//
//
// A group norm over rows split across ranks: each rank's block of a group
// gives its mean and M2 (the sum of squared deviations from that mean);
// Chan et al.'s pairwise combination, for blocks of equal counts, gives the
// whole group's: the mean of the means, and M2 the blocks' M2s plus each
// block's count times its mean's squared distance to the whole mean. Shared
// by the CPU and CUDA kernels, in double.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_GROUPMOMENTS_H
#define FRESCO_RUNTIME_BACKENDS_GROUPMOMENTS_H

#include <cstdint>

#ifdef __CUDACC__
#define FRESCO_HOST_DEVICE __host__ __device__
#else
#define FRESCO_HOST_DEVICE
#endif

namespace fresco {

/// The whole group's mean and M2 from `parts` blocks of `count` positions
/// each, block p's (mean, M2) at partials[p * stride + 2 * group].
FRESCO_HOST_DEVICE inline void combineGroupMoments(const float *partials,
                                                   int64_t parts,
                                                   int64_t stride,
                                                   int64_t group, int64_t count,
                                                   double &mean, double &m2) {
  mean = 0.0;
  for (int64_t p = 0; p < parts; ++p)
    mean += partials[p * stride + 2 * group];
  mean /= double(parts);
  m2 = 0.0;
  for (int64_t p = 0; p < parts; ++p) {
    const double d = double(partials[p * stride + 2 * group]) - mean;
    m2 += double(partials[p * stride + 2 * group + 1]) + double(count) * d * d;
  }
}

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_GROUPMOMENTS_H
