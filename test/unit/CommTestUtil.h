//===- CommTestUtil.h - the communicator tests' rank harness ----*- C++ -*-===//
//
// Shared by the Comm*Test.cpp files: runRanks() forks one process per rank
// (Gloo needs separate processes' sockets, and a dead rank must be a dead
// process). A rank's body checks with RANK_CHECK, which throws; the child
// writes the failure to its result file and exits 1, and the parent reports
// every rank's outcome (describe(), expectAllSucceed()).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_COMMTESTUTIL_H
#define FRESCO_TEST_UNIT_COMMTESTUTIL_H

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

#include <memory>
#include <string>
#include <vector>

namespace fresco::commtest {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

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

inline std::string readFile(const std::string &path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline int freePort() {
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
inline std::vector<RankResult>
runRanks(int n, const RankBody &body, std::string rendezvous = "",
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

inline std::string describe(const std::vector<RankResult> &results) {
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

inline void expectAllSucceed(const std::vector<RankResult> &results) {
  for (const RankResult &r : results)
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0)
        << describe(results);
}

inline std::unique_ptr<Communicator>
join(const RankEnv &env, milliseconds timeout = milliseconds(10000)) {
  return createGlooCommunicator(env, timeout);
}

/// What member `rank` of `c` sends in a shift by `dir` with `tag`: distinct
/// per rank, element, direction and tag.
inline int32_t shiftValue(const Communicator &c, int rank, size_t i, int dir,
                          int tag) {
  return c.globalRank(rank) * 100000000 + static_cast<int32_t>(i % 1000000) +
         dir * 3000000 + tag * 10000000;
}

/// A ring shift by `dir` (+1 forward, -1 backward) of `n` int32 per rank on
/// every member of `c` at once; checks every received value.
inline void ringShift(Communicator &c, size_t n, int dir, int tag) {
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

inline void expectContains(const std::string &haystack,
                           const std::string &needle) {
  EXPECT_NE(haystack.find(needle), std::string::npos)
      << "'" << needle << "' not in: " << haystack;
}

} // namespace fresco::commtest

#endif // FRESCO_TEST_UNIT_COMMTESTUTIL_H
