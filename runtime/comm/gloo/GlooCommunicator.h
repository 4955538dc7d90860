//===- GlooCommunicator.h - Gloo-specific extras ----------------*- C++ -*-===//
//
// createGlooCommunicator (Communicator.h) is the way in; this header adds
// what only the Gloo (TCP) communicator offers. It includes no Gloo header.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_GLOO_GLOOCOMMUNICATOR_H
#define FRESCO_RUNTIME_COMM_GLOO_GLOOCOMMUNICATOR_H

#include "runtime/comm/Communicator.h"

#include <string>

namespace fresco {

/// Where rankEnvFromEnvironment puts the rendezvous folder of a single-node
/// mpirun/srun job (followed by "<uid>-<launcher>-<job id>"). Rank 0 removes
/// such a folder when the job ends well.
constexpr const char *kImplicitRendezvousPrefix = "/tmp/fresco-rendezvous-";

/// Tells the other ranks why this rank is about to give up (a bad input, a
/// failed collective...): a peer whose collective then fails quotes
/// `message` ("rank 1 failed: ...") instead of only seeing a lost
/// connection. Call it before exiting on an error. Best effort: it never
/// throws and returns quickly; no-op on a communicator that is not Gloo's.
void reportFailure(Communicator &comm, const std::string &message);

/// The members of `comm` (a Gloo communicator) known to have failed: ones
/// that published their own error or whose process on this host is gone,
/// e.g. "rank 1 (pid 4242) is gone"; "" when none is, or `comm` is not
/// Gloo's. Lets a communicator bootstrapped over Gloo (NCCL) name a culprit.
std::string deadPeers(Communicator &comm);

/// What rank `rank` of a "file:<dir>" rendezvous published about its end:
/// its own error (reportFailure), a collective that failed because of
/// another rank, or nothing. Lets a launcher tell the first failure from
/// its echoes when several ranks exit at once.
enum class PublishedFailure { None, Own, Collective };
PublishedFailure publishedFailure(const std::string &rendezvousDir, int rank);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_GLOO_GLOOCOMMUNICATOR_H
