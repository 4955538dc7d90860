//===- CommQueue.h - A communicator's calls, in issue order -----*- C++ -*-===//
//
// A host communicator whose calls block (Gloo) overlaps no computation
// unless some calls run on another thread. But its members match messages
// by the order they issue calls in, so its calls must still run one at a
// time and in that order. CommQueue does both: started calls run on one
// worker thread, in order; a blocking call waits for what was started
// before it and then runs on the caller's thread (no thread switch when
// nothing is in flight, the common case). Each call thus starts no later
// than it would if every call blocked, in the same order on its
// communicator, so a plan that cannot deadlock with blocking calls cannot
// deadlock with started ones.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_COMMQUEUE_H
#define FRESCO_RUNTIME_COMM_COMMQUEUE_H

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>

namespace fresco {

class CommQueue {
public:
  CommQueue() = default;
  CommQueue(const CommQueue &) = delete;
  CommQueue &operator=(const CommQueue &) = delete;
  /// Runs what is still queued, then stops the worker.
  ~CommQueue();

  /// Runs `call` once everything started before it has finished, on this
  /// thread; rethrows what it throws. Called from inside a queued call, it
  /// runs at once (a call made of calls).
  void run(const std::function<void()> &call);

  /// Queues `call` to run on the worker after everything before it. The
  /// result waits for it and rethrows what it threw; call it exactly once.
  /// If every copy of it is dropped uncalled, the last one waits for the
  /// call (its failure is then dropped), so that memory the call uses is not
  /// freed under it.
  std::function<void()> start(std::function<void()> call);

  /// Waits until nothing is queued or running.
  void drain();

  /// How many calls have run on the worker (for tests).
  long startedCalls() const;

private:
  struct Task {
    std::function<void()> call;
    std::promise<void> done;
  };
  void work();
  /// Runs `call` with this queue marked as the thread's own.
  void runHere(const std::function<void()> &call);

  mutable std::mutex mutex_;
  std::condition_variable changed_; // queue_ or busy_ changed, or stop_
  std::deque<std::shared_ptr<Task>> queue_;
  bool busy_ = false; // a call runs (on the worker or a caller's thread)
  bool stop_ = false;
  long started_ = 0;
  std::thread worker_; // started with the first start()
};

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_COMMQUEUE_H
