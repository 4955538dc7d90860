//===- Session.h - fresco-run: this process's rank in a run -----*- C++ -*-===//
#ifndef FRESCO_TOOLS_FRESCO_RUN_SESSION_H
#define FRESCO_TOOLS_FRESCO_RUN_SESSION_H

#include "runtime/backends/BackendRegistry.h"
#include "runtime/comm/Communicator.h"
#include "runtime/comm/Environment.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Plan.h"

#include <map>
#include <memory>
#include <vector>

namespace fresco::run {

/// The rank this process plays, its communicators, and the resolver the
/// executor binds collectives through.
class Session {
public:
  /// Joins the ranks of `plan` (rank 0 of 1 for a one-rank plan).
  Session(const LoadedPlan &plan, const RankEnv &env,
          std::chrono::milliseconds timeout);

  int rank() const { return rank_; }
  int size() const { return size_; }
  Communicator *world() { return world_.get(); }
  /// Creates this rank's backend (`name`: cpu, cpu-staged or cuda, on GPU
  /// local rank mod GPUs; `dtype`: the float storage) and says how the
  /// groups the resolver makes move data for it, `commMode`: "auto" (NCCL on
  /// the CUDA backend where it can serve the ranks, else Gloo staged through
  /// the host), "nccl" (an error where it cannot), "gloo", or "gloo-direct"
  /// (a test aid: Gloo on the backend's own memory, which only cpu-staged
  /// allows). The session owns it and ends its groups first.
  Backend &openBackend(const std::string &name, const std::string &dtype,
                       const std::string &commMode);
  GroupResolver resolver();
  /// "[rank R] " on multi-rank runs launched by another launcher (fresco's
  /// own launcher prefixes the output itself), "" otherwise.
  const char *prefix() const { return prefix_.c_str(); }

private:
  int rank_ = 0, size_ = 1;
  int localRank_ = 0;
  // Declared before the groups, so destroyed after them: an NCCL group
  // queues its work on the backend's stream.
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<Communicator> world_;
  const BackendEntry *backendEntry_ = nullptr;
  std::string commMode_ = "gloo";
  bool notedFallback_ = false;
  std::chrono::milliseconds timeout_{0};
  std::unique_ptr<Communicator> makeGroup(const std::vector<int> &members,
                                          const std::string &tag);
  std::map<std::vector<int>, std::unique_ptr<Communicator>> groups_;
  std::string prefix_;
};

} // namespace fresco::run

#endif // FRESCO_TOOLS_FRESCO_RUN_SESSION_H
