//===- Environment.h - This process's rank, from the launcher ---*- C++ -*-===//
//
// Which launcher started this process (fresco-run's own, mpirun, srun,
// torchrun or none), its rank, and where the ranks meet. Environment.cpp
// lists the rules.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_ENVIRONMENT_H
#define FRESCO_RUNTIME_COMM_ENVIRONMENT_H

#include <chrono>
#include <string>

namespace fresco {

/// Where this process stands in a multi-rank run, from the environment.
struct RankEnv {
  int rank = 0;
  int worldSize = 1;
  /// This rank's index among the ranks on its node (OMPI_COMM_WORLD_LOCAL_
  /// RANK, SLURM_LOCALID, LOCAL_RANK; the rank itself otherwise): a GPU
  /// backend takes device localRank modulo the devices it sees.
  int localRank = 0;
  /// "file:<dir>" (a FileStore shared by local ranks) or "tcp:<host>:<port>"
  /// (a store served by rank 0, as torchrun's MASTER_ADDR/MASTER_PORT).
  std::string rendezvous;
  std::string launcher; // "fresco", "mpirun", "srun", "torchrun" or "none"
};

/// Reads the rank environment: FRESCO_RANK/FRESCO_WORLD_SIZE/
/// FRESCO_RENDEZVOUS (set by fresco-run's own launcher), OpenMPI's
/// OMPI_COMM_WORLD_RANK/SIZE, SLURM_PROCID/SLURM_NTASKS, or torchrun's
/// RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT. A single process gets rank 0 of
/// 1 and launcher "none".
RankEnv rankEnvFromEnvironment();

/// FRESCO_COMM_TIMEOUT (seconds, may be fractional) if set, else `fallback`.
/// Throws fresco::Error for a value that is not a positive number.
std::chrono::milliseconds
commTimeoutFromEnvironment(std::chrono::milliseconds fallback);

/// Where rankEnvFromEnvironment puts the rendezvous folder of a single-node
/// mpirun/srun job (followed by "<uid>-<launcher>-<job id>"). Rank 0 removes
/// such a folder when the job ends well.
constexpr const char *kImplicitRendezvousPrefix = "/tmp/fresco-rendezvous-";

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_ENVIRONMENT_H
