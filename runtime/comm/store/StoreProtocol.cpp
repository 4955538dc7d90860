//===- StoreProtocol.cpp - The TCP rendezvous store's requests ------------===//
#include "runtime/comm/store/StoreProtocol.h"

#include <algorithm>

namespace fresco {

bool readStoreString(const StoreStream &stream, std::vector<char> &out) {
  uint32_t n;
  if (!stream.read(&n, sizeof n) || n > kMaxStoreString)
    return false;
  out.clear();
  // In chunks: a peer announcing 1 GiB and sending nothing costs nothing.
  constexpr size_t kChunk = size_t(1) << 20;
  while (out.size() < n) {
    size_t have = out.size(), take = std::min<size_t>(kChunk, n - have);
    out.resize(have + take);
    if (!stream.read(out.data() + have, take))
      return false;
  }
  return true;
}

namespace {

bool writeString(const StoreStream &stream, const std::vector<char> &s) {
  uint32_t n = static_cast<uint32_t>(s.size());
  return stream.write(&n, sizeof n) && stream.write(s.data(), n);
}

} // namespace

void serveStoreRequests(const StoreStream &stream, StoreMap &map,
                        std::mutex &mutex) {
  for (;;) {
    char op;
    std::vector<char> keyBytes, value;
    if (!stream.read(&op, 1) || (op != 'S' && op != 'G' && op != 'H') ||
        !readStoreString(stream, keyBytes))
      return;
    std::string key(keyBytes.begin(), keyBytes.end());
    if (op == 'S') {
      if (!readStoreString(stream, value))
        return;
      {
        std::lock_guard<std::mutex> lock(mutex);
        map[key] = std::move(value);
      }
      char ok = 1;
      if (!stream.write(&ok, 1))
        return;
      continue;
    }
    bool found;
    {
      std::lock_guard<std::mutex> lock(mutex);
      auto it = map.find(key);
      found = it != map.end();
      if (found && op == 'G')
        value = it->second;
    }
    char f = found;
    if (!stream.write(&f, 1))
      return;
    if (found && op == 'G' && !writeString(stream, value))
      return;
  }
}

} // namespace fresco
