//===- Communicator.h - Collectives between ranks ---------------*- C++ -*-===//
//
// The interface every communication backend implements: Gloo over TCP on
// CPU, NCCL on GPUs. A Communicator spans a fixed, ordered set of ranks;
// subgroup() makes one per grid axis (e.g. the tensor-parallel peers of this
// rank). Every call (but the start* ones) blocks until done or fails with
// fresco::Error within the timeout the communicator was created with,
// naming the peer that failed when it can be known; it never hangs.
//
// Buffers are host memory (Gloo) or device memory (NCCL), as
// usesDeviceMemory() says.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_COMMUNICATOR_H
#define FRESCO_RUNTIME_COMM_COMMUNICATOR_H

#include "runtime/core/DType.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace fresco {

class Communicator {
public:
  virtual ~Communicator() = default;

  /// This rank's index in this communicator, and the member count.
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// The global (world) rank of member `i`, for messages.
  virtual int globalRank(int i) const = 0;

  /// A communicator over the world ranks `members` (sorted, including this
  /// rank). Collective: every member calls it with the same members and tag,
  /// non-members never do.
  virtual std::unique_ptr<Communicator>
  subgroup(const std::vector<int> &members, const std::string &tag) = 0;

  /// In place: data[i] = sum over members of data[i].
  virtual void allReduceSum(float *data, size_t n) = 0;
  /// The same over n elements of `type` (F32, BF16 or F16: a backend's
  /// float storage). By default, for host memory: 16-bit elements are
  /// summed in f32 and rounded back once. NCCL sums them natively.
  virtual void allReduceSumOf(void *data, size_t n, DType type) {
    if (type == DType::F32) {
      allReduceSum(static_cast<float *>(data), n);
      return;
    }
    std::vector<float> wide(n);
    widenFloats(data, wide.data(), n, type);
    allReduceSum(wide.data(), n);
    narrowFloats(wide.data(), data, n, type);
  }
  /// recv = concatenation over members (in member order) of each member's
  /// `bytesPerRank` bytes of send. recv may not alias send.
  virtual void allGather(const void *send, void *recv, size_t bytesPerRank) = 0;
  /// recv (n floats) = sum over members of their send[rank() * n, +n).
  virtual void reduceScatterSum(const float *send, float *recv, size_t n) = 0;
  /// The same over elements of `type` (F32, BF16 or F16: a backend's float
  /// storage): send holds size() blocks of n elements, recv n; recv may not
  /// overlap send. By default, for host memory: 16-bit elements are summed
  /// in f32 and rounded back once. NCCL sums them natively.
  virtual void reduceScatterSumOf(const void *send, void *recv, size_t n,
                                  DType type) {
    if (type == DType::F32) {
      reduceScatterSum(static_cast<const float *>(send),
                       static_cast<float *>(recv), n);
      return;
    }
    const size_t all = n * size_t(size());
    std::vector<float> wide(all + n);
    widenFloats(send, wide.data(), all, type);
    reduceScatterSum(wide.data(), wide.data() + all, n);
    narrowFloats(wide.data() + all, recv, n, type);
  }
  /// Member j receives block i (bytesPerRank bytes) of member i's send as its
  /// block i of recv... i.e. recv[i] on member j = send[j] on member i.
  virtual void allToAll(const void *send, void *recv, size_t bytesPerRank) = 0;
  /// Point to point between members (indices in this communicator).
  virtual void send(const void *data, size_t bytes, int peer, int tag) = 0;
  virtual void recv(void *data, size_t bytes, int peer, int tag) = 0;
  /// Sends `bytes` of `send` to member `to` while receiving as many bytes
  /// into `recv` from member `from` (a ring shift when to = rank() + 1 and
  /// from = rank() - 1, modulo size()). Both are posted before either is
  /// waited for, so every member may call it at once. recv may not alias
  /// send; to or from may be this rank (a local copy).
  virtual void sendRecv(const void *send, int to, void *recv, int from,
                        size_t bytes, int tag) = 0;
  /// sendRecv that may still be in flight when this returns, so that the
  /// caller can compute meanwhile (ring attention); neither buffer may be
  /// touched until the returned function is called, which waits for it and
  /// rethrows its failure. It must be called exactly once. By default the
  /// exchange runs on its own thread (host memory, blocking calls); Gloo
  /// runs it on the communicator's own thread (CommQueue.h); NCCL
  /// queues it on its own stream after the work queued so far and makes the
  /// backend's stream wait for it.
  virtual std::function<void()> startSendRecv(const void *send, int to,
                                              void *recv, int from,
                                              size_t bytes, int tag) {
    auto done =
        std::make_shared<std::future<void>>(std::async(std::launch::async, [=] {
          sendRecv(send, to, recv, from, bytes, tag);
        }));
    return [done] { done->get(); };
  }
  /// allToAll, allGather and allReduceSumOf that may still be in flight
  /// when they return, so that the caller can compute meanwhile; no buffer
  /// may be touched until the returned function is called (exactly once),
  /// which waits for it and rethrows its failure. By default the call
  /// completes before returning (a blocking communicator overlaps nothing);
  /// Gloo runs it on the communicator's own thread, after every call
  /// issued on it before (CommQueue.h); NCCL queues it on its own stream after
  /// the work queued so far and makes the backend's stream wait for it.
  virtual std::function<void()> startAllToAll(const void *send, void *recv,
                                              size_t bytesPerRank) {
    allToAll(send, recv, bytesPerRank);
    return [] {};
  }
  virtual std::function<void()> startAllGather(const void *send, void *recv,
                                               size_t bytesPerRank) {
    allGather(send, recv, bytesPerRank);
    return [] {};
  }
  virtual std::function<void()> startAllReduceSumOf(void *data, size_t n,
                                                    DType type) {
    allReduceSumOf(data, n, type);
    return [] {};
  }
  /// data on every member = data on member `root`.
  virtual void broadcast(void *data, size_t bytes, int root) = 0;
  virtual void barrier() = 0;

  /// True when the buffers are device memory of the backend this
  /// communicator was made for (NCCL: calls are queued on its stream, in
  /// order with its kernels, and return at once); false for host memory
  /// (Gloo: calls block until done, started ones until waited for). The
  /// executor stages device data through the host for the latter.
  virtual bool usesDeviceMemory() const { return false; }

  /// For a communicator whose calls are queued (usesDeviceMemory()): its
  /// calls were recorded with the kernels (a CUDA graph) and that recording
  /// has just been queued as one unit, `what`. The communicator watches it
  /// as it watches its own calls: a replay that outlives the timeout, or an
  /// error inside it, ends the process with a message naming `what`.
  /// Calls made while the backend's stream is being recorded are not
  /// watched themselves (they do not run then). Default: nothing.
  virtual void watchQueuedWork(const std::string &what) { (void)what; }
};

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_COMMUNICATOR_H
