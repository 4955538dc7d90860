//===- VectorPlanTest.cpp - The CUDA vector paths' index plans on the CPU -===//
//
// runtime/backends/cuda/VectorPlan.h decides which elements each thread of
// the 16-byte vectorized kernels (binary ops, MulAdd, layer and RMS norm)
// touches and when those kernels apply. The kernels call the same
// functions, so simulating every (block, thread, slot) of a launch here
// checks, without a GPU, that each output element is written exactly once,
// that vectors are whole and aligned, and that odd widths, unaligned
// pointers and strided operands fall back to the scalar kernels. The
// numbers on a GPU are BackendConformanceTest's and FloatStorageTest's.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/VectorPlan.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace fresco {
namespace {

using namespace cuda;

// Elements per vector: f32 (4 bytes), bf16/f16 (2 bytes).
constexpr int kF32 = vec::width(4), kHalf = vec::width(2);

/// Counts how often each of n elements is visited.
struct Cover {
  explicit Cover(int64_t n) : hits(size_t(n), 0) {}
  void add(int64_t first, int count) {
    for (int i = 0; i < count; ++i) {
      ASSERT_GE(first + i, 0);
      ASSERT_LT(first + i, int64_t(hits.size()));
      ++hits[size_t(first + i)];
    }
  }
  void expectOnce() const {
    for (size_t i = 0; i < hits.size(); ++i)
      ASSERT_EQ(hits[i], 1) << "element " << i;
  }
  std::vector<int> hits;
};

/// A 16-byte aligned address and one `offset` bytes past it.
const void *at(size_t offset) {
  alignas(16) static unsigned char storage[64];
  return storage + offset;
}

TEST(VectorPlan, Widths) {
  EXPECT_EQ(kF32, 4);
  EXPECT_EQ(kHalf, 8);
  EXPECT_TRUE(vec::aligned(nullptr)); // an absent operand
  EXPECT_TRUE(vec::aligned(at(0)));
  EXPECT_TRUE(vec::aligned(at(16)));
  EXPECT_FALSE(vec::aligned(at(2)));
  EXPECT_FALSE(vec::aligned(at(8)));
}

TEST(VectorPlan, DenseCoversEveryElementOnce) {
  for (int w : {kF32, kHalf})
    for (int64_t n : {0, 1, 7, 8, 9, 3070, 3072, 3 * 3072 + 5})
      for (int64_t threads : {1, 3, 256, 4096}) {
        SCOPED_TRACE(::testing::Message()
                     << "w=" << w << " n=" << n << " threads=" << threads);
        Cover cover(n);
        for (int64_t t = 0; t < threads; ++t)
          vec::forEachDense(n, w, t, threads, [&](int64_t first, int count) {
            if (count == w) {
              EXPECT_EQ(first % w, 0) << "a vector off the 16-byte grid";
              EXPECT_LE(first + w, n);
            } else {
              EXPECT_EQ(count, 1);
              EXPECT_GE(first, n / w * w) << "a scalar before the tail";
            }
            cover.add(first, count);
          });
        cover.expectOnce();
      }
}

TEST(VectorPlan, DenseNeedsEveryPointerAligned) {
  EXPECT_TRUE(vec::denseVectorizable(at(0), at(16), nullptr, at(32)));
  EXPECT_TRUE(vec::denseVectorizable(at(0), at(16), at(48), at(32)));
  EXPECT_FALSE(vec::denseVectorizable(at(2), at(16), nullptr, at(32)));
  EXPECT_FALSE(vec::denseVectorizable(at(0), at(18), nullptr, at(32)));
  EXPECT_FALSE(vec::denseVectorizable(at(0), at(16), at(4), at(32)));
  EXPECT_FALSE(vec::denseVectorizable(at(0), at(16), nullptr, at(34)));
}

/// The collapsed problem of a [B, T, D] tensor times a [B, 1, D] gate.
Strided gate(int64_t B, int64_t T, int64_t D) {
  Strided s{};
  s.rank = 3;
  const int64_t shape[] = {B, T, D}, a[] = {T * D, D, 1}, b[] = {D, 0, 1};
  for (int d = 0; d < 3; ++d) {
    s.shape[d] = shape[d];
    s.a[d] = a[d];
    s.b[d] = b[d];
  }
  return s;
}

TEST(VectorPlan, RowsApplyWhereRowsAreWholeAlignedVectors) {
  const void *p = at(0), *q = at(16), *c = at(32), *o = at(48);
  for (int es : {2, 4}) {
    SCOPED_TRACE(::testing::Message() << "element size " << es);
    EXPECT_TRUE(vec::rowsVectorizable(gate(2, 4096, 3072), p, q, c, o, es));
    EXPECT_TRUE(
        vec::rowsVectorizable(gate(2, 4096, 3072), p, q, nullptr, o, es));
    EXPECT_TRUE(vec::rowsVectorizable(gate(2, 3, 8), p, q, nullptr, o, es));
    // Widths that are not a whole number of vectors.
    EXPECT_FALSE(vec::rowsVectorizable(gate(2, 4096, 3070), p, q, c, o, es));
    EXPECT_FALSE(vec::rowsVectorizable(gate(2, 3, 7), p, q, c, o, es));
    EXPECT_FALSE(vec::rowsVectorizable(gate(2, 3, 1), p, q, c, o, es));
    // Any row-stepping operand, c or out off the 16-byte grid.
    EXPECT_FALSE(vec::rowsVectorizable(gate(2, 8, 64), at(2), q, c, o, es));
    EXPECT_FALSE(vec::rowsVectorizable(gate(2, 8, 64), p, at(4), c, o, es));
    EXPECT_FALSE(vec::rowsVectorizable(gate(2, 8, 64), p, q, at(8), o, es));
    EXPECT_FALSE(vec::rowsVectorizable(gate(2, 8, 64), p, q, c, at(6), es));
  }
  // bf16 rows of 4 f32-vectors (16 elements) are not whole bf16 vectors
  // when a row starts half-way: outer strides must be multiples of w.
  Strided s = gate(2, 3, 64);
  s.a[1] = 68; // a is a view with rows 68 apart
  s.a[0] = 3 * 68;
  EXPECT_TRUE(vec::rowsVectorizable(s, at(0), at(16), nullptr, at(32), 4));
  EXPECT_FALSE(vec::rowsVectorizable(s, at(0), at(16), nullptr, at(32), 2));
  // A column broadcast (inner stride 0) is one value per row: its pointer
  // need not be aligned; a strided row (inner stride 2) is refused.
  Strided col{};
  col.rank = 2;
  col.shape[0] = 3, col.shape[1] = 128;
  col.a[0] = 128, col.a[1] = 1;
  col.b[0] = 1, col.b[1] = 0;
  EXPECT_TRUE(vec::rowsVectorizable(col, at(0), at(2), nullptr, at(32), 2));
  col.a[1] = 2;
  EXPECT_FALSE(vec::rowsVectorizable(col, at(0), at(2), nullptr, at(32), 2));
}

TEST(VectorPlan, RowsCoverEveryElementOnce) {
  struct Case {
    int64_t rows, inner;
    int threads;
    int64_t maxBlocks;
  } cases[] = {
      {8192, 3072, 128, 65536}, // Flux-width gate, batch 2
      {34, 200, 128, 65536},    // a short last chunk (f32)
      {5, 64, 128, 65536},
      {1, 65536, 128, 65536},  // one long row: chunks along y
      {100000, 8, 128, 65536}, // more rows than blocks: rows grid-stride
      {7, 3072, 32, 4},        // a small grid: chunks and rows both loop
  };
  for (const Case &c : cases)
    for (int w : {kF32, kHalf}) {
      if (c.inner % w)
        continue;
      SCOPED_TRACE(::testing::Message()
                   << "rows=" << c.rows << " inner=" << c.inner << " w=" << w);
      const vec::Launch l =
          vec::rowsLaunch(c.rows, c.inner / w, c.threads, c.maxBlocks);
      ASSERT_GE(l.gridX, 1);
      ASSERT_GE(l.gridY, 1);
      EXPECT_LE(l.gridX * l.gridY, std::max<int64_t>(c.maxBlocks, l.gridX));
      EXPECT_LE(l.gridY, 65535);
      Cover cover(c.rows * c.inner);
      for (int64_t bx = 0; bx < l.gridX; ++bx)
        for (int64_t by = 0; by < l.gridY; ++by)
          for (int t = 0; t < l.threads; ++t) {
            int64_t current = -1;
            vec::forEachRowVector(
                c.rows, int(c.inner), w, l, vec::Coord{bx, by, t},
                [&](int64_t row) {
                  EXPECT_GT(row, current);
                  current = row;
                },
                [&](int64_t row, int col) {
                  ASSERT_EQ(row, current) << "a row used before its start";
                  ASSERT_EQ(col % w, 0);
                  ASSERT_LE(col + w, c.inner);
                  cover.add(row * c.inner + col, w);
                });
          }
      cover.expectOnce();
    }
}

/// rowThreads and rowsPerBlock of the norm plan.
std::pair<int, int> norm(int64_t cols, int w) {
  const vec::NormPlan p = vec::normPlan(cols, w);
  return {p.rowThreads, p.rowsPerBlock};
}

TEST(VectorPlan, NormPlanByWidth) {
  using P = std::pair<int, int>;
  // Flux's 3072-wide rows, a block each: 384 bf16 vectors in 96 threads of
  // 4, 768 f32 in 192; DiT-XL's 1152.
  EXPECT_EQ(norm(3072, kHalf), P(96, 1));
  EXPECT_EQ(norm(3072, kF32), P(192, 1));
  EXPECT_EQ(norm(1152, kHalf), P(64, 1));
  // Narrow rows, lane groups: Flux's q/k RMS norm (128 wide) in groups of
  // 4 (bf16) or 8 (f32) lanes, 64 or 32 rows to a block of 256.
  EXPECT_EQ(norm(128, kHalf), P(4, 64));
  EXPECT_EQ(norm(128, kF32), P(8, 32));
  EXPECT_EQ(norm(1024, kHalf), P(32, 8));
  EXPECT_EQ(norm(8, kHalf), P(1, 256));
  EXPECT_EQ(norm(4, kF32), P(1, 256));
  EXPECT_EQ(norm(24, kHalf), P(1, 256)); // 3 vectors, one thread
  EXPECT_EQ(norm(40, kHalf), P(2, 128)); // 5 vectors, two threads
  // Not whole vectors: the warp kernels.
  for (int64_t cols : {3070, 7, 1, 0})
    for (int w : {kF32, kHalf})
      EXPECT_EQ(norm(cols, w).first, 0) << cols << " wide, w=" << w;
  EXPECT_EQ(norm(4, kHalf).first, 0);
  // The widest row held in registers, and one vector more.
  const int64_t widest = int64_t(vec::kNormMaxThreads) * vec::kNormSlots;
  EXPECT_EQ(norm(widest * kHalf, kHalf), P(vec::kNormMaxThreads, 1));
  EXPECT_EQ(norm((widest + 1) * kHalf, kHalf).first, 0);
  EXPECT_EQ(norm(widest * kF32, kF32), P(vec::kNormMaxThreads, 1));
  EXPECT_EQ(norm((widest + 1) * kF32, kF32).first, 0);
}

// Every (block, thread, slot) of a launch as Norm.cu makes it: each
// element of each row once, every thread of a block at the same rows (the
// reductions need them all), lane groups inside one warp.
TEST(VectorPlan, NormLaunchCoversEveryRowOnce) {
  struct Case {
    int64_t rows;
    int cols;
    int64_t maxBlocks;
  } cases[] = {{6, 3072, 65536},  {9, 1152, 65536}, {5, 3072, 2},
               {300, 128, 65536}, {300, 128, 3},    {77, 8, 65536},
               {13, 40, 65536},   {3, 1024, 65536}, {2, 16384, 65536}};
  for (const Case &c : cases)
    for (int w : {kF32, kHalf}) {
      const vec::NormPlan p = vec::normPlan(c.cols, w);
      if (!p.rowThreads)
        continue;
      SCOPED_TRACE(::testing::Message()
                   << "rows=" << c.rows << " cols=" << c.cols << " w=" << w);
      const int threads = p.blockThreads();
      EXPECT_LE(threads, vec::kNormMaxThreads);
      EXPECT_TRUE(threads % 32 == 0) << threads;
      // Lane groups never straddle a warp; blocks of rows are whole warps.
      EXPECT_TRUE(p.rowThreads > 32 ? p.rowsPerBlock == 1
                                    : 32 % p.rowThreads == 0);
      const int64_t blocks =
          std::min((c.rows + p.rowsPerBlock - 1) / p.rowsPerBlock, c.maxBlocks);
      Cover cover(c.rows * c.cols);
      for (int64_t b = 0; b < blocks; ++b) {
        std::vector<int> calls(size_t(threads), 0);
        for (int t = 0; t < threads; ++t)
          vec::forEachNormRow(
              c.rows, p, b, blocks, t, [&](int64_t row, bool valid, int rt) {
                ++calls[size_t(t)];
                ASSERT_EQ(valid, row < c.rows);
                ASSERT_EQ(rt, t % p.rowThreads);
                if (!valid)
                  return;
                vec::forEachNormSlot(
                    c.cols, w, p.rowThreads, rt, [&](int slot, int col) {
                      ASSERT_LT(slot, vec::kNormSlots);
                      ASSERT_EQ(col % w, 0);
                      // Neighbouring threads, neighbouring
                      // vectors.
                      ASSERT_EQ(col / w, rt + slot * p.rowThreads);
                      cover.add(row * c.cols + col, w);
                    });
              });
        for (int t = 1; t < threads; ++t)
          ASSERT_EQ(calls[size_t(t)], calls[0]) << "thread " << t;
      }
      cover.expectOnce();
    }
}

TEST(VectorPlan, NormNeedsEveryPointerAligned) {
  const void *x = at(0), *y = at(16);
  EXPECT_TRUE(vec::normVectorizable(x, y, nullptr, nullptr, nullptr, nullptr));
  EXPECT_TRUE(vec::normVectorizable(x, x, at(32), at(48), at(16), at(0)));
  EXPECT_FALSE(
      vec::normVectorizable(at(2), y, nullptr, nullptr, nullptr, nullptr));
  EXPECT_FALSE(
      vec::normVectorizable(x, at(8), nullptr, nullptr, nullptr, nullptr));
  EXPECT_FALSE(vec::normVectorizable(x, y, at(4), nullptr, nullptr, nullptr));
  EXPECT_FALSE(vec::normVectorizable(x, y, nullptr, at(4), nullptr, nullptr));
  EXPECT_FALSE(vec::normVectorizable(x, y, nullptr, nullptr, at(4), at(0)));
  EXPECT_FALSE(vec::normVectorizable(x, y, nullptr, nullptr, at(0), at(4)));
}

TEST(VectorPlan, RopeNeedsWholeVectorHeads) {
  const void *x = at(0), *t = at(16), *y = at(32);
  EXPECT_TRUE(vec::ropeVectorizable(128, kHalf, x, t, y)); // Flux
  EXPECT_TRUE(vec::ropeVectorizable(128, kF32, x, t, x));  // in place
  EXPECT_TRUE(vec::ropeVectorizable(8, kHalf, x, t, y));
  EXPECT_TRUE(vec::ropeVectorizable(4, kF32, x, t, y));
  EXPECT_FALSE(vec::ropeVectorizable(6, kF32, x, t, y));
  EXPECT_FALSE(vec::ropeVectorizable(4, kHalf, x, t, y));
  EXPECT_FALSE(vec::ropeVectorizable(2, kF32, x, t, y));
  EXPECT_FALSE(vec::ropeVectorizable(0, kF32, x, t, y));
  EXPECT_FALSE(vec::ropeVectorizable(128, kHalf, at(2), t, y));
  EXPECT_FALSE(vec::ropeVectorizable(128, kHalf, x, at(4), y));
  EXPECT_FALSE(vec::ropeVectorizable(128, kHalf, x, t, at(8)));
}

TEST(VectorPlan, RopeNormPlanByWidth) {
  const void *x = at(0), *t = at(16), *w = at(32), *y = at(48);
  auto plan = [&](int64_t Dh, int width) {
    vec::RopeNormPlan p = vec::ropeNormPlan(Dh, width, x, t, w, y);
    return std::make_pair(p.lanes, p.slots);
  };
  // Flux's heads of 128: half a warp a row in bf16, a warp in f32.
  EXPECT_EQ(plan(128, kHalf), std::make_pair(16, 1));
  EXPECT_EQ(plan(128, kF32), std::make_pair(32, 1));
  EXPECT_EQ(plan(64, kHalf), std::make_pair(8, 1));
  EXPECT_EQ(plan(24, kF32), std::make_pair(2, 3));
  EXPECT_EQ(plan(24, kHalf), std::make_pair(1, 3));
  EXPECT_EQ(plan(512, kF32), std::make_pair(32, 4));
  EXPECT_EQ(plan(1024, kF32), std::make_pair(0, 0)); // 8 slots: scalar
  EXPECT_EQ(plan(6, kF32), std::make_pair(0, 0));    // no whole vectors
  EXPECT_EQ(vec::ropeNormPlan(128, kHalf, x, t, at(8), y).lanes, 0);
  EXPECT_EQ(vec::ropeNormPlan(128, kHalf, x, t, nullptr, y).lanes, 0);
  EXPECT_EQ(vec::ropeNormPlan(128, kHalf, at(2), t, w, y).lanes, 0);
}

TEST(VectorPlan, RopeNormLaunchCoversEveryRowOnce) {
  struct Case {
    int64_t rows, Dh;
    int64_t blocks; // of 256 threads
  } cases[] = {{2 * 9 * 24, 128, 65536}, {2 * 9 * 24, 128, 2},
               {7, 24, 65536},           {33, 64, 1},
               {5, 512, 65536},          {1, 8, 65536}};
  for (const Case &c : cases)
    for (int w : {kF32, kHalf}) {
      const vec::RopeNormPlan p =
          vec::ropeNormPlan(c.Dh, w, at(0), at(0), at(0), at(0));
      if (!p.lanes)
        continue;
      SCOPED_TRACE(::testing::Message()
                   << "rows=" << c.rows << " Dh=" << c.Dh << " w=" << w);
      EXPECT_EQ(32 % p.lanes, 0);
      EXPECT_LE(p.slots, vec::kRopeNormMaxSlots);
      const int64_t warps = c.blocks * 8;
      Cover cover(c.rows * c.Dh);
      for (int64_t warp = 0; warp < warps; ++warp) {
        std::vector<int> rounds(32, 0);
        for (int lane = 0; lane < 32; ++lane)
          vec::forEachRopeNormRow(
              c.rows, p, warp, warps, lane, [&](int64_t row, bool valid) {
                ++rounds[size_t(lane)];
                ASSERT_EQ(valid, row < c.rows);
                if (!valid)
                  return;
                for (int k = 0; k < p.slots; ++k)
                  cover.add(row * c.Dh + vec::ropeNormColumn(p, w, lane, k), w);
              });
        // Every lane of a warp takes the same rounds (the shuffles).
        for (int lane = 1; lane < 32; ++lane)
          ASSERT_EQ(rounds[size_t(lane)], rounds[0]) << "lane " << lane;
      }
      cover.expectOnce();
    }
}

} // namespace
} // namespace fresco
