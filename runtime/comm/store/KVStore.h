//===- KVStore.h - Where the ranks of a run meet ----------------*- C++ -*-===//
//
// A small key/value store shared by the ranks: a folder (file:<dir>, ranks on
// one node), a TCP server run by rank 0 (tcp:<host>:<port>), or memory (a
// world of one). Communicators rendezvous in it and ranks publish their
// failures there (FailureBoard.h). It knows nothing of Gloo: the Gloo
// communicator adapts it to Gloo's store interface.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_STORE_KVSTORE_H
#define FRESCO_RUNTIME_COMM_STORE_KVSTORE_H

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace fresco {

class KVStore {
public:
  explicit KVStore(std::chrono::milliseconds timeout) : timeout_(timeout) {}
  virtual ~KVStore() = default;

  virtual void set(const std::string &key, const std::vector<char> &value) = 0;
  /// The value of `key` if it is set; never blocks for long.
  virtual bool tryGet(const std::string &key, std::vector<char> &value) = 0;
  virtual bool has(const std::string &key) {
    std::vector<char> v;
    return tryGet(key, v);
  }
  /// Where the store is, for messages.
  virtual std::string where() const = 0;

  /// The value of `key`, waiting up to the store's timeout for it.
  std::vector<char> get(const std::string &key);
  /// Waits until every key is set; throws fresco::Error naming the missing
  /// ones after `timeout`.
  void wait(const std::vector<std::string> &keys,
            std::chrono::milliseconds timeout);
  void wait(const std::vector<std::string> &keys) { wait(keys, timeout_); }
  std::chrono::milliseconds timeout() const { return timeout_; }

protected:
  std::chrono::milliseconds timeout_;
};

/// A parsed rendezvous: "" (memory), "file:<dir>" or "tcp:<host>:<port>"
/// ("[v6]" hosts lose their brackets).
struct RendezvousAddress {
  enum class Kind { Memory, Folder, Tcp } kind = Kind::Memory;
  std::string folder;
  std::string host;
  int port = 0;
};

/// Throws fresco::Error for anything but the three forms.
RendezvousAddress parseRendezvous(const std::string &rendezvous);

/// Opens the store at `address`; for tcp, `serve` (rank 0) runs the server
/// and the others connect to it within `timeout`.
std::shared_ptr<KVStore> openStore(const RendezvousAddress &address, bool serve,
                                   std::chrono::milliseconds timeout);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_STORE_KVSTORE_H
