//===- MemoryPlanner.h - Static arena offsets from live ranges --*- C++ -*-===//
//
// Plain C++ (no MLIR types) so it is unit-testable and reusable by any pass.
// Buffers whose live ranges [first, last] (instruction indices, inclusive)
// overlap never share bytes; others may.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_COMPILER_ANALYSIS_MEMORYPLANNER_H
#define FRESCO_COMPILER_ANALYSIS_MEMORYPLANNER_H

#include <cstdint>
#include <vector>

namespace fresco {

struct BufferRequest {
  uint64_t bytes = 0;
  int64_t first = 0; // index of the defining instruction
  int64_t last = 0;  // index of the last use (inclusive)
};

struct MemoryPlan {
  std::vector<uint64_t> offsets; // one per request
  uint64_t arenaBytes = 0;       // peak
  uint64_t totalBytes = 0;       // sum of all (aligned) buffers: no reuse
};

/// Greedy by size: the largest buffers are placed first, each at the lowest
/// aligned offset that fits between the buffers already placed whose live
/// ranges overlap. Deterministic: ties keep request order.
MemoryPlan planMemory(const std::vector<BufferRequest> &requests,
                      uint64_t alignment = 64);

} // namespace fresco

#endif // FRESCO_COMPILER_ANALYSIS_MEMORYPLANNER_H
