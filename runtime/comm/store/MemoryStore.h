//===- MemoryStore.h - The store of a world of one rank ---------*- C++ -*-===//
#ifndef FRESCO_RUNTIME_COMM_STORE_MEMORYSTORE_H
#define FRESCO_RUNTIME_COMM_STORE_MEMORYSTORE_H

#include "runtime/comm/store/KVStore.h"

#include <map>
#include <mutex>

namespace fresco {

/// In memory: nobody else needs to see it.
class MemoryStore : public KVStore {
public:
  using KVStore::KVStore;
  void set(const std::string &key, const std::vector<char> &value) override {
    std::lock_guard<std::mutex> lock(mutex_);
    map_[key] = value;
  }
  bool tryGet(const std::string &key, std::vector<char> &value) override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = map_.find(key);
    if (it == map_.end())
      return false;
    value = it->second;
    return true;
  }
  std::string where() const override { return "(in memory)"; }

private:
  std::mutex mutex_;
  std::map<std::string, std::vector<char>> map_;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_STORE_MEMORYSTORE_H
