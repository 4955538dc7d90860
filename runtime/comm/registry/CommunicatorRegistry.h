//===- CommunicatorRegistry.h - Communicators by name -----------*- C++ -*-===//
//
// How the groups of a multi-rank run move data, by the name --comm takes
// (nccl, gloo, gloo-direct). Every group starts as a Gloo subgroup (Gloo is
// the bootstrap and the fallback); an entry turns it into the group's
// communicator for a backend. Which one a backend moves natively is the
// backend's word (BackendEntry::nativeCommunicator), not a name check here.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_REGISTRY_COMMUNICATORREGISTRY_H
#define FRESCO_RUNTIME_COMM_REGISTRY_COMMUNICATORREGISTRY_H

#include "runtime/comm/Communicator.h"
#include "runtime/core/Backend.h"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fresco {

struct CommunicatorEntry {
  std::string name;
  /// What it is, one short phrase for --help.
  std::string summary;
  /// Works on device memory only of the backends that name it as their
  /// native communicator (nccl): other backends are refused.
  bool deviceNative = false;
  /// Hands Gloo the backend's own memory: only for backends whose memory
  /// the host can address (gloo-direct).
  bool needsHostAddressable = false;
  /// The group's communicator for `backend`, made from `gloo`, the Gloo
  /// subgroup over the same members, which it may take. Returns null, with
  /// the reason in `why`, when it cannot serve these members (the same
  /// answer on every member); `gloo` is then null if it was consumed.
  /// Collective over the members.
  std::function<std::unique_ptr<Communicator>(
      std::unique_ptr<Communicator> &gloo, Backend &backend,
      std::chrono::milliseconds timeout, std::string *why)>
      create;
};

class CommunicatorRegistry {
public:
  /// This build's communicators (nccl, gloo, gloo-direct), registered on
  /// first use.
  static CommunicatorRegistry &global();

  /// Adds `entry`; throws fresco::Error if its name is taken.
  void add(CommunicatorEntry entry);
  const CommunicatorEntry *find(const std::string &name) const;
  /// In registration order.
  const std::vector<CommunicatorEntry> &entries() const { return entries_; }
  std::vector<std::string> names() const;

private:
  std::vector<CommunicatorEntry> entries_;
};

/// Registers the communicators built into this binary
/// (BuiltinCommunicators.cpp).
void registerBuiltinCommunicators(CommunicatorRegistry &registry);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_REGISTRY_COMMUNICATORREGISTRY_H
