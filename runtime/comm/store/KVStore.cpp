//===- KVStore.cpp - Waits on a store; opening one by address -------------===//
#include "runtime/comm/store/KVStore.h"
#include "runtime/comm/Text.h"
#include "runtime/comm/store/DirStore.h"
#include "runtime/comm/store/MemoryStore.h"
#include "runtime/comm/store/TcpStore.h"
#include "runtime/core/Error.h"

#include <algorithm>
#include <cstdlib>
#include <thread>

namespace fresco {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::vector<char> KVStore::get(const std::string &key) {
  wait({key}, timeout_);
  std::vector<char> v;
  if (!tryGet(key, v))
    fail("rendezvous store ", where(), ": key '", key, "' vanished");
  return v;
}

void KVStore::wait(const std::vector<std::string> &keys, milliseconds timeout) {
  auto deadline = Clock::now() + timeout;
  std::vector<std::string> missing = keys;
  for (;;) {
    missing.erase(std::remove_if(missing.begin(), missing.end(),
                                 [&](const std::string &k) { return has(k); }),
                  missing.end());
    if (missing.empty())
      return;
    if (Clock::now() >= deadline) {
      std::string list;
      for (const std::string &k : missing)
        list += (list.empty() ? "'" : ", '") + k + "'";
      fail("rendezvous store ", where(), ": no value for ", list, " within ",
           comm::seconds(timeout));
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
}

RendezvousAddress parseRendezvous(const std::string &rdv) {
  RendezvousAddress a;
  if (rdv.empty())
    return a;
  if (rdv.rfind("file:", 0) == 0) {
    a.kind = RendezvousAddress::Kind::Folder;
    a.folder = rdv.substr(5);
    return a;
  }
  if (rdv.rfind("tcp:", 0) == 0) {
    size_t colon = rdv.rfind(':');
    check(colon > 4, "invalid rendezvous '", rdv,
          "': expected tcp:<host>:<port>");
    a.kind = RendezvousAddress::Kind::Tcp;
    a.host = rdv.substr(4, colon - 4);
    if (a.host.size() > 2 && a.host.front() == '[' && a.host.back() == ']')
      a.host = a.host.substr(1, a.host.size() - 2);
    a.port = std::atoi(rdv.c_str() + colon + 1);
    check(a.port > 0 && a.port < 65536, "invalid rendezvous '", rdv,
          "': bad port");
    return a;
  }
  fail("invalid rendezvous '", rdv,
       "': expected file:<folder> or tcp:<host>:<port>");
}

std::shared_ptr<KVStore> openStore(const RendezvousAddress &a, bool serve,
                                   milliseconds timeout) {
  switch (a.kind) {
  case RendezvousAddress::Kind::Memory:
    return std::make_shared<MemoryStore>(timeout);
  case RendezvousAddress::Kind::Folder:
    return openDirStore(a.folder, timeout);
  case RendezvousAddress::Kind::Tcp:
    return openTcpStore(a.host, a.port, serve, timeout);
  }
  fail("unknown rendezvous kind");
}

} // namespace fresco
