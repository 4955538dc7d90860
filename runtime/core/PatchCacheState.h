//===- PatchCacheState.h - PipeFusion's caches of a rank --------*- C++ -*-===//
//
// Plan version 16 (PipeFusion): PatchCache instructions keep one whole
// tensor per cache id, which the executor holds across runs and shares
// between its functions (the warm-up function writes a cache whole, the
// patched denoiser one block at a time).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_PATCHCACHESTATE_H
#define FRESCO_RUNTIME_CORE_PATCHCACHESTATE_H

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

namespace fresco {

struct PatchCacheState {
  std::shared_ptr<uint8_t> data; // backend memory
  size_t bytes = 0;
  bool filled = false; // every block written at least once
};
using PatchCaches = std::map<int64_t, std::shared_ptr<PatchCacheState>>;

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_PATCHCACHESTATE_H
