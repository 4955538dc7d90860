//===- Session.cpp - One rank of a run of a plan --------------------------===//
#include "runtime/session/Session.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/comm/registry/CommunicatorRegistry.h"
#include "runtime/core/Error.h"

#include <cstdio>

namespace fresco {

GemmPrecision precisionFromName(const std::string &dtype) {
  if (dtype == "f32")
    return GemmPrecision::F32;
  if (dtype == "bf16")
    return GemmPrecision::BF16;
  if (dtype == "f16")
    return GemmPrecision::F16;
  fail("unknown float storage '", dtype, "' (expected f32, bf16 or f16)");
}

Session::Session(const LoadedPlan &plan, const RankEnv &env,
                 SessionOptions options)
    : plan_(plan), options_(std::move(options)) {
  size_ = plan.plan().num_ranks();
  check(env.worldSize == size_, "the plan is compiled for ", size_,
        " rank(s) but this run has ", env.worldSize,
        " (launcher: ", env.launcher, "); start it with --ranks ", size_,
        " or recompile with fresco-compile --ranks ", env.worldSize);
  rank_ = env.rank;
  localRank_ = env.localRank;
  // Once, for every communicator (Gloo applies it again, to the same).
  options_.timeout = commTimeoutFromEnvironment(options_.timeout);
  // Unknown names fail here, before any rank waits for another.
  BackendRegistry::global().get(options_.backend);
  check(options_.comm == "auto" ||
            CommunicatorRegistry::global().find(options_.comm),
        "unknown communicator '", options_.comm, "'");
  if (size_ > 1)
    world_ = createGlooCommunicator(env, options_.timeout);
  if (size_ > 1 && env.launcher != "fresco")
    prefix_ = "[rank " + std::to_string(rank_) + "] ";
}

Session::~Session() = default;

bool Session::runs(const std::string &function) const {
  for (const plan::Function *f : *plan_.rank(rank_).functions())
    if (f->name()->str() == function)
      return true;
  return false;
}

void Session::note(const std::string &message) {
  if (options_.note) {
    options_.note(message);
    return;
  }
  std::fprintf(stderr, "%s%s: %s\n", prefix_.c_str(), options_.program.c_str(),
               message.c_str());
}

Backend &Session::openBackend() {
  if (backend_)
    return *backend_;
  const BackendRegistry &backends = BackendRegistry::global();
  const BackendEntry &entry = backends.get(options_.backend);
  BackendConfig config;
  config.localRank = localRank_;
  config.precision = options_.precision;
  backend_ = entry.create(config);
  backendEntry_ = &entry;
  const std::string &mode = options_.comm;
  if (mode == "auto")
    return *backend_;
  const CommunicatorEntry &comm = *CommunicatorRegistry::global().find(mode);
  if (comm.needsHostAddressable)
    check(entry.hostAddressable, "--comm ", mode,
          " works on backend memory the host can read: only with --backend ",
          backends.nameList(
              [](const BackendEntry &e) { return e.hostAddressable; }));
  if (comm.deviceNative)
    check(entry.nativeCommunicator == mode, "--comm ", mode,
          " needs --backend ", backends.nameList([&](const BackendEntry &e) {
            return e.nativeCommunicator == mode;
          }));
  return *backend_;
}

Executor &Session::load(const std::string &folder) {
  check(!executor_, "the session's weights are loaded already");
  Backend &backend = openBackend();
  std::optional<LoraSet> loras;
  if (!options_.loras.empty()) {
    loras.emplace(options_.loras, plan_.plan(), folder);
    if (rank_ == 0)
      for (const std::string &line : loras->summary())
        note(line);
  }
  weights_ = std::make_unique<WeightStore>(plan_.rank(rank_), folder,
                                           loras ? &*loras : nullptr,
                                           storageOf(options_.precision));
  executor_ =
      std::make_unique<Executor>(plan_, rank_, backend, *weights_, resolver());
  return *executor_;
}

Executor &Session::executor() {
  check(executor_ != nullptr, "the session has no executor: load() first");
  return *executor_;
}

const WeightStore &Session::weights() const {
  check(weights_ != nullptr, "the session has no weights: load() first");
  return *weights_;
}

std::vector<HostTensor> Session::run(const std::string &function,
                                     const std::vector<HostTensor> &inputs,
                                     RunMode mode) {
  return executor().run(function, inputs, mode);
}

const PipelineSpec &Session::pipeline() {
  if (!pipeline_) {
    check(plan_.plan().pipeline() != nullptr, "plan ", plan_.name(),
          " holds no pipeline");
    pipeline_ = PipelineSpec::fromPlan(plan_.plan(), plan_.name());
  }
  return *pipeline_;
}

RankRoles Session::roles() {
  return rankRoles(pipeline(), rank_, world_.get());
}

GenerateResult Session::generate(const GenerateOptions &options) {
  const PipelineSpec &spec = pipeline();
  // Before any compute: what this runtime cannot generate yet.
  if (std::optional<std::string> why = generationSupport(spec))
    fail(*why);
  return fresco::generate(spec, executor(), options, roles());
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

std::unique_ptr<Communicator>
Session::makeGroup(const std::vector<int> &members, const std::string &tag) {
  std::unique_ptr<Communicator> gloo = world_->subgroup(members, tag);
  if (!backend_)
    return gloo;
  // auto: what the backend moves natively, else Gloo through the host.
  std::string name = options_.comm;
  if (name == "auto")
    name = backendEntry_->nativeCommunicator.empty()
               ? "gloo"
               : backendEntry_->nativeCommunicator;
  const CommunicatorEntry *entry = CommunicatorRegistry::global().find(name);
  check(entry != nullptr, "unknown communicator '", name, "'");
  std::string why;
  if (auto comm = entry->create(gloo, *backend_, options_.timeout, &why))
    return comm;
  check(options_.comm == "auto", "--comm ", options_.comm, ": ", why);
  if (!notedFallback_)
    note("collectives staged through the host (Gloo): " + why);
  notedFallback_ = true;
  // Every member reached the same verdict; a failed attempt may have taken
  // the Gloo group with it, so make it again.
  if (!gloo)
    gloo = world_->subgroup(members, tag + "-gloo");
  return gloo;
}

} // namespace fresco
