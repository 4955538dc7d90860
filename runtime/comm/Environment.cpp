//===- Environment.cpp - Rank and rendezvous from launcher variables ------===//
//
// Which launcher started this process, and where the ranks meet. The rules:
//
//   launcher  rank / size                           detected by
//   fresco    FRESCO_RANK / FRESCO_WORLD_SIZE        FRESCO_RANK or _SIZE set
//   mpirun    OMPI_COMM_WORLD_RANK / _SIZE           OMPI_COMM_WORLD_RANK set
//   torchrun  RANK / WORLD_SIZE                      TORCHELASTIC_RUN_ID set
//   srun      SLURM_PROCID / SLURM_STEP_NUM_TASKS    SLURM_PROCID set
//             (or SLURM_NTASKS)
//   torchrun  RANK / WORLD_SIZE                      RANK and WORLD_SIZE set
//
// torchrun is checked before Slurm when its agent's TORCHELASTIC_RUN_ID is
// present, since `srun torchrun ...` sets SLURM_PROCID to the node's index,
// not the worker's rank.
//
// The rendezvous (where the ranks exchange addresses):
//   1. FRESCO_RENDEZVOUS ("file:<dir>" or "tcp:<host>:<port>") if set;
//   2. torchrun: "tcp:MASTER_ADDR:MASTER_PORT" (MASTER_PORT + 1 when the
//      torchrun agent already serves its own store on MASTER_PORT, i.e.
//      TORCHELASTIC_USE_AGENT_STORE=True);
//   3. mpirun/srun: "tcp:MASTER_ADDR:MASTER_PORT" if both are set; otherwise,
//      when every rank runs on this node, a folder every local rank derives
//      from the job: /tmp/fresco-rendezvous-<uid>-ompi-<jobid> (jobid from
//      OMPI_MCA_ess_base_jobid, else PMIX_NAMESPACE) or
//      /tmp/fresco-rendezvous-<uid>-slurm-<SLURM_JOB_ID>.<SLURM_STEP_ID>.
//      A job spanning several nodes must set MASTER_ADDR/MASTER_PORT (or
//      FRESCO_RENDEZVOUS): a folder in /tmp is not shared between nodes.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Environment.h"
#include "runtime/core/Error.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <optional>
#include <unistd.h>

namespace fresco {
namespace {

std::optional<std::string> env(const char *name) {
  const char *v = std::getenv(name);
  if (!v)
    return std::nullopt;
  return std::string(v);
}

/// A whole decimal integer, or an error naming the variable and launcher.
long parseInt(const char *name, const std::string &value,
              const std::string &launcher) {
  const char *begin = value.c_str();
  char *end = nullptr;
  errno = 0;
  long v = std::strtol(begin, &end, 10);
  if (value.empty() || *end != '\0' || errno == ERANGE || v < INT32_MIN ||
      v > INT32_MAX)
    fail("invalid ", launcher, " environment: ", name, "='", value,
         "' is not an integer");
  return v;
}

/// Reads and checks a rank/size pair.
void readRankAndSize(RankEnv &out, const char *rankName, const char *sizeName,
                     const std::string &launcher) {
  std::optional<std::string> rank = env(rankName), size = env(sizeName);
  if (!rank || !size)
    fail("invalid ", launcher, " environment: ", rank ? sizeName : rankName,
         " is not set (", rank ? rankName : sizeName, " is)");
  long r = parseInt(rankName, *rank, launcher);
  long s = parseInt(sizeName, *size, launcher);
  if (s < 1)
    fail("invalid ", launcher, " environment: ", sizeName, "=", s,
         " (the world size must be at least 1)");
  if (r < 0 || r >= s)
    fail("invalid ", launcher, " environment: ", rankName, "=", r,
         " is not a rank of a world of ", sizeName, "=", s, " (ranks are 0 to ",
         s - 1, ")");
  out.rank = static_cast<int>(r);
  out.worldSize = static_cast<int>(s);
  out.launcher = launcher;
}

/// "file:<dir>" or "tcp:<host>:<port>" with a port in 1..65535.
void checkRendezvous(const std::string &where, const std::string &source) {
  if (where.rfind("file:", 0) == 0) {
    if (where.size() == 5)
      fail("invalid ", source, "='", where, "': the folder is missing");
    return;
  }
  if (where.rfind("tcp:", 0) == 0) {
    size_t colon = where.rfind(':');
    if (colon <= 4 || colon + 1 >= where.size())
      fail("invalid ", source, "='", where, "': expected tcp:<host>:<port>");
    std::string port = where.substr(colon + 1);
    char *end = nullptr;
    long p = std::strtol(port.c_str(), &end, 10);
    if (*end != '\0' || p < 1 || p > 65535)
      fail("invalid ", source, "='", where, "': port '", port,
           "' is not a number from 1 to 65535");
    return;
  }
  fail("invalid ", source, "='", where,
       "': expected file:<folder> or tcp:<host>:<port>");
}

/// tcp:MASTER_ADDR:MASTER_PORT(+offset), or nullopt if either is unset.
std::optional<std::string> masterRendezvous(const std::string &launcher,
                                            int portOffset) {
  std::optional<std::string> addr = env("MASTER_ADDR"),
                             port = env("MASTER_PORT");
  if (!addr && !port)
    return std::nullopt;
  if (!addr || !port || addr->empty())
    fail("invalid ", launcher,
         " environment: MASTER_ADDR and MASTER_PORT "
         "must be set together");
  long p = parseInt("MASTER_PORT", *port, launcher);
  if (p < 1 || p + portOffset > 65535)
    fail("invalid ", launcher, " environment: MASTER_PORT=", p,
         " is not a port number");
  return "tcp:" + *addr + ":" + std::to_string(p + portOffset);
}

/// The folder all local ranks of one mpirun/srun job agree on.
std::string jobFolder(const std::string &jobKey) {
  return std::string(kImplicitRendezvousPrefix) + std::to_string(getuid()) +
         "-" + jobKey;
}

std::string mpiRendezvous(const RankEnv &out) {
  if (auto tcp = masterRendezvous(out.launcher, 0))
    return *tcp;
  if (out.worldSize == 1)
    return "";
  std::optional<std::string> localSize = env("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (localSize && *localSize != std::to_string(out.worldSize))
    fail("mpirun started ", out.worldSize, " ranks on several nodes (",
         *localSize,
         " on this one): set MASTER_ADDR and MASTER_PORT (the "
         "host and a free port of rank 0) or FRESCO_RENDEZVOUS=tcp:<host>:"
         "<port> so the ranks can meet");
  std::optional<std::string> job = env("OMPI_MCA_ess_base_jobid");
  if (!job || job->empty())
    job = env("PMIX_NAMESPACE");
  if (!job || job->empty())
    fail("mpirun: cannot find the job id (OMPI_MCA_ess_base_jobid, "
         "PMIX_NAMESPACE) to name the rendezvous folder; set "
         "FRESCO_RENDEZVOUS=file:<folder> or MASTER_ADDR/MASTER_PORT");
  // Keep the name a plain file name whatever the id looks like.
  std::string safe;
  for (char c : *job)
    safe += (isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-')
                ? c
                : '_';
  return "file:" + jobFolder("ompi-" + safe);
}

std::string slurmRendezvous(const RankEnv &out) {
  if (auto tcp = masterRendezvous(out.launcher, 0))
    return *tcp;
  if (out.worldSize == 1)
    return "";
  std::optional<std::string> nodes = env("SLURM_STEP_NUM_NODES");
  if (!nodes)
    nodes = env("SLURM_NNODES");
  if (nodes && *nodes != "1")
    fail("srun started ", out.worldSize, " ranks on ", *nodes,
         " nodes: set MASTER_ADDR and MASTER_PORT (the host and a free port "
         "of rank 0) or FRESCO_RENDEZVOUS=tcp:<host>:<port> so the ranks can "
         "meet");
  std::optional<std::string> job = env("SLURM_JOB_ID"),
                             step = env("SLURM_STEP_ID");
  if (!job)
    job = env("SLURM_JOBID");
  if (!step)
    step = env("SLURM_STEPID");
  if (!job || !step)
    fail("srun: SLURM_JOB_ID and SLURM_STEP_ID are needed to name the "
         "rendezvous folder; set FRESCO_RENDEZVOUS=file:<folder> or "
         "MASTER_ADDR/MASTER_PORT");
  parseInt("SLURM_JOB_ID", *job, "srun");
  parseInt("SLURM_STEP_ID", *step, "srun");
  return "file:" + jobFolder("slurm-" + *job + "." + *step);
}

std::string torchrunRendezvous(const RankEnv &out) {
  // torchrun's agent serves its own (PyTorch) store on MASTER_PORT; ours
  // goes next to it.
  int offset = env("TORCHELASTIC_USE_AGENT_STORE").value_or("") == "True";
  std::optional<std::string> tcp = masterRendezvous(out.launcher, offset);
  if (!tcp) {
    if (out.worldSize == 1)
      return "";
    fail("invalid torchrun environment: RANK and WORLD_SIZE are set but "
         "MASTER_ADDR and MASTER_PORT are not");
  }
  return *tcp;
}

} // namespace

RankEnv rankEnvFromEnvironment() {
  RankEnv out;
  out.launcher = "none";
  if (env("FRESCO_RANK") || env("FRESCO_WORLD_SIZE")) {
    readRankAndSize(out, "FRESCO_RANK", "FRESCO_WORLD_SIZE", "fresco");
  } else if (env("OMPI_COMM_WORLD_RANK")) {
    readRankAndSize(out, "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE",
                    "mpirun");
  } else if (env("TORCHELASTIC_RUN_ID") && (env("RANK") || env("WORLD_SIZE"))) {
    readRankAndSize(out, "RANK", "WORLD_SIZE", "torchrun");
  } else if (env("SLURM_PROCID")) {
    readRankAndSize(out, "SLURM_PROCID",
                    env("SLURM_STEP_NUM_TASKS") ? "SLURM_STEP_NUM_TASKS"
                                                : "SLURM_NTASKS",
                    "srun");
  } else if (env("RANK") && env("WORLD_SIZE")) {
    // Both are needed: a lone RANK is too common a name to mean torchrun.
    readRankAndSize(out, "RANK", "WORLD_SIZE", "torchrun");
  }

  if (std::optional<std::string> rdv = env("FRESCO_RENDEZVOUS")) {
    checkRendezvous(*rdv, "FRESCO_RENDEZVOUS");
    out.rendezvous = *rdv;
  } else if (out.launcher == "fresco") {
    if (out.worldSize > 1)
      fail("invalid fresco environment: FRESCO_RANK is set but "
           "FRESCO_RENDEZVOUS is not (file:<folder> or tcp:<host>:<port>)");
  } else if (out.launcher == "mpirun") {
    out.rendezvous = mpiRendezvous(out);
  } else if (out.launcher == "srun") {
    out.rendezvous = slurmRendezvous(out);
  } else if (out.launcher == "torchrun") {
    out.rendezvous = torchrunRendezvous(out);
  }
  // The rank among those on this node: which GPU to take. fresco's own
  // launcher starts every rank on this node.
  out.localRank = out.rank;
  const char *localName = out.launcher == "mpirun"
                              ? "OMPI_COMM_WORLD_LOCAL_RANK"
                          : out.launcher == "srun"     ? "SLURM_LOCALID"
                          : out.launcher == "torchrun" ? "LOCAL_RANK"
                                                       : nullptr;
  if (localName)
    if (std::optional<std::string> local = env(localName)) {
      long l = parseInt(localName, *local, out.launcher);
      if (l < 0)
        fail("invalid ", out.launcher, " environment: ", localName, "=", l);
      out.localRank = static_cast<int>(l);
    }
  return out;
}

std::chrono::milliseconds
commTimeoutFromEnvironment(std::chrono::milliseconds fallback) {
  const char *v = std::getenv("FRESCO_COMM_TIMEOUT");
  if (!v)
    return fallback;
  char *end = nullptr;
  double s = std::strtod(v, &end);
  if (!*v || *end != '\0' || !std::isfinite(s) || s <= 0 || s > 1e7)
    fail("invalid FRESCO_COMM_TIMEOUT='", v,
         "': expected a positive number of seconds");
  return std::chrono::milliseconds(
      std::max<long long>(1, std::llround(s * 1000)));
}

} // namespace fresco
