//===- Launch.h - fresco-run's own launcher for local ranks -----*- C++ -*-===//
//
// `fresco-run --ranks N` needs no mpirun: it starts N copies of itself on
// this machine, each told its rank through the environment
// (FRESCO_RANK/FRESCO_WORLD_SIZE/FRESCO_RENDEZVOUS), and waits for them.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_LAUNCH_H
#define FRESCO_RUNTIME_COMM_LAUNCH_H

#include <chrono>

namespace fresco {

/// Runs ranks 0..n-1 of this program on this machine and waits for them.
///
/// Each rank re-executes /proc/self/exe with the same arguments (so a tool
/// tells a rank from the launcher by rankEnvFromEnvironment().launcher ==
/// "fresco") and gets FRESCO_RANK, FRESCO_WORLD_SIZE, FRESCO_RENDEZVOUS=
/// file:<fresh temporary folder, removed at the end> and, unless already set,
/// OMP_NUM_THREADS = max(1, cores / n). Its stdout and stderr lines come out
/// on ours prefixed "[rank K] ". SIGINT/SIGTERM are passed on to the ranks.
///
/// When a rank fails (non-zero exit or a signal), prints once
/// "fresco-run: rank K exited with status S" (or "was killed by signal 9
/// (SIGKILL)"), gives the others `timeout` to notice and stop on their own
/// (their communicators name the failed rank), then kills the rest.
/// Returns 0 when every rank exited with 0, else 1. Throws fresco::Error
/// when the ranks cannot be started.
int launchLocalRanks(int n, int argc, char **argv,
                     std::chrono::milliseconds timeout);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_LAUNCH_H
