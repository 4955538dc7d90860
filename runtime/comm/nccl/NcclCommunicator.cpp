//===- NcclCommunicator.cpp - Collectives between GPUs with NCCL ----------===//
//
// libnccl is loaded with dlopen the first time a communicator is made, as
// cuBLASLt is (CudaBackend.cpp): linked, it would cost every fresco-run
// process its loading time, CPU runs included. Every call is queued on the
// CUDA backend's stream (startSendRecv: on a stream of its own, ordered
// with the backend's by events, so that kernels overlap it) and followed by
// an event; a watchdog thread polls the oldest unfinished event and NCCL's
// asynchronous error. Calls recorded into a CUDA graph get no event (they
// run only when it is replayed): the executor has each replay watched as
// one unit (watchQueuedWork).
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/nccl/NcclCommunicator.h"
#include "runtime/backends/cuda/CudaBackend.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/core/DynamicLibrary.h"
#include "runtime/core/Error.h"

#include <cuda_runtime.h>
#include <dlfcn.h>
#include <nccl.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace fresco {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

#define FRESCO_NCCL_FUNCTIONS(X)                                               \
  X(ncclGetUniqueId)                                                           \
  X(ncclCommInitRank)                                                          \
  X(ncclCommDestroy)                                                           \
  X(ncclCommAbort)                                                             \
  X(ncclCommGetAsyncError)                                                     \
  X(ncclGetErrorString)                                                        \
  X(ncclAllReduce)                                                             \
  X(ncclAllGather)                                                             \
  X(ncclReduceScatter)                                                         \
  X(ncclBroadcast)                                                             \
  X(ncclSend)                                                                  \
  X(ncclRecv)                                                                  \
  X(ncclGroupStart)                                                            \
  X(ncclGroupEnd)

struct NcclApi {
#define FRESCO_NCCL_MEMBER(name) decltype(&::name) name = nullptr;
  FRESCO_NCCL_FUNCTIONS(FRESCO_NCCL_MEMBER)
#undef FRESCO_NCCL_MEMBER
};

/// The loaded library, or null with the reason in `error`.
const NcclApi *nccl(std::string *error) {
  static std::string why;
  static const NcclApi *api = []() -> const NcclApi * {
    std::string tried;
    void *lib = openFirstLibrary({"libnccl.so.2", "libnccl.so"}, tried);
    if (!lib) {
      why = "cannot load NCCL (" + tried + ")";
      return nullptr;
    }
    static NcclApi a;
#define FRESCO_NCCL_LOAD(name)                                                 \
  a.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));             \
  if (!a.name) {                                                               \
    why = "NCCL has no symbol " #name;                                         \
    return nullptr;                                                            \
  }
    FRESCO_NCCL_FUNCTIONS(FRESCO_NCCL_LOAD)
#undef FRESCO_NCCL_LOAD
    return &a;
  }();
  if (!api && error)
    *error = why;
  return api;
}

std::string joinRanks(const std::vector<int> &ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

class NcclCommunicator final : public Communicator {
public:
  NcclCommunicator(std::unique_ptr<Communicator> bootstrap, Backend &backend,
                   ncclComm_t comm, milliseconds timeout)
      : bootstrap_(std::move(bootstrap)), backend_(backend), comm_(comm),
        stream_(static_cast<cudaStream_t>(cudaBackendStream(backend))),
        device_(cudaBackendDevice(backend)), timeout_(timeout) {
    for (int i = 0; i < bootstrap_->size(); ++i)
      members_.push_back(bootstrap_->globalRank(i));
    name_ = "NCCL group (ranks " + joinRanks(members_) + ")";
    watchdog_ = std::thread([this] { watch(); });
  }

  ~NcclCommunicator() override {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
    watchdog_.join();
    // Pending calls finish first. Through our own events: the stream is the
    // backend's, which may be gone already.
    cudaSetDevice(device_);
    for (auto &p : pending_) {
      cudaEventSynchronize(p.event);
      cudaEventDestroy(p.event);
    }
    for (cudaEvent_t e : spareEvents_)
      cudaEventDestroy(e);
    if (commStream_)
      cudaStreamDestroy(commStream_);
    api().ncclCommDestroy(comm_);
    cudaGetLastError();
  }

  int rank() const override { return bootstrap_->rank(); }
  int size() const override { return bootstrap_->size(); }
  int globalRank(int i) const override { return bootstrap_->globalRank(i); }
  bool usesDeviceMemory() const override { return true; }

  std::unique_ptr<Communicator> subgroup(const std::vector<int> &members,
                                         const std::string &tag) override {
    std::string why;
    auto sub = createNcclCommunicator(bootstrap_->subgroup(members, tag),
                                      backend_, timeout_, &why);
    check(sub != nullptr, "NCCL subgroup '", tag, "': ", why);
    return sub;
  }

  void allReduceSum(float *data, size_t n) override {
    if (n == 0 || size() == 1)
      return;
    queue("allReduceSum of " + std::to_string(n) + " floats", [&] {
      return api().ncclAllReduce(data, data, n, ncclFloat32, ncclSum, comm_,
                                 stream_);
    });
  }

  // One member is still a call (not skipped as allReduceSum skips it), so
  // the type mapping runs in the one-GPU test.
  void allReduceSumOf(void *data, size_t n, DType type) override {
    queueAllReduceSumOf(data, n, type, stream_);
  }

  void queueAllReduceSumOf(void *data, size_t n, DType type,
                           cudaStream_t stream) {
    if (n == 0)
      return;
    const ncclDataType_t t = floatType(type, "all_reduce");
    queue(
        "allReduceSum of " + std::to_string(n) + " " + dtypeName(type) +
            " values",
        [&] {
          return api().ncclAllReduce(data, data, n, t, ncclSum, comm_, stream);
        },
        stream);
  }

  void allGather(const void *send, void *recv, size_t bytesPerRank) override {
    queueAllGather(send, recv, bytesPerRank, stream_);
  }

  void queueAllGather(const void *send, void *recv, size_t bytesPerRank,
                      cudaStream_t stream) {
    if (bytesPerRank == 0)
      return;
    queue(
        "allGather of " + std::to_string(bytesPerRank) + " bytes per rank",
        [&] {
          return api().ncclAllGather(send, recv, bytesPerRank, ncclUint8, comm_,
                                     stream);
        },
        stream);
  }

  void reduceScatterSum(const float *send, float *recv, size_t n) override {
    if (n == 0)
      return;
    queue("reduceScatterSum of " + std::to_string(n) + " floats per rank", [&] {
      return api().ncclReduceScatter(send, recv, n, ncclFloat32, ncclSum, comm_,
                                     stream_);
    });
  }

  // Native bf16/f16 sums, as allReduceSumOf's.
  void reduceScatterSumOf(const void *send, void *recv, size_t n,
                          DType type) override {
    if (n == 0)
      return;
    const ncclDataType_t t = floatType(type, "reduce_scatter");
    queue("reduceScatterSum of " + std::to_string(n) + " " + dtypeName(type) +
              " values per rank",
          [&] {
            return api().ncclReduceScatter(send, recv, n, t, ncclSum, comm_,
                                           stream_);
          });
  }

  void allToAll(const void *send, void *recv, size_t bytesPerRank) override {
    queueAllToAll(send, recv, bytesPerRank, stream_);
  }

  void queueAllToAll(const void *send, void *recv, size_t bytesPerRank,
                     cudaStream_t stream) {
    if (bytesPerRank == 0)
      return;
    const char *s = static_cast<const char *>(send);
    char *r = static_cast<char *>(recv);
    queue(
        "allToAll of " + std::to_string(bytesPerRank) + " bytes per rank",
        [&] {
          const NcclApi &a = api();
          ncclResult_t res = a.ncclGroupStart();
          for (int q = 0; q < size() && res == ncclSuccess; ++q) {
            res = a.ncclSend(s + q * bytesPerRank, bytesPerRank, ncclUint8, q,
                             comm_, stream);
            if (res == ncclSuccess)
              res = a.ncclRecv(r + q * bytesPerRank, bytesPerRank, ncclUint8, q,
                               comm_, stream);
          }
          ncclResult_t end = a.ncclGroupEnd();
          return res != ncclSuccess ? res : end;
        },
        stream);
  }

  // NCCL matches point-to-point calls by order per peer, not by tag.
  void send(const void *data, size_t bytes, int peer, int tag) override {
    check(peer >= 0 && peer < size(), "send: peer ", peer, " not in ", name_);
    (void)tag;
    if (bytes == 0)
      return;
    queue("send of " + std::to_string(bytes) + " bytes to rank " +
              std::to_string(members_[peer]),
          [&] {
            return api().ncclSend(data, bytes, ncclUint8, peer, comm_, stream_);
          });
  }

  void recv(void *data, size_t bytes, int peer, int tag) override {
    check(peer >= 0 && peer < size(), "recv: peer ", peer, " not in ", name_);
    (void)tag;
    if (bytes == 0)
      return;
    queue("recv of " + std::to_string(bytes) + " bytes from rank " +
              std::to_string(members_[peer]),
          [&] {
            return api().ncclRecv(data, bytes, ncclUint8, peer, comm_, stream_);
          });
  }

  void sendRecv(const void *send, int to, void *recv, int from, size_t bytes,
                int tag) override {
    queueSendRecv(send, to, recv, from, bytes, tag, stream_);
  }

  std::function<void()> startSendRecv(const void *send, int to, void *recv,
                                      int from, size_t bytes,
                                      int tag) override {
    return startOnCommStream("sendRecv", [&](cudaStream_t s) {
      queueSendRecv(send, to, recv, from, bytes, tag, s);
    });
  }

  std::function<void()> startAllToAll(const void *send, void *recv,
                                      size_t bytesPerRank) override {
    return startOnCommStream("allToAll", [&](cudaStream_t s) {
      queueAllToAll(send, recv, bytesPerRank, s);
    });
  }

  std::function<void()> startAllGather(const void *send, void *recv,
                                       size_t bytesPerRank) override {
    return startOnCommStream("allGather", [&](cudaStream_t s) {
      queueAllGather(send, recv, bytesPerRank, s);
    });
  }

  std::function<void()> startAllReduceSumOf(void *data, size_t n,
                                            DType type) override {
    return startOnCommStream("allReduceSum", [&](cudaStream_t s) {
      queueAllReduceSumOf(data, n, type, s);
    });
  }

  /// Queues `call` on the communication stream: it waits for what the
  /// backend's stream has queued so far (the data to send is written by
  /// then), and the returned function makes the backend's stream wait for
  /// it, so that kernels queued in between overlap it. Every call of this
  /// communicator on the backend's stream waits for those in flight here
  /// first: one communicator's NCCL kernels must not run concurrently.
  std::function<void()>
  startOnCommStream(const char *what,
                    const std::function<void(cudaStream_t)> &call) {
    if (!commStream_) {
      // The highest priority: the exchange becomes ready together with the
      // next kernel (ring attention: the next block's attention; both wait
      // for the previous one), and its few blocks must not queue behind
      // that kernel's grid, or nothing overlaps.
      int least = 0, greatest = 0;
      if (cudaDeviceGetStreamPriorityRange(&least, &greatest) != cudaSuccess) {
        cudaGetLastError();
        greatest = 0;
      }
      check(cudaStreamCreateWithPriority(&commStream_, cudaStreamNonBlocking,
                                         greatest) == cudaSuccess,
            "NCCL: cannot create the communication stream");
    }
    cudaEvent_t ready = nullptr, done = nullptr;
    check(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming) ==
                  cudaSuccess &&
              cudaEventCreateWithFlags(&done, cudaEventDisableTiming) ==
                  cudaSuccess,
          "NCCL: cudaEventCreate for an asynchronous ", what);
    check(cudaEventRecord(ready, stream_) == cudaSuccess &&
              cudaStreamWaitEvent(commStream_, ready, 0) == cudaSuccess,
          "NCCL: ordering an asynchronous ", what,
          " after the backend's stream");
    cudaEventDestroy(ready); // released once the wait is satisfied
    try {
      call(commStream_);
      check(cudaEventRecord(done, commStream_) == cudaSuccess,
            "NCCL: cudaEventRecord after an asynchronous ", what);
    } catch (...) {
      cudaEventDestroy(done);
      throw;
    }
    ++inFlight_;
    cudaStream_t backendStream = stream_;
    std::string name = what;
    const uint64_t epoch = inFlightEpoch_;
    return [this, done, backendStream, name, epoch] {
      cudaError_t e = cudaStreamWaitEvent(backendStream, done, 0);
      cudaEventDestroy(done);
      if (epoch == inFlightEpoch_) // not already dropped as stale
        --inFlight_;
      check(e == cudaSuccess, "NCCL: waiting for an asynchronous ", name, ": ",
            cudaGetErrorString(e));
    };
  }

  void queueSendRecv(const void *send, int to, void *recv, int from,
                     size_t bytes, int tag, cudaStream_t stream) {
    check(to >= 0 && to < size(), "sendRecv: destination ", to, " not in ",
          name_);
    check(from >= 0 && from < size(), "sendRecv: source ", from, " not in ",
          name_);
    (void)tag;
    const char *s = static_cast<const char *>(send);
    char *r = static_cast<char *>(recv);
    check(bytes == 0 || s + bytes <= r || r + bytes <= s,
          "sendRecv: recv overlaps send");
    // NCCL pairs a send to oneself only with a receive from oneself in the
    // same group: there is no queue to hold one until a later call.
    check((to == rank()) == (from == rank()), "sendRecv on ", name_,
          ": NCCL cannot send to this rank itself without receiving from it "
          "in the same call (to ",
          to, ", from ", from, ", this rank ", rank(), ")");
    if (bytes == 0)
      return;
    queue(
        "sendRecv of " + std::to_string(bytes) + " bytes to rank " +
            std::to_string(members_[to]) + " and from rank " +
            std::to_string(members_[from]),
        [&] {
          // One group: both progress together, so a ring cannot deadlock.
          const NcclApi &a = api();
          ncclResult_t res = a.ncclGroupStart();
          if (res == ncclSuccess)
            res = a.ncclSend(s, bytes, ncclUint8, to, comm_, stream);
          if (res == ncclSuccess)
            res = a.ncclRecv(r, bytes, ncclUint8, from, comm_, stream);
          ncclResult_t end = a.ncclGroupEnd();
          return res != ncclSuccess ? res : end;
        },
        stream);
  }

  void broadcast(void *data, size_t bytes, int root) override {
    check(root >= 0 && root < size(), "broadcast: root ", root, " not in ",
          name_);
    if (bytes == 0 || size() == 1)
      return;
    queue("broadcast of " + std::to_string(bytes) + " bytes", [&] {
      return api().ncclBroadcast(data, data, bytes, ncclUint8, root, comm_,
                                 stream_);
    });
  }

  void watchQueuedWork(const std::string &what) override {
    watchFrom(stream_, what + " (its NCCL calls)");
  }

  void barrier() override {
    // Everything queued so far, then the host-side barrier.
    check(cudaStreamSynchronize(stream_) == cudaSuccess, "barrier on ", name_,
          ": ", cudaGetErrorString(cudaGetLastError()));
    // A started call whose wait never ran is on the communication stream.
    check(!commStream_ || cudaStreamSynchronize(commStream_) == cudaSuccess,
          "barrier on ", name_,
          " (communication stream): ", cudaGetErrorString(cudaGetLastError()));
    bootstrap_->barrier();
  }

private:
  static const NcclApi &api() { return *nccl(nullptr); }

  /// NCCL's element type for a float storage type (summed natively).
  static ncclDataType_t floatType(DType type, const char *what) {
    check(type == DType::F32 || type == DType::BF16 || type == DType::F16,
          "NCCL ", what, " of ", dtypeName(type));
    return type == DType::BF16  ? ncclBfloat16
           : type == DType::F16 ? ncclFloat16
                                : ncclFloat32;
  }

  struct Pending {
    cudaEvent_t event;
    Clock::time_point queued;
    std::string what;
  };

  template <typename F>
  void queue(const std::string &what, F &&call, cudaStream_t on = nullptr) {
    cudaStream_t stream = on ? on : stream_;
    if (stream == stream_ && inFlight_ > 0 && !staleInFlight()) {
      // Not concurrently with this communicator's calls in flight on the
      // communication stream (NCCL would be free to deadlock).
      cudaEvent_t e = nullptr;
      check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming) ==
                    cudaSuccess &&
                cudaEventRecord(e, commStream_) == cudaSuccess &&
                cudaStreamWaitEvent(stream_, e, 0) == cudaSuccess,
            "NCCL: ordering ", what, " after the calls in flight");
      cudaEventDestroy(e);
    }
    ncclResult_t r = call();
    if (r != ncclSuccess)
      fail(what, " on ", name_, " failed on rank ",
           members_[bootstrap_->rank()], ": ", api().ncclGetErrorString(r));
    // Being recorded into a CUDA graph, the call does not run now, and an
    // event recorded here could not be queried: the executor has the whole
    // replay watched instead (watchQueuedWork).
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    check(cudaStreamIsCapturing(stream, &capture) == cudaSuccess,
          "cudaStreamIsCapturing after ", what);
    if (capture != cudaStreamCaptureStatusNone)
      return;
    watchFrom(stream, what);
  }

  /// True (and inFlight_ reset) when the backend's stream is being recorded
  /// but the communication stream is not part of that recording: a start*
  /// made while recording joins it, so what inFlight_ counts was started
  /// outside it, by a recording abandoned on an error or a run that threw
  /// before its wait (their wait functions never ran). Waiting on an event
  /// recorded outside the capture would fail it, and the recorded calls
  /// cannot depend on such work anyway.
  bool staleInFlight() {
    cudaStreamCaptureStatus mine = cudaStreamCaptureStatusNone,
                            comm = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(stream_, &mine) != cudaSuccess ||
        cudaStreamIsCapturing(commStream_, &comm) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    if (mine == cudaStreamCaptureStatusNone ||
        comm != cudaStreamCaptureStatusNone)
      return false;
    inFlight_ = 0;
    ++inFlightEpoch_;
    return true;
  }

  /// Has the watchdog follow the work queued on `stream` so far.
  void watchFrom(cudaStream_t stream, const std::string &what) {
    cudaEvent_t e = nullptr;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!spareEvents_.empty()) {
        e = spareEvents_.back();
        spareEvents_.pop_back();
      }
    }
    if (!e)
      check(cudaEventCreateWithFlags(&e, cudaEventDisableTiming) == cudaSuccess,
            "cudaEventCreate for ", what);
    check(cudaEventRecord(e, stream) == cudaSuccess, "cudaEventRecord after ",
          what);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      pending_.push_back({e, Clock::now(), what});
    }
    cv_.notify_one();
  }

  /// Retires finished calls; ends the process when one is late or NCCL
  /// reports an error (see the header).
  void watch() {
    // A new thread has no current device: without this its first CUDA call
    // would open a context on GPU 0 for every rank.
    cudaSetDevice(device_);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      if (pending_.empty()) {
        cv_.wait(lock);
        continue;
      }
      cv_.wait_for(lock, milliseconds(20));
      cudaError_t state = cudaSuccess;
      while (!pending_.empty() &&
             (state = cudaEventQuery(pending_.front().event)) == cudaSuccess) {
        spareEvents_.push_back(pending_.front().event);
        pending_.pop_front();
      }
      if (pending_.empty())
        continue;
      ncclResult_t async = ncclSuccess;
      api().ncclCommGetAsyncError(comm_, &async);
      auto age = Clock::now() - pending_.front().queued;
      // Not ready yet is the normal case; any other answer is a device
      // fault (an earlier kernel's), reported as such rather than later as
      // a timeout.
      bool deviceFault = state != cudaErrorNotReady;
      if (async == ncclSuccess && !deviceFault && age < timeout_)
        continue;
      std::string what = pending_.front().what;
      lock.unlock();
      std::string cause = deadPeers(*bootstrap_);
      if (cause.empty() && deviceFault)
        cause = std::string("CUDA: ") + cudaGetErrorString(state);
      if (cause.empty())
        cause = async != ncclSuccess
                    ? std::string("NCCL: ") + api().ncclGetErrorString(async)
                    : "not finished within " +
                          std::to_string(timeout_.count() / 1000.0) +
                          " s (FRESCO_COMM_TIMEOUT); no peer reports a "
                          "failure";
      std::string message = what + " on " + name_ + " failed on rank " +
                            std::to_string(members_[bootstrap_->rank()]) +
                            ": " + cause;
      reportFailure(*bootstrap_, message);
      std::fprintf(stderr, "fresco: error: %s\n", message.c_str());
      std::fflush(stderr);
      api().ncclCommAbort(comm_);
      std::_Exit(1);
    }
  }

  std::unique_ptr<Communicator> bootstrap_;
  Backend &backend_;
  ncclComm_t comm_;
  cudaStream_t stream_;
  cudaStream_t commStream_ = nullptr; // the start* calls', made on first use
  int inFlight_ = 0;                  // start* calls not yet waited for
  uint64_t inFlightEpoch_ = 0;        // bumped when inFlight_ is dropped
  int device_;
  milliseconds timeout_;
  std::vector<int> members_;
  std::string name_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Pending> pending_;
  std::vector<cudaEvent_t> spareEvents_;
  bool stopping_ = false;
  std::thread watchdog_;
};

} // namespace

std::unique_ptr<Communicator>
createNcclCommunicator(std::unique_ptr<Communicator> bootstrap,
                       Backend &cudaBackend, milliseconds timeout,
                       std::string *why) {
  check(bootstrap != nullptr, "createNcclCommunicator: no bootstrap");
  check(cudaBackendStream(cudaBackend) != nullptr,
        "NCCL needs the CUDA backend, not '", cudaBackend.name(), "'");
  // Every member says whether it can load NCCL and which GPU it drives; all
  // decide the same from the same table.
  struct Card {
    char ok;
    char uuid[16];
  };
  Card mine{};
  std::string loadError;
  mine.ok = nccl(&loadError) != nullptr;
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, cudaBackendDevice(cudaBackend)) ==
      cudaSuccess)
    std::memcpy(mine.uuid, prop.uuid.bytes, sizeof mine.uuid);
  else
    cudaGetLastError();
  int n = bootstrap->size();
  std::vector<Card> all(n);
  bootstrap->allGather(&mine, all.data(), sizeof(Card));
  for (int i = 0; i < n; ++i) {
    if (!all[i].ok) {
      if (why)
        *why = "rank " + std::to_string(bootstrap->globalRank(i)) +
               " cannot use NCCL" +
               (i == bootstrap->rank() ? " (" + loadError + ")" : "");
      return nullptr;
    }
    for (int j = 0; j < i; ++j)
      if (std::memcmp(all[i].uuid, all[j].uuid, sizeof mine.uuid) == 0) {
        if (why)
          *why = "ranks " + std::to_string(bootstrap->globalRank(j)) + " and " +
                 std::to_string(bootstrap->globalRank(i)) +
                 " share a GPU, which NCCL refuses";
        return nullptr;
      }
  }
  const NcclApi &api = *nccl(nullptr);
  // NCCL binds the communicator to the current device.
  check(cudaSetDevice(cudaBackendDevice(cudaBackend)) == cudaSuccess,
        "NCCL: cudaSetDevice ", cudaBackendDevice(cudaBackend));
  ncclUniqueId id{};
  if (bootstrap->rank() == 0) {
    ncclResult_t r = api.ncclGetUniqueId(&id);
    check(r == ncclSuccess, "ncclGetUniqueId: ", api.ncclGetErrorString(r));
  }
  bootstrap->broadcast(&id, sizeof id, 0);
  ncclComm_t comm = nullptr;
  ncclResult_t r = api.ncclCommInitRank(&comm, n, id, bootstrap->rank());
  check(r == ncclSuccess, "ncclCommInitRank (rank ",
        bootstrap->globalRank(bootstrap->rank()), " of ", n,
        "): ", api.ncclGetErrorString(r));
  return std::make_unique<NcclCommunicator>(std::move(bootstrap), cudaBackend,
                                            comm, timeout);
}

} // namespace fresco
