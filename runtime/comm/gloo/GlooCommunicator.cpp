//===- GlooCommunicator.cpp - Collectives over TCP with Gloo --------------===//
//
// Ranks meet in the rendezvous store (store/: a folder, or a small TCP
// server run by rank 0; Debian's Gloo has no TCPStore). Each rank publishes
// its pid and host on the failure board there (FailureBoard.h), then Gloo
// connects every pair of ranks over TCP. Subgroups get their own Gloo
// context over the same device, rendezvousing under their own key prefix.
//
// Failures: every Gloo call is bounded by the communicator's timeout, and
// every Gloo exception becomes a fresco::Error naming the operation, how
// long it ran and, when it can be known, the rank that caused it: a rank
// that reported its own failure (reportFailure), a peer on this host whose
// process is gone, or a peer that reported its own failed collective, as
// the failure board tells.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/gloo/GlooImpl.h"

namespace fresco {
namespace gloo_impl {

std::string joinAll(const std::vector<std::string> &parts) {
  std::string out;
  for (const std::string &p : parts)
    out += (out.empty() ? "" : "; ") + p;
  return out;
}

/// Why a Gloo operation over world ranks `members` failed, with the culprit
/// when it can be known.
std::string explainFailure(Shared &shared, const std::vector<int> &members,
                           const std::string &what, Clock::duration elapsed,
                           const std::string &cause) {
  // A peer that just died may still be exiting, or about to publish why:
  // look a few times before settling for less.
  // After a timeout, peers that were waiting too time out about now: give
  // them the whole moment to say so, so that the silent ones stand out.
  bool timedOut = elapsed + milliseconds(50) >= shared.timeout;
  FailureBoard::Diagnosis d;
  // A dying peer on a loaded machine can take a while to be seen as gone:
  // look up to 2 s for the culprit of a failure, 0.5 s after a timeout.
  auto until = Clock::now() + milliseconds(timedOut ? 500 : 2000);
  for (;;) {
    d = shared.board->diagnose(members);
    if ((!timedOut && !d.primary.empty()) || Clock::now() >= until)
      break;
    std::this_thread::sleep_for(milliseconds(20));
  }
  std::ostringstream os;
  os << what << " failed on rank " << shared.worldRank << " after "
     << seconds(elapsed) << ": ";
  if (!d.primary.empty()) {
    os << joinAll(d.primary);
  } else if (timedOut) {
    os << "timed out (limit " << seconds(shared.timeout)
       << ", FRESCO_COMM_TIMEOUT)";
    std::string silent;
    for (const std::string &r : d.silent)
      silent += (silent.empty() ? "" : ", ") + r;
    if (!d.silent.empty())
      os << " waiting for " << silent << ", which "
         << (d.silent.size() > 1 ? "report" : "reports")
         << " no failure (stuck, or slower than the limit)";
    else if (!d.secondary.empty())
      os << "; " << joinAll(d.secondary);
  } else if (!d.secondary.empty()) {
    os << joinAll(d.secondary);
  } else {
    return os.str() + cause;
  }
  os << " (gloo: " << cause << ")";
  return os.str();
}

std::unique_ptr<Communicator>
GlooCommunicator::subgroupNow(const std::vector<int> &members,
                              const std::string &tag) {
  check(!members.empty(), "subgroup '", tag, "': no members");
  for (size_t i = 0; i < members.size(); ++i) {
    check(i == 0 || members[i - 1] < members[i], "subgroup '", tag,
          "': members [", joinRanks(members), "] must be sorted and distinct");
    check(std::find(members_.begin(), members_.end(), members[i]) !=
              members_.end(),
          "subgroup '", tag, "': rank ", members[i], " is not a member of ",
          describe());
  }
  check(std::find(members.begin(), members.end(), shared_->worldRank) !=
            members.end(),
        "subgroup '", tag, "': this rank (", shared_->worldRank,
        ") is not among the members [", joinRanks(members), "]");
  std::string name =
      "subgroup '" + tag + "' (ranks " + joinRanks(members) + ")";
  if (members.size() == 1)
    return std::make_unique<GlooCommunicator>(shared_, nullptr, members, name);

  // Same tag and members created again: a fresh prefix, so the old keys of
  // the earlier one are not read.
  std::string id = tag + "/" + joinRanks(members);
  int generation;
  {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    generation = shared_->groupCounts[id]++;
  }
  std::string prefix = "group/" + id + "/" + std::to_string(generation);
  int myIndex = static_cast<int>(
      std::find(members.begin(), members.end(), shared_->worldRank) -
      members.begin());
  std::shared_ptr<gloo::rendezvous::Context> context;
  run("creating " + name, [&] {
    context = std::make_shared<gloo::rendezvous::Context>(
        myIndex, static_cast<int>(members.size()));
    context->setTimeout(timeout());
    gloo::rendezvous::PrefixStore store(prefix, *shared_->glooStore);
    context->connectFullMesh(store, shared_->device);
    gloo::BarrierOptions opts(context);
    opts.setTimeout(timeout());
    gloo::barrier(opts);
  });
  return std::make_unique<GlooCommunicator>(shared_, std::move(context),
                                            members, name);
}

namespace {

//===----------------------------------------------------------------------===//
// Joining
//===----------------------------------------------------------------------===//

/// The address of this host on the route to `host` (no packet is sent), so
/// peers on other hosts can reach our Gloo pairs; 127.0.0.1 if unknown.
std::string localAddressToward(const std::string &host) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo *res = nullptr;
  std::string out = "127.0.0.1";
  if (::getaddrinfo(host.c_str(), "9", &hints, &res) != 0)
    return out;
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    char buf[INET_ADDRSTRLEN];
    if (::getsockname(fd, reinterpret_cast<sockaddr *>(&local), &len) == 0 &&
        ::inet_ntop(AF_INET, &local.sin_addr, buf, sizeof buf))
      out = buf;
  }
  if (fd >= 0)
    ::close(fd);
  ::freeaddrinfo(res);
  return out;
}

} // namespace
} // namespace gloo_impl

using namespace gloo_impl;

std::string deadPeers(Communicator &comm) {
  auto *gloo = dynamic_cast<GlooCommunicator *>(&comm);
  return gloo ? gloo->deadPeers() : std::string();
}

void reportFailure(Communicator &comm, const std::string &message) {
  if (auto *gloo = dynamic_cast<GlooCommunicator *>(&comm))
    gloo->reportFailure(message);
}

std::unique_ptr<Communicator> createGlooCommunicator(const RankEnv &env,
                                                     milliseconds timeout) {
  timeout = commTimeoutFromEnvironment(timeout);
  // Gloo writes to its sockets without MSG_NOSIGNAL: the default SIGPIPE
  // would kill this rank when a peer dies, before it can say which one.
  // Writes to a closed socket or pipe then fail with EPIPE instead.
  struct sigaction pipeAction {};
  if (sigaction(SIGPIPE, nullptr, &pipeAction) == 0 &&
      !(pipeAction.sa_flags & SA_SIGINFO) && pipeAction.sa_handler == SIG_DFL)
    std::signal(SIGPIPE, SIG_IGN);
  check(env.worldSize >= 1 && env.rank >= 0 && env.rank < env.worldSize,
        "rank ", env.rank, " is not a rank of a world of ", env.worldSize);
  auto shared = std::make_shared<Shared>();
  shared->timeout = timeout;
  shared->worldRank = env.rank;
  shared->worldSize = env.worldSize;
  std::string glooHost = "127.0.0.1";

  check(!env.rendezvous.empty() || env.worldSize == 1, "rank ", env.rank,
        " of ", env.worldSize, " (launcher ", env.launcher,
        ") has no rendezvous: set FRESCO_RENDEZVOUS=file:<folder> or "
        "tcp:<host>:<port>");
  RendezvousAddress address = parseRendezvous(env.rendezvous);
  std::shared_ptr<KVStore> store =
      openStore(address, /*serve=*/env.rank == 0, timeout);
  if (address.kind == RendezvousAddress::Kind::Folder && env.rank == 0 &&
      address.folder.rfind(kImplicitRendezvousPrefix, 0) == 0)
    shared->removeDir = address.folder;
  if (address.kind == RendezvousAddress::Kind::Tcp) {
    shared->servesStore = env.rank == 0;
    glooHost = localAddressToward(address.host);
  }
  if (const char *h = std::getenv("FRESCO_GLOO_HOST"); h && *h)
    glooHost = h;
  shared->glooStore = std::make_unique<GlooStore>(*store);
  shared->board =
      std::make_unique<FailureBoard>(store, env.rank, env.worldSize);
  // Everyone says who they are, then waits for everyone else.
  shared->board->join(timeout, env.launcher);

  std::string worldName =
      "the world of " + std::to_string(env.worldSize) + " ranks";
  std::vector<int> world(env.worldSize);
  for (int r = 0; r < env.worldSize; ++r)
    world[r] = r;
  if (env.worldSize == 1)
    return std::make_unique<GlooCommunicator>(shared, nullptr, world,
                                              worldName);

  try {
    gloo::transport::tcp::attr attr;
    attr.hostname = glooHost;
    shared->device = gloo::transport::tcp::CreateDevice(attr);
  } catch (const std::exception &e) {
    fail("cannot open a Gloo TCP device on '", glooHost,
         "' (FRESCO_GLOO_HOST sets the address): ", glooMessage(e.what()));
  }
  shared->startWatchdog();
  auto context =
      std::make_shared<gloo::rendezvous::Context>(env.rank, env.worldSize);
  context->setTimeout(timeout);
  auto comm =
      std::make_unique<GlooCommunicator>(shared, nullptr, world, worldName);
  comm->run(
      "connecting to the other ranks of " + worldName,
      [&] {
        gloo::rendezvous::PrefixStore prefixed("world", *shared->glooStore);
        context->connectFullMesh(prefixed, shared->device);
        // Returning means every rank is connected, not only this one: a
        // rank that then exits at once cannot break a peer's handshake.
        gloo::BarrierOptions opts(context);
        opts.setTimeout(timeout);
        gloo::barrier(opts);
      },
      /*onThis=*/false);
  return std::make_unique<GlooCommunicator>(shared, std::move(context), world,
                                            worldName);
}

} // namespace fresco
