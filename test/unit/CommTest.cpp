//===- CommTest.cpp - Gloo communicator, rank environment, launcher -------===//
//
// Multi-rank tests fork one process per rank (Gloo needs separate
// processes' sockets, and a dead rank must be a dead process). A rank's body
// checks with RANK_CHECK, which throws; the child writes the failure to its
// result file and exits 1, and the parent reports every rank's outcome.
//
// The launcher tests re-execute this binary (launchLocalRanks runs
// /proc/self/exe) with a filter selecting LaunchChild.Body, which does what
// FRESCO_TEST_CHILD asks.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Communicator.h"
#include "runtime/comm/Launch.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/core/Error.h"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fstream>
#include <functional>
#include <netinet/in.h>
#include <sstream>
#include <sys/socket.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace fresco;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

namespace {

#define RANK_CHECK(cond, ...)                                                  \
  do {                                                                         \
    if (!(cond))                                                               \
      fail(__FILE__, ":", __LINE__, ": ", #cond, " ", ##__VA_ARGS__);          \
  } while (0)

/// A fresh temporary folder, removed at the end of the test.
struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/fresco-comm-test-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

std::string readFile(const std::string &path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ::bind(fd, reinterpret_cast<sockaddr *>(&addr), len);
  ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

struct RankResult {
  int status = -1;     // waitpid status
  std::string message; // What the rank wrote (an error, or a note).
  double seconds = 0;  // From the start to the rank's exit.
};

using RankBody = std::function<void(int rank, const RankEnv &env)>;

/// Runs `body` in `n` forked processes, each given its RankEnv over
/// `rendezvous` (a fresh folder when empty). A rank that throws writes
/// e.what() to its result and exits 1. Ranks still running after
/// `limit` are killed (status: SIGKILL).
std::vector<RankResult> runRanks(int n, const RankBody &body,
                                 std::string rendezvous = "",
                                 milliseconds limit = milliseconds(20000)) {
  TempDir dir;
  if (rendezvous.empty())
    rendezvous = "file:" + dir.path + "/store";
  std::fflush(stdout);
  std::fflush(stderr);
  auto start = Clock::now();
  std::vector<pid_t> pids(n);
  for (int r = 0; r < n; ++r) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::unsetenv("FRESCO_COMM_TIMEOUT");
      int code = 0;
      std::string message;
      try {
        RankEnv env;
        env.rank = r;
        env.worldSize = n;
        env.rendezvous = rendezvous;
        env.launcher = "test";
        body(r, env);
      } catch (const std::exception &e) {
        message = e.what();
        code = 1;
      }
      std::ofstream(dir.path + "/result." + std::to_string(r)) << message;
      std::fflush(stdout);
      std::fflush(stderr);
      ::_exit(code);
    }
    pids[r] = pid;
  }
  std::vector<RankResult> results(n);
  std::vector<bool> done(n, false);
  int left = n;
  while (left > 0) {
    for (int r = 0; r < n; ++r) {
      if (done[r])
        continue;
      int status;
      if (::waitpid(pids[r], &status, WNOHANG) == pids[r]) {
        done[r] = true;
        --left;
        results[r].status = status;
        results[r].seconds =
            std::chrono::duration<double>(Clock::now() - start).count();
      }
    }
    if (left > 0 && Clock::now() - start > limit) {
      for (int r = 0; r < n; ++r)
        if (!done[r])
          ::kill(pids[r], SIGKILL);
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  for (int r = 0; r < n; ++r)
    results[r].message = readFile(dir.path + "/result." + std::to_string(r));
  return results;
}

std::string describe(const std::vector<RankResult> &results) {
  std::ostringstream os;
  for (size_t r = 0; r < results.size(); ++r) {
    const RankResult &res = results[r];
    os << "rank " << r << ": ";
    if (WIFEXITED(res.status))
      os << "exit " << WEXITSTATUS(res.status);
    else if (WIFSIGNALED(res.status))
      os << "signal " << WTERMSIG(res.status);
    os << " after " << res.seconds << " s: " << res.message << "\n";
  }
  return os.str();
}

void expectAllSucceed(const std::vector<RankResult> &results) {
  for (const RankResult &r : results)
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
        << describe(results);
}

std::unique_ptr<Communicator> join(const RankEnv &env,
                                   milliseconds timeout = milliseconds(10000)) {
  return createGlooCommunicator(env, timeout);
}

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

//===----------------------------------------------------------------------===//
// sendRecv
//===----------------------------------------------------------------------===//

/// What member `rank` of `c` sends in a shift by `dir` with `tag`: distinct
/// per rank, element, direction and tag.
int32_t shiftValue(const Communicator &c, int rank, size_t i, int dir,
                   int tag) {
  return c.globalRank(rank) * 100000000 + static_cast<int32_t>(i % 1000000) +
         dir * 3000000 + tag * 10000000;
}

/// A ring shift by `dir` (+1 forward, -1 backward) of `n` int32 per rank on
/// every member of `c` at once; checks every received value.
void ringShift(Communicator &c, size_t n, int dir, int tag) {
  int p = c.size(), me = c.rank();
  int to = (me + dir + p) % p, from = (me - dir + p) % p;
  std::vector<int32_t> out(n), in(n, -1);
  for (size_t i = 0; i < n; ++i)
    out[i] = shiftValue(c, me, i, dir, tag);
  c.sendRecv(out.data(), to, in.data(), from, n * sizeof(int32_t), tag);
  for (size_t i = 0; i < n; ++i)
    if (in[i] != shiftValue(c, from, i, dir, tag))
      fail("ring shift of ", n, " int32 by ", dir, " (tag ", tag, ") on rank ",
           c.globalRank(me), ": element ", i, " is ", in[i], ", expected ",
           shiftValue(c, from, i, dir, tag));
}

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

//===----------------------------------------------------------------------===//
// Failures
//===----------------------------------------------------------------------===//

void expectContains(const std::string &haystack, const std::string &needle) {
  EXPECT_NE(haystack.find(needle), std::string::npos)
      << "'" << needle << "' not in: " << haystack;
}

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

//===----------------------------------------------------------------------===//
// Environment
//===----------------------------------------------------------------------===//

class Environment : public ::testing::Test {
protected:
  void SetUp() override {
    for (const char *name : kVars) {
      if (const char *v = std::getenv(name))
        saved_.emplace_back(name, v);
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char *name : kVars)
      ::unsetenv(name);
    for (auto &[name, value] : saved_)
      ::setenv(name.c_str(), value.c_str(), 1);
  }
  static void set(const char *name, const char *value) {
    ::setenv(name, value, 1);
  }
  static std::string errorOf() {
    try {
      rankEnvFromEnvironment();
    } catch (const Error &e) {
      return e.what();
    }
    return "(no error)";
  }
  static std::string uid() { return std::to_string(::getuid()); }

  static constexpr const char *kVars[] = {"OMPI_COMM_WORLD_LOCAL_RANK",
                                          "SLURM_LOCALID",
                                          "LOCAL_RANK",
                                          "FRESCO_RANK",
                                          "FRESCO_WORLD_SIZE",
                                          "FRESCO_RENDEZVOUS",
                                          "OMPI_COMM_WORLD_RANK",
                                          "OMPI_COMM_WORLD_SIZE",
                                          "OMPI_COMM_WORLD_LOCAL_SIZE",
                                          "OMPI_MCA_ess_base_jobid",
                                          "PMIX_NAMESPACE",
                                          "SLURM_PROCID",
                                          "SLURM_NTASKS",
                                          "SLURM_STEP_NUM_TASKS",
                                          "SLURM_STEP_NUM_NODES",
                                          "SLURM_NNODES",
                                          "SLURM_JOB_ID",
                                          "SLURM_JOBID",
                                          "SLURM_STEP_ID",
                                          "SLURM_STEPID",
                                          "RANK",
                                          "WORLD_SIZE",
                                          "MASTER_ADDR",
                                          "MASTER_PORT",
                                          "TORCHELASTIC_RUN_ID",
                                          "TORCHELASTIC_USE_AGENT_STORE",
                                          "FRESCO_COMM_TIMEOUT"};
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(Environment, NoLauncherIsOneRank) {
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.worldSize, 1);
  EXPECT_EQ(env.launcher, "none");
  EXPECT_EQ(env.rendezvous, "");
  set("RANK", "3"); // Alone, too common a name to mean torchrun.
  EXPECT_EQ(rankEnvFromEnvironment().launcher, "none");
}

TEST_F(Environment, Fresco) {
  set("FRESCO_RANK", "2");
  set("FRESCO_WORLD_SIZE", "4");
  set("FRESCO_RENDEZVOUS", "file:/tmp/x");
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 2);
  EXPECT_EQ(env.worldSize, 4);
  EXPECT_EQ(env.launcher, "fresco");
  EXPECT_EQ(env.rendezvous, "file:/tmp/x");
  // FRESCO_ wins over a surrounding mpirun.
  set("OMPI_COMM_WORLD_RANK", "0");
  set("OMPI_COMM_WORLD_SIZE", "1");
  EXPECT_EQ(rankEnvFromEnvironment().launcher, "fresco");
}

TEST_F(Environment, FrescoMalformed) {
  set("FRESCO_RANK", "1");
  EXPECT_EQ(errorOf(), "invalid fresco environment: FRESCO_WORLD_SIZE is not "
                       "set (FRESCO_RANK is)");
  set("FRESCO_WORLD_SIZE", "2");
  EXPECT_EQ(errorOf(), "invalid fresco environment: FRESCO_RANK is set but "
                       "FRESCO_RENDEZVOUS is not (file:<folder> or "
                       "tcp:<host>:<port>)");
  set("FRESCO_RENDEZVOUS", "file:/tmp/x");
  set("FRESCO_RANK", "one");
  EXPECT_EQ(errorOf(), "invalid fresco environment: FRESCO_RANK='one' is not "
                       "an integer");
  set("FRESCO_RANK", "1x");
  EXPECT_NE(errorOf().find("FRESCO_RANK='1x' is not an integer"),
            std::string::npos);
  set("FRESCO_RANK", "2");
  EXPECT_EQ(errorOf(), "invalid fresco environment: FRESCO_RANK=2 is not a "
                       "rank of a world of FRESCO_WORLD_SIZE=2 (ranks are 0 "
                       "to 1)");
  set("FRESCO_RANK", "-1");
  EXPECT_NE(errorOf().find("FRESCO_RANK=-1 is not a rank"), std::string::npos);
  set("FRESCO_RANK", "0");
  set("FRESCO_WORLD_SIZE", "0");
  EXPECT_NE(errorOf().find("the world size must be at least 1"),
            std::string::npos);
  set("FRESCO_WORLD_SIZE", "99999999999");
  EXPECT_NE(errorOf().find("is not an integer"), std::string::npos);
  set("FRESCO_WORLD_SIZE", "2");
  set("FRESCO_RENDEZVOUS", "nfs:/x");
  EXPECT_EQ(errorOf(), "invalid FRESCO_RENDEZVOUS='nfs:/x': expected "
                       "file:<folder> or tcp:<host>:<port>");
  set("FRESCO_RENDEZVOUS", "tcp:host");
  EXPECT_NE(errorOf().find("expected tcp:<host>:<port>"), std::string::npos);
  set("FRESCO_RENDEZVOUS", "tcp:host:70000");
  EXPECT_NE(errorOf().find("port '70000' is not a number from 1 to 65535"),
            std::string::npos);
  set("FRESCO_RENDEZVOUS", "file:");
  EXPECT_NE(errorOf().find("the folder is missing"), std::string::npos);
}

TEST_F(Environment, OpenMpi) {
  set("OMPI_COMM_WORLD_RANK", "1");
  set("OMPI_COMM_WORLD_SIZE", "2");
  set("OMPI_COMM_WORLD_LOCAL_SIZE", "2");
  set("OMPI_MCA_ess_base_jobid", "1218052097");
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.worldSize, 2);
  EXPECT_EQ(env.launcher, "mpirun");
  EXPECT_EQ(env.rendezvous,
            "file:/tmp/fresco-rendezvous-" + uid() + "-ompi-1218052097");
  // The node-local rank picks the GPU; the rank stands in without one.
  EXPECT_EQ(env.localRank, 1);
  set("OMPI_COMM_WORLD_LOCAL_RANK", "0");
  EXPECT_EQ(rankEnvFromEnvironment().localRank, 0);
  set("OMPI_COMM_WORLD_LOCAL_RANK", "-1");
  EXPECT_NE(errorOf().find("OMPI_COMM_WORLD_LOCAL_RANK=-1"), std::string::npos);
  ::unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  // Without the job id, PMIx's namespace names the job.
  ::unsetenv("OMPI_MCA_ess_base_jobid");
  set("PMIX_NAMESPACE", "prterun-host-42@1");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous,
            "file:/tmp/fresco-rendezvous-" + uid() + "-ompi-prterun-host-42_1");
  ::unsetenv("PMIX_NAMESPACE");
  EXPECT_NE(errorOf().find("mpirun: cannot find the job id"),
            std::string::npos);
  // MASTER_ADDR/MASTER_PORT take over, on one node or several.
  set("OMPI_COMM_WORLD_LOCAL_SIZE", "1");
  EXPECT_NE(errorOf().find("mpirun started 2 ranks on several nodes (1 on "
                           "this one): set MASTER_ADDR and MASTER_PORT"),
            std::string::npos);
  set("MASTER_ADDR", "node0");
  set("MASTER_PORT", "29500");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous, "tcp:node0:29500");
  set("MASTER_PORT", "http");
  EXPECT_EQ(errorOf(), "invalid mpirun environment: MASTER_PORT='http' is not "
                       "an integer");
  ::unsetenv("MASTER_PORT");
  EXPECT_NE(errorOf().find("MASTER_ADDR and MASTER_PORT must be set together"),
            std::string::npos);
  // An explicit rendezvous wins.
  set("FRESCO_RENDEZVOUS", "tcp:10.0.0.1:1234");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous, "tcp:10.0.0.1:1234");
  set("OMPI_COMM_WORLD_RANK", "2");
  EXPECT_NE(errorOf().find("OMPI_COMM_WORLD_RANK=2 is not a rank of a world "
                           "of OMPI_COMM_WORLD_SIZE=2"),
            std::string::npos);
}

TEST_F(Environment, Slurm) {
  set("SLURM_PROCID", "3");
  set("SLURM_NTASKS", "4");
  set("SLURM_NNODES", "1");
  set("SLURM_JOB_ID", "777");
  set("SLURM_STEP_ID", "2");
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.worldSize, 4);
  EXPECT_EQ(env.launcher, "srun");
  EXPECT_EQ(env.rendezvous,
            "file:/tmp/fresco-rendezvous-" + uid() + "-slurm-777.2");
  // The step's own task count wins over the allocation's.
  set("SLURM_STEP_NUM_TASKS", "8");
  EXPECT_EQ(rankEnvFromEnvironment().worldSize, 8);
  set("SLURM_STEP_NUM_NODES", "2");
  EXPECT_NE(errorOf().find("srun started 8 ranks on 2 nodes: set MASTER_ADDR "
                           "and MASTER_PORT"),
            std::string::npos);
  set("MASTER_ADDR", "n1");
  set("MASTER_PORT", "4000");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous, "tcp:n1:4000");
  ::unsetenv("MASTER_ADDR");
  ::unsetenv("MASTER_PORT");
  ::unsetenv("SLURM_STEP_NUM_NODES");
  ::unsetenv("SLURM_STEP_ID");
  EXPECT_NE(errorOf().find("SLURM_JOB_ID and SLURM_STEP_ID are needed"),
            std::string::npos);
  set("SLURM_STEP_ID", "2");
  set("SLURM_PROCID", "x");
  EXPECT_EQ(errorOf(), "invalid srun environment: SLURM_PROCID='x' is not an "
                       "integer");
  set("SLURM_PROCID", "0");
  ::unsetenv("SLURM_STEP_NUM_TASKS");
  ::unsetenv("SLURM_NTASKS");
  EXPECT_NE(errorOf().find("SLURM_NTASKS is not set"), std::string::npos);
}

TEST_F(Environment, Torchrun) {
  set("RANK", "1");
  set("WORLD_SIZE", "2");
  set("MASTER_ADDR", "127.0.0.1");
  set("MASTER_PORT", "29500");
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.worldSize, 2);
  EXPECT_EQ(env.launcher, "torchrun");
  EXPECT_EQ(env.rendezvous, "tcp:127.0.0.1:29500");
  set("LOCAL_RANK", "3");
  EXPECT_EQ(rankEnvFromEnvironment().localRank, 3);
  ::unsetenv("LOCAL_RANK");
  // torchrun's agent serves its own store on MASTER_PORT.
  set("TORCHELASTIC_USE_AGENT_STORE", "True");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous, "tcp:127.0.0.1:29501");
  // Under `srun torchrun`, SLURM_PROCID is the node; torchrun's rank wins.
  set("SLURM_PROCID", "0");
  set("SLURM_NTASKS", "1");
  set("TORCHELASTIC_RUN_ID", "abc");
  EXPECT_EQ(rankEnvFromEnvironment().launcher, "torchrun");
  ::unsetenv("TORCHELASTIC_RUN_ID");
  EXPECT_EQ(rankEnvFromEnvironment().launcher, "srun");
  ::unsetenv("SLURM_PROCID");
  ::unsetenv("MASTER_ADDR");
  ::unsetenv("MASTER_PORT");
  EXPECT_EQ(errorOf(), "invalid torchrun environment: RANK and WORLD_SIZE "
                       "are set but MASTER_ADDR and MASTER_PORT are not");
  set("MASTER_ADDR", "h");
  set("MASTER_PORT", "0");
  EXPECT_NE(errorOf().find("MASTER_PORT=0 is not a port number"),
            std::string::npos);
  set("MASTER_PORT", "1");
  set("WORLD_SIZE", "two");
  EXPECT_EQ(errorOf(), "invalid torchrun environment: WORLD_SIZE='two' is "
                       "not an integer");
}

TEST_F(Environment, CommTimeout) {
  EXPECT_EQ(commTimeoutFromEnvironment(milliseconds(60000)).count(), 60000);
  set("FRESCO_COMM_TIMEOUT", "2.5");
  EXPECT_EQ(commTimeoutFromEnvironment(milliseconds(60000)).count(), 2500);
  for (const char *bad : {"", "0", "-3", "ten", "5s", "nan"}) {
    set("FRESCO_COMM_TIMEOUT", bad);
    try {
      commTimeoutFromEnvironment(milliseconds(1));
      ADD_FAILURE() << "no error for '" << bad << "'";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("invalid FRESCO_COMM_TIMEOUT"),
                std::string::npos);
    }
  }
}

//===----------------------------------------------------------------------===//
// The launcher
//===----------------------------------------------------------------------===//

/// What a launched rank does, chosen by FRESCO_TEST_CHILD. Skipped when the
/// test binary runs normally.
TEST(LaunchChild, Body) {
  const char *mode = std::getenv("FRESCO_TEST_CHILD");
  if (!mode || !std::getenv("FRESCO_RANK"))
    GTEST_SKIP() << "only run by the launcher tests";
  RankEnv env = rankEnvFromEnvironment();
  std::string m = mode;
  std::fflush(stdout);
  if (m == "print") {
    std::printf("out of %d/%d threads=%s\n", env.rank, env.worldSize,
                std::getenv("OMP_NUM_THREADS"));
    std::printf("partial %d", env.rank); // No newline.
    std::fprintf(stderr, "err of %d\n", env.rank);
    std::fflush(nullptr);
    ::_exit(0);
  }
  if (m == "fail") {
    if (env.rank == 1)
      ::_exit(3);
    ::_exit(0);
  }
  if (m == "hang") {
    // Rank 2 dies; the others never notice and must be killed.
    if (env.rank == 2)
      std::raise(SIGKILL);
    std::this_thread::sleep_for(std::chrono::seconds(30));
    ::_exit(0);
  }
  if (m == "gloo") {
    auto world = createGlooCommunicator(env, milliseconds(3000));
    if (env.rank == 0)
      std::raise(SIGSEGV);
    try {
      float x = 1;
      world->allReduceSum(&x, 1);
    } catch (const Error &e) {
      std::fprintf(stderr, "error: %s\n", e.what());
      std::fflush(nullptr);
      ::_exit(1);
    }
    ::_exit(0);
  }
  ::_exit(99);
}

struct Launched {
  int code = -1;
  std::string out, err;
  double seconds = 0;
};

/// Runs launchLocalRanks on this test binary with FRESCO_TEST_CHILD=mode,
/// capturing our stdout and stderr.
Launched launch(int n, const std::string &mode, milliseconds timeout,
                const char *ompThreads = nullptr) {
  TempDir dir;
  ::setenv("FRESCO_TEST_CHILD", mode.c_str(), 1);
  if (ompThreads)
    ::setenv("OMP_NUM_THREADS", ompThreads, 1);
  else
    ::unsetenv("OMP_NUM_THREADS");
  // launchLocalRanks runs /proc/self/exe: this binary, with these args.
  std::vector<std::string> args = {"comm_test",
                                   "--gtest_filter=LaunchChild.Body"};
  std::vector<char *> argv;
  for (std::string &a : args)
    argv.push_back(a.data());
  std::fflush(stdout);
  std::fflush(stderr);
  int savedOut = ::dup(1), savedErr = ::dup(2);
  std::string outPath = dir.path + "/out", errPath = dir.path + "/err";
  int outFd = ::open(outPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int errFd = ::open(errPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::dup2(outFd, 1);
  ::dup2(errFd, 2);
  Launched l;
  auto start = Clock::now();
  try {
    l.code = launchLocalRanks(n, static_cast<int>(argv.size()), argv.data(),
                              timeout);
  } catch (const std::exception &e) {
    l.err = e.what();
  }
  l.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::fflush(stdout);
  std::fflush(stderr);
  ::dup2(savedOut, 1);
  ::dup2(savedErr, 2);
  for (int fd : {savedOut, savedErr, outFd, errFd})
    ::close(fd);
  ::unsetenv("FRESCO_TEST_CHILD");
  ::unsetenv("OMP_NUM_THREADS");
  l.out = readFile(outPath);
  l.err += readFile(errPath);
  return l;
}

TEST(Launch, PrefixesEachRanksLinesAndSetsThreads) {
  Launched l = launch(2, "print", milliseconds(5000));
  EXPECT_EQ(l.code, 0) << l.err;
  int cores = std::max(1u, std::thread::hardware_concurrency());
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    cores = CPU_COUNT(&set);
  std::string threads = std::to_string(std::max(1, cores / 2));
  for (int r : {0, 1}) {
    std::string k = std::to_string(r);
    expectContains(l.out, "[rank " + k + "] out of " + k +
                              "/2 threads=" + threads + "\n");
    expectContains(l.out, "[rank " + k + "] partial " + k + "\n");
    expectContains(l.err, "[rank " + k + "] err of " + k + "\n");
    EXPECT_EQ(l.out.find("err of"), std::string::npos);
  }
  // The user's OMP_NUM_THREADS is kept.
  l = launch(2, "print", milliseconds(5000), "3");
  expectContains(l.out, "[rank 1] out of 1/2 threads=3\n");
}

TEST(Launch, ReportsTheFailingRankOnce) {
  Launched l = launch(3, "fail", milliseconds(5000));
  EXPECT_EQ(l.code, 1);
  expectContains(l.err, "fresco-run: rank 1 exited with status 3\n");
  EXPECT_EQ(l.err.find("fresco-run: rank 0"), std::string::npos) << l.err;
  EXPECT_EQ(l.err.find("fresco-run: rank 2"), std::string::npos) << l.err;
}

TEST(Launch, KillsRanksThatDoNotStop) {
  Launched l = launch(3, "hang", milliseconds(1000));
  EXPECT_EQ(l.code, 1);
  expectContains(l.err, "fresco-run: rank 2 was killed by signal 9 (SIGKILL)");
  expectContains(l.err, "fresco-run: killing ranks 0, 1: still running 1.0 s "
                        "after the first failure");
  EXPECT_LT(l.seconds, 4.0);
}

TEST(Launch, SurvivorsNameTheCrashedRank) {
  Launched l = launch(3, "gloo", milliseconds(5000));
  EXPECT_EQ(l.code, 1);
  expectContains(l.err, "fresco-run: rank 0 was killed by signal 11 (SIGSEGV)");
  for (int r : {1, 2})
    expectContains(l.err, "[rank " + std::to_string(r) +
                              "] error: allReduceSum of 1 float on the world "
                              "of 3 ranks failed on rank " +
                              std::to_string(r));
  expectContains(l.err, "rank 0 (pid ");
  EXPECT_LT(l.seconds, 4.0);
}

TEST(Launch, RejectsNoRanks) {
  char arg0[] = "x";
  char *argv[] = {arg0, nullptr};
  EXPECT_THROW(launchLocalRanks(0, 1, argv, milliseconds(1)), Error);
}

} // namespace
