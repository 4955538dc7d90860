//===- RingKeyValidTest.cpp - Ring attention over padded key blocks -------===//
//
// Ring attention with AttentionAttrs.key_valid over Gloo, one forked process
// per rank (2 and 4 ranks): each block carries padding after the real keys
// of its segments, some blocks are padding only (also a rank's own block,
// whose step normally starts the running softmax). Every rank's output must
// equal single-rank attention over the real keys of all blocks, run on the
// same kind of backend, and the float64 reference. Backends: cpu (host
// memory, blocks exchanged in place) and cpu-staged in f32 and bf16 (device
// memory staged through the host).
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/comm/Communicator.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "test/unit/AttentionPlan.h"
#include "test/unit/Reference.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <sys/wait.h>
#include <unistd.h>

using namespace fresco;
using namespace fresco::ref;
using test::AttentionShape;

namespace {

struct RingCase {
  const char *name;
  int P;
  int64_t Tk;                 // each rank's block
  std::vector<int64_t> valid; // P rows of S entries
};

// Names the case in gtest's messages.
void PrintTo(const RingCase &c, std::ostream *os) { *os << c.name; }

/// max |got - ref| / max |ref|.
double relError(const RefVec &ref, const Vec &got) {
  double err = 0.0, mag = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    err = std::max(err, std::fabs(double(got.at(i)) - ref[i]));
    mag = std::max(mag, std::fabs(ref[i]));
  }
  return err / std::max(mag, 1e-30);
}

/// Block m of the ring: random real rows, padding rows of large values that
/// would dominate the softmax if they were attended to.
Vec block(const AttentionShape &s, const std::vector<int64_t> &valid,
          uint32_t seed, float padValue) {
  Vec x = randomVec(size_t(s.B * s.Tk * s.width()), seed);
  const int64_t L = s.Tk / int64_t(valid.size());
  for (int64_t b = 0; b < s.B; ++b)
    for (int64_t t = 0; t < s.Tk; ++t)
      if (t % L >= valid[size_t(t / L)])
        for (int64_t c = 0; c < s.width(); ++c)
          x[size_t((b * s.Tk + t) * s.width() + c)] = padValue;
  return x;
}

/// The body of rank `rank`: throws fresco::Error on a mismatch.
void runRank(const RingCase &rc, int rank, Communicator &comm) {
  const int64_t S = int64_t(rc.valid.size()) / rc.P;
  const AttentionShape s{2, 3, rc.Tk, 2, 8};
  const float scale = float(1.0 / std::sqrt(double(s.Dh)));
  auto rowOf = [&](int m) {
    return std::vector<int64_t>(rc.valid.begin() + m * S,
                                rc.valid.begin() + (m + 1) * S);
  };
  // Every rank draws every block, so each knows the whole sequence.
  std::vector<Vec> ks, vs;
  for (int m = 0; m < rc.P; ++m) {
    ks.push_back(block(s, rowOf(m), 100 + m, 30.0f));
    vs.push_back(block(s, rowOf(m), 200 + m, 1000.0f));
  }
  const Vec q = randomVec(size_t(s.B * s.Tq * s.width()), 300 + rank, -2, 2);
  // The real keys of all blocks, per batch, in ring order.
  Vec kAll, vAll;
  int64_t real = 0;
  for (int64_t n : rc.valid)
    real += n;
  for (int64_t b = 0; b < s.B; ++b)
    for (int m = 0; m < rc.P; ++m) {
      const AttentionShape one{1, s.Tq, s.Tk, s.H, s.Dh};
      const size_t at = size_t(b * s.Tk * s.width()),
                   n = size_t(s.Tk * s.width());
      Vec kb(ks[m].begin() + at, ks[m].begin() + at + n),
          vb(vs[m].begin() + at, vs[m].begin() + at + n);
      Vec kr = test::realRows(kb, 1, one.Tk, s.width(), rowOf(m)),
          vr = test::realRows(vb, 1, one.Tk, s.width(), rowOf(m));
      kAll.insert(kAll.end(), kr.begin(), kr.end());
      vAll.insert(vAll.end(), vr.begin(), vr.end());
    }
  const AttentionShape whole{s.B, s.Tq, real, s.H, s.Dh};
  const RefVec ref =
      refAttention(q, kAll, vAll, s.B, s.Tq, real, s.H, s.Dh, scale);

  std::vector<int32_t> members;
  for (int m = 0; m < rc.P; ++m)
    members.push_back(m);
  const std::vector<uint8_t> plan =
      test::attentionPlan(s, scale, rc.valid, members, rc.P);
  const std::vector<uint8_t> single = test::attentionPlan(whole, scale, {});
  for (int kind = 0; kind < 3; ++kind) {
    auto make = [&] {
      return kind == 0   ? createCpuBackend()
             : kind == 1 ? createStagedCpuBackend(GemmPrecision::F32)
                         : createStagedCpuBackend(GemmPrecision::BF16);
    };
    const char *label = kind == 0   ? "cpu"
                        : kind == 1 ? "cpu-staged f32"
                                    : "cpu-staged bf16";
    std::unique_ptr<Backend> be = make(), one = make();
    const Vec got = test::runAttentionPlan(
        plan, *be, s, q, ks[rank], vs[rank], rank,
        [&](const std::vector<int> &) -> Communicator & { return comm; });
    const Vec want = test::runAttentionPlan(single, *one, whole, q, kAll, vAll);
    RefVec wantD(want.begin(), want.end());
    // bf16 storage: inputs and output rounded (2^-8), blocks merged in f32
    // here but attended at once there.
    const double tol = kind == 2 ? 3e-2 : 2e-5;
    const double vsSingle = relError(wantD, got), vsRef = relError(ref, got);
    check(vsSingle <= tol && vsRef <= tol, "rank ", rank, " on ", label,
          ": relative error ", vsSingle, " against single-rank attention, ",
          vsRef, " against the float64 reference (tolerance ", tol, ")");
  }
}

/// Forks `rc.P` ranks joined over Gloo; each runs runRank.
void runRing(const RingCase &rc) {
  test::TempDir dir;
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> pids;
  for (int r = 0; r < rc.P; ++r) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      int code = 0;
      std::string message;
      try {
        RankEnv env;
        env.rank = r;
        env.worldSize = rc.P;
        env.rendezvous = "file:" + dir.path() + "/store";
        env.launcher = "test";
        std::unique_ptr<Communicator> comm =
            createGlooCommunicator(env, std::chrono::milliseconds(20000));
        runRank(rc, r, *comm);
        comm->barrier();
      } catch (const std::exception &e) {
        message = e.what();
        code = 1;
      }
      std::ofstream(dir / ("result." + std::to_string(r))) << message;
      ::_exit(code);
    }
    pids.push_back(pid);
  }
  for (int r = 0; r < rc.P; ++r) {
    int status = 0;
    ::waitpid(pids[r], &status, 0);
    std::ifstream in(dir / ("result." + std::to_string(r)));
    std::stringstream message;
    message << in.rdbuf();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "rank " << r << ": " << message.str();
  }
}

class RingKeyValid : public ::testing::TestWithParam<RingCase> {};

TEST_P(RingKeyValid, EqualsAttentionOverTheRealKeys) { runRing(GetParam()); }

const RingCase kCases[] = {
    // One segment per block; rank 0's block half padding.
    {"two_ranks_prefix", 2, 6, {3, 6}},
    // Rank 1's own block is all padding: its running softmax starts at the
    // block that arrives.
    {"two_ranks_own_block_empty", 2, 8, {4, 2, 0, 0}},
    // Two segments per block, padding in several; member 1 padding only.
    {"four_ranks_segments", 4, 6, {3, 1, 0, 0, 2, 3, 0, 2}},
    // Only the last member has keys.
    {"four_ranks_one_block", 4, 4, {0, 0, 0, 3}},
};

INSTANTIATE_TEST_SUITE_P(Gloo, RingKeyValid, ::testing::ValuesIn(kCases),
                         [](const auto &info) {
                           return std::string(info.param.name);
                         });

} // namespace
