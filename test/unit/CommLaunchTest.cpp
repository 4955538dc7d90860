//===- CommLaunchTest.cpp - The local rank launcher -----------------------===//
//
// The launcher tests re-execute this binary (launchLocalRanks runs
// /proc/self/exe) with a filter selecting LaunchChild.Body, which does what
// FRESCO_TEST_CHILD asks.
//
//===----------------------------------------------------------------------===//
#include "test/unit/CommTestUtil.h"

using namespace fresco;
using namespace fresco::commtest;

namespace {

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
