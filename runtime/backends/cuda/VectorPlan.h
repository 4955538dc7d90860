//===- VectorPlan.h - What the 16-byte kernel paths cover ------*- C++ -*-===//
//
// The memory-bound kernels (Elementwise.cu's binary ops and MulAdd,
// Norm.cu's layer and RMS norms) move 16 bytes per load and store where
// they can: 8 bf16/f16 or 4 f32 elements. Which elements a (block, thread,
// vector slot) covers, the launch geometry and when the vector path
// applies are decided here, in __host__ __device__ code that the kernels
// call and that test/unit/VectorPlanTest.cpp runs on the CPU over
// simulated launches (no GPU is needed to check that every element is
// covered exactly once). Without nvcc this is plain C++, so the test also
// builds where the CUDA backend is off.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_VECTORPLAN_H
#define FRESCO_RUNTIME_BACKENDS_CUDA_VECTORPLAN_H

#include "runtime/core/Backend.h" // kMaxRank

#include <cstdint>

#ifdef __CUDACC__
#define FRESCO_HD __host__ __device__
// The for-each helpers are instantiated with device lambdas in kernels and
// host lambdas in the test; each instance is only ever called from its own
// side.
#define FRESCO_HD_TEMPLATE _Pragma("nv_exec_check_disable")
#else
#define FRESCO_HD
#define FRESCO_HD_TEMPLATE
#endif
// Device code only: host compilers warn about the unknown pragma.
#ifdef __CUDA_ARCH__
#define FRESCO_UNROLL _Pragma("unroll")
#else
#define FRESCO_UNROLL
#endif

namespace fresco {
namespace cuda {

/// A broadcasting binary problem after Elementwise.cu's collapse(): out is
/// contiguous with `shape`; a and b are addressed through their element
/// strides (0 where broadcast).
struct Strided {
  int rank;
  int64_t shape[kMaxRank];
  int64_t a[kMaxRank], b[kMaxRank];
};

namespace vec {

constexpr int kBytes = 16;

/// Elements per 16-byte vector of elements of `elemSize` bytes.
FRESCO_HD constexpr int width(int elemSize) { return kBytes / elemSize; }

/// Null (an absent optional operand) counts as aligned.
FRESCO_HD inline bool aligned(const void *p) {
  return reinterpret_cast<uintptr_t>(p) % kBytes == 0;
}

/// A block (x, y) and thread index, and the grid's extent, as the kernels
/// see them.
struct Launch {
  int64_t gridX, gridY;
  int threads;
};
struct Coord {
  int64_t blockX, blockY;
  int thread;
};

//===----------------------------------------------------------------------===//
// Dense: n contiguous elements
//===----------------------------------------------------------------------===//

/// Calls f(first, count) for the elements one thread of a grid-stride loop
/// covers: whole vectors [first, first + w) (count == w), then the tail
/// after the last whole vector one element at a time (count == 1).
/// `thread` is the global thread index, `threads` the grid's thread count.
FRESCO_HD_TEMPLATE
template <typename F>
FRESCO_HD inline void forEachDense(int64_t n, int w, int64_t thread,
                                   int64_t threads, F &&f) {
  const int64_t vectors = n / w;
  for (int64_t v = thread; v < vectors; v += threads)
    f(v * w, w);
  for (int64_t e = vectors * w + thread; e < n; e += threads)
    f(e, 1);
}

/// The dense vector path needs every pointer 16-byte aligned; n need not
/// be a multiple of the width.
FRESCO_HD inline bool denseVectorizable(const void *a, const void *b,
                                        const void *c, const void *out) {
  return aligned(a) && aligned(b) && aligned(c) && aligned(out);
}

//===----------------------------------------------------------------------===//
// Rows: binary ops by rows of the innermost dimension
//===----------------------------------------------------------------------===//

/// Whether the by-rows vector path applies to `s` with rows of `inner`
/// (= s.shape[rank-1]) elements: rows a whole number of vectors, indexable
/// in 32 bits, out and c aligned; a and b each either contiguous along the
/// row (inner stride 1, every row starting on a vector: outer strides
/// multiples of w, pointer aligned) or one value repeated along it (inner
/// stride 0).
FRESCO_HD inline bool rowsVectorizable(const Strided &s, const void *a,
                                       const void *b, const void *c,
                                       const void *out, int elemSize) {
  const int w = width(elemSize), last = s.rank - 1;
  const int64_t inner = s.shape[last];
  if (inner % w != 0 || inner > INT32_MAX || !aligned(c) || !aligned(out))
    return false;
  const int64_t *strides[2] = {s.a, s.b};
  const void *ptrs[2] = {a, b};
  for (int k = 0; k < 2; ++k) {
    const int64_t *st = strides[k];
    if (st[last] == 0)
      continue;
    if (st[last] != 1 || !aligned(ptrs[k]))
      return false;
    for (int d = 0; d < last; ++d)
      if (st[d] % w != 0)
        return false;
  }
  return true;
}

/// The by-rows grid: blockIdx.x strides over the rows, blockIdx.y over
/// chunks of `units` (vectors or elements) per row, so that a few long
/// rows still fill the GPU; at most `maxBlocks` blocks in all (but one
/// chunk per row at least).
FRESCO_HD inline Launch rowsLaunch(int64_t rows, int64_t units, int threads,
                                   int64_t maxBlocks) {
  const int64_t x = rows < maxBlocks ? rows : maxBlocks;
  int64_t y = (units + threads - 1) / threads;
  const int64_t perRow = maxBlocks / x > 1 ? maxBlocks / x : 1;
  y = y < perRow ? y : perRow;
  y = y < 65535 ? y : 65535;
  return {x, y, threads};
}

/// Calls startRow(row) once per row the block visits, then f(row, col) for
/// each vector [col, col + w) of it this thread covers. Column math is 32
/// bits (rowsVectorizable bounds the row).
FRESCO_HD_TEMPLATE
template <typename R, typename F>
FRESCO_HD inline void forEachRowVector(int64_t rows, int inner, int w,
                                       const Launch &l, const Coord &c,
                                       R &&startRow, F &&f) {
  const int vectors = inner / w;
  const int step = int(l.gridY) * l.threads;
  for (int64_t row = c.blockX; row < rows; row += l.gridX) {
    startRow(row);
    for (int j = int(c.blockY) * l.threads + c.thread; j < vectors; j += step)
      f(row, j * w);
  }
}

//===----------------------------------------------------------------------===//
// Norms: each row held in registers by a group of threads
//===----------------------------------------------------------------------===//

/// Vectors each thread holds (16 bytes each: 16 registers).
constexpr int kNormSlots = 4;
constexpr int kNormMaxThreads = 512;
/// Threads of a block that holds several rows (narrow rows).
constexpr int kNormGroupBlock = 256;

/// How the norm vector path lays rows out: `rowThreads` threads hold one
/// row. At most 32 (a power of two): lane groups of a warp, reduced by
/// shuffles, kNormGroupBlock / rowThreads rows per block (Flux's q/k RMS
/// norm, 128 wide). Above 32 (a multiple of 32): one row per block,
/// reduced through shared memory (Flux's 3072-wide layer norms).
struct NormPlan {
  int rowThreads = 0; // 0: the vector path does not apply
  int rowsPerBlock = 0;
  FRESCO_HD int blockThreads() const { return rowThreads * rowsPerBlock; }
};

/// The plan for rows of `cols` elements, vectors of w, or rowThreads 0
/// where the path does not apply: a row not a whole number of vectors, or
/// wider than kNormMaxThreads * kNormSlots vectors. Pointers are checked by
/// normVectorizable.
FRESCO_HD inline NormPlan normPlan(int64_t cols, int w) {
  NormPlan p;
  if (cols <= 0 || cols % w != 0)
    return p;
  const int64_t perThread = (cols / w + kNormSlots - 1) / kNormSlots;
  if (perThread <= 32) {
    int g = 1;
    while (g < perThread)
      g *= 2;
    p.rowThreads = g;
    p.rowsPerBlock = kNormGroupBlock / g;
    return p;
  }
  const int64_t threads = (perThread + 31) / 32 * 32;
  if (threads <= kNormMaxThreads) {
    p.rowThreads = int(threads);
    p.rowsPerBlock = 1;
  }
  return p;
}

/// Every pointer aligned (the optional ones may be null); with cols a
/// multiple of the width every row then starts on a vector too.
FRESCO_HD inline bool normVectorizable(const void *x, const void *y,
                                       const void *gamma, const void *beta,
                                       const void *shift, const void *scale) {
  return aligned(x) && aligned(y) && aligned(gamma) && aligned(beta) &&
         aligned(shift) && aligned(scale);
}

/// Calls f(row, valid, rowThread) for each row `thread` of block `block`
/// (of `grid`) works on, grid-stride: every thread of the block makes the
/// same calls, so that the row reductions can include all of them; rows
/// past the end come with valid false.
FRESCO_HD_TEMPLATE
template <typename F>
FRESCO_HD inline void forEachNormRow(int64_t rows, const NormPlan &p,
                                     int64_t block, int64_t grid, int thread,
                                     F &&f) {
  const int group = thread / p.rowThreads, rowThread = thread % p.rowThreads;
  for (int64_t base = block * p.rowsPerBlock; base < rows;
       base += grid * p.rowsPerBlock) {
    const int64_t row = base + group;
    f(row, row < rows, rowThread);
  }
}

/// Calls f(slot, col) for each vector [col, col + w) of a row that thread
/// `rowThread` of the row's `rowThreads` holds in slot `slot` (<
/// kNormSlots): vector j = rowThread + slot * rowThreads, so that
/// neighbouring threads load neighbouring vectors.
FRESCO_HD_TEMPLATE
template <typename F>
FRESCO_HD inline void forEachNormSlot(int cols, int w, int rowThreads,
                                      int rowThread, F &&f) {
  const int vectors = cols / w;
  // Unrolled, so that the slot indexes the kernel's register array.
  FRESCO_UNROLL
  for (int k = 0; k < kNormSlots; ++k) {
    const int j = rowThread + k * rowThreads;
    if (j < vectors)
      f(k, j * w);
  }
}

//===----------------------------------------------------------------------===//
// Rotary embedding
//===----------------------------------------------------------------------===//

/// Whether rope's vector path applies: x and y [B, T, H*Dh] and the table
/// [T, Dh/2, 2] read a vector at a time (forEachDense). A vector of x at
/// column c of a head then holds whole (x0, x1) pairs, and the table's
/// (cos, sin) for them are the vector at column c of its row t: heads a
/// whole number of vectors, every pointer aligned.
FRESCO_HD inline bool ropeVectorizable(int64_t Dh, int w, const void *x,
                                       const void *table, const void *y) {
  return Dh > 0 && Dh % w == 0 && aligned(x) && aligned(table) && aligned(y);
}

/// The rope with a fused RMS norm (Rotary.cu): each (token, head) row of Dh
/// elements is held in registers by a group of `lanes` lanes of one warp
/// (a power of two, groups aligned in the warp so that shuffles stay in
/// them), each lane `slots` vectors: lane l of its group holds the vectors
/// at columns (k * lanes + l) * w, k < slots. The row is read once, summed
/// by the group, then scaled and rotated from the registers. lanes 0: the
/// scalar kernel (unaligned pointers, heads not whole vectors, or rows
/// too long to hold).
struct RopeNormPlan {
  int lanes = 0, slots = 0;
  FRESCO_HD int rowsPerWarp() const { return 32 / lanes; }
};
constexpr int kRopeNormMaxSlots = 4;

FRESCO_HD inline RopeNormPlan ropeNormPlan(int64_t Dh, int w, const void *x,
                                           const void *table,
                                           const void *weight, const void *y) {
  if (!ropeVectorizable(Dh, w, x, table, y) || !weight || !aligned(weight))
    return {};
  const int64_t vecs = Dh / w;
  int lanes = 32;
  while (vecs % lanes != 0)
    lanes /= 2;
  if (vecs / lanes > kRopeNormMaxSlots)
    return {};
  return {lanes, int(vecs / lanes)};
}
/// Calls f(row, valid) for each row lane `lane` of warp `warp` (of `warps`
/// over the grid) holds: rounds of every warp's rows. The loop is the
/// warp's, so that its lanes stay together for the shuffles; lanes past
/// the last row get valid = false.
FRESCO_HD_TEMPLATE
template <typename F>
FRESCO_HD inline void forEachRopeNormRow(int64_t rows, const RopeNormPlan &p,
                                         int64_t warp, int64_t warps, int lane,
                                         F &&f) {
  const int64_t perRound = warps * p.rowsPerWarp();
  for (int64_t first = warp * p.rowsPerWarp(); first < rows;
       first += perRound) {
    const int64_t row = first + lane / p.lanes;
    f(row, row < rows);
  }
}
/// The first column of lane `lane`'s slot k in its row.
FRESCO_HD inline int64_t ropeNormColumn(const RopeNormPlan &p, int w, int lane,
                                        int k) {
  return (int64_t(k) * p.lanes + lane % p.lanes) * w;
}

} // namespace vec
} // namespace cuda
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_VECTORPLAN_H
