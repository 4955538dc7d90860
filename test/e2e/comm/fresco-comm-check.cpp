//===- fresco-comm-check.cpp - Joins a multi-rank run and all-reduces -----===//
//
// A test-only program for the launch paths: joins the ranks the environment
// describes (fresco-run's launcher, mpirun, srun, torchrun variables),
// all-reduces the rank ids and prints "[ok] rank R of N sum S".
//
//   --ranks N       start N local ranks with the built-in launcher
//   --die-rank K    rank K kills itself (SIGKILL) before the collective
//   --fail-rank K   rank K reports an error and exits 1 before the collective
//   --hang-rank K   rank K sleeps (60 s) instead of joining the collective
//   --timeout S     communicator timeout in seconds (default 60)
//   --free-port     print a free TCP port and exit
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Communicator.h"
#include "runtime/comm/Launch.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/core/Error.h"

#include <arpa/inet.h>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

using namespace fresco;

namespace {

int freePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr *>(&addr), len) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
    fail("cannot find a free port: ", std::strerror(errno));
  ::close(fd);
  return ntohs(addr.sin_port);
}

[[noreturn]] void usage(const char *msg) {
  std::fprintf(stderr,
               "fresco-comm-check: %s\nusage: fresco-comm-check [--ranks N] "
               "[--die-rank K] [--fail-rank K] [--hang-rank K] [--timeout S] "
               "[--free-port]\n",
               msg);
  std::exit(2);
}

} // namespace

int main(int argc, char **argv) {
  int ranks = 0, dieRank = -1, failRank = -1, hangRank = -1;
  double timeoutS = 60;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char * {
      if (i + 1 >= argc)
        usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--ranks")
      ranks = std::atoi(value());
    else if (a == "--die-rank")
      dieRank = std::atoi(value());
    else if (a == "--fail-rank")
      failRank = std::atoi(value());
    else if (a == "--hang-rank")
      hangRank = std::atoi(value());
    else if (a == "--timeout")
      timeoutS = std::atof(value());
    else if (a == "--free-port") {
      std::printf("%d\n", freePort());
      return 0;
    } else
      usage(("unknown argument '" + a + "'").c_str());
  }
  auto timeout = std::chrono::milliseconds(static_cast<long>(timeoutS * 1000));
  try {
    RankEnv env = rankEnvFromEnvironment();
    if (ranks > 0 && env.launcher == "none")
      return launchLocalRanks(ranks, argc, argv, timeout);
    std::unique_ptr<Communicator> world = createGlooCommunicator(env, timeout);
    if (env.rank == dieRank)
      std::raise(SIGKILL);
    if (env.rank == failRank) {
      std::string msg = "cannot read weights.safetensors (simulated)";
      std::fprintf(stderr, "fresco-comm-check: error: %s\n", msg.c_str());
      reportFailure(*world, msg);
      return 1;
    }
    if (env.rank == hangRank)
      ::sleep(60);
    float sum = static_cast<float>(env.rank);
    world->allReduceSum(&sum, 1);
    std::printf("[ok] rank %d of %d sum %g (launcher %s)\n", env.rank,
                env.worldSize, sum, env.launcher.c_str());
    return 0;
  } catch (const Error &e) {
    std::fprintf(stderr, "fresco-comm-check: error: %s\n", e.what());
    return 1;
  }
}
