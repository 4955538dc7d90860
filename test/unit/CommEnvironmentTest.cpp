//===- CommEnvironmentTest.cpp - The rank environment ---------------------===//
//
// RankEnv from Fresco's, Open MPI's, Slurm's and torchrun's variables, and
// the communicator timeout.
//
//===----------------------------------------------------------------------===//
#include "test/unit/CommTestUtil.h"

#include <cstdlib>

using namespace fresco;
using namespace fresco::commtest;

namespace {

//===----------------------------------------------------------------------===//
// Environment
//===----------------------------------------------------------------------===//

class Environment : public ::testing::Test {
protected:
  void SetUp() override {
    for (const char *name : kVars) {
      if (const char *v = std::getenv(name))
        saved_.emplace_back(name, v);
      ::unsetenv(name);
    }
  }
  void TearDown() override {
    for (const char *name : kVars)
      ::unsetenv(name);
    for (auto &[name, value] : saved_)
      ::setenv(name.c_str(), value.c_str(), 1);
  }
  static void set(const char *name, const char *value) {
    ::setenv(name, value, 1);
  }
  static std::string errorOf() {
    try {
      rankEnvFromEnvironment();
    } catch (const Error &e) {
      return e.what();
    }
    return "(no error)";
  }
  static std::string uid() { return std::to_string(::getuid()); }

  static constexpr const char *kVars[] = {"OMPI_COMM_WORLD_LOCAL_RANK",
                                          "SLURM_LOCALID",
                                          "LOCAL_RANK",
                                          "FRESCO_RANK",
                                          "FRESCO_WORLD_SIZE",
                                          "FRESCO_RENDEZVOUS",
                                          "OMPI_COMM_WORLD_RANK",
                                          "OMPI_COMM_WORLD_SIZE",
                                          "OMPI_COMM_WORLD_LOCAL_SIZE",
                                          "OMPI_MCA_ess_base_jobid",
                                          "PMIX_NAMESPACE",
                                          "SLURM_PROCID",
                                          "SLURM_NTASKS",
                                          "SLURM_STEP_NUM_TASKS",
                                          "SLURM_STEP_NUM_NODES",
                                          "SLURM_NNODES",
                                          "SLURM_JOB_ID",
                                          "SLURM_JOBID",
                                          "SLURM_STEP_ID",
                                          "SLURM_STEPID",
                                          "RANK",
                                          "WORLD_SIZE",
                                          "MASTER_ADDR",
                                          "MASTER_PORT",
                                          "TORCHELASTIC_RUN_ID",
                                          "TORCHELASTIC_USE_AGENT_STORE",
                                          "FRESCO_COMM_TIMEOUT"};
  std::vector<std::pair<std::string, std::string>> saved_;
};

TEST_F(Environment, NoLauncherIsOneRank) {
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.worldSize, 1);
  EXPECT_EQ(env.launcher, "none");
  EXPECT_EQ(env.rendezvous, "");
  set("RANK", "3"); // Alone, too common a name to mean torchrun.
  EXPECT_EQ(rankEnvFromEnvironment().launcher, "none");
}

TEST_F(Environment, Fresco) {
  set("FRESCO_RANK", "2");
  set("FRESCO_WORLD_SIZE", "4");
  set("FRESCO_RENDEZVOUS", "file:/tmp/x");
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 2);
  EXPECT_EQ(env.worldSize, 4);
  EXPECT_EQ(env.launcher, "fresco");
  EXPECT_EQ(env.rendezvous, "file:/tmp/x");
  // FRESCO_ wins over a surrounding mpirun.
  set("OMPI_COMM_WORLD_RANK", "0");
  set("OMPI_COMM_WORLD_SIZE", "1");
  EXPECT_EQ(rankEnvFromEnvironment().launcher, "fresco");
}

TEST_F(Environment, FrescoMalformed) {
  set("FRESCO_RANK", "1");
  EXPECT_EQ(errorOf(), "invalid fresco environment: FRESCO_WORLD_SIZE is not "
                       "set (FRESCO_RANK is)");
  set("FRESCO_WORLD_SIZE", "2");
  EXPECT_EQ(errorOf(), "invalid fresco environment: FRESCO_RANK is set but "
                       "FRESCO_RENDEZVOUS is not (file:<folder> or "
                       "tcp:<host>:<port>)");
  set("FRESCO_RENDEZVOUS", "file:/tmp/x");
  set("FRESCO_RANK", "one");
  EXPECT_EQ(errorOf(), "invalid fresco environment: FRESCO_RANK='one' is not "
                       "an integer");
  set("FRESCO_RANK", "1x");
  EXPECT_NE(errorOf().find("FRESCO_RANK='1x' is not an integer"),
            std::string::npos);
  set("FRESCO_RANK", "2");
  EXPECT_EQ(errorOf(), "invalid fresco environment: FRESCO_RANK=2 is not a "
                       "rank of a world of FRESCO_WORLD_SIZE=2 (ranks are 0 "
                       "to 1)");
  set("FRESCO_RANK", "-1");
  EXPECT_NE(errorOf().find("FRESCO_RANK=-1 is not a rank"), std::string::npos);
  set("FRESCO_RANK", "0");
  set("FRESCO_WORLD_SIZE", "0");
  EXPECT_NE(errorOf().find("the world size must be at least 1"),
            std::string::npos);
  set("FRESCO_WORLD_SIZE", "99999999999");
  EXPECT_NE(errorOf().find("is not an integer"), std::string::npos);
  set("FRESCO_WORLD_SIZE", "2");
  set("FRESCO_RENDEZVOUS", "nfs:/x");
  EXPECT_EQ(errorOf(), "invalid FRESCO_RENDEZVOUS='nfs:/x': expected "
                       "file:<folder> or tcp:<host>:<port>");
  set("FRESCO_RENDEZVOUS", "tcp:host");
  EXPECT_NE(errorOf().find("expected tcp:<host>:<port>"), std::string::npos);
  set("FRESCO_RENDEZVOUS", "tcp:host:70000");
  EXPECT_NE(errorOf().find("port '70000' is not a number from 1 to 65535"),
            std::string::npos);
  set("FRESCO_RENDEZVOUS", "file:");
  EXPECT_NE(errorOf().find("the folder is missing"), std::string::npos);
}

TEST_F(Environment, OpenMpi) {
  set("OMPI_COMM_WORLD_RANK", "1");
  set("OMPI_COMM_WORLD_SIZE", "2");
  set("OMPI_COMM_WORLD_LOCAL_SIZE", "2");
  set("OMPI_MCA_ess_base_jobid", "1218052097");
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.worldSize, 2);
  EXPECT_EQ(env.launcher, "mpirun");
  EXPECT_EQ(env.rendezvous,
            "file:/tmp/fresco-rendezvous-" + uid() + "-ompi-1218052097");
  // The node-local rank picks the GPU; the rank stands in without one.
  EXPECT_EQ(env.localRank, 1);
  set("OMPI_COMM_WORLD_LOCAL_RANK", "0");
  EXPECT_EQ(rankEnvFromEnvironment().localRank, 0);
  set("OMPI_COMM_WORLD_LOCAL_RANK", "-1");
  EXPECT_NE(errorOf().find("OMPI_COMM_WORLD_LOCAL_RANK=-1"), std::string::npos);
  ::unsetenv("OMPI_COMM_WORLD_LOCAL_RANK");
  // Without the job id, PMIx's namespace names the job.
  ::unsetenv("OMPI_MCA_ess_base_jobid");
  set("PMIX_NAMESPACE", "prterun-host-42@1");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous,
            "file:/tmp/fresco-rendezvous-" + uid() + "-ompi-prterun-host-42_1");
  ::unsetenv("PMIX_NAMESPACE");
  EXPECT_NE(errorOf().find("mpirun: cannot find the job id"),
            std::string::npos);
  // MASTER_ADDR/MASTER_PORT take over, on one node or several.
  set("OMPI_COMM_WORLD_LOCAL_SIZE", "1");
  EXPECT_NE(errorOf().find("mpirun started 2 ranks on several nodes (1 on "
                           "this one): set MASTER_ADDR and MASTER_PORT"),
            std::string::npos);
  set("MASTER_ADDR", "node0");
  set("MASTER_PORT", "29500");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous, "tcp:node0:29500");
  set("MASTER_PORT", "http");
  EXPECT_EQ(errorOf(), "invalid mpirun environment: MASTER_PORT='http' is not "
                       "an integer");
  ::unsetenv("MASTER_PORT");
  EXPECT_NE(errorOf().find("MASTER_ADDR and MASTER_PORT must be set together"),
            std::string::npos);
  // An explicit rendezvous wins.
  set("FRESCO_RENDEZVOUS", "tcp:10.0.0.1:1234");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous, "tcp:10.0.0.1:1234");
  set("OMPI_COMM_WORLD_RANK", "2");
  EXPECT_NE(errorOf().find("OMPI_COMM_WORLD_RANK=2 is not a rank of a world "
                           "of OMPI_COMM_WORLD_SIZE=2"),
            std::string::npos);
}

TEST_F(Environment, Slurm) {
  set("SLURM_PROCID", "3");
  set("SLURM_NTASKS", "4");
  set("SLURM_NNODES", "1");
  set("SLURM_JOB_ID", "777");
  set("SLURM_STEP_ID", "2");
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 3);
  EXPECT_EQ(env.worldSize, 4);
  EXPECT_EQ(env.launcher, "srun");
  EXPECT_EQ(env.rendezvous,
            "file:/tmp/fresco-rendezvous-" + uid() + "-slurm-777.2");
  // The step's own task count wins over the allocation's.
  set("SLURM_STEP_NUM_TASKS", "8");
  EXPECT_EQ(rankEnvFromEnvironment().worldSize, 8);
  set("SLURM_STEP_NUM_NODES", "2");
  EXPECT_NE(errorOf().find("srun started 8 ranks on 2 nodes: set MASTER_ADDR "
                           "and MASTER_PORT"),
            std::string::npos);
  set("MASTER_ADDR", "n1");
  set("MASTER_PORT", "4000");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous, "tcp:n1:4000");
  ::unsetenv("MASTER_ADDR");
  ::unsetenv("MASTER_PORT");
  ::unsetenv("SLURM_STEP_NUM_NODES");
  ::unsetenv("SLURM_STEP_ID");
  EXPECT_NE(errorOf().find("SLURM_JOB_ID and SLURM_STEP_ID are needed"),
            std::string::npos);
  set("SLURM_STEP_ID", "2");
  set("SLURM_PROCID", "x");
  EXPECT_EQ(errorOf(), "invalid srun environment: SLURM_PROCID='x' is not an "
                       "integer");
  set("SLURM_PROCID", "0");
  ::unsetenv("SLURM_STEP_NUM_TASKS");
  ::unsetenv("SLURM_NTASKS");
  EXPECT_NE(errorOf().find("SLURM_NTASKS is not set"), std::string::npos);
}

TEST_F(Environment, Torchrun) {
  set("RANK", "1");
  set("WORLD_SIZE", "2");
  set("MASTER_ADDR", "127.0.0.1");
  set("MASTER_PORT", "29500");
  RankEnv env = rankEnvFromEnvironment();
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.worldSize, 2);
  EXPECT_EQ(env.launcher, "torchrun");
  EXPECT_EQ(env.rendezvous, "tcp:127.0.0.1:29500");
  set("LOCAL_RANK", "3");
  EXPECT_EQ(rankEnvFromEnvironment().localRank, 3);
  ::unsetenv("LOCAL_RANK");
  // torchrun's agent serves its own store on MASTER_PORT.
  set("TORCHELASTIC_USE_AGENT_STORE", "True");
  EXPECT_EQ(rankEnvFromEnvironment().rendezvous, "tcp:127.0.0.1:29501");
  // Under `srun torchrun`, SLURM_PROCID is the node; torchrun's rank wins.
  set("SLURM_PROCID", "0");
  set("SLURM_NTASKS", "1");
  set("TORCHELASTIC_RUN_ID", "abc");
  EXPECT_EQ(rankEnvFromEnvironment().launcher, "torchrun");
  ::unsetenv("TORCHELASTIC_RUN_ID");
  EXPECT_EQ(rankEnvFromEnvironment().launcher, "srun");
  ::unsetenv("SLURM_PROCID");
  ::unsetenv("MASTER_ADDR");
  ::unsetenv("MASTER_PORT");
  EXPECT_EQ(errorOf(), "invalid torchrun environment: RANK and WORLD_SIZE "
                       "are set but MASTER_ADDR and MASTER_PORT are not");
  set("MASTER_ADDR", "h");
  set("MASTER_PORT", "0");
  EXPECT_NE(errorOf().find("MASTER_PORT=0 is not a port number"),
            std::string::npos);
  set("MASTER_PORT", "1");
  set("WORLD_SIZE", "two");
  EXPECT_EQ(errorOf(), "invalid torchrun environment: WORLD_SIZE='two' is "
                       "not an integer");
}

TEST_F(Environment, CommTimeout) {
  EXPECT_EQ(commTimeoutFromEnvironment(milliseconds(60000)).count(), 60000);
  set("FRESCO_COMM_TIMEOUT", "2.5");
  EXPECT_EQ(commTimeoutFromEnvironment(milliseconds(60000)).count(), 2500);
  for (const char *bad : {"", "0", "-3", "ten", "5s", "nan"}) {
    set("FRESCO_COMM_TIMEOUT", bad);
    try {
      commTimeoutFromEnvironment(milliseconds(1));
      ADD_FAILURE() << "no error for '" << bad << "'";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("invalid FRESCO_COMM_TIMEOUT"),
                std::string::npos);
    }
  }
}

} // namespace
