//===- BackendRegistry.h - Backends by name ---------------------*- C++ -*-===//
//
// Every backend a build knows, by the name --backend takes: how to create it
// and what it says about its memory (which communicator moves it natively,
// whether the host can address it). A name is known even in a build that
// lacks it (cuda without nvcc), so that asking for it says why it cannot be
// used rather than "unknown backend".
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_BACKENDREGISTRY_H
#define FRESCO_RUNTIME_BACKENDS_BACKENDREGISTRY_H

#include "runtime/core/Backend.h"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fresco {

/// What a backend is created for.
struct BackendConfig {
  /// This rank's index on its node: a GPU backend takes device localRank
  /// mod the devices it sees.
  int localRank = 0;
  /// The float storage and GEMM precision (--dtype).
  GemmPrecision precision = GemmPrecision::F32;
};

struct BackendEntry {
  std::string name;
  /// What it is, one short phrase for --help.
  std::string summary;
  /// Throws fresco::Error when it cannot be used here (not in this build,
  /// no device, a precision it cannot store).
  std::function<std::unique_ptr<Backend>(const BackendConfig &)> create;
  /// The communicator (CommunicatorRegistry name) that moves this
  /// backend's memory between ranks natively, e.g. "nccl" for cuda; "" when
  /// its collectives go through the host with Gloo.
  std::string nativeCommunicator;
  /// Device memory that the host may read and write in place (cpu-staged),
  /// so Gloo can work on it directly (--comm gloo-direct).
  bool hostAddressable = false;
  /// Its kernels run on this host's CPU threads (OpenMP): what it measures
  /// depends on the CPU model and thread count (fresco-run --calibrate
  /// records them).
  bool computesOnHost = false;
};

class BackendRegistry {
public:
  /// This build's backends (cpu, cuda, cpu-staged), registered on first use.
  static BackendRegistry &global();

  /// Adds `entry`; throws fresco::Error if its name is taken.
  void add(BackendEntry entry);
  /// nullptr for an unknown name.
  const BackendEntry *find(const std::string &name) const;
  /// Throws "unknown backend 'x' (expected cpu, cuda or cpu-staged)".
  const BackendEntry &get(const std::string &name) const;
  /// In registration order.
  const std::vector<BackendEntry> &entries() const { return entries_; }
  /// "cpu, cuda or cpu-staged" (`conjunction` "or"), for messages.
  std::string nameList(const char *conjunction = "or") const;
  /// The names of the entries for which `pred` holds, as nameList says them.
  std::string nameList(const std::function<bool(const BackendEntry &)> &pred,
                       const char *conjunction = "or") const;

private:
  std::vector<BackendEntry> entries_;
};

/// Registers the backends built into this binary (BuiltinBackends.cpp).
void registerBuiltinBackends(BackendRegistry &registry);

/// "a, b or c" (`conjunction` between the last two).
std::string joinNames(const std::vector<std::string> &names,
                      const char *conjunction);

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_BACKENDREGISTRY_H
