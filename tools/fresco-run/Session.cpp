//===- Session.cpp - fresco-run: this process's rank in a run -------------===//
#include "tools/fresco-run/Session.h"
#include "runtime/core/Error.h"

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
    slot = world_->subgroup(members, tag);
    return *slot;
  };
}

} // namespace fresco::run
