//===- Layout.cpp - transpose and strided row copies ----------------------===//
//
// transpose() canonicalises the permutation (drops size-1 dims, merges dims
// that stay adjacent and in order), so e.g. [B,T,H,D] -> [B,H,T,D] becomes
// row copies of D elements. A genuine transpose of the innermost dim is done
// in square tiles so both sides touch whole cache lines.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/Parallel.h"

#include <algorithm>
#include <cstring>

namespace fresco {
namespace cpu {
namespace {

/// Tile edge for the blocked 2-D transpose, in elements.
constexpr int64_t kTile = 32;

/// Output dims with, per dim, the stride of the input element it steps.
struct Permuted {
  int rank = 0;
  int64_t shape[kMaxRank];
  int64_t inStride[kMaxRank];
  int64_t outStride[kMaxRank];
};

Permuted canonicalise(int rank, const int64_t *shape, const int64_t *perm) {
  int64_t inStrides[kMaxRank];
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; --d) {
    inStrides[d] = s;
    s *= shape[d];
  }
  Permuted p;
  for (int d = 0; d < rank; ++d) {
    const int64_t size = shape[perm[d]], stride = inStrides[perm[d]];
    if (size == 1)
      continue;
    if (p.rank > 0 && p.inStride[p.rank - 1] == stride * size) {
      p.shape[p.rank - 1] *= size;
      p.inStride[p.rank - 1] = stride;
      continue;
    }
    p.shape[p.rank] = size;
    p.inStride[p.rank] = stride;
    ++p.rank;
  }
  s = 1;
  for (int d = p.rank - 1; d >= 0; --d) {
    p.outStride[d] = s;
    s *= p.shape[d];
  }
  return p;
}

/// Input and output element offsets of multi-index `flat` over the dims of
/// `p` listed in `dims`.
void offsetsOf(const Permuted &p, const int *dims, int numDims, int64_t flat,
               int64_t &inOff, int64_t &outOff) {
  inOff = outOff = 0;
  for (int i = numDims - 1; i >= 0; --i) {
    const int d = dims[i];
    const int64_t idx = flat % p.shape[d];
    flat /= p.shape[d];
    inOff += idx * p.inStride[d];
    outOff += idx * p.outStride[d];
  }
}

template <typename T>
void transposeImpl(const T *x, T *out, const Permuted &p, int64_t total) {
  const int last = p.rank - 1;
  if (p.inStride[last] == 1) {
    // The innermost run is contiguous on both sides: copy rows.
    const int64_t inner = p.shape[last];
    const int64_t rows = total / inner;
    int outer[kMaxRank];
    for (int d = 0; d < last; ++d)
      outer[d] = d;
#pragma omp parallel for schedule(static) if (worthParallel(total))
    for (int64_t r = 0; r < rows; ++r) {
      int64_t inOff, outOff;
      offsetsOf(p, outer, last, r, inOff, outOff);
      std::memcpy(out + outOff, x + inOff, size_t(inner) * sizeof(T));
    }
    return;
  }
  // Some other output dim `u` is the input's unit-stride dim; transpose the
  // (u, last) plane in tiles for every index of the remaining dims.
  int u = 0;
  while (p.inStride[u] != 1)
    ++u;
  int others[kMaxRank];
  int numOthers = 0;
  int64_t otherCount = 1;
  for (int d = 0; d < last; ++d) {
    if (d == u)
      continue;
    others[numOthers++] = d;
    otherCount *= p.shape[d];
  }
  const int64_t nU = p.shape[u], nL = p.shape[last];
  const int64_t uTiles = (nU + kTile - 1) / kTile;
  const int64_t inL = p.inStride[last], outU = p.outStride[u];
#pragma omp parallel for schedule(static) if (worthParallel(total))
  for (int64_t item = 0; item < otherCount * uTiles; ++item) {
    int64_t inOff, outOff;
    offsetsOf(p, others, numOthers, item / uTiles, inOff, outOff);
    const int64_t u0 = (item % uTiles) * kTile;
    const int64_t u1 = std::min(nU, u0 + kTile);
    for (int64_t l0 = 0; l0 < nL; l0 += kTile) {
      const int64_t l1 = std::min(nL, l0 + kTile);
      for (int64_t iu = u0; iu < u1; ++iu) {
        const T *src = x + inOff + iu;
        T *dst = out + outOff + iu * outU;
        for (int64_t il = l0; il < l1; ++il)
          dst[il] = src[il * inL];
      }
    }
  }
}

} // namespace

void transpose(const void *x, void *out, int rank, const int64_t *shape,
               const int64_t *perm, size_t elemSize) {
  check(rank >= 0 && rank <= kMaxRank, "transpose: rank ", rank,
        " outside [0, ", kMaxRank, "]");
  bool seen[kMaxRank] = {};
  int64_t total = 1;
  for (int d = 0; d < rank; ++d) {
    check(perm[d] >= 0 && perm[d] < rank && !seen[perm[d]],
          "transpose: perm is not a permutation of ", rank, " dims");
    seen[perm[d]] = true;
    total *= shape[d];
  }
  if (total == 0)
    return;
  const Permuted p = canonicalise(rank, shape, perm);
  if (p.rank <= 1) { // the identity on memory
    std::memcpy(out, x, size_t(total) * elemSize);
    return;
  }
  switch (elemSize) {
  case 1:
    return transposeImpl(static_cast<const uint8_t *>(x),
                         static_cast<uint8_t *>(out), p, total);
  case 2:
    return transposeImpl(static_cast<const uint16_t *>(x),
                         static_cast<uint16_t *>(out), p, total);
  case 4:
    return transposeImpl(static_cast<const uint32_t *>(x),
                         static_cast<uint32_t *>(out), p, total);
  case 8:
    return transposeImpl(static_cast<const uint64_t *>(x),
                         static_cast<uint64_t *>(out), p, total);
  }
  fail("transpose: unsupported element size ", elemSize);
}

void copyStrided(const void *src, int64_t srcRowElems, void *dst,
                 int64_t dstRowElems, int64_t rows, int64_t rowElems,
                 size_t elemSize) {
  if (rows == 0 || rowElems == 0)
    return;
  const auto *s = static_cast<const char *>(src);
  auto *d = static_cast<char *>(dst);
  const size_t rowBytes = size_t(rowElems) * elemSize;
  if (srcRowElems == rowElems && dstRowElems == rowElems) {
    std::memcpy(d, s, size_t(rows) * rowBytes); // one contiguous block
    return;
  }
  const size_t srcPitch = size_t(srcRowElems) * elemSize;
  const size_t dstPitch = size_t(dstRowElems) * elemSize;
#pragma omp parallel for schedule(static) if (worthParallel(rows * rowElems))
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(d + size_t(r) * dstPitch, s + size_t(r) * srcPitch, rowBytes);
}

void upsampleNearest(const float *x, float *y, int64_t N, int64_t C, int64_t H,
                     int64_t W, int64_t sh, int64_t sw) {
  const int64_t OW = W * sw, planes = N * C;
#pragma omp parallel for schedule(                                             \
    static) if (worthParallel(planes * H * W * sh * sw))
  for (int64_t p = 0; p < planes; ++p) {
    const float *xp = x + p * H * W;
    float *yp = y + p * H * sh * OW;
    for (int64_t i = 0; i < H; ++i) {
      float *row = yp + i * sh * OW;
      for (int64_t j = 0; j < W; ++j)
        for (int64_t q = 0; q < sw; ++q)
          row[j * sw + q] = xp[i * W + j];
      // The other sh - 1 output rows repeat the first.
      for (int64_t r = 1; r < sh; ++r)
        std::memcpy(row + r * OW, row, sizeof(float) * OW);
    }
  }
}

} // namespace cpu
} // namespace fresco
