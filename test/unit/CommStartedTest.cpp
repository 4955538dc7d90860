//===- CommStartedTest.cpp - Gloo collectives in flight -------------------===//
//
// Started collectives (allReduceSumOf, allGather, allToAll, sendRecv) run on
// the communicator's own thread: start returns before the peers have even
// joined, the caller computes meanwhile, and the wait delivers exact values.
// Started and blocking calls on one communicator run in the order they were
// issued (CommTest.cpp's 2 x 2 grid has communicators used at once from two
// threads, independent of each other).
//
//===----------------------------------------------------------------------===//
#include "test/unit/CommTestUtil.h"

#include "runtime/core/DType.h"

using namespace fresco;
using namespace fresco::commtest;

namespace {

/// Waits up to 10 s for `path` to exist.
bool appears(const std::string &path) {
  auto until = Clock::now() + milliseconds(10000);
  while (!std::filesystem::exists(path)) {
    if (Clock::now() > until)
      return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

void touch(const std::string &path) { std::ofstream(path) << "x"; }

float roundTo(float x, DType t) {
  uint8_t stored[4];
  narrowFloats(&x, stored, 1, t);
  widenFloats(stored, &x, 1, t);
  return x;
}

float value(int rank, size_t i, int salt) {
  return float(rank * 1000 + int(i % 997) + salt);
}

// Rank 0 starts each collective, and only then do the others join it (they
// wait for the file rank 0 writes once start returned): a start that waited
// for its peers would leave them waiting for the file, and they fail.
class Started : public ::testing::TestWithParam<int> {};

TEST_P(Started, ReturnsBeforeThePeersJoin) {
  const int n = GetParam();
  TempDir flags;
  auto results = runRanks(n, [&](int rank, const RankEnv &env) {
    auto world = join(env);
    const int p = world->size();
    int k = 0;
    // Rank 0 starts, the others join once it says start returned.
    auto collective = [&](const std::function<void()> &blocking,
                          const std::function<std::function<void()>()> &start) {
      std::string flag = flags.path + "/started." + std::to_string(k++);
      if (rank == 0) {
        std::function<void()> wait = start();
        touch(flag);
        wait();
      } else {
        RANK_CHECK(appears(flag), "rank 0's start did not return before ",
                   "the others joined (", flag, ")");
        blocking();
      }
    };

    const size_t count = 70001; // odd, and over a few ring blocks
    for (DType t : {DType::F32, DType::BF16}) {
      std::vector<float> data(count);
      for (size_t i = 0; i < count; ++i)
        data[i] = value(rank, i, 3);
      std::vector<uint8_t> stored(count * dtypeSize(t));
      narrowFloats(data.data(), stored.data(), count, t);
      collective(
          [&] { world->allReduceSumOf(stored.data(), count, t); },
          [&] { return world->startAllReduceSumOf(stored.data(), count, t); });
      widenFloats(stored.data(), data.data(), count, t);
      // Host communicators sum 16-bit elements in f32 and round once.
      for (size_t i = 0; i < count; i += 101) {
        float want = 0;
        for (int r = 0; r < p; ++r)
          want += roundTo(value(r, i, 3), t);
        want = roundTo(want, t);
        RANK_CHECK(data[i] == want, dtypeName(t), " allReduce element ", i,
                   ": ", data[i], " != ", want);
      }
    }

    std::vector<int32_t> mine(5000), gathered(5000 * p, -1);
    for (size_t i = 0; i < mine.size(); ++i)
      mine[i] = rank * 100000 + int32_t(i);
    collective(
        [&] { world->allGather(mine.data(), gathered.data(), 5000 * 4); },
        [&] {
          return world->startAllGather(mine.data(), gathered.data(), 5000 * 4);
        });
    for (int r = 0; r < p; ++r)
      for (size_t i = 0; i < 5000; i += 7)
        RANK_CHECK(gathered[r * 5000 + i] == r * 100000 + int32_t(i),
                   "allGather block ", r, " element ", i);

    // Block q of member r's send is r * 1000 + q.
    std::vector<int32_t> send(300 * p), recv(300 * p, -1);
    for (int q = 0; q < p; ++q)
      for (size_t i = 0; i < 300; ++i)
        send[q * 300 + i] = rank * 1000 + q + int32_t(i) * 1000000;
    collective([&] { world->allToAll(send.data(), recv.data(), 300 * 4); },
               [&] {
                 return world->startAllToAll(send.data(), recv.data(), 300 * 4);
               });
    for (int r = 0; r < p; ++r)
      for (size_t i = 0; i < 300; i += 13)
        RANK_CHECK(recv[r * 300 + i] == r * 1000 + rank + int32_t(i) * 1000000,
                   "allToAll block ", r, " element ", i);
    world->barrier();
  });
  expectAllSucceed(results);
}

INSTANTIATE_TEST_SUITE_P(Ranks, Started, ::testing::Values(2, 3));

// Every rank starts two all-reduces and a ring shift on the world, then
// makes a blocking all-gather on it: a communicator runs its calls one at a
// time in the order issued, so the started ones are done when the blocking
// one returns, and their waits, called in another order, only deliver.
TEST(Comm, StartedAndBlockingCallsRunInIssueOrder) {
  auto results = runRanks(3, [&](int rank, const RankEnv &env) {
    auto world = join(env);
    const int p = world->size();
    std::vector<float> a(1000, float(rank + 1)), b(333, float(10 * rank));
    std::vector<int32_t> out(64, rank), in(64, -1);
    auto waitA = world->startAllReduceSumOf(a.data(), a.size(), DType::F32);
    auto waitB = world->startAllReduceSumOf(b.data(), b.size(), DType::F32);
    auto waitS = world->startSendRecv(out.data(), (rank + 1) % p, in.data(),
                                      (rank + p - 1) % p, 64 * 4, 9);
    int32_t me = rank;
    std::vector<int32_t> ranks(p, -1);
    world->allGather(&me, ranks.data(), 4);
    RANK_CHECK(ranks[0] == 0 && ranks[1] == 1 && ranks[2] == 2);
    RANK_CHECK(a[0] == 6.f && a[999] == 6.f, "a's sum ", a[0]);
    RANK_CHECK(b[0] == 30.f && b[332] == 30.f, "b's sum ", b[0]);
    RANK_CHECK(in[0] == (rank + p - 1) % p && in[63] == (rank + p - 1) % p);
    waitS();
    waitB();
    waitA();
    world->barrier();
  });
  expectAllSucceed(results);
}

} // namespace
