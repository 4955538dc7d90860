//===- CommFailureTest.cpp - Gloo communicator failures -------------------===//
//
// Dead, stuck and missing ranks: every failure must name the rank within
// the timeout, never hang or crash.
//
//===----------------------------------------------------------------------===//
#include "test/unit/CommTestUtil.h"

using namespace fresco;
using namespace fresco::commtest;

namespace {

/// Ends this rank while a child keeps its sockets open for 10 s, so that
/// its peers' Gloo sees no connection drop: only the watchdog (which sees
/// the rank's process gone) can end their waits.
[[noreturn]] void exitKeepingSocketsOpen() {
  if (::fork() == 0) {
    // Let go of the test's output, or ctest waits for this child.
    int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 1);
    ::dup2(null, 2);
    std::this_thread::sleep_for(milliseconds(10000));
    ::_exit(0);
  }
  ::_exit(3);
}

//===----------------------------------------------------------------------===//
// Failures
//===----------------------------------------------------------------------===//

TEST(CommFailure, StartedSendRecvFailsInItsWait) {
  auto results = runRanks(3, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(3000));
    if (rank == 1)
      ::_exit(3);
    std::vector<char> out(1 << 20), in(1 << 20);
    auto wait = world->startSendRecv(out.data(), (rank + 1) % 3, in.data(),
                                     (rank + 2) % 3, out.size(), 0);
    wait();
  });
  for (int r : {0, 2}) {
    SCOPED_TRACE("rank " + std::to_string(r));
    EXPECT_TRUE(WIFEXITED(results[r].status) &&
                WEXITSTATUS(results[r].status) == 1)
        << describe(results);
    expectContains(results[r].message, "sendRecv of 1048576 bytes");
    expectContains(results[r].message, "rank 1 (pid ");
  }
}

// A started all-reduce on one communicator (its thread waits) and a
// blocking one on another (the caller waits) at once, the dead rank's
// sockets kept open by a child so that Gloo notices nothing: the watchdog
// aborts both waits (its reason quoted as Gloo's), naming the rank well
// within the 8 s timeout.
TEST(CommFailure, TwoWaitsAtOnceAreBothAbortedByTheWatchdog) {
  auto results = runRanks(3, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(8000));
    auto again = world->subgroup({0, 1, 2}, "again");
    if (rank == 1) {
      exitKeepingSocketsOpen();
    }
    std::vector<float> a(100000, 1.0f), b(1000, 1.0f);
    auto wait = world->startAllReduceSumOf(a.data(), a.size(), DType::F32);
    std::string blocking = "(no failure)";
    try {
      again->allReduceSum(b.data(), b.size());
    } catch (const Error &e) {
      blocking = e.what();
    }
    std::string started = "(no failure)";
    try {
      wait();
    } catch (const Error &e) {
      started = e.what();
    }
    fail("blocking: ", blocking, " | started: ", started);
  });
  for (int r : {0, 2}) {
    SCOPED_TRACE("rank " + std::to_string(r));
    const std::string &m = results[r].message;
    const size_t split = m.find(" | started: ");
    ASSERT_NE(split, std::string::npos) << m;
    const std::string blocking = m.substr(0, split), started = m.substr(split);
    expectContains(blocking, "allReduceSum of 1000 floats on subgroup 'again'");
    expectContains(blocking, "(gloo: rank 1 (pid ");
    expectContains(started, "allReduceSum of 100000 floats on the world");
    expectContains(started, "(gloo: rank 1 (pid ");
    EXPECT_LT(results[r].seconds, 4.0) << describe(results);
  }
}

TEST(CommFailure, DeadRankIsNamedWithinTheTimeout) {
  for (int n : {3, 4}) {
    const int dead = n - 2;
    auto results = runRanks(n, [&](int rank, const RankEnv &env) {
      auto world = join(env, milliseconds(3000));
      if (rank == dead)
        ::_exit(3);
      std::vector<float> v(100000, 1.0f);
      world->allReduceSum(v.data(), v.size());
    });
    for (int r = 0; r < n; ++r) {
      if (r == dead)
        continue;
      SCOPED_TRACE("rank " + std::to_string(r) + " of " + std::to_string(n));
      EXPECT_TRUE(WIFEXITED(results[r].status) &&
                  WEXITSTATUS(results[r].status) == 1)
          << describe(results);
      expectContains(results[r].message, "allReduceSum of 100000 floats");
      expectContains(results[r].message,
                     "rank " + std::to_string(dead) + " (pid ");
      expectContains(results[r].message, ") is gone");
      EXPECT_LT(results[r].seconds, 3.0 + 1.0) << describe(results);
    }
  }
}

// Gloo notices a dead peer only when its sockets close, and does not always
// wake a waiting unbound send even then. Here rank 1's process ends while a
// forked child keeps its sockets open: only the watchdog, which looks at the
// published pids, can tell, and must do so well before the 8 s timeout.
TEST(CommFailure, RankGoneWithItsSocketsStillOpenIsNamedEarly) {
  auto results = runRanks(2, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(8000));
    if (rank == 1) {
      exitKeepingSocketsOpen();
    }
    std::vector<float> v(1024, 1.0f);
    world->allReduceSum(v.data(), v.size());
  });
  expectContains(results[0].message, "allReduceSum of 1024 floats");
  expectContains(results[0].message, "rank 1 (pid ");
  expectContains(results[0].message, ") is gone");
  EXPECT_LT(results[0].seconds, 3.0) << describe(results);
}

TEST(CommFailure, SendRecvNamesTheDeadRank) {
  auto results = runRanks(3, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(3000));
    if (rank == 1)
      ::_exit(3);
    ringShift(*world, size_t(1) << 18, 1, 4); // 1 MiB
  });
  // Rank 0 sends to the dead rank, rank 2 receives from it.
  const char *what[] = {
      "sendRecv of 1048576 bytes to rank 1 and from rank 2 (tag 4) on the "
      "world of 3 ranks failed on rank 0",
      nullptr,
      "sendRecv of 1048576 bytes to rank 0 and from rank 1 (tag 4) on the "
      "world of 3 ranks failed on rank 2"};
  for (int r : {0, 2}) {
    SCOPED_TRACE("rank " + std::to_string(r));
    EXPECT_TRUE(WIFEXITED(results[r].status) &&
                WEXITSTATUS(results[r].status) == 1)
        << describe(results);
    expectContains(results[r].message, what[r]);
    expectContains(results[r].message, "rank 1 (pid ");
    expectContains(results[r].message, ") is gone");
    EXPECT_LT(results[r].seconds, 3.0) << describe(results);
  }
}

TEST(CommFailure, ReportedErrorIsQuoted) {
  auto results = runRanks(3, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(3000));
    if (rank == 2) {
      reportFailure(*world, "weights.safetensors: truncated");
      ::_exit(1);
    }
    float x = 1;
    world->allReduceSum(&x, 1);
  });
  for (int r : {0, 1}) {
    expectContains(results[r].message,
                   "rank 2 failed: weights.safetensors: truncated");
    EXPECT_LT(results[r].seconds, 4.0);
  }
}

TEST(CommFailure, StoreServerRankDiesOverTcp) {
  std::string rdv = "tcp:127.0.0.1:" + std::to_string(freePort());
  auto results = runRanks(
      3,
      [&](int rank, const RankEnv &env) {
        auto world = join(env, milliseconds(3000));
        if (rank == 0)
          ::_exit(3);
        std::vector<int> x(8, rank);
        std::vector<int> all(8 * 3);
        world->allGather(x.data(), all.data(), x.size() * sizeof(int));
      },
      rdv);
  for (int r : {1, 2}) {
    expectContains(results[r].message, "allGather of 32 bytes per rank");
    expectContains(results[r].message, "rank 0 (pid ");
    EXPECT_LT(results[r].seconds, 4.0) << describe(results);
  }
}

TEST(CommFailure, StuckRankIsNamedAfterTheTimeout) {
  auto results = runRanks(3, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(1000));
    if (rank == 1) {
      std::this_thread::sleep_for(milliseconds(2500));
      return;
    }
    world->barrier();
  });
  for (int r : {0, 2}) {
    SCOPED_TRACE("rank " + std::to_string(r));
    expectContains(results[r].message,
                   "barrier on the world of 3 ranks failed on rank " +
                       std::to_string(r) + " after 1.0");
    // Both waiting ranks time out together; neither blames the other.
    expectContains(results[r].message,
                   "timed out (limit 1.00 s, FRESCO_COMM_TIMEOUT) waiting "
                   "for rank 1 (pid ");
    expectContains(results[r].message, "which reports no failure");
    EXPECT_LT(results[r].seconds, 2.5) << describe(results);
  }
}

// A send abandoned because a third rank died stays queued in Gloo's event
// loop over the caller's memory. Rank 1 asks for the data only after rank 0
// has given up and freed it: rank 0 must not write from the freed pages (it
// used to abort with EFAULT on Gloo's thread), so its failure stays the
// named dead rank.
TEST(CommFailure, AbandonedSendDoesNotTouchFreedMemory) {
  constexpr size_t kBytes = 64u << 20; // Freed with munmap, not reused.
  auto results = runRanks(3, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(8000));
    if (rank == 2)
      ::_exit(3);
    if (rank == 1) {
      std::this_thread::sleep_for(milliseconds(3000));
      std::vector<char> in(kBytes);
      world->recv(in.data(), in.size(), 0, 0);
      return;
    }
    auto out = std::make_unique<std::vector<char>>(kBytes, 1);
    try {
      world->send(out->data(), out->size(), 1, 0);
    } catch (const Error &) {
      out.reset();
      std::this_thread::sleep_for(milliseconds(4000));
      throw;
    }
  });
  EXPECT_TRUE(WIFEXITED(results[0].status) &&
              WEXITSTATUS(results[0].status) == 1)
      << describe(results);
  expectContains(results[0].message, "send of 67108864 bytes to rank 1");
  expectContains(results[0].message, "rank 2 (pid ");
}

TEST(CommFailure, MissingRankNeverJoins) {
  auto results = runRanks(3, [&](int rank, const RankEnv &env) {
    if (rank == 2)
      return; // Never joins.
    join(env, milliseconds(800));
  });
  for (int r : {0, 1}) {
    expectContains(results[r].message, "rank 2 did not join within 0.80 s");
    EXPECT_LT(results[r].seconds, 2.5);
  }
}

TEST(CommFailure, CommunicatorIsUnusableAfterAFailure) {
  auto results = runRanks(2, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(3000));
    if (rank == 1)
      ::_exit(0);
    float x = 1;
    try {
      world->allReduceSum(&x, 1);
    } catch (const Error &) {
    }
    world->barrier(); // Must fail at once, quoting the first failure.
  });
  expectContains(results[0].message,
                 "barrier on the world of 2 ranks is impossible: the "
                 "communicator is unusable after an earlier failure: "
                 "allReduceSum");
  expectContains(results[0].message, "rank 1 (pid ");
}

TEST(CommFailure, BadArgumentsAreErrors) {
  auto results = runRanks(2, [&](int, const RankEnv &env) {
    auto world = join(env);
    int x = 0;
    auto expectError = [&](const std::function<void()> &f,
                           const std::string &needle) {
      try {
        f();
      } catch (const Error &e) {
        RANK_CHECK(std::string(e.what()).find(needle) != std::string::npos,
                   "message: ", e.what());
        return;
      }
      fail("no error");
    };
    expectError([&] { world->send(&x, 4, 2, 0); }, "send: peer 2 is not");
    expectError([&] { world->recv(&x, 4, 0, -1); }, "tag -1 is negative");
    expectError([&] { world->broadcast(&x, 4, -1); }, "broadcast: peer -1");
    expectError([&] { world->globalRank(2); }, "globalRank(2)");
    char buf[8];
    expectError([&] { world->allGather(buf, buf + 2, 4); },
                "recv overlaps send");
    world->barrier();
  });
  expectAllSucceed(results);
}

} // namespace
