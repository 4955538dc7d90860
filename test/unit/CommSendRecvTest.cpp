//===- CommSendRecvTest.cpp - Gloo sendRecv -------------------------------===//
//
// Ring shifts with exact values, started exchanges, subgroups, sends to
// oneself and bad arguments.
//
//===----------------------------------------------------------------------===//
#include "test/unit/CommTestUtil.h"

using namespace fresco;
using namespace fresco::commtest;

namespace {

//===----------------------------------------------------------------------===//
// sendRecv
//===----------------------------------------------------------------------===//

class SendRecv : public ::testing::TestWithParam<int> {};

// Were each rank to send and only then receive, every rank would wait for
// its send until the timeout: a Gloo send completes once the peer takes it,
// and several MiB could not sit in socket buffers anyway.
TEST_P(SendRecv, RingShiftsExactValues) {
  int n = GetParam();
  auto results = runRanks(n, [&](int, const RankEnv &env) {
    auto world = join(env, milliseconds(5000));
    int tag = 0;
    for (size_t count : {size_t(0), size_t(1), size_t(5), size_t(4096),
                         size_t(6) << 18 /* 6 MiB */})
      for (int dir : {1, -1})
        ringShift(*world, count, dir, tag++);
    // Again with the same tags: slots are reused.
    ringShift(*world, 7, 1, 0);
    ringShift(*world, 7, -1, 0);
    world->barrier();
  });
  expectAllSucceed(results);
}

// startSendRecv returns while the exchange is in flight (the caller
// computes meanwhile); its wait delivers the same values, and a failure
// comes out of the wait, naming the dead rank.
TEST_P(SendRecv, StartedShiftDeliversOnWait) {
  int n = GetParam();
  auto results = runRanks(n, [&](int, const RankEnv &env) {
    auto world = join(env, milliseconds(5000));
    int p = world->size(), me = world->rank();
    size_t count = size_t(1) << 20; // 4 MiB
    std::vector<int32_t> out(count), in(count, -1);
    for (size_t i = 0; i < count; ++i)
      out[i] = shiftValue(*world, me, i, 1, 3);
    auto wait = world->startSendRecv(out.data(), (me + 1) % p, in.data(),
                                     (me + p - 1) % p, count * 4, 3);
    double busy = 0; // work while the exchange runs
    for (int i = 0; i < 1000000; ++i)
      busy += i * 0.5;
    RANK_CHECK(busy > 0);
    wait();
    for (size_t i = 0; i < count; ++i)
      RANK_CHECK(in[i] == shiftValue(*world, (me + p - 1) % p, i, 1, 3),
                 "element ", i);
    world->barrier();
  });
  expectAllSucceed(results);
}

INSTANTIATE_TEST_SUITE_P(Ranks, SendRecv, ::testing::Values(2, 3, 4));

TEST(Comm, SendRecvOnSubgroups) {
  auto results = runRanks(4, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(5000));
    // Even and odd ranks shift at the same time, on the same slots.
    auto parity = world->subgroup({rank % 2, rank % 2 + 2}, "parity");
    ringShift(*parity, 1000, 1, 0);
    ringShift(*parity, size_t(1) << 20, -1, 1); // 4 MiB
    // Three of four (rank 0 sits out): to and from differ.
    if (rank > 0) {
      auto three = world->subgroup({1, 2, 3}, "three");
      ringShift(*three, 777, 1, 5);
      ringShift(*three, 777, -1, 5);
    }
    world->barrier();
  });
  expectAllSucceed(results);
}

// To and from oneself go through the queue of send/recv to oneself, in
// order per tag; one rank of a pair may shift with itself while the other
// receives from it.
TEST(Comm, SendRecvToItself) {
  {
    RankEnv env; // One rank: the whole ring is this rank.
    auto world = join(env);
    ringShift(*world, 100, 1, 0);
    ringShift(*world, 0, -1, 0);
  }
  auto results = runRanks(2, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(5000));
    int32_t a = 10 + rank, b = -1, queued = 20 + rank, got = -1;
    // Both ends oneself: a queued send to oneself comes out first, and this
    // call's payload is queued behind it.
    world->send(&queued, sizeof queued, rank, 7);
    world->sendRecv(&a, rank, &b, rank, sizeof a, 7);
    RANK_CHECK(b == queued, "sendRecv from self got ", b);
    world->recv(&got, sizeof got, rank, 7);
    RANK_CHECK(got == a, "recv after sendRecv to self got ", got);
    // Rank 0 sends to 1 and receives from itself; rank 1 receives from 0 and
    // sends to itself.
    if (rank == 0) {
      world->send(&queued, sizeof queued, 0, 2);
      world->sendRecv(&a, 1, &b, 0, sizeof a, 2);
      RANK_CHECK(b == queued, "sendRecv from self got ", b);
    } else {
      world->sendRecv(&a, 1, &b, 0, sizeof a, 2);
      RANK_CHECK(b == 10, "sendRecv from rank 0 got ", b);
      world->recv(&got, sizeof got, 1, 2);
      RANK_CHECK(got == a, "recv of sendRecv to self got ", got);
    }
    // sendRecv's slots are send/recv's: they match each other.
    if (rank == 0)
      world->send(&a, sizeof a, 1, 3);
    else
      world->sendRecv(&a, 1, &b, 0, sizeof a, 3);
    RANK_CHECK(rank == 0 || b == 10, "sendRecv matched with send got ", b);
    world->barrier();
  });
  expectAllSucceed(results);
}

TEST(Comm, SendRecvRejectsBadArguments) {
  auto results = runRanks(2, [&](int rank, const RankEnv &env) {
    auto world = join(env, milliseconds(5000));
    auto expectError = [&](const std::function<void()> &call,
                           const std::string &needle) {
      try {
        call();
      } catch (const Error &e) {
        RANK_CHECK(std::string(e.what()).find(needle) != std::string::npos,
                   "message: ", e.what());
        return;
      }
      fail("no error for a bad sendRecv (", needle, ")");
    };
    int32_t buf[4] = {1, 2, 3, 4};
    int next = 1 - rank;
    expectError([&] { world->sendRecv(buf, 2, buf + 2, next, 8, 0); },
                "sendRecv: destination 2 is not a member of the world of 2 "
                "ranks");
    expectError([&] { world->sendRecv(buf, next, buf + 2, -1, 8, 0); },
                "sendRecv: source -1 is not a member of the world of 2 ranks");
    expectError([&] { world->sendRecv(buf, next, buf + 2, next, 8, -3); },
                "sendRecv: tag -3 is negative");
    expectError([&] { world->sendRecv(buf, next, buf + 1, next, 8, 0); },
                "sendRecv: recv overlaps send");
    expectError([&] { world->sendRecv(buf, next, buf + 2, rank, 8, 9); },
                "sendRecv from this rank itself (tag 9) with no matching send "
                "before it");
    world->send(buf, 4, rank, 9);
    expectError([&] { world->sendRecv(buf, next, buf + 2, rank, 8, 9); },
                "sendRecv of 8 bytes from this rank itself (tag 9) but 4 were "
                "sent");
    // Refused before anything moved: the communicator still works.
    ringShift(*world, 9, 1, 0);
    world->barrier();
  });
  expectAllSucceed(results);
}

} // namespace
