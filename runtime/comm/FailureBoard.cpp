//===- FailureBoard.cpp - What the ranks of a run say about themselves ----===//
#include "runtime/comm/FailureBoard.h"
#include "runtime/comm/Text.h"
#include "runtime/comm/store/DirStore.h"
#include "runtime/core/Error.h"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <fstream>
#include <sstream>
#include <thread>
#include <unistd.h>

namespace fresco {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

std::string keyFor(const char *kind, int rank) {
  return std::string(kind) + "/" + std::to_string(rank);
}

std::string toString(const std::vector<char> &v) {
  return std::string(v.begin(), v.end());
}

std::vector<char> toBytes(const std::string &s) {
  return std::vector<char>(s.begin(), s.end());
}

std::string hostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0)
    return "localhost";
  return buf;
}

} // namespace

bool processGone(int pid) {
  if (pid <= 0)
    return false;
  if (::kill(pid, 0) != 0 && errno == ESRCH)
    return true;
  // A parent that has not reaped a dead rank yet still shows its pid.
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!f || !std::getline(f, line))
    return false;
  size_t close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size())
    return false;
  char state = line[close + 2];
  return state == 'Z' || state == 'X';
}

FailureBoard::FailureBoard(std::shared_ptr<KVStore> store, int worldRank,
                           int worldSize)
    : store_(std::move(store)), worldRank_(worldRank), worldSize_(worldSize),
      host_(hostName()), peers_(worldSize) {}

void FailureBoard::join(milliseconds timeout, const std::string &launcher) {
  store_->set(keyFor("info", worldRank_),
              toBytes(std::to_string(getpid()) + " " + host_));
  auto deadline = Clock::now() + timeout;
  for (;;) {
    std::vector<int> missing;
    for (int r = 0; r < worldSize_; ++r) {
      if (peers_[r].pid != 0)
        continue;
      std::vector<char> v;
      if (!store_->tryGet(keyFor("info", r), v)) {
        missing.push_back(r);
        continue;
      }
      std::istringstream is(toString(v));
      is >> peers_[r].pid >> peers_[r].host;
    }
    if (missing.empty())
      return;
    if (Clock::now() >= deadline)
      fail("rank ", worldRank_, " of ", worldSize_, ": rank",
           missing.size() > 1 ? "s " : " ", comm::joinRanks(missing),
           " did not join", " within ", comm::seconds(timeout), " (rendezvous ",
           store_->where(), ", launcher ", launcher,
           "; FRESCO_COMM_TIMEOUT sets the limit)");
    std::this_thread::sleep_for(milliseconds(5));
  }
}

void FailureBoard::reportOwn(const std::string &message) {
  try {
    store_->set(keyFor("error", worldRank_), toBytes(message));
  } catch (...) {
  }
}

void FailureBoard::reportCollective(const std::string &message) {
  try {
    store_->set(keyFor("commerror", worldRank_), toBytes(message));
  } catch (...) {
  }
}

void FailureBoard::markDone() {
  try {
    store_->set(keyFor("done", worldRank_), toBytes("1"));
  } catch (...) {
  }
}

FailureBoard::Diagnosis
FailureBoard::diagnose(const std::vector<int> &members) {
  Diagnosis d;
  for (int r = 0; r < worldSize_; ++r) {
    if (r == worldRank_)
      continue;
    std::string who = "rank " + std::to_string(r);
    std::string pid = " (pid " + std::to_string(peers_[r].pid) +
                      (peers_[r].host == host_ ? "" : " on " + peers_[r].host) +
                      ")";
    std::vector<char> v;
    try {
      if (store_->tryGet(keyFor("error", r), v)) {
        d.primary.push_back(who + " failed: " + toString(v));
        continue;
      }
    } catch (...) {
    }
    // A rank whose own collective failed first is not a cause, even if it
    // has exited since.
    try {
      if (store_->tryGet(keyFor("commerror", r), v)) {
        d.secondary.push_back(who + " reported: " + toString(v));
        continue;
      }
    } catch (...) {
    }
    if (peers_[r].host == host_ && processGone(peers_[r].pid)) {
      d.primary.push_back(who + pid + " is gone");
      continue;
    }
    if (std::find(members.begin(), members.end(), r) != members.end())
      d.silent.push_back(who + pid);
  }
  return d;
}

std::string FailureBoard::deadMember(const std::vector<int> &members) {
  for (int r : members) {
    if (r == worldRank_)
      continue;
    try {
      if (store_->has(keyFor("error", r)))
        return "rank " + std::to_string(r) + " reported a failure";
    } catch (...) {
    }
    if (peers_[r].host == host_ && processGone(peers_[r].pid))
      return "rank " + std::to_string(r) + " (pid " +
             std::to_string(peers_[r].pid) + ") is gone";
  }
  return "";
}

void FailureBoard::waitForOthers(milliseconds limit) {
  auto deadline = Clock::now() + limit;
  for (;;) {
    bool settled = true;
    for (int r = 1; r < worldSize_ && settled; ++r) {
      try {
        settled = peers_[r].pid == 0 || store_->has(keyFor("done", r)) ||
                  store_->has(keyFor("error", r)) ||
                  store_->has(keyFor("commerror", r)) ||
                  (peers_[r].host == host_ && processGone(peers_[r].pid));
      } catch (...) {
      }
    }
    if (settled || Clock::now() >= deadline)
      return;
    std::this_thread::sleep_for(milliseconds(5));
  }
}

PublishedFailure publishedFailure(const std::string &rendezvousDir, int rank) {
  try {
    std::shared_ptr<KVStore> store =
        openDirStore(rendezvousDir, milliseconds(1));
    if (store->has(keyFor("error", rank)))
      return PublishedFailure::Own;
    if (store->has(keyFor("commerror", rank)))
      return PublishedFailure::Collective;
  } catch (...) {
  }
  return PublishedFailure::None;
}

} // namespace fresco
