//===- MemoryPlanner.cpp --------------------------------------------------===//
#include "compiler/Analysis/MemoryPlanner.h"

#include <algorithm>
#include <numeric>

namespace fresco {

static uint64_t alignUp(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

MemoryPlan planMemory(const std::vector<BufferRequest> &requests,
                      uint64_t alignment) {
  MemoryPlan plan;
  size_t n = requests.size();
  plan.offsets.assign(n, 0);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return requests[a].bytes > requests[b].bytes;
  });

  struct Placed {
    uint64_t begin, end;
    int64_t first, last;
  };
  std::vector<Placed> placed;
  placed.reserve(n);
  for (size_t idx : order) {
    const BufferRequest &r = requests[idx];
    uint64_t size = alignUp(std::max<uint64_t>(r.bytes, 1), alignment);
    plan.totalBytes += size;
    // Occupied byte ranges of the buffers live at the same time.
    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (const Placed &p : placed)
      if (p.first <= r.last && r.first <= p.last)
        busy.push_back({p.begin, p.end});
    std::sort(busy.begin(), busy.end());
    uint64_t offset = 0;
    for (auto [b, e] : busy) {
      if (offset + size <= b)
        break; // fits in the gap before this range
      offset = std::max(offset, e);
    }
    plan.offsets[idx] = offset;
    placed.push_back({offset, offset + size, r.first, r.last});
    plan.arenaBytes = std::max(plan.arenaBytes, offset + size);
  }
  return plan;
}

} // namespace fresco
