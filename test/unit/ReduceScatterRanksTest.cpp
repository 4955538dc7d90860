//===- ReduceScatterRanksTest.cpp - The members' sum, scattered, over Gloo ===//
//
// ReduceScatter (plan version 19) run through the executor on 2 and 3
// forked ranks joined over Gloo: every member's result must be its block
// along `dim` of the sum of every member's operand, computed here. Along
// dimension 0, an inner dimension whose leading dimensions are all 1 (the
// blocks contiguous) and inner dimensions after a leading dimension > 1 (the
// blocks packed first), with the result in its own storage and over the
// operand's (the communicator's buffers may not overlap), on every memory
// path: cpu (Gloo on host memory), cpu-staged f32 and bf16 (device memory
// staged through the host), cpu-staged with gloo-direct (the NCCL path: the
// communicator on the backend's memory), and a plan compiled for bf16
// storage. The values are small integers, so every sum is exact in f32 and
// in bf16 and the results are compared exactly.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/gloo/GlooDirect.h"
#include "test/unit/CommTestUtil.h"
#include "test/unit/PlanTestUtil.h"
#include "test/unit/RankPaths.h"

using namespace fresco;
using namespace fresco::commtest;
using namespace fresco::plantest;
using namespace fresco::ranktest;

namespace {

struct Case {
  int P;
  std::vector<int64_t> shape; // the operand's; shape[dim] divisible by P
  int64_t dim;
  bool shared; // the result at the operand's offset
};

/// y = ReduceScatter(x) over every rank. Values: 0 x, 1 y.
PlanSpec scatterPlan(const Case &c, bool bf16Plan) {
  const fp::DType t = bf16Plan ? fp::DType::BF16 : fp::DType::F32;
  const uint64_t es = bf16Plan ? 2 : 4;
  std::vector<int64_t> y = c.shape;
  y[size_t(c.dim)] /= c.P;
  const uint64_t xBytes = uint64_t(numElements(c.shape)) * es;
  PlanSpec s;
  s.numRanks = c.P;
  s.programPerRank = true;
  s.floatStorage = t;
  s.values = {{fp::ValueKind::Arena, t, c.shape, 0},
              {fp::ValueKind::Arena, t, y, c.shared ? 0 : xBytes}};
  s.arena = 2 * xBytes;
  InstrSpec rs{fp::OpCode::ReduceScatter, {0}, {1}};
  rs.members = world(c.P);
  rs.dim = c.dim;
  s.instrs = {rs};
  s.inputs = {0};
  s.inputNames = {"x"};
  s.outputs = {1};
  return s;
}

/// Member r's operand element e: integers in [-48, 48], a different
/// permutation of the elements on every member (exact in bf16, and so are
/// sums of up to 5 of them).
float xValue(int r, int64_t e) {
  return float((e * (r + 1) * 7 + r * 13) % 97 - 48);
}

void scatterRank(const Case &c, int rank, Communicator &gloo) {
  std::unique_ptr<Communicator> direct =
      createGlooDirect(gloo.subgroup(world(c.P), "rs-direct"));
  const int64_t numel = numElements(c.shape), blockNumel = numel / c.P;
  // x as [outer, P * run]: member p's block is columns [p run, +run).
  int64_t outer = 1;
  for (int64_t d = 0; d < c.dim; ++d)
    outer *= c.shape[size_t(d)];
  const int64_t run = numel / outer / c.P;
  HostTensor x{DType::F32, c.shape, std::vector<uint8_t>(size_t(numel) * 4)};
  for (int64_t e = 0; e < numel; ++e)
    x.as<float>()[e] = xValue(rank, e);
  for (const MemoryPath &path : kMemoryPaths) {
    LoadedPlan p =
        LoadedPlan::fromBytes(scatterPlan(c, path.bf16Plan).build(), "rs");
    std::unique_ptr<Backend> be = rankBackend(path.backend);
    WeightStore weights(p.rank(rank), "/nonexistent");
    Communicator &comm = path.direct ? *direct : gloo;
    Executor exec(
        p, rank, *be, weights,
        [&](const std::vector<int> &) -> Communicator & { return comm; });
    for (int k = 0; k < 2; ++k) { // twice: scratch and staging reused
      std::vector<HostTensor> out = exec.run("f", {x});
      RANK_CHECK(out.size() == 1u && out[0].numel() == blockNumel, "on ",
                 path.name);
      for (int64_t j = 0; j < blockNumel; ++j) {
        // Row o, column k of this member's block: x's element e.
        const int64_t e = j / run * c.P * run + rank * run + j % run;
        float want = 0;
        for (int q = 0; q < c.P; ++q)
          want += xValue(q, e);
        const float got = out[0].as<float>()[j];
        RANK_CHECK(got == want, "on ", path.name, ": rank ", rank, " run ", k,
                   ", element ", j, " (x's ", e, "): got ", got, ", want ",
                   want);
      }
    }
  }
}

void PrintTo(const Case &c, std::ostream *os) {
  *os << "P=" << c.P << " dim=" << c.dim << (c.shared ? " shared" : "");
}

class PlanReduceScatterRanks : public ::testing::TestWithParam<Case> {};

TEST_P(PlanReduceScatterRanks, EachMemberGetsItsBlockOfTheSum) {
  const Case c = GetParam();
  expectAllSucceed(runRanks(c.P, [&](int rank, const RankEnv &env) {
    std::unique_ptr<Communicator> comm = join(env);
    scatterRank(c, rank, *comm);
    comm->barrier();
  }));
}

INSTANTIATE_TEST_SUITE_P(
    Gloo, PlanReduceScatterRanks,
    ::testing::Values(
        // Dimension 0: the blocks are contiguous.
        Case{2, {6, 3, 2}, 0, false}, Case{3, {6, 3, 2}, 0, true},
        // Dimension 1 after a leading 1: contiguous too.
        Case{2, {1, 6, 2}, 1, false}, Case{3, {1, 6, 2}, 1, true},
        // Dimension 1 after a leading 2, dimension 2 after 2 x 3: packed.
        Case{2, {2, 6, 2}, 1, false}, Case{3, {2, 6, 2}, 1, true},
        Case{2, {2, 3, 6}, 2, true}, Case{3, {2, 3, 6}, 2, false}),
    [](const auto &info) {
      const Case &c = info.param;
      std::string shape;
      for (int64_t d : c.shape)
        shape += (shape.empty() ? "" : "x") + std::to_string(d);
      return "P" + std::to_string(c.P) + "_" + shape + "_dim" +
             std::to_string(c.dim) + (c.shared ? "_shared" : "");
    });

} // namespace
