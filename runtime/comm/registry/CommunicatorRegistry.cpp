//===- CommunicatorRegistry.cpp - Communicators by name -------------------===//
#include "runtime/comm/registry/CommunicatorRegistry.h"
#include "runtime/core/Error.h"

namespace fresco {

CommunicatorRegistry &CommunicatorRegistry::global() {
  static CommunicatorRegistry *registry = [] {
    auto *r = new CommunicatorRegistry;
    registerBuiltinCommunicators(*r);
    return r;
  }();
  return *registry;
}

void CommunicatorRegistry::add(CommunicatorEntry entry) {
  check(!entry.name.empty() && entry.create,
        "a communicator needs a name and a factory");
  check(!find(entry.name), "communicator '", entry.name,
        "' is registered twice");
  entries_.push_back(std::move(entry));
}

const CommunicatorEntry *
CommunicatorRegistry::find(const std::string &name) const {
  for (const CommunicatorEntry &e : entries_)
    if (e.name == name)
      return &e;
  return nullptr;
}

std::vector<std::string> CommunicatorRegistry::names() const {
  std::vector<std::string> out;
  for (const CommunicatorEntry &e : entries_)
    out.push_back(e.name);
  return out;
}

} // namespace fresco
