//===- RankPaths.h - The memory paths the rank tests run ------*- C++ -*-===//
//
// Shared by the tests that run a collective instruction on real Gloo ranks
// (HaloRanksTest, StaleGatherRanksTest, ReduceScatterRanksTest,
// AsyncAllReduceRanksTest): the world group, the backends, and the paths a
// collective's memory takes (host memory; device memory staged through the
// host; device memory handed to the communicator, as NCCL takes it,
// through gloo-direct).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_RANKPATHS_H
#define FRESCO_TEST_UNIT_RANKPATHS_H

#include "runtime/backends/cpu/CpuBackend.h"

#include <cstdint>
#include <memory>
#include <vector>

namespace fresco::ranktest {

/// Every member of a world of `P` ranks: the group of the tests' plans.
inline std::vector<int32_t> world(int P) {
  std::vector<int32_t> m;
  for (int r = 0; r < P; ++r)
    m.push_back(r);
  return m;
}

/// Backend kind 0: cpu; 1: cpu-staged f32; 2: cpu-staged bf16.
inline std::unique_ptr<Backend> rankBackend(int kind) {
  return kind == 0   ? createCpuBackend()
         : kind == 1 ? createStagedCpuBackend(GemmPrecision::F32)
                     : createStagedCpuBackend(GemmPrecision::BF16);
}

struct MemoryPath {
  const char *name;
  int backend; // rankBackend's kind
  bool direct; // gloo-direct: the NCCL path
  bool bf16Plan;
};
inline constexpr MemoryPath kMemoryPaths[] = {
    {"cpu, gloo", 0, false, false},
    {"cpu-staged f32, gloo", 1, false, false},
    {"cpu-staged bf16, gloo", 2, false, false},
    {"cpu-staged f32, gloo-direct", 1, true, false},
    {"cpu-staged bf16, gloo-direct", 2, true, false},
    {"bf16 plan, cpu-staged bf16, gloo", 2, false, true},
    {"bf16 plan, cpu-staged bf16, gloo-direct", 2, true, true},
};

} // namespace fresco::ranktest

#endif // FRESCO_TEST_UNIT_RANKPATHS_H
