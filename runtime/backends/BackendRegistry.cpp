//===- BackendRegistry.cpp - Backends by name -----------------------------===//
#include "runtime/backends/BackendRegistry.h"
#include "runtime/core/Error.h"

namespace fresco {

std::string joinNames(const std::vector<std::string> &names,
                      const char *conjunction) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0)
      out += i + 1 == names.size() ? std::string(" ") + conjunction + " "
                                   : std::string(", ");
    out += names[i];
  }
  return out;
}

BackendRegistry &BackendRegistry::global() {
  static BackendRegistry *registry = [] {
    auto *r = new BackendRegistry;
    registerBuiltinBackends(*r);
    return r;
  }();
  return *registry;
}

void BackendRegistry::add(BackendEntry entry) {
  check(!entry.name.empty() && entry.create, "a backend needs a name and a "
                                             "factory");
  check(!find(entry.name), "backend '", entry.name, "' is registered twice");
  entries_.push_back(std::move(entry));
}

const BackendEntry *BackendRegistry::find(const std::string &name) const {
  for (const BackendEntry &e : entries_)
    if (e.name == name)
      return &e;
  return nullptr;
}

const BackendEntry &BackendRegistry::get(const std::string &name) const {
  const BackendEntry *e = find(name);
  check(e != nullptr, "unknown backend '", name, "' (expected ", nameList(),
        ")");
  return *e;
}

std::string BackendRegistry::nameList(const char *conjunction) const {
  return nameList([](const BackendEntry &) { return true; }, conjunction);
}

std::string
BackendRegistry::nameList(const std::function<bool(const BackendEntry &)> &pred,
                          const char *conjunction) const {
  std::vector<std::string> names;
  for (const BackendEntry &e : entries_)
    if (pred(e))
      names.push_back(e.name);
  return joinNames(names, conjunction);
}

} // namespace fresco
