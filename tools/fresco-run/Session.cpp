//===- Session.cpp - fresco-run: this process's rank in a run -------------===//
#include "tools/fresco-run/Session.h"
#include "runtime/backends/BackendRegistry.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/comm/registry/CommunicatorRegistry.h"
#include "runtime/core/Error.h"

#include <cstdio>

#include <string>

namespace fresco::run {

Session::Session(const LoadedPlan &plan, const RankEnv &env,
                 std::chrono::milliseconds timeout) {
  size_ = plan.plan().num_ranks();
  check(env.worldSize == size_, "the plan is compiled for ", size_,
        " rank(s) but this run has ", env.worldSize,
        " (launcher: ", env.launcher, "); start it with --ranks ", size_,
        " or recompile with fresco-compile --ranks ", env.worldSize);
  rank_ = env.rank;
  localRank_ = env.localRank;
  timeout_ = timeout;
  if (size_ > 1)
    world_ = createGlooCommunicator(env, timeout);
  if (size_ > 1 && env.launcher != "fresco")
    prefix_ = "[rank " + std::to_string(rank_) + "] ";
}

GroupResolver Session::resolver() {
  return [this](const std::vector<int> &members) -> Communicator & {
    for (int m : members)
      check(m >= 0 && m < size_, "a collective names rank ", m,
            " outside the plan's ", size_, " ranks");
    auto it = groups_.find(members);
    if (it != groups_.end())
      return *it->second;
    check(world_ != nullptr, "a collective on a one-rank run");
    std::string tag = "group";
    for (int m : members)
      tag += "-" + std::to_string(m);
    auto &slot = groups_[members];
    slot = makeGroup(members, tag);
    return *slot;
  };
}

Backend &Session::openBackend(const std::string &name, const std::string &dtype,
                              const std::string &commMode) {
  const BackendRegistry &backends = BackendRegistry::global();
  const BackendEntry &entry = backends.get(name);
  BackendConfig config;
  config.localRank = localRank_;
  config.precision = dtype == "bf16"  ? GemmPrecision::BF16
                     : dtype == "f16" ? GemmPrecision::F16
                                      : GemmPrecision::F32;
  backend_ = entry.create(config);
  backendEntry_ = &entry;
  commMode_ = commMode;
  if (commMode == "auto")
    return *backend_;
  const CommunicatorEntry *comm = CommunicatorRegistry::global().find(commMode);
  check(comm != nullptr, "unknown communicator '", commMode, "'");
  if (comm->needsHostAddressable)
    check(entry.hostAddressable, "--comm ", commMode,
          " works on backend memory the host can read: only with --backend ",
          backends.nameList(
              [](const BackendEntry &e) { return e.hostAddressable; }));
  if (comm->deviceNative)
    check(entry.nativeCommunicator == commMode, "--comm ", commMode,
          " needs --backend ", backends.nameList([&](const BackendEntry &e) {
            return e.nativeCommunicator == commMode;
          }));
  return *backend_;
}

std::unique_ptr<Communicator>
Session::makeGroup(const std::vector<int> &members, const std::string &tag) {
  std::unique_ptr<Communicator> gloo = world_->subgroup(members, tag);
  if (!backend_)
    return gloo;
  // auto: what the backend moves natively, else Gloo through the host.
  std::string name = commMode_;
  if (name == "auto")
    name = backendEntry_ && !backendEntry_->nativeCommunicator.empty()
               ? backendEntry_->nativeCommunicator
               : "gloo";
  const CommunicatorEntry *entry = CommunicatorRegistry::global().find(name);
  check(entry != nullptr, "unknown communicator '", name, "'");
  std::string why;
  if (auto comm = entry->create(gloo, *backend_, timeout_, &why))
    return comm;
  check(commMode_ == "auto", "--comm ", commMode_, ": ", why);
  if (!notedFallback_)
    std::fprintf(stderr,
                 "%sfresco-run: collectives staged through the host (Gloo): "
                 "%s\n",
                 prefix_.c_str(), why.c_str());
  notedFallback_ = true;
  // Every member reached the same verdict; a failed attempt may have taken
  // the Gloo group with it, so make it again.
  if (!gloo)
    gloo = world_->subgroup(members, tag + "-gloo");
  return gloo;
}

} // namespace fresco::run
