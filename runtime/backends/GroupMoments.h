//===- GroupMoments.h - One group's moments from its blocks -----*- C++ -*-===//
//
// A group norm over rows split across ranks: each rank's block of a group
// gives its mean and M2 (the sum of squared deviations from that mean);
// Chan et al.'s pairwise combination gives the whole group's: the mean of
// the means weighted by the blocks' counts, and M2 the blocks' M2s plus each
// block's count times its mean's squared distance to the whole mean. Blocks
// of equal counts (every row real) take the unweighted form, blocks whose
// rows are partly padding (GroupNormAttrs.valid_rows) the weighted one, in
// which a block of no real positions weighs nothing. Shared by the CPU and
// CUDA kernels, in double.
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
FRESCO_HOST_DEVICE inline void
combineGroupMoments(const float *partials, int64_t parts, int64_t stride,
                    int64_t group, int64_t count, double &mean, double &m2) {
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

/// combineGroupMoments for blocks of unequal counts: block p has
/// cpg * valid[p] positions in the group (valid[p] real positions in each
/// of the group's cpg channel planes). `total` gets the whole count; with
/// none (every block empty) mean and M2 are 0.
FRESCO_HOST_DEVICE inline void
combineGroupMomentsWeighted(const float *partials, int64_t parts,
                            int64_t stride, int64_t group, int64_t cpg,
                            const int64_t *valid, double &mean, double &m2,
                            double &total) {
  mean = 0.0, m2 = 0.0, total = 0.0;
  for (int64_t p = 0; p < parts; ++p) {
    const double n = double(cpg * valid[p]);
    if (n == 0.0)
      continue;
    mean += n * double(partials[p * stride + 2 * group]);
    total += n;
  }
  if (total == 0.0)
    return;
  mean /= total;
  for (int64_t p = 0; p < parts; ++p) {
    const double n = double(cpg * valid[p]);
    if (n == 0.0)
      continue;
    const double d = double(partials[p * stride + 2 * group]) - mean;
    m2 += double(partials[p * stride + 2 * group + 1]) + n * d * d;
  }
}

/// The most blocks a weighted combination takes on a GPU, whose kernels
/// get the counts by value (GroupPartCounts).
constexpr int64_t kMaxGroupParts = 64;
struct GroupPartCounts {
  int64_t valid[kMaxGroupParts];
};

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_GROUPMOMENTS_H
