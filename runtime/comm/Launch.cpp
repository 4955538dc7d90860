//===- Launch.cpp - fresco-run's own launcher for local ranks -------------===//
//
// Forks one process per rank, each re-executing this program, and relays
// their output line by line. A single poll() loop watches every rank's
// stdout/stderr pipe and a self-pipe fed by the signal handlers (SIGCHLD
// wakes us to reap; SIGINT/SIGTERM are passed on to the ranks).
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Launch.h"
#include "runtime/comm/FailureBoard.h"
#include "runtime/core/Error.h"

#include <algorithm>
#include <cerrno>
#include <climits>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <poll.h>
#include <sched.h>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

extern char **environ;

namespace fresco {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

int signalPipe[2] = {-1, -1};

void onSignal(int sig) {
  int saved = errno;
  unsigned char b = static_cast<unsigned char>(sig);
  if (::write(signalPipe[1], &b, 1) < 0) {
    // Full pipe: a wake-up is already pending.
  }
  errno = saved;
}

std::string signalName(int sig) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 32)
  if (const char *abbrev = sigabbrev_np(sig))
    return std::string("SIG") + abbrev;
#endif
  switch (sig) {
  case SIGKILL:
    return "SIGKILL";
  case SIGSEGV:
    return "SIGSEGV";
  case SIGABRT:
    return "SIGABRT";
  case SIGTERM:
    return "SIGTERM";
  case SIGINT:
    return "SIGINT";
  case SIGBUS:
    return "SIGBUS";
  default:
    return "signal " + std::to_string(sig);
  }
}

/// CPUs this process may run on (cgroup cpusets and taskset included).
int usableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    return std::max(1, CPU_COUNT(&set));
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

struct Stream {
  int fd = -1;
  FILE *out = nullptr;
  std::string pending; // A partial line.
};

struct Rank {
  pid_t pid = -1;
  bool running = false;
  int status = 0;
  Stream streams[2];
};

/// Writes the complete lines of `s.pending` (all of it when `flush`), each
/// prefixed with "[rank K] ".
void emitLines(Stream &s, int rank, bool flush) {
  std::string prefix = "[rank " + std::to_string(rank) + "] ";
  size_t start = 0;
  for (;;) {
    size_t nl = s.pending.find('\n', start);
    if (nl == std::string::npos)
      break;
    std::string line = prefix + s.pending.substr(start, nl + 1 - start);
    std::fwrite(line.data(), 1, line.size(), s.out);
    start = nl + 1;
  }
  s.pending.erase(0, start);
  if (flush && !s.pending.empty()) {
    std::string line = prefix + s.pending + "\n";
    std::fwrite(line.data(), 1, line.size(), s.out);
    s.pending.clear();
  }
  std::fflush(s.out);
}

/// Reads what is available; closes the stream (flushing a partial line) at
/// end of file.
void drain(Stream &s, int rank) {
  char buf[65536];
  ssize_t n = ::read(s.fd, buf, sizeof buf);
  if (n < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  if (n <= 0) {
    emitLines(s, rank, /*flush=*/true);
    ::close(s.fd);
    s.fd = -1;
    return;
  }
  s.pending.append(buf, static_cast<size_t>(n));
  emitLines(s, rank, /*flush=*/false);
}

std::string describeExit(int rank, int status) {
  std::string who = "fresco-run: rank " + std::to_string(rank);
  if (WIFSIGNALED(status))
    return who + " was killed by signal " + std::to_string(WTERMSIG(status)) +
           " (" + signalName(WTERMSIG(status)) + ")";
  return who + " exited with status " + std::to_string(WEXITSTATUS(status));
}

bool succeeded(int status) {
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// Restores the signal dispositions and closes the self-pipe on every exit
/// path.
class SignalScope {
public:
  SignalScope() {
    if (::pipe2(signalPipe, O_CLOEXEC | O_NONBLOCK) != 0)
      fail("fresco-run: cannot create a pipe: ", std::strerror(errno));
    struct sigaction sa {};
    sa.sa_handler = onSignal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    for (size_t i = 0; i < 3; ++i)
      sigaction(kSignals[i], &sa, &old_[i]);
  }
  ~SignalScope() {
    for (size_t i = 0; i < 3; ++i)
      sigaction(kSignals[i], &old_[i], nullptr);
    ::close(signalPipe[0]);
    ::close(signalPipe[1]);
    signalPipe[0] = signalPipe[1] = -1;
  }

private:
  static constexpr int kSignals[3] = {SIGCHLD, SIGINT, SIGTERM};
  struct sigaction old_[3];
};

} // namespace

int launchLocalRanks(int n, int argc, char **argv,
                     std::chrono::milliseconds timeout) {
  check(n >= 1, "fresco-run: --ranks must be at least 1 (got ", n, ")");
  check(argc >= 1, "fresco-run: no program arguments");

  // A fresh rendezvous folder for this run.
  const char *tmpEnv = std::getenv("TMPDIR");
  std::string tmpl =
      std::string(tmpEnv && *tmpEnv ? tmpEnv : "/tmp") + "/fresco-run-XXXXXX";
  std::vector<char> tmplBuf(tmpl.begin(), tmpl.end());
  tmplBuf.push_back('\0');
  if (!::mkdtemp(tmplBuf.data()))
    fail("fresco-run: cannot create a temporary folder '", tmpl,
         "': ", std::strerror(errno));
  std::string rendezvousDir = tmplBuf.data();
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } removeDir{rendezvousDir};

  // Each rank's environment: ours, minus any FRESCO_ rank variables, plus
  // its own. Built before fork: the child may only call async-signal-safe
  // functions until execve.
  bool userThreads = std::getenv("OMP_NUM_THREADS") != nullptr;
  std::vector<std::string> common;
  for (char **e = environ; *e; ++e) {
    std::string kv = *e;
    if (kv.rfind("FRESCO_RANK=", 0) == 0 ||
        kv.rfind("FRESCO_WORLD_SIZE=", 0) == 0 ||
        kv.rfind("FRESCO_RENDEZVOUS=", 0) == 0)
      continue;
    common.push_back(kv);
  }
  common.push_back("FRESCO_WORLD_SIZE=" + std::to_string(n));
  common.push_back("FRESCO_RENDEZVOUS=file:" + rendezvousDir);
  // The CPU backend uses OpenMP; n ranks each using every core would
  // oversubscribe the machine badly.
  if (!userThreads)
    common.push_back("OMP_NUM_THREADS=" +
                     std::to_string(std::max(1, usableCores() / n)));

  std::vector<char *> args(argv, argv + argc);
  args.push_back(nullptr);

  SignalScope signals;
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<Rank> ranks(n);
  pid_t launcher = getpid();
  std::string startError;
  for (int k = 0; k < n; ++k) {
    std::vector<std::string> envStrings = common;
    envStrings.push_back("FRESCO_RANK=" + std::to_string(k));
    std::vector<char *> envp;
    for (std::string &s : envStrings)
      envp.push_back(s.data());
    envp.push_back(nullptr);

    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      startError = std::string("cannot create a pipe: ") + std::strerror(errno);
      break;
    }
    pid_t pid = ::fork();
    if (pid < 0) {
      startError = std::string("cannot fork: ") + std::strerror(errno);
      for (int fd : {out[0], out[1], err[0], err[1]})
        ::close(fd);
      break;
    }
    if (pid == 0) {
      // The ranks die with the launcher, even when it is SIGKILLed.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != launcher)
        ::_exit(127);
      ::dup2(out[1], STDOUT_FILENO);
      ::dup2(err[1], STDERR_FILENO);
      if (k != 0) {
        // Like mpirun: only rank 0 reads our stdin.
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0)
          ::dup2(null, STDIN_FILENO);
      }
      ::execve("/proc/self/exe", args.data(), envp.data());
      const char msg[] = "fresco-run: cannot execute /proc/self/exe\n";
      if (::write(STDERR_FILENO, msg, sizeof msg - 1) < 0) {
      }
      ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    ranks[k].pid = pid;
    ranks[k].running = true;
    ranks[k].streams[0] = {out[0], stdout, {}};
    ranks[k].streams[1] = {err[0], stderr, {}};
  }
  if (!startError.empty()) {
    for (Rank &r : ranks)
      if (r.running)
        ::kill(r.pid, SIGKILL);
    for (Rank &r : ranks) {
      if (r.running)
        ::waitpid(r.pid, nullptr, 0);
      for (Stream &s : r.streams)
        if (s.fd >= 0)
          ::close(s.fd);
    }
    fail("fresco-run: cannot start ", n, " ranks: ", startError);
  }

  int interrupted = 0;
  // Ranks that failed, in the order we saw them; the verdict (which one
  // caused it) waits a moment for the others: a rank that gives up because
  // its peer died often exits about as soon as the peer.
  std::vector<int> failed;
  bool verdictGiven = false;
  Clock::time_point verdictAt = Clock::time_point::max();
  Clock::time_point killAt = Clock::time_point::max();
  Clock::time_point drainUntil = Clock::time_point::max();
  std::vector<int> killed;
  for (;;) {
    // Reap.
    bool anyRunning = false;
    for (int k = 0; k < n; ++k) {
      Rank &r = ranks[k];
      if (!r.running)
        continue;
      int status;
      pid_t got = ::waitpid(r.pid, &status, WNOHANG);
      if (got != r.pid) {
        anyRunning = true;
        continue;
      }
      r.running = false;
      r.status = status;
      if (succeeded(status) || interrupted)
        continue;
      failed.push_back(k);
      if (failed.size() == 1) {
        verdictAt = Clock::now() + milliseconds(300);
        killAt = Clock::now() + timeout;
      }
    }
    if (!verdictGiven && !failed.empty() &&
        (!anyRunning || Clock::now() >= verdictAt)) {
      verdictGiven = true;
      verdictAt = Clock::time_point::max();
      // The cause: a rank killed by a signal, else one that reported its
      // own error or nothing, before one whose collective failed.
      auto rankOf = [&](int k) {
        if (WIFSIGNALED(ranks[k].status))
          return 0;
        switch (publishedFailure(rendezvousDir, k)) {
        case PublishedFailure::Own:
          return 1;
        case PublishedFailure::None:
          return 2;
        case PublishedFailure::Collective:
          return 3;
        }
        return 2;
      };
      int culprit =
          *std::min_element(failed.begin(), failed.end(), [&](int a, int b) {
            return rankOf(a) < rankOf(b);
          });
      // Its last words come before our verdict.
      for (Stream &s : ranks[culprit].streams)
        while (s.fd >= 0) {
          pollfd p{s.fd, POLLIN, 0};
          if (::poll(&p, 1, 100) <= 0)
            break;
          drain(s, culprit);
        }
      std::fprintf(stderr, "%s\n",
                   describeExit(culprit, ranks[culprit].status).c_str());
      std::fflush(stderr);
    }
    bool anyOpen = false;
    for (Rank &r : ranks)
      for (Stream &s : r.streams)
        anyOpen |= s.fd >= 0;
    if (!anyRunning) {
      // A rank's own children may hold its pipes open; wait only a little.
      if (drainUntil == Clock::time_point::max())
        drainUntil = Clock::now() + milliseconds(1000);
      if (!anyOpen || Clock::now() >= drainUntil)
        break;
    }
    if (anyRunning && Clock::now() >= killAt) {
      for (int k = 0; k < n; ++k)
        if (ranks[k].running) {
          ::kill(ranks[k].pid, SIGKILL);
          killed.push_back(k);
        }
      killAt = Clock::time_point::max();
      std::string list;
      for (int k : killed)
        list += (list.empty() ? "" : ", ") + std::to_string(k);
      std::fprintf(stderr,
                   "fresco-run: killing rank%s %s: still running %.1f s "
                   "after the first failure\n",
                   killed.size() > 1 ? "s" : "", list.c_str(),
                   std::chrono::duration<double>(timeout).count());
      std::fflush(stderr);
    }

    std::vector<pollfd> fds;
    std::vector<std::pair<int, int>> owners; // (rank, stream)
    fds.push_back({signalPipe[0], POLLIN, 0});
    owners.push_back({-1, -1});
    for (int k = 0; k < n; ++k)
      for (int i = 0; i < 2; ++i)
        if (ranks[k].streams[i].fd >= 0) {
          fds.push_back({ranks[k].streams[i].fd, POLLIN, 0});
          owners.push_back({k, i});
        }
    Clock::time_point wakeAt = std::min({killAt, drainUntil, verdictAt});
    int waitMs = 1000; // Also covers a SIGCHLD lost to a full pipe.
    if (wakeAt != Clock::time_point::max())
      waitMs = static_cast<int>(std::clamp<long long>(
          std::chrono::duration_cast<milliseconds>(wakeAt - Clock::now())
                  .count() +
              1,
          0, 1000));
    int ready = ::poll(fds.data(), fds.size(), waitMs);
    if (ready < 0 && errno != EINTR)
      fail("fresco-run: poll failed: ", std::strerror(errno));
    if (ready <= 0)
      continue;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (!fds[i].revents)
        continue;
      if (owners[i].first < 0) {
        unsigned char sigs[64];
        ssize_t got = ::read(signalPipe[0], sigs, sizeof sigs);
        for (ssize_t j = 0; j < got; ++j) {
          int sig = sigs[j];
          if (sig == SIGCHLD)
            continue;
          // A second Ctrl-C does not wait for the ranks to stop politely.
          int forward = interrupted ? SIGKILL : sig;
          if (!interrupted) {
            std::fprintf(stderr, "fresco-run: %s: stopping the ranks\n",
                         signalName(sig).c_str());
            std::fflush(stderr);
          }
          interrupted = sig;
          for (Rank &r : ranks)
            if (r.running)
              ::kill(r.pid, forward);
        }
        continue;
      }
      drain(ranks[owners[i].first].streams[owners[i].second], owners[i].first);
    }
  }
  for (int k = 0; k < n; ++k)
    for (Stream &s : ranks[k].streams)
      if (s.fd >= 0) {
        emitLines(s, k, /*flush=*/true);
        ::close(s.fd);
        s.fd = -1;
      }

  bool ok = !interrupted;
  for (const Rank &r : ranks)
    ok = ok && succeeded(r.status);
  return ok ? 0 : 1;
}

} // namespace fresco
