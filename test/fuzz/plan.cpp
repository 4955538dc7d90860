//===- plan.cpp - libFuzzer target: plan loader, verifier and binding -----===//
//
// A plan that loads and verifies is then bound on the CPU backend for each
// rank whose arena is small (binding allocates it); nothing runs. The
// weights folder does not exist: binding must not need it.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Plan.h"
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Weights.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  try {
    fresco::LoadedPlan p = fresco::LoadedPlan::fromBytes(
        std::vector<uint8_t>(data, data + size), "fuzz.fplan");
    for (int r = 0; r < p.plan().num_ranks(); ++r) {
      if (p.rank(r).arena_bytes() > (uint64_t(64) << 20))
        continue;
      try {
        fresco::WeightStore weights(p.rank(r), "/nonexistent");
        auto backend = fresco::createCpuBackend();
        fresco::Executor exec(p, r, *backend, weights);
      } catch (const fresco::Error &) {
      }
    }
  } catch (const fresco::Error &) {
  }
  return 0;
}
