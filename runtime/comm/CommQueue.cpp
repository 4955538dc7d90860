//===- CommQueue.cpp - A communicator's calls, in issue order -------------===//
#include "runtime/comm/CommQueue.h"

namespace fresco {
namespace {

// The queue whose call this thread is running, if any.
thread_local const CommQueue *runningOn = nullptr;

/// Waits for a started call when the last copy of its handle goes.
struct Ticket {
  std::shared_future<void> done;
  bool waited = false;
  ~Ticket() {
    if (!waited && done.valid())
      done.wait();
  }
};

} // namespace

CommQueue::~CommQueue() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  if (worker_.joinable())
    worker_.join();
}

void CommQueue::runHere(const std::function<void()> &call) {
  const CommQueue *outer = runningOn;
  runningOn = this;
  try {
    call();
  } catch (...) {
    runningOn = outer;
    throw;
  }
  runningOn = outer;
}

void CommQueue::run(const std::function<void()> &call) {
  if (runningOn == this) {
    call();
    return;
  }
  {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] { return queue_.empty() && !busy_; });
    busy_ = true;
  }
  auto release = [&] {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      busy_ = false;
    }
    changed_.notify_all();
  };
  try {
    runHere(call);
  } catch (...) {
    release();
    throw;
  }
  release();
}

std::function<void()> CommQueue::start(std::function<void()> call) {
  if (runningOn == this) {
    // Inside a queued call: its parts run as part of it.
    call();
    return [] {};
  }
  auto task = std::make_shared<Task>();
  task->call = std::move(call);
  auto ticket = std::make_shared<Ticket>();
  ticket->done = task->done.get_future().share();
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // The worker first: were it not to start, nothing is left queued.
    if (!worker_.joinable())
      worker_ = std::thread([this] { work(); });
    queue_.push_back(std::move(task));
  }
  changed_.notify_all();
  return [ticket] {
    ticket->waited = true;
    ticket->done.get();
  };
}

void CommQueue::drain() {
  std::unique_lock<std::mutex> lock(mutex_);
  changed_.wait(lock, [&] { return queue_.empty() && !busy_; });
}

long CommQueue::startedCalls() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return started_;
}

void CommQueue::work() {
  for (;;) {
    std::shared_ptr<Task> task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      changed_.wait(lock, [&] { return (stop_ || !queue_.empty()) && !busy_; });
      if (queue_.empty())
        return; // stopping, and nothing is left
      task = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      ++started_;
    }
    try {
      runHere(task->call);
      task->done.set_value();
    } catch (...) {
      task->done.set_exception(std::current_exception());
    }
    task->call = nullptr; // what it captured goes now, not with the handle
    {
      std::lock_guard<std::mutex> lock(mutex_);
      busy_ = false;
    }
    changed_.notify_all();
  }
}

} // namespace fresco
