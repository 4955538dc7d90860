//===- store_request.cpp - libFuzzer target: rendezvous store requests ----===//
//
// The bytes are what a client sends rank 0's TCP store server; its answers
// are discarded.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/store/StoreProtocol.h"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t pos = 0;
  fresco::StoreStream stream{[&](void *out, size_t n) {
                               if (n > size - pos)
                                 return false;
                               std::memcpy(out, data + pos, n);
                               pos += n;
                               return true;
                             },
                             [](const void *, size_t) { return true; }};
  fresco::StoreMap map;
  std::mutex mutex;
  fresco::serveStoreRequests(stream, map, mutex);
  return 0;
}
