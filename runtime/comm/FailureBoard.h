//===- FailureBoard.h - What ranks publish about themselves ----*- C++ -*-===//
//
// Every rank publishes in the rendezvous store who it is ("info/<rank>":
// pid and host), why it gave up ("error/<rank>": its own failure;
// "commerror/<rank>": a collective that failed because of another rank) and
// that it is done ("done/<rank>"). A communicator whose call fails reads the
// board to name the culprit; the launcher reads it to tell the first failure
// from its echoes. Nothing here knows Gloo or the launcher.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_FAILUREBOARD_H
#define FRESCO_RUNTIME_COMM_FAILUREBOARD_H

#include "runtime/comm/store/KVStore.h"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace fresco {

class FailureBoard {
public:
  struct Peer {
    int pid = 0; ///< 0 until the rank has joined.
    std::string host;
  };

  FailureBoard(std::shared_ptr<KVStore> store, int worldRank, int worldSize);

  KVStore &store() { return *store_; }
  int worldRank() const { return worldRank_; }
  int worldSize() const { return worldSize_; }
  /// This host's name, as peers see it in messages.
  const std::string &host() const { return host_; }
  const Peer &peer(int rank) const { return peers_.at(rank); }

  /// Publishes this rank's pid and host, then waits for every rank's; throws
  /// fresco::Error after `timeout` naming the ranks that did not join (and
  /// the store and `launcher`, to say where they were expected).
  void join(std::chrono::milliseconds timeout, const std::string &launcher);

  /// Best effort, never throw: this rank's own failure, a collective of this
  /// rank that failed, and this rank's normal end.
  void reportOwn(const std::string &message);
  void reportCollective(const std::string &message);
  void markDone();

  /// What the other ranks say about a failure.
  struct Diagnosis {
    /// Root causes: ranks that reported their own error or are gone.
    std::vector<std::string> primary;
    /// Ranks whose collective failed too (they name their own culprit).
    std::vector<std::string> secondary;
    /// Members of the failed communicator that said nothing and are not
    /// known to be gone: after a timeout, the ones likely stuck.
    std::vector<std::string> silent;
  };
  Diagnosis diagnose(const std::vector<int> &members);

  /// A member of `members` that published its own error or whose process on
  /// this host is gone, described for a message ("rank 1 (pid 42) is
  /// gone"); "" if none.
  std::string deadMember(const std::vector<int> &members);

  /// For rank 0, which serves the store or removes its folder: waits until
  /// every other rank is done, has said why it failed, is gone or never
  /// came, or until `limit`.
  void waitForOthers(std::chrono::milliseconds limit);

private:
  std::shared_ptr<KVStore> store_;
  int worldRank_, worldSize_;
  std::string host_;
  std::vector<Peer> peers_;
};

/// Whether the process `pid` on this host has ended (zombies included).
bool processGone(int pid);

/// What rank `rank` of a "file:<dir>" rendezvous published about its end:
/// its own error (reportFailure), a collective that failed because of
/// another rank, or nothing. Lets a launcher tell the first failure from
/// its echoes when several ranks exit at once.
enum class PublishedFailure { None, Own, Collective };
PublishedFailure publishedFailure(const std::string &rendezvousDir, int rank);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_FAILUREBOARD_H
