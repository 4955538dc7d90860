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
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/comm/FailureBoard.h"
#include "runtime/comm/Text.h"
#include "runtime/comm/store/KVStore.h"
#include "runtime/core/Error.h"

#include <gloo/barrier.h>
#include <gloo/common/error.h>
#include <gloo/common/logging.h>
#include <gloo/rendezvous/context.h>
#include <gloo/rendezvous/prefix_store.h>
#include <gloo/rendezvous/store.h>
#include <gloo/transport/pair.h>
#include <gloo/transport/tcp/device.h>
#include <gloo/transport/unbound_buffer.h>
#include <gloo/types.h>

#include <algorithm>
#include <arpa/inet.h>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <mutex>
#include <netdb.h>
#include <sstream>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

namespace fresco {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// Slot prefixes of our own traffic, one per operation kind so that ranks
// that disagree on the sequence time out instead of mixing payloads; Gloo's
// collectives use 0x01..0x08.
constexpr uint8_t kSendRecvSlotPrefix = 0x40;
constexpr uint8_t kReduceScatterSlotPrefix = 0x41;
constexpr uint8_t kAllReduceSlotPrefix = 0x42;
constexpr uint8_t kAllGatherSlotPrefix = 0x43;
constexpr uint8_t kAllToAllSlotPrefix = 0x44;
constexpr uint8_t kBroadcastSlotPrefix = 0x45;
constexpr uint8_t kBarrierSlotPrefix = 0x46;

using comm::seconds;

/// Gloo prefixes its messages with "[file:line] "; users need only the rest.
std::string glooMessage(const char *what) {
  std::string s = what;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find("] ");
    if (close != std::string::npos)
      s = s.substr(close + 2);
  }
  return s;
}

/// "1 float", "3 floats".
std::string count(size_t n, const char *unit) {
  return std::to_string(n) + " " + unit + (n == 1 ? "" : "s");
}

using comm::joinRanks;

//===----------------------------------------------------------------------===//
// The rendezvous store, as Gloo sees it
//===----------------------------------------------------------------------===//

/// Gloo's connectFullMesh needs its own store interface; ours also answers
/// without blocking, which failure diagnosis needs.
class GlooStore : public gloo::rendezvous::Store {
public:
  explicit GlooStore(KVStore &store) : store_(store) {}
  void set(const std::string &key, const std::vector<char> &value) override {
    store_.set(key, value);
  }
  std::vector<char> get(const std::string &key) override {
    return store_.get(key);
  }
  void wait(const std::vector<std::string> &keys) override {
    store_.wait(keys);
  }
  void wait(const std::vector<std::string> &keys,
            const milliseconds &timeout) override {
    store_.wait(keys, timeout);
  }

private:
  KVStore &store_;
};

//===----------------------------------------------------------------------===//
// State shared by a rank's communicators
//===----------------------------------------------------------------------===//

/// One per rank and rendezvous: the store, the Gloo device, who the peers
/// are. Its end (when this rank's last communicator goes) waits, on rank 0,
/// for the others to finish with the store it serves or the folder it
/// removes.
struct Shared {
  std::unique_ptr<FailureBoard> board;
  std::unique_ptr<GlooStore> glooStore; // board's store, for Gloo
  std::shared_ptr<gloo::transport::Device> device;
  milliseconds timeout{0};
  int worldRank = 0;
  int worldSize = 1;
  std::string removeDir; // Rank 0 removes this folder at the end.
  bool servesStore = false;
  std::atomic<bool> failed{false};
  std::mutex mutex;
  std::map<std::string, int> groupCounts;

  // The watchdog: while this rank waits on a Gloo buffer for more than
  // 100 ms, it looks every 100 ms whether a peer died and, if so, aborts
  // the wait. Debian's Gloo
  // (2022) does not always wake a pending unbound send when its peer's
  // connection drops, so the wait would otherwise sit out the timeout.
  std::mutex watchMutex;
  std::condition_variable watchCv;
  gloo::transport::UnboundBuffer *watched = nullptr; // Guarded by watchMutex.
  bool watchedIsSend = false;
  const std::vector<int> *watchedMembers = nullptr;
  uint64_t watchGeneration = 0;
  Clock::time_point watchedSince;
  std::string abortReason;
  bool stopWatching = false;
  std::thread watchdog;

  void startWatchdog() {
    watchdog = std::thread([this] { watch(); });
  }

  // Polls every 100 ms rather than being woken per wait: a step makes
  // hundreds of waits, and waking a thread for each costs more (on 2 cores,
  // measured) than the collective itself.
  void watch() {
    std::unique_lock<std::mutex> lock(watchMutex);
    while (!stopWatching) {
      watchCv.wait_for(lock, milliseconds(100), [&] { return stopWatching; });
      if (stopWatching || !watched ||
          Clock::now() - watchedSince < milliseconds(100))
        continue;
      uint64_t generation = watchGeneration;
      std::vector<int> members = *watchedMembers;
      lock.unlock();
      std::string dead = board->deadMember(members);
      lock.lock();
      if (dead.empty() || watchGeneration != generation || !watched)
        continue;
      abortReason = dead;
      if (watchedIsSend)
        watched->abortWaitSend();
      else
        watched->abortWaitRecv();
      watched = nullptr;
    }
  }

  /// Waits for one send or receive of `buffer` until `deadline`; throws
  /// naming the peer if the watchdog saw one of `members` die.
  void wait(gloo::transport::UnboundBuffer &buffer, bool isSend,
            const std::vector<int> &members, Clock::time_point deadline) {
    {
      std::lock_guard<std::mutex> lock(watchMutex);
      watched = &buffer;
      watchedIsSend = isSend;
      watchedMembers = &members;
      watchedSince = Clock::now();
      ++watchGeneration;
      abortReason.clear();
    }
    auto left = std::max(
        milliseconds(1),
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    bool completed = false;
    try {
      completed = isSend ? buffer.waitSend(left) : buffer.waitRecv(left);
    } catch (...) {
      std::lock_guard<std::mutex> lock(watchMutex);
      watched = nullptr;
      ++watchGeneration;
      throw;
    }
    std::lock_guard<std::mutex> lock(watchMutex);
    watched = nullptr;
    ++watchGeneration;
    if (!completed)
      throw std::runtime_error(abortReason.empty() ? "wait aborted"
                                                   : abortReason);
  }

  ~Shared() {
    if (watchdog.joinable()) {
      {
        std::lock_guard<std::mutex> lock(watchMutex);
        stopWatching = true;
      }
      watchCv.notify_one();
      watchdog.join();
    }
    if (worldSize == 1 || !board)
      return;
    board->markDone();
    if (worldRank != 0 || (!servesStore && removeDir.empty()))
      return;
    // Others may still use the store (subgroups, their errors): wait until
    // each is done, has said why it failed, is gone or never came. After a
    // failure, ranks still blocked in a collective may take their whole
    // timeout to notice; do not wait for them long.
    board->waitForOthers(failed ? std::min(timeout, milliseconds(2000))
                                : timeout);
    if (!removeDir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(removeDir, ec);
    }
  }
};

//===----------------------------------------------------------------------===//
// The communicator
//===----------------------------------------------------------------------===//

class GlooCommunicator : public Communicator {
public:
  GlooCommunicator(std::shared_ptr<Shared> shared,
                   std::shared_ptr<gloo::Context> context,
                   std::vector<int> members, std::string name)
      : shared_(std::move(shared)), context_(std::move(context)),
        members_(std::move(members)), name_(std::move(name)) {
    rank_ = static_cast<int>(
        std::find(members_.begin(), members_.end(), shared_->worldRank) -
        members_.begin());
  }

  int rank() const override { return rank_; }
  int size() const override { return static_cast<int>(members_.size()); }
  int globalRank(int i) const override {
    check(i >= 0 && i < size(), "globalRank(", i, ") on a communicator of ",
          size(), " ranks");
    return members_[i];
  }

  std::unique_ptr<Communicator> subgroup(const std::vector<int> &members,
                                         const std::string &tag) override;
  void allReduceSum(float *data, size_t n) override;
  void allGather(const void *send, void *recv, size_t bytesPerRank) override;
  void reduceScatterSum(const float *send, float *recv, size_t n) override;
  void allToAll(const void *send, void *recv, size_t bytesPerRank) override;
  void send(const void *data, size_t bytes, int peer, int tag) override;
  void recv(void *data, size_t bytes, int peer, int tag) override;
  void sendRecv(const void *send, int to, void *recv, int from, size_t bytes,
                int tag) override;
  void broadcast(void *data, size_t bytes, int root) override;
  void barrier() override;

  std::string deadPeers() { return shared_->board->deadMember(members_); }

  void reportFailure(const std::string &message) {
    shared_->board->reportOwn(message);
  }

  /// Runs a Gloo call; turns any failure into a fresco::Error naming the
  /// operation ("<what> on <this communicator>", or `what` alone when
  /// `onThis` is false), its duration and the likely culprit.
  template <typename F>
  void run(const std::string &what, F &&body, bool onThis = true);

private:
  milliseconds timeout() const { return shared_->timeout; }
  /// Closes every connection of this communicator. After a failure, Gloo's
  /// event loop may still hold sends and receives over the caller's memory,
  /// which the caller frees as the error unwinds; once the pairs are closed
  /// the loop touches them no more (without this, a late write from freed
  /// memory failed with EFAULT on Gloo's thread and aborted the process).
  void closeConnections() {
    if (!context_)
      return;
    for (int i = 0; i < context_->size; ++i) {
      if (i == context_->rank)
        continue;
      try {
        if (auto &pair = context_->getPair(i))
          pair->close();
      } catch (...) {
      }
    }
  }
  /// "the world of 3 ranks", "subgroup 'tp' (ranks 0, 1)".
  const std::string &describe() const { return name_; }
  void checkPeer(const char *op, int peer) const {
    check(peer >= 0 && peer < size(), op, ": peer ", peer,
          " is not a member of ", describe());
  }

  std::shared_ptr<Shared> shared_;
  std::shared_ptr<gloo::Context> context_; // Null for one rank.
  std::vector<int> members_;
  std::string name_;
  int rank_ = 0;
  std::string broken_;
  // send() to oneself, queued per tag until recv() takes it.
  std::map<int, std::deque<std::vector<char>>> selfMessages_;
};

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

template <typename F>
void GlooCommunicator::run(const std::string &what, F &&body, bool onThis) {
  std::string op = onThis ? what + " on " + describe() : what;
  if (!broken_.empty())
    fail(op,
         " is impossible: the communicator is unusable after an earlier "
         "failure: ",
         broken_);
  auto start = Clock::now();
  std::string cause;
  try {
    body();
    return;
  } catch (const gloo::IoException &e) {
    cause = glooMessage(e.what());
  } catch (const gloo::EnforceNotMet &e) {
    cause = glooMessage(e.what());
  } catch (const std::exception &e) {
    cause = glooMessage(e.what());
  }
  Clock::duration elapsed = Clock::now() - start;
  // Say at once that this rank failed, so that peers diagnosing their own
  // failure at the same moment do not take it for the cause.
  shared_->board->reportCollective(op + " failed on rank " +
                                   std::to_string(shared_->worldRank) + ": " +
                                   cause);
  broken_ = explainFailure(*shared_, members_, op, elapsed, cause);
  shared_->failed = true;
  closeConnections();
  // Peers still waiting on this rank can quote why it gave up.
  shared_->board->reportCollective(broken_);
  throw Error(broken_);
}

std::unique_ptr<Communicator>
GlooCommunicator::subgroup(const std::vector<int> &members,
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

/// Gloo unbound buffers for one operation, waited on under the watchdog
/// (Shared::wait) and bounded by the operation's deadline. If it fails, its
/// buffers (and the memory they point at) are leaked on purpose: Gloo's event
/// loop may still hold them, and the communicator is unusable afterwards
/// anyway.
class Exchange {
public:
  Exchange(Shared &shared, gloo::Context &context, std::vector<int> members,
           milliseconds timeout)
      : shared_(shared), context_(context), members_(std::move(members)),
        deadline_(Clock::now() + timeout) {}
  Exchange(const Exchange &) = delete;
  Exchange &operator=(const Exchange &) = delete;
  ~Exchange() {
    if (std::uncaught_exceptions() == 0)
      return;
    for (auto &b : buffers_)
      (void)b.release();
    for (auto &t : scratch_)
      (void)t.release();
  }

  gloo::transport::UnboundBuffer &buffer(void *data, size_t bytes) {
    buffers_.push_back(context_.createUnboundBuffer(data, bytes));
    return *buffers_.back();
  }
  /// Memory that lives as long as the buffers over it.
  char *scratch(size_t bytes) {
    scratch_.push_back(std::make_unique<char[]>(bytes));
    return scratch_.back().get();
  }

  void waitSend(gloo::transport::UnboundBuffer &b) {
    shared_.wait(b, /*isSend=*/true, members_, deadline_);
  }
  void waitRecv(gloo::transport::UnboundBuffer &b) {
    shared_.wait(b, /*isSend=*/false, members_, deadline_);
  }

private:
  Shared &shared_;
  gloo::Context &context_;
  std::vector<int> members_;
  Clock::time_point deadline_;
  std::vector<std::unique_ptr<gloo::transport::UnboundBuffer>> buffers_;
  std::vector<std::unique_ptr<char[]>> scratch_;
};

/// Where block b of n elements split into p near-equal blocks begins.
size_t blockBegin(size_t n, int p, int b) {
  size_t chunk = (n + p - 1) / p;
  return std::min(n, chunk * static_cast<size_t>(b));
}

int mod(int a, int p) { return ((a % p) + p) % p; }

void GlooCommunicator::allReduceSum(float *data, size_t n) {
  if (n == 0 || size() == 1)
    return;
  // Ring: reduce-scatter, then all-gather of the finished blocks. Each block
  // is summed on one rank only, so every rank ends with the same bits.
  run("allReduceSum of " + count(n, "float"), [&] {
    int p = size(), r = rank_, next = mod(r + 1, p), prev = mod(r - 1, p);
    Exchange ex(*shared_, *context_, members_, timeout());
    size_t chunk = (n + p - 1) / p;
    auto *incoming = reinterpret_cast<float *>(ex.scratch(chunk * 4));
    auto &out = ex.buffer(data, n * 4);
    auto &in = ex.buffer(incoming, chunk * 4);
    auto &gathered = ex.buffer(data, n * 4);
    auto slot = gloo::Slot::build(kAllReduceSlotPrefix, 0);
    auto step = [&](int sendBlock, int recvBlock, bool reduce) {
      size_t sb = blockBegin(n, p, sendBlock),
             se = blockBegin(n, p, sendBlock + 1);
      size_t rb = blockBegin(n, p, recvBlock),
             re = blockBegin(n, p, recvBlock + 1);
      if (re > rb) {
        if (reduce)
          in.recv(prev, slot, 0, (re - rb) * 4);
        else
          gathered.recv(prev, slot, rb * 4, (re - rb) * 4);
      }
      if (se > sb)
        out.send(next, slot, sb * 4, (se - sb) * 4);
      if (re > rb) {
        ex.waitRecv(reduce ? in : gathered);
        if (reduce)
          for (size_t i = rb; i < re; ++i)
            data[i] += incoming[i - rb];
      }
      if (se > sb)
        ex.waitSend(out);
    };
    for (int s = 0; s < p - 1; ++s)
      step(mod(r - s, p), mod(r - s - 1, p), /*reduce=*/true);
    for (int s = 0; s < p - 1; ++s)
      step(mod(r + 1 - s, p), mod(r - s, p), /*reduce=*/false);
  });
}

void GlooCommunicator::allGather(const void *send, void *recv,
                                 size_t bytesPerRank) {
  if (bytesPerRank == 0)
    return;
  const char *s = static_cast<const char *>(send);
  char *r = static_cast<char *>(recv);
  size_t total = bytesPerRank * size();
  check(s + bytesPerRank <= r || r + total <= s,
        "allGather: recv overlaps send");
  std::memcpy(r + static_cast<size_t>(rank_) * bytesPerRank, s, bytesPerRank);
  if (size() == 1)
    return;
  // Ring: in step k each rank forwards the block it got in step k - 1.
  run("allGather of " + count(bytesPerRank, "byte") + " per rank", [&] {
    int p = size(), next = mod(rank_ + 1, p), prev = mod(rank_ - 1, p);
    Exchange ex(*shared_, *context_, members_, timeout());
    auto &out = ex.buffer(r, total);
    auto &in = ex.buffer(r, total);
    auto slot = gloo::Slot::build(kAllGatherSlotPrefix, 0);
    for (int k = 0; k < p - 1; ++k) {
      size_t sendBlock = static_cast<size_t>(mod(rank_ - k, p));
      size_t recvBlock = static_cast<size_t>(mod(rank_ - k - 1, p));
      in.recv(prev, slot, recvBlock * bytesPerRank, bytesPerRank);
      out.send(next, slot, sendBlock * bytesPerRank, bytesPerRank);
      ex.waitRecv(in);
      ex.waitSend(out);
    }
  });
}

void GlooCommunicator::reduceScatterSum(const float *send, float *recv,
                                        size_t n) {
  if (n == 0)
    return;
  int p = size();
  if (p == 1) {
    std::memmove(recv, send, n * sizeof(float));
    return;
  }
  // Ring: in step s each rank passes its partial sum of block (r - s - 1) to
  // the next rank and adds the previous rank's partial sum of block
  // (r - s - 2) to its own; after p - 1 steps block r is complete.
  run("reduceScatterSum of " + count(n, "float") + " per rank", [&] {
    Exchange ex(*shared_, *context_, members_, timeout());
    auto *acc = reinterpret_cast<float *>(ex.scratch(n * p * 4));
    auto *incoming = reinterpret_cast<float *>(ex.scratch(n * 4));
    std::memcpy(acc, send, n * p * 4);
    auto &sendBuf = ex.buffer(acc, n * p * 4);
    auto &recvBuf = ex.buffer(incoming, n * 4);
    int next = mod(rank_ + 1, p), prev = mod(rank_ - 1, p);
    auto slot = gloo::Slot::build(kReduceScatterSlotPrefix, 0);
    for (int s = 0; s < p - 1; ++s) {
      size_t out = static_cast<size_t>(mod(rank_ - s - 1, p));
      size_t in = static_cast<size_t>(mod(rank_ - s - 2, p));
      recvBuf.recv(prev, slot);
      sendBuf.send(next, slot, out * n * 4, n * 4);
      ex.waitRecv(recvBuf);
      ex.waitSend(sendBuf);
      float *dst = acc + in * n;
      for (size_t i = 0; i < n; ++i)
        dst[i] += incoming[i];
    }
    std::memcpy(recv, acc + static_cast<size_t>(rank_) * n, n * 4);
  });
}

void GlooCommunicator::allToAll(const void *send, void *recv,
                                size_t bytesPerRank) {
  if (bytesPerRank == 0)
    return;
  size_t total = bytesPerRank * size();
  const char *s = static_cast<const char *>(send);
  char *r = static_cast<char *>(recv);
  if (size() == 1) {
    std::memmove(r, s, total);
    return;
  }
  run("allToAll of " + count(bytesPerRank, "byte") + " per rank", [&] {
    Exchange ex(*shared_, *context_, members_, timeout());
    // Sends read `send` while receives write `recv`: copy when they overlap.
    if (!(s + total <= r || r + total <= s)) {
      char *copy = ex.scratch(total);
      std::memcpy(copy, s, total);
      s = copy;
    }
    size_t mine = static_cast<size_t>(rank_) * bytesPerRank;
    std::memcpy(r + mine, s + mine, bytesPerRank);
    auto &out = ex.buffer(const_cast<char *>(s), total);
    auto &in = ex.buffer(r, total);
    auto slot = gloo::Slot::build(kAllToAllSlotPrefix, 0);
    for (int q = 0; q < size(); ++q)
      if (q != rank_)
        in.recv(q, slot, static_cast<size_t>(q) * bytesPerRank, bytesPerRank);
    for (int q = 0; q < size(); ++q)
      if (q != rank_)
        out.send(q, slot, static_cast<size_t>(q) * bytesPerRank, bytesPerRank);
    for (int q = 0; q < size() - 1; ++q)
      ex.waitRecv(in);
    for (int q = 0; q < size() - 1; ++q)
      ex.waitSend(out);
  });
}

void GlooCommunicator::send(const void *data, size_t bytes, int peer, int tag) {
  checkPeer("send", peer);
  check(tag >= 0, "send: tag ", tag, " is negative");
  if (peer == rank_) {
    const char *p = static_cast<const char *>(data);
    selfMessages_[tag].emplace_back(p, p + bytes);
    return;
  }
  if (bytes == 0)
    return;
  run("send of " + count(bytes, "byte") + " to rank " +
          std::to_string(members_[peer]) + " (tag " + std::to_string(tag) + ")",
      [&] {
        Exchange ex(*shared_, *context_, members_, timeout());
        auto &buf = ex.buffer(const_cast<void *>(data), bytes);
        buf.send(peer, gloo::Slot::build(kSendRecvSlotPrefix,
                                         static_cast<uint32_t>(tag)));
        ex.waitSend(buf);
      });
}

void GlooCommunicator::recv(void *data, size_t bytes, int peer, int tag) {
  checkPeer("recv", peer);
  check(tag >= 0, "recv: tag ", tag, " is negative");
  if (peer == rank_) {
    auto &queue = selfMessages_[tag];
    check(!queue.empty(), "recv from this rank itself (tag ", tag,
          ") with no matching send before it");
    check(queue.front().size() == bytes, "recv of ", bytes,
          " bytes from this rank itself (tag ", tag, ") but ",
          queue.front().size(), " were sent");
    std::memcpy(data, queue.front().data(), bytes);
    queue.pop_front();
    return;
  }
  if (bytes == 0)
    return;
  run("recv of " + count(bytes, "byte") + " from rank " +
          std::to_string(members_[peer]) + " (tag " + std::to_string(tag) + ")",
      [&] {
        Exchange ex(*shared_, *context_, members_, timeout());
        auto &buf = ex.buffer(data, bytes);
        buf.recv(peer, gloo::Slot::build(kSendRecvSlotPrefix,
                                         static_cast<uint32_t>(tag)));
        ex.waitRecv(buf);
      });
}

void GlooCommunicator::sendRecv(const void *send, int to, void *recv, int from,
                                size_t bytes, int tag) {
  check(to >= 0 && to < size(), "sendRecv: destination ", to,
        " is not a member of ", describe());
  check(from >= 0 && from < size(), "sendRecv: source ", from,
        " is not a member of ", describe());
  check(tag >= 0, "sendRecv: tag ", tag, " is negative");
  const char *s = static_cast<const char *>(send);
  char *r = static_cast<char *>(recv);
  check(bytes == 0 || s + bytes <= r || r + bytes <= s,
        "sendRecv: recv overlaps send");
  // This rank's own part goes through the queue of send/recv to oneself, so
  // that sendRecv and send/recv to oneself mix in order per tag. Checked
  // before anything is queued or posted.
  if (from == rank_) {
    auto &queue = selfMessages_[tag];
    if (queue.empty() && to == rank_) {
      if (bytes)
        std::memcpy(r, s, bytes);
    } else {
      check(!queue.empty(), "sendRecv from this rank itself (tag ", tag,
            ") with no matching send before it");
      check(queue.front().size() == bytes, "sendRecv of ", bytes,
            " bytes from this rank itself (tag ", tag, ") but ",
            queue.front().size(), " were sent");
      if (bytes)
        std::memcpy(r, queue.front().data(), bytes);
      queue.pop_front();
      if (to == rank_)
        queue.emplace_back(s, s + bytes);
    }
  } else if (to == rank_) {
    selfMessages_[tag].emplace_back(s, s + bytes);
  }
  bool sendOut = to != rank_ && bytes > 0;
  bool recvIn = from != rank_ && bytes > 0;
  if (!sendOut && !recvIn)
    return;
  std::string what = "sendRecv of " + count(bytes, "byte");
  if (sendOut)
    what += " to rank " + std::to_string(members_[to]);
  if (recvIn)
    what += std::string(sendOut ? " and" : "") + " from rank " +
            std::to_string(members_[from]);
  run(what + " (tag " + std::to_string(tag) + ")", [&] {
    Exchange ex(*shared_, *context_, members_, timeout());
    auto slot =
        gloo::Slot::build(kSendRecvSlotPrefix, static_cast<uint32_t>(tag));
    // Both posted before either is waited on: a Gloo send completes only
    // once its peer takes it, so a ring where every member first waits for
    // its own send would deadlock.
    gloo::transport::UnboundBuffer *in = nullptr, *out = nullptr;
    if (recvIn) {
      in = &ex.buffer(r, bytes);
      in->recv(from, slot);
    }
    if (sendOut) {
      out = &ex.buffer(const_cast<char *>(s), bytes);
      out->send(to, slot);
    }
    if (in)
      ex.waitRecv(*in);
    if (out)
      ex.waitSend(*out);
  });
}

void GlooCommunicator::broadcast(void *data, size_t bytes, int root) {
  checkPeer("broadcast", root);
  if (bytes == 0 || size() == 1)
    return;
  run("broadcast of " + count(bytes, "byte") + " from rank " +
          std::to_string(members_[root]),
      [&] {
        Exchange ex(*shared_, *context_, members_, timeout());
        auto &buf = ex.buffer(data, bytes);
        auto slot = gloo::Slot::build(kBroadcastSlotPrefix, 0);
        if (rank_ != root) {
          buf.recv(root, slot);
          ex.waitRecv(buf);
          return;
        }
        for (int q = 0; q < size(); ++q)
          if (q != root)
            buf.send(q, slot);
        for (int q = 0; q < size() - 1; ++q)
          ex.waitSend(buf);
      });
}

void GlooCommunicator::barrier() {
  if (size() == 1)
    return;
  // Everyone tells everyone it has arrived.
  run("barrier", [&] {
    Exchange ex(*shared_, *context_, members_, timeout());
    char *flags = ex.scratch(static_cast<size_t>(size()) + 1);
    auto &out = ex.buffer(flags + size(), 1);
    auto &in = ex.buffer(flags, static_cast<size_t>(size()));
    auto slot = gloo::Slot::build(kBarrierSlotPrefix, 0);
    for (int q = 0; q < size(); ++q)
      if (q != rank_) {
        in.recv(q, slot, static_cast<size_t>(q), 1);
        out.send(q, slot);
      }
    for (int q = 0; q < size() - 1; ++q)
      ex.waitRecv(in);
    for (int q = 0; q < size() - 1; ++q)
      ex.waitSend(out);
  });
}

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
