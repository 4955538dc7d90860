//===- GlooImpl.h - The Gloo communicator's insides -------------*- C++ -*-===//
//
// Shared by GlooCommunicator.cpp (joining, subgroups, failure reports) and
// GlooCollectives.cpp (the collectives over Gloo's pairs); not a public
// header.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_GLOO_GLOOIMPL_H
#define FRESCO_RUNTIME_COMM_GLOO_GLOOIMPL_H

#include "runtime/comm/CommQueue.h"
#include "runtime/comm/FailureBoard.h"
#include "runtime/comm/Text.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
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

namespace fresco::gloo_impl {

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
inline std::string glooMessage(const char *what) {
  std::string s = what;
  if (!s.empty() && s[0] == '[') {
    size_t close = s.find("] ");
    if (close != std::string::npos)
      s = s.substr(close + 2);
  }
  return s;
}

/// "1 float", "3 floats".
inline std::string count(size_t n, const char *unit) {
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
  // the wait. Debian's Gloo (2022) does not always wake a pending unbound
  // send when its peer's connection drops, so the wait would otherwise sit
  // out the timeout. Several waits may be under way at once (a started
  // call on a communicator's thread, a blocking one on another
  // communicator); each is watched.
  struct Watched {
    gloo::transport::UnboundBuffer *buffer;
    bool isSend;
    const std::vector<int> *members;
    Clock::time_point since;
    std::string abortReason; // set when the watchdog aborted it
  };
  std::mutex watchMutex;
  std::condition_variable watchCv;
  std::map<uint64_t, Watched> watched; // by id; guarded by watchMutex
  uint64_t nextWatchId = 0;
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
      if (stopWatching)
        break;
      auto now = Clock::now();
      std::vector<std::pair<uint64_t, std::vector<int>>> due;
      for (auto &[id, w] : watched)
        if (w.abortReason.empty() && now - w.since >= milliseconds(100))
          due.emplace_back(id, *w.members);
      for (auto &[id, members] : due) {
        lock.unlock();
        std::string dead = board->deadMember(members);
        lock.lock();
        auto it = watched.find(id);
        if (dead.empty() || it == watched.end() ||
            !it->second.abortReason.empty())
          continue;
        it->second.abortReason = dead;
        if (it->second.isSend)
          it->second.buffer->abortWaitSend();
        else
          it->second.buffer->abortWaitRecv();
      }
    }
  }

  /// Waits for one send or receive of `buffer` until `deadline`; throws
  /// naming the peer if the watchdog saw one of `members` die.
  void wait(gloo::transport::UnboundBuffer &buffer, bool isSend,
            const std::vector<int> &members, Clock::time_point deadline) {
    uint64_t id;
    {
      std::lock_guard<std::mutex> lock(watchMutex);
      id = nextWatchId++;
      watched[id] = Watched{&buffer, isSend, &members, Clock::now(), ""};
    }
    auto left = std::max(
        milliseconds(1),
        std::chrono::duration_cast<milliseconds>(deadline - Clock::now()));
    bool completed = false;
    std::string reason;
    auto forget = [&] {
      std::lock_guard<std::mutex> lock(watchMutex);
      reason = std::move(watched[id].abortReason);
      watched.erase(id);
    };
    try {
      completed = isSend ? buffer.waitSend(left) : buffer.waitRecv(left);
    } catch (...) {
      forget();
      throw;
    }
    forget();
    if (!completed)
      throw std::runtime_error(reason.empty() ? "wait aborted" : reason);
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

  // Every call runs through the communicator's CommQueue: one at a time,
  // in the order issued (ranks match its Gloo messages by that order);
  // started ones on its worker thread. Communicators are independent, as
  // their pairs are.
  ~GlooCommunicator() override { queue_->drain(); }
  std::unique_ptr<Communicator> subgroup(const std::vector<int> &members,
                                         const std::string &tag) override {
    std::unique_ptr<Communicator> out;
    serial([&] { out = subgroupNow(members, tag); });
    return out;
  }
  void allReduceSum(float *data, size_t n) override {
    serial([&] { allReduceSumNow(data, n); });
  }
  void allGather(const void *send, void *recv, size_t bytesPerRank) override {
    serial([&] { allGatherNow(send, recv, bytesPerRank); });
  }
  void reduceScatterSum(const float *send, float *recv, size_t n) override {
    serial([&] { reduceScatterSumNow(send, recv, n); });
  }
  void allToAll(const void *send, void *recv, size_t bytesPerRank) override {
    serial([&] { allToAllNow(send, recv, bytesPerRank); });
  }
  void send(const void *data, size_t bytes, int peer, int tag) override {
    serial([&] { sendNow(data, bytes, peer, tag); });
  }
  void recv(void *data, size_t bytes, int peer, int tag) override {
    serial([&] { recvNow(data, bytes, peer, tag); });
  }
  void sendRecv(const void *send, int to, void *recv, int from, size_t bytes,
                int tag) override {
    serial([&] { sendRecvNow(send, to, recv, from, bytes, tag); });
  }
  void broadcast(void *data, size_t bytes, int root) override {
    serial([&] { broadcastNow(data, bytes, root); });
  }
  void barrier() override {
    serial([&] { barrierNow(); });
  }
  std::function<void()> startSendRecv(const void *send, int to, void *recv,
                                      int from, size_t bytes,
                                      int tag) override {
    return queue_->start(
        [=] { sendRecvNow(send, to, recv, from, bytes, tag); });
  }
  std::function<void()> startAllToAll(const void *send, void *recv,
                                      size_t bytesPerRank) override {
    return queue_->start([=] { allToAllNow(send, recv, bytesPerRank); });
  }
  std::function<void()> startAllGather(const void *send, void *recv,
                                       size_t bytesPerRank) override {
    return queue_->start([=] { allGatherNow(send, recv, bytesPerRank); });
  }
  std::function<void()> startAllReduceSumOf(void *data, size_t n,
                                            DType type) override {
    // The 16-bit widening and narrowing run on the worker too.
    return queue_->start([=] { allReduceSumOf(data, n, type); });
  }

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
  void serial(const std::function<void()> &call) { queue_->run(call); }

  std::unique_ptr<Communicator> subgroupNow(const std::vector<int> &members,
                                            const std::string &tag);
  void allReduceSumNow(float *data, size_t n);
  void allGatherNow(const void *send, void *recv, size_t bytesPerRank);
  void reduceScatterSumNow(const float *send, float *recv, size_t n);
  void allToAllNow(const void *send, void *recv, size_t bytesPerRank);
  void sendNow(const void *data, size_t bytes, int peer, int tag);
  void recvNow(void *data, size_t bytes, int peer, int tag);
  void sendRecvNow(const void *send, int to, void *recv, int from, size_t bytes,
                   int tag);
  void broadcastNow(void *data, size_t bytes, int root);
  void barrierNow();

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
  std::unique_ptr<CommQueue> queue_ = std::make_unique<CommQueue>();
  // send() to oneself, queued per tag until recv() takes it.
  std::map<int, std::deque<std::vector<char>>> selfMessages_;
};

std::string joinAll(const std::vector<std::string> &parts);
std::string explainFailure(Shared &shared, const std::vector<int> &members,
                           const std::string &what, Clock::duration elapsed,
                           const std::string &cause);

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

} // namespace fresco::gloo_impl

#endif // FRESCO_RUNTIME_COMM_GLOO_GLOOIMPL_H
