//===- GlooCommunicator.h - Gloo-specific extras ----------------*- C++ -*-===//
//
// The Gloo (TCP) communicator: how to join the ranks of a run, and what only
// it offers. It includes no Gloo header. The rendezvous store and the
// failure board it uses are their own units (store/, FailureBoard.h).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_GLOO_GLOOCOMMUNICATOR_H
#define FRESCO_RUNTIME_COMM_GLOO_GLOOCOMMUNICATOR_H

#include "runtime/comm/Communicator.h"
#include "runtime/comm/Environment.h"

#include <chrono>
#include <memory>
#include <string>

namespace fresco {

/// Connects to the other ranks (Gloo, TCP) through the rendezvous store of
/// `env` (FRESCO_COMM_TIMEOUT overrides `timeout`); throws fresco::Error
/// naming the problem, or after `timeout` when peers do not show up.
std::unique_ptr<Communicator>
createGlooCommunicator(const RankEnv &env, std::chrono::milliseconds timeout);

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

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_GLOO_GLOOCOMMUNICATOR_H
