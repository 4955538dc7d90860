//===- ScratchArena.h - Memory instructions use while they run --*- C++ -*-===//
//
// Ring attention's key/value blocks and row statistics, the real keys and
// values of padded key blocks (AttentionAttrs.key_valid), the collectives'
// staging buffers. Instructions run one at a time, so one backend buffer and
// one host buffer, each sized at bind time to the largest need and allocated
// on first use, serve them all (per-instruction buffers cost gigabytes at
// Flux size). Collectives in flight while other steps run get a region of
// their own.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_SCRATCHARENA_H
#define FRESCO_RUNTIME_CORE_SCRATCHARENA_H

#include "runtime/core/Backend.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace fresco {

class ScratchArena {
public:
  explicit ScratchArena(Backend &backend) : backend_(backend) {}
  ~ScratchArena() {
    if (buffer_)
      backend_.release(buffer_);
  }
  ScratchArena(const ScratchArena &) = delete;
  ScratchArena &operator=(const ScratchArena &) = delete;

  void reserve(size_t bytes) { bytes_ = std::max(bytes_, bytes); }
  void *get() {
    if (!buffer_)
      buffer_ = backend_.allocate(bytes_);
    return buffer_;
  }
  void reserveHost(size_t bytes) { hostBytes_ = std::max(hostBytes_, bytes); }
  uint8_t *host() {
    if (host_.size() < hostBytes_)
      host_.resize(hostBytes_);
    return host_.data();
  }

private:
  Backend &backend_;
  size_t bytes_ = 0;
  void *buffer_ = nullptr;
  size_t hostBytes_ = 0;
  std::vector<uint8_t> host_;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_SCRATCHARENA_H
