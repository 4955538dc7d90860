//===- Session.cpp - fresco-run: this process's rank in a run -------------===//
#include "tools/fresco-run/Session.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/core/Error.h"
#include "tools/fresco-run/Backends.h"
#ifdef FRESCO_HAVE_NCCL
#include "runtime/comm/nccl/NcclCommunicator.h"
#endif

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

namespace {
/// Gloo working directly on a backend's memory: right only where that
/// memory is host memory behind a device backend's contract (cpu-staged),
/// so the executor's NCCL path is tested without GPUs. Its asynchronous
/// all_to_all and all_gather run when waited for, not when started: the
/// latest an asynchronous collective may read and write its buffers, so
/// that a step touching them in between (the executor's bug, not NCCL's
/// luck) changes the result where the tests compare it.
class GlooDirect final : public Communicator {
public:
  explicit GlooDirect(std::unique_ptr<Communicator> inner)
      : inner_(std::move(inner)) {}
  int rank() const override { return inner_->rank(); }
  int size() const override { return inner_->size(); }
  int globalRank(int i) const override { return inner_->globalRank(i); }
  std::unique_ptr<Communicator> subgroup(const std::vector<int> &members,
                                         const std::string &tag) override {
    return std::make_unique<GlooDirect>(inner_->subgroup(members, tag));
  }
  void allReduceSum(float *d, size_t n) override { inner_->allReduceSum(d, n); }
  void allGather(const void *s, void *r, size_t b) override {
    inner_->allGather(s, r, b);
  }
  void reduceScatterSum(const float *s, float *r, size_t n) override {
    inner_->reduceScatterSum(s, r, n);
  }
  void allToAll(const void *s, void *r, size_t b) override {
    inner_->allToAll(s, r, b);
  }
  void send(const void *d, size_t b, int peer, int tag) override {
    inner_->send(d, b, peer, tag);
  }
  void recv(void *d, size_t b, int peer, int tag) override {
    inner_->recv(d, b, peer, tag);
  }
  void sendRecv(const void *s, int to, void *r, int from, size_t b,
                int tag) override {
    inner_->sendRecv(s, to, r, from, b, tag);
  }
  void broadcast(void *d, size_t b, int root) override {
    inner_->broadcast(d, b, root);
  }
  std::function<void()> startAllToAll(const void *s, void *r,
                                      size_t b) override {
    Communicator *c = inner_.get();
    return [=] { c->allToAll(s, r, b); };
  }
  std::function<void()> startAllGather(const void *s, void *r,
                                       size_t b) override {
    Communicator *c = inner_.get();
    return [=] { c->allGather(s, r, b); };
  }
  void barrier() override { inner_->barrier(); }
  bool usesDeviceMemory() const override { return true; }

private:
  std::unique_ptr<Communicator> inner_;
};
} // namespace

Backend &Session::openBackend(const std::string &name, const std::string &dtype,
                              const std::string &commMode) {
  backend_ = createBackend(name, localRank_, dtype);
  commMode_ = commMode;
  if (commMode == "gloo-direct")
    check(name == "cpu-staged",
          "--comm gloo-direct works on backend memory the host can read: "
          "only with --backend cpu-staged");
  if (commMode == "nccl")
    check(name == "cuda", "--comm nccl needs --backend cuda");
  return *backend_;
}

std::unique_ptr<Communicator>
Session::makeGroup(const std::vector<int> &members, const std::string &tag) {
  std::unique_ptr<Communicator> gloo = world_->subgroup(members, tag);
  if (commMode_ == "gloo-direct")
    return std::make_unique<GlooDirect>(std::move(gloo));
  bool tryNccl = commMode_ == "nccl" || (commMode_ == "auto" && backend_ &&
                                         backend_->name() == "cuda");
  if (!tryNccl)
    return gloo;
  std::string why = "this build has no NCCL communicator";
#ifdef FRESCO_HAVE_NCCL
  if (auto nccl =
          createNcclCommunicator(std::move(gloo), *backend_, timeout_, &why))
    return nccl;
#endif
  check(commMode_ != "nccl", "--comm nccl: ", why);
  if (!notedFallback_)
    std::fprintf(stderr,
                 "%sfresco-run: collectives staged through the host (Gloo): "
                 "%s\n",
                 prefix_.c_str(), why.c_str());
  notedFallback_ = true;
  // Every member reached the same verdict; a failed NCCL attempt took the
  // Gloo group with it, so make it again.
  if (!gloo)
    gloo = world_->subgroup(members, tag + "-gloo");
  return gloo;
}

} // namespace fresco::run
