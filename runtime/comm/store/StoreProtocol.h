//===- StoreProtocol.h - The TCP rendezvous store's requests ----*- C++ -*-===//
//
// What rank 0's store server does with the bytes of one connection, apart
// from the socket, so that it can be tested and fuzzed on bytes in memory.
// Requests: 'S' key value (set), 'G' key (get, answers at once whether
// found), 'H' key (has). Strings travel as u32 length + bytes.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_STORE_STOREPROTOCOL_H
#define FRESCO_RUNTIME_COMM_STORE_STOREPROTOCOL_H

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace fresco {

/// Longest key or value a request may carry.
constexpr uint32_t kMaxStoreString = 1u << 30;

/// One connection's byte stream: each call moves exactly `n` bytes and
/// returns false when the peer is gone or the transfer failed.
struct StoreStream {
  std::function<bool(void *data, size_t n)> read;
  std::function<bool(const void *data, size_t n)> write;
};

using StoreMap = std::map<std::string, std::vector<char>>;

/// Answers requests on `stream` against `map` (guarded by `mutex`) until the
/// peer closes or sends a malformed request (unknown op, string longer than
/// kMaxStoreString, truncated request): the server then drops it.
void serveStoreRequests(const StoreStream &stream, StoreMap &map,
                        std::mutex &mutex);

/// Reads a u32 length + bytes into `out`. Memory grows with the bytes that
/// arrive, not with the length a peer announces.
bool readStoreString(const StoreStream &stream, std::vector<char> &out);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_STORE_STOREPROTOCOL_H
