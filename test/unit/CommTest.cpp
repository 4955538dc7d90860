//===- CommTest.cpp - Gloo collectives, stores and subgroups --------------===//
//
// Every collective with exact values on 2 to 4 ranks, over the file and
// TCP stores, on one rank, and on concurrent subgroups. CommTestUtil.h has
// the rank harness; the Comm*Test.cpp files next to this one test
// sendRecv, failures, the rank environment and the launcher.
//
//===----------------------------------------------------------------------===//
#include "test/unit/CommTestUtil.h"

using namespace fresco;
using namespace fresco::commtest;

namespace {

//===----------------------------------------------------------------------===//
// Collectives, exact values
//===----------------------------------------------------------------------===//

/// Every collective on `c`, with values only integers so float sums are
/// exact. `salt` makes each call's data distinct.
void exerciseCollectives(Communicator &c, int salt) {
  const int p = c.size(), me = c.rank();
  auto value = [&](int rank, size_t i) {
    return static_cast<float>(rank * 1000 + static_cast<int>(i) + salt);
  };

  // allReduceSum, small, odd-sized and larger than Gloo's 1 MiB segment.
  for (size_t n : {size_t(1), size_t(7), size_t(300000)}) {
    std::vector<float> data(n);
    for (size_t i = 0; i < n; ++i)
      data[i] = value(me, i % 1000);
    c.allReduceSum(data.data(), n);
    for (size_t i = 0; i < n; ++i) {
      float want = 0;
      for (int r = 0; r < p; ++r)
        want += value(r, i % 1000);
      RANK_CHECK(data[i] == want, "allReduceSum n=", n, " i=", i, ": ", data[i],
                 " != ", want);
    }
  }

  // allGather of 3 bytes per rank (not a multiple of anything).
  {
    unsigned char send[3] = {static_cast<unsigned char>(me),
                             static_cast<unsigned char>(salt & 0xff),
                             static_cast<unsigned char>(me * 7 + 1)};
    std::vector<unsigned char> recv(3 * p, 0xee);
    c.allGather(send, recv.data(), 3);
    for (int r = 0; r < p; ++r) {
      RANK_CHECK(recv[3 * r] == r, "allGather block ", r);
      RANK_CHECK(recv[3 * r + 1] == (salt & 0xff), "allGather block ", r);
      RANK_CHECK(recv[3 * r + 2] == r * 7 + 1, "allGather block ", r);
    }
  }

  // reduceScatterSum: block b of member r's send is value(r, b * n + i).
  for (size_t n : {size_t(1), size_t(5), size_t(70000)}) {
    std::vector<float> send(n * p), recv(n, -1);
    for (size_t i = 0; i < send.size(); ++i)
      send[i] = value(me, i % 997);
    c.reduceScatterSum(send.data(), recv.data(), n);
    for (size_t i = 0; i < n; ++i) {
      float want = 0;
      for (int r = 0; r < p; ++r)
        want += value(r, (me * n + i) % 997);
      RANK_CHECK(recv[i] == want, "reduceScatterSum n=", n, " i=", i, ": ",
                 recv[i], " != ", want);
    }
  }

  // reduceScatterSumOf in bf16 and f16: summed in f32 and rounded once. At
  // each element one member holds `big` (exact, the bottom of a binade
  // whose spacing is 2) and the others 1 to 3, so that a sum rounded after
  // each member's term would lose the small ones wherever `big` comes early;
  // the result's bits must equal the exact sum's, rounded. f32 too.
  for (DType t : {DType::BF16, DType::F16, DType::F32})
    for (size_t n : {size_t(1), size_t(5), size_t(3000)}) {
      const float big = t == DType::F16 ? 2048.0f : 256.0f;
      auto v = [&](int rank, size_t i) {
        return rank == int(i % size_t(p)) ? big : float(1 + (i + salt) % 3);
      };
      const size_t es = dtypeSize(t);
      std::vector<float> wide(n * p);
      for (size_t i = 0; i < wide.size(); ++i)
        wide[i] = v(me, i);
      std::vector<uint8_t> send(n * p * es), recv(n * es, 0xee), want(n * es);
      narrowFloats(wide.data(), send.data(), wide.size(), t);
      std::vector<float> sum(n, 0.0f);
      for (size_t i = 0; i < n; ++i)
        for (int r = 0; r < p; ++r)
          sum[i] += v(r, me * n + i);
      narrowFloats(sum.data(), want.data(), n, t);
      c.reduceScatterSumOf(send.data(), recv.data(), n, t);
      for (size_t i = 0; i < n; ++i)
        RANK_CHECK(std::memcmp(&recv[i * es], &want[i * es], es) == 0,
                   "reduceScatterSumOf ", dtypeName(t), " n=", n, " i=", i,
                   ": the sum of member ", me, "'s block is not ", sum[i],
                   " rounded once");
    }

  // allToAll: recv block i on member me = send block me on member i.
  {
    const size_t bytes = 5;
    std::vector<unsigned char> send(bytes * p), recv(bytes * p, 0xee);
    for (int j = 0; j < p; ++j)
      for (size_t b = 0; b < bytes; ++b)
        send[j * bytes + b] =
            static_cast<unsigned char>(me * 16 + j + b + salt);
    c.allToAll(send.data(), recv.data(), bytes);
    for (int i = 0; i < p; ++i)
      for (size_t b = 0; b < bytes; ++b)
        RANK_CHECK(recv[i * bytes + b] ==
                       static_cast<unsigned char>(i * 16 + me + b + salt),
                   "allToAll block ", i, " byte ", b);
  }

  // send/recv around the ring with two tags. A send returns once the peer
  // has taken it (like MPI_Ssend), so even members send first and odd ones
  // receive first; receives match sends in order.
  {
    int next = (me + 1) % p, prev = (me + p - 1) % p;
    int a = me * 10 + salt, b = -me;
    int gotA = -1, gotB = -1;
    if (p > 1) {
      auto sendBoth = [&] {
        c.send(&a, sizeof a, next, 1);
        c.send(&b, sizeof b, next, 2);
      };
      auto recvBoth = [&] {
        c.recv(&gotA, sizeof gotA, prev, 1);
        c.recv(&gotB, sizeof gotB, prev, 2);
      };
      if (me % 2 == 0) {
        sendBoth();
        recvBoth();
      } else {
        recvBoth();
        sendBoth();
      }
      RANK_CHECK(gotA == prev * 10 + salt, "recv tag 1 got ", gotA);
      RANK_CHECK(gotB == -prev, "recv tag 2 got ", gotB);
    }
    // To oneself: queued until received, in order per tag.
    int self1 = 0, self2 = 0;
    c.send(&a, sizeof a, me, 5);
    c.send(&b, sizeof b, me, 5);
    c.recv(&self1, sizeof self1, me, 5);
    c.recv(&self2, sizeof self2, me, 5);
    RANK_CHECK(self1 == a && self2 == b, "send to self");
  }

  // sendRecv: a ring shift forward, then backward, everyone at once; then
  // to and from oneself.
  {
    int next = (me + 1) % p, prev = (me + p - 1) % p;
    for (int dir : {1, -1}) {
      int to = dir > 0 ? next : prev, from = dir > 0 ? prev : next;
      std::vector<int> out(13), in(13, -1);
      for (int i = 0; i < 13; ++i)
        out[i] = me * 1000 + i * dir + salt;
      c.sendRecv(out.data(), to, in.data(), from, in.size() * sizeof(int), 3);
      for (int i = 0; i < 13; ++i)
        RANK_CHECK(in[i] == from * 1000 + i * dir + salt, "sendRecv dir ", dir,
                   " i=", i, " got ", in[i]);
    }
    int x = salt, y = -1;
    c.sendRecv(&x, me, &y, me, sizeof x, 4);
    RANK_CHECK(y == salt, "sendRecv to self got ", y);
  }

  // broadcast from every root.
  for (int root = 0; root < p; ++root) {
    std::vector<int> data(11, me == root ? root * 100 + salt : -7);
    c.broadcast(data.data(), data.size() * sizeof(int), root);
    for (int v : data)
      RANK_CHECK(v == root * 100 + salt, "broadcast from ", root, " got ", v);
  }

  c.barrier();
}

class Collectives : public ::testing::TestWithParam<int> {};

TEST_P(Collectives, ExactValuesOverFileStore) {
  int n = GetParam();
  auto results = runRanks(n, [&](int rank, const RankEnv &env) {
    auto world = join(env);
    RANK_CHECK(world->rank() == rank && world->size() == n);
    for (int i = 0; i < n; ++i)
      RANK_CHECK(world->globalRank(i) == i);
    exerciseCollectives(*world, 3);
    exerciseCollectives(*world, 4); // Again: slots and buffers are reused.
  });
  expectAllSucceed(results);
}

INSTANTIATE_TEST_SUITE_P(Ranks, Collectives, ::testing::Values(2, 3, 4));

TEST(Comm, OneRankNeedsNoRendezvous) {
  RankEnv env; // rank 0 of 1, no rendezvous
  auto world = join(env);
  EXPECT_EQ(world->size(), 1);
  exerciseCollectives(*world, 1);
  auto self = world->subgroup({0}, "self");
  EXPECT_EQ(self->size(), 1);
  exerciseCollectives(*self, 2);
}

TEST(Comm, TcpStoreServedByRankZero) {
  std::string rdv = "tcp:127.0.0.1:" + std::to_string(freePort());
  auto results = runRanks(
      3,
      [&](int, const RankEnv &env) {
        auto world = join(env);
        exerciseCollectives(*world, 9);
        auto pair = world->rank() < 2 ? world->subgroup({0, 1}, "low")
                                      : world->subgroup({2}, "alone");
        exerciseCollectives(*pair, 10);
      },
      rdv);
  expectAllSucceed(results);
}

//===----------------------------------------------------------------------===//
// Subgroups
//===----------------------------------------------------------------------===//

TEST(Comm, SubgroupsOfA2x2GridRunConcurrently) {
  auto results = runRanks(4, [&](int rank, const RankEnv &env) {
    auto world = join(env);
    // Grid position (row, col) = (rank / 2, rank % 2).
    int row = rank / 2, col = rank % 2;
    std::vector<int> rowMembers = {row * 2, row * 2 + 1};
    std::vector<int> colMembers = {col, col + 2};
    auto rowComm = world->subgroup(rowMembers, "row");
    auto colComm = world->subgroup(colMembers, "col");
    RANK_CHECK(rowComm->size() == 2 && rowComm->rank() == col);
    RANK_CHECK(colComm->size() == 2 && colComm->rank() == row);
    RANK_CHECK(rowComm->globalRank(1) == row * 2 + 1);
    RANK_CHECK(colComm->globalRank(0) == col);

    // Collectives on both axes at once, from two threads.
    std::atomic<bool> ok{true};
    std::string error;
    auto axis = [&](Communicator &c, const std::vector<int> &members,
                    float scale) {
      try {
        for (int it = 0; it < 40; ++it) {
          std::vector<float> v(1000, scale * (rank + 1) + it);
          c.allReduceSum(v.data(), v.size());
          float want = 0;
          for (int m : members)
            want += scale * (m + 1) + it;
          RANK_CHECK(v[0] == want && v[999] == want, "axis sum ", v[0],
                     " != ", want);
        }
        exerciseCollectives(c, static_cast<int>(scale));
      } catch (const std::exception &e) {
        ok = false;
        error = e.what();
      }
    };
    std::thread a(axis, std::ref(*rowComm), rowMembers, 1.0f);
    std::thread b(axis, std::ref(*colComm), colMembers, 100.0f);
    a.join();
    b.join();
    RANK_CHECK(ok.load(), error);

    // A subgroup of a subgroup, and the same tag created again.
    auto again = world->subgroup(rowMembers, "row");
    exerciseCollectives(*again, 7);
    auto sub = rowComm->subgroup({rank}, "me");
    RANK_CHECK(sub->size() == 1 && sub->globalRank(0) == rank);
    // Odd-sized group: ranks 0, 1, 2 (rank 3 sits out).
    if (rank < 3) {
      auto three = world->subgroup({0, 1, 2}, "three");
      exerciseCollectives(*three, 8);
    }
    world->barrier();
  });
  expectAllSucceed(results);
}

TEST(Comm, SubgroupRejectsBadMembers) {
  auto results = runRanks(2, [&](int rank, const RankEnv &env) {
    auto world = join(env);
    auto expectError = [&](const std::vector<int> &members,
                           const std::string &needle) {
      try {
        world->subgroup(members, "bad");
      } catch (const Error &e) {
        RANK_CHECK(std::string(e.what()).find(needle) != std::string::npos,
                   "message: ", e.what());
        return;
      }
      fail("no error for a bad subgroup");
    };
    expectError({1, 0}, "must be sorted and distinct");
    expectError({0, 5}, "rank 5 is not a member of the world of 2 ranks");
    expectError({1 - rank}, "is not among the members");
    world->barrier();
  });
  expectAllSucceed(results);
}

} // namespace
