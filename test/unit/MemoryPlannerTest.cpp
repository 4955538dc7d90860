//===- MemoryPlannerTest.cpp - Static arena planning ----------------------===//
#include "compiler/Analysis/MemoryPlanner.h"

#include <gtest/gtest.h>

#include <random>

using namespace fresco;

namespace {

/// Checks the invariant: buffers with overlapping live ranges never overlap
/// in memory, and everything fits in the arena.
void expectValid(const std::vector<BufferRequest> &reqs, const MemoryPlan &p,
                 uint64_t align) {
  ASSERT_EQ(p.offsets.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_EQ(p.offsets[i] % align, 0u);
    EXPECT_LE(p.offsets[i] + reqs[i].bytes, p.arenaBytes);
    for (size_t j = i + 1; j < reqs.size(); ++j) {
      bool liveTogether =
          reqs[i].first <= reqs[j].last && reqs[j].first <= reqs[i].last;
      bool memOverlap = p.offsets[i] < p.offsets[j] + reqs[j].bytes &&
                        p.offsets[j] < p.offsets[i] + reqs[i].bytes;
      EXPECT_FALSE(liveTogether && memOverlap)
          << "buffers " << i << " and " << j << " collide";
    }
  }
}

TEST(MemoryPlanner, DisjointLifetimesShareMemory) {
  std::vector<BufferRequest> reqs = {{1024, 0, 1}, {1024, 2, 3}, {1024, 4, 5}};
  MemoryPlan p = planMemory(reqs);
  EXPECT_EQ(p.arenaBytes, 1024u);
  EXPECT_EQ(p.totalBytes, 3072u);
  expectValid(reqs, p, 64);
}

TEST(MemoryPlanner, OverlappingLifetimesDoNot) {
  std::vector<BufferRequest> reqs = {{100, 0, 5}, {200, 1, 3}, {300, 2, 4}};
  MemoryPlan p = planMemory(reqs, 64);
  // Aligned sizes 128 + 256 + 320, all live at step 2.
  EXPECT_EQ(p.arenaBytes, 704u);
  expectValid(reqs, p, 64);
}

TEST(MemoryPlanner, FillsGaps) {
  // A big long-lived buffer, then small ones that fit where a dead one was.
  std::vector<BufferRequest> reqs = {
      {4096, 0, 10}, {2048, 0, 2}, {1024, 3, 5}, {1024, 4, 6}};
  MemoryPlan p = planMemory(reqs);
  EXPECT_EQ(p.arenaBytes, 6144u);
  expectValid(reqs, p, 64);
}

TEST(MemoryPlanner, EmptyAndZeroSized) {
  EXPECT_EQ(planMemory({}).arenaBytes, 0u);
  std::vector<BufferRequest> reqs = {{0, 0, 0}, {0, 0, 1}};
  MemoryPlan p = planMemory(reqs);
  expectValid(reqs, p, 64);
}

TEST(MemoryPlanner, RandomRequestsStayValidAndDeterministic) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> reqs;
    int n = 1 + rng() % 60;
    uint64_t peakLowerBound = 0;
    for (int i = 0; i < n; ++i) {
      int64_t first = rng() % 40;
      reqs.push_back(
          {uint64_t(1 + rng() % 5000), first, first + int64_t(rng() % 10)});
    }
    for (int64_t t = 0; t < 50; ++t) {
      uint64_t live = 0;
      for (auto &r : reqs)
        if (r.first <= t && t <= r.last)
          live += (r.bytes + 63) / 64 * 64;
      peakLowerBound = std::max(peakLowerBound, live);
    }
    MemoryPlan p = planMemory(reqs);
    expectValid(reqs, p, 64);
    EXPECT_GE(p.arenaBytes, peakLowerBound);
    EXPECT_LE(p.arenaBytes, p.totalBytes);
    EXPECT_EQ(planMemory(reqs).offsets, p.offsets);
  }
}

} // namespace
