//===- CommQueueTest.cpp - one rank's calls in issue order ----------------===//
//
// CommQueue without a communicator: where calls run, their order, failures,
// handles dropped uncalled, calls made of calls.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/CommQueue.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace fresco;
using std::chrono::seconds;

namespace {

TEST(CommQueue, BlockingCallsRunOnTheCallersThread) {
  CommQueue q;
  std::thread::id ran;
  q.run([&] { ran = std::this_thread::get_id(); });
  EXPECT_EQ(ran, std::this_thread::get_id());
  EXPECT_EQ(q.startedCalls(), 0);
}

// start() returns before its call has run: the call waits for a signal the
// caller gives only after start() returned (were start() to run it inline,
// the call would give up waiting and say so).
TEST(CommQueue, StartReturnsWhileTheCallRuns) {
  CommQueue q;
  std::promise<void> go;
  std::shared_future<void> goSeen = go.get_future().share();
  bool signalled = false;
  std::thread::id ran;
  auto wait = q.start([&] {
    ran = std::this_thread::get_id();
    signalled = goSeen.wait_for(seconds(10)) == std::future_status::ready;
  });
  go.set_value();
  wait();
  EXPECT_TRUE(signalled);
  EXPECT_NE(ran, std::this_thread::get_id());
  EXPECT_EQ(q.startedCalls(), 1);
}

// Started calls run in order, and a blocking call runs after them all.
TEST(CommQueue, CallsRunInIssueOrder) {
  CommQueue q;
  std::vector<int> order;
  std::promise<void> go;
  std::shared_future<void> goSeen = go.get_future().share();
  auto a = q.start([&] {
    goSeen.wait_for(seconds(10)); // held until b and c are queued
    order.push_back(1);
  });
  auto b = q.start([&] { order.push_back(2); });
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    go.set_value();
  });
  q.run([&] { order.push_back(3); }); // waits for a and b
  release.join();
  b();
  a(); // waited out of order: fine, both are done
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(CommQueue, FailuresComeOutOfTheWaitAndTheRun) {
  CommQueue q;
  auto wait = q.start([] { throw std::runtime_error("started failed"); });
  bool ranAfter = false;
  auto next = q.start([&] { ranAfter = true; });
  EXPECT_THROW(
      {
        try {
          wait();
        } catch (const std::runtime_error &e) {
          EXPECT_STREQ(e.what(), "started failed");
          throw;
        }
      },
      std::runtime_error);
  next();
  EXPECT_TRUE(ranAfter); // the queue goes on after a failed call
  EXPECT_THROW(q.run([] { throw std::runtime_error("blocking failed"); }),
               std::runtime_error);
  // ...and after a failed blocking one.
  bool ran = false;
  q.run([&] { ran = true; });
  EXPECT_TRUE(ran);
}

// Dropping a handle uncalled waits for its call: memory the call works on
// may be freed right after.
TEST(CommQueue, ADroppedHandleWaitsForItsCall) {
  CommQueue q;
  std::atomic<bool> done{false};
  {
    auto wait = q.start([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      done = true;
    });
  }
  EXPECT_TRUE(done.load());
  // A dropped failing call does not throw.
  {
    auto wait = q.start([] { throw std::runtime_error("dropped"); });
  }
}

// A call made of calls (a collective written on others) runs its parts at
// once instead of waiting for itself.
TEST(CommQueue, CallsInsideACallRunAtOnce) {
  CommQueue q;
  std::vector<int> order;
  auto wait = q.start([&] {
    order.push_back(1);
    q.run([&] { order.push_back(2); });
    q.start([&] { order.push_back(3); })();
    order.push_back(4);
  });
  wait();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
}

// The destructor runs what is still queued.
TEST(CommQueue, DestructionRunsWhatIsQueued) {
  std::atomic<int> ran{0};
  std::vector<std::function<void()>> waits;
  {
    CommQueue q;
    for (int i = 0; i < 5; ++i)
      waits.push_back(q.start([&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 5);
  for (auto &w : waits)
    w();
}

TEST(CommQueue, DrainWaitsForStartedCalls) {
  CommQueue q;
  std::atomic<bool> done{false};
  auto wait = q.start([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    done = true;
  });
  q.drain();
  EXPECT_TRUE(done.load());
  wait();
}

} // namespace
