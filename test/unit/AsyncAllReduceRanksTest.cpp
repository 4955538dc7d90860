//===- AsyncAllReduceRanksTest.cpp - Overlapped all_reduces over Gloo -----===//
//
// Asynchronous AllReduces (plan version 22) run through the executor on 2
// and 3 forked ranks joined over Gloo, as a row-parallel GEMM split into
// chunks has them: two in flight at once (one into its own storage, one in
// place over its operand), a synchronous AllReduce and compute inside
// their windows, the operand's bytes of the first reused meanwhile. On
// every memory path (RankPaths.h): on gloo-direct (the NCCL path) they run
// only when waited for, so every member must still issue the group's calls
// in one order. The values are small integers: every sum is exact in f32
// and in bf16, and the results are compared exactly.
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

constexpr int64_t kNumel = 12; // [2, 6]

/// c0 = all_reduce(x0) started; t = x2 + x2 over x0's bytes; c1 =
/// all_reduce(x1) started, in place; c2 = all_reduce(x2), in place; wait
/// c0; wait c1; out = c0 + c1. Values: 0 x0, 1 x1, 2 x2, 3 c0, 4 c1, 5 t,
/// 6 c2, 7 out.
PlanSpec overlapPlan(int P, bool bf16Plan) {
  const fp::DType t = bf16Plan ? fp::DType::BF16 : fp::DType::F32;
  const uint64_t b = uint64_t(kNumel) * (bf16Plan ? 2 : 4);
  PlanSpec s;
  s.numRanks = P;
  s.programPerRank = true;
  s.floatStorage = t;
  const std::vector<int64_t> shape = {2, 6};
  s.values = {{fp::ValueKind::Arena, t, shape, 0},      // x0
              {fp::ValueKind::Arena, t, shape, b},      // x1
              {fp::ValueKind::Arena, t, shape, 2 * b},  // x2
              {fp::ValueKind::Arena, t, shape, 3 * b},  // c0
              {fp::ValueKind::Arena, t, shape, b},      // c1, over x1
              {fp::ValueKind::Arena, t, shape, 0},      // t, over x0
              {fp::ValueKind::Arena, t, shape, 2 * b},  // c2, over x2
              {fp::ValueKind::Arena, t, shape, 4 * b}}; // out
  s.arena = 5 * b;
  InstrSpec r0{fp::OpCode::AllReduce, {0}, {3}},
      r1{fp::OpCode::AllReduce, {1}, {4}}, r2{fp::OpCode::AllReduce, {2}, {6}};
  r0.members = r1.members = r2.members = world(P);
  r0.async = r1.async = true;
  s.instrs = {r0,
              {fp::OpCode::Add, {2, 2}, {5}},
              r1,
              r2,
              {fp::OpCode::Wait, {3}, {}},
              {fp::OpCode::Wait, {4}, {}},
              {fp::OpCode::Add, {3, 4}, {7}}};
  s.inputs = {0, 1, 2};
  s.inputNames = {"x0", "x1", "x2"};
  s.outputs = {7, 6, 5};
  s.outputNames = {"out", "c2", "t"};
  return s;
}

/// Member r's element e of operand k: integers in [-20, 20].
float xValue(int k, int r, int64_t e) {
  return float((e * (r + 2) * 7 + r * 13 + k * 5) % 41 - 20);
}

void overlapRank(int P, int rank, Communicator &gloo) {
  std::unique_ptr<Communicator> direct =
      createGlooDirect(gloo.subgroup(world(P), "ar-direct"));
  std::vector<HostTensor> x;
  for (int k = 0; k < 3; ++k) {
    HostTensor v{DType::F32, {2, 6}, std::vector<uint8_t>(kNumel * 4)};
    for (int64_t e = 0; e < kNumel; ++e)
      v.as<float>()[e] = xValue(k, rank, e);
    x.push_back(std::move(v));
  }
  auto sum = [&](int k, int64_t e) {
    float s = 0;
    for (int q = 0; q < P; ++q)
      s += xValue(k, q, e);
    return s;
  };
  for (const MemoryPath &path : kMemoryPaths) {
    LoadedPlan p =
        LoadedPlan::fromBytes(overlapPlan(P, path.bf16Plan).build(), "ar");
    std::unique_ptr<Backend> be = rankBackend(path.backend);
    WeightStore weights(p.rank(rank), "/nonexistent");
    Communicator &comm = path.direct ? *direct : gloo;
    Executor exec(
        p, rank, *be, weights,
        [&](const std::vector<int> &) -> Communicator & { return comm; });
    for (int run = 0; run < 2; ++run) {
      std::vector<HostTensor> out = exec.run("f", x);
      RANK_CHECK(out.size() == 3u, "on ", path.name);
      for (int64_t e = 0; e < kNumel; ++e) {
        const float want[3] = {sum(0, e) + sum(1, e), sum(2, e),
                               2 * xValue(2, rank, e)};
        for (int o = 0; o < 3; ++o) {
          const float got = out[size_t(o)].as<float>()[e];
          RANK_CHECK(got == want[o], "on ", path.name, ": rank ", rank, " run ",
                     run, ", output ", o, " element ", e, ": got ", got,
                     ", want ", want[o]);
        }
      }
    }
  }
}

class PlanAsyncAllReduceRanks : public ::testing::TestWithParam<int> {};

TEST_P(PlanAsyncAllReduceRanks, OverlappedSumsMatch) {
  const int P = GetParam();
  expectAllSucceed(runRanks(P, [&](int rank, const RankEnv &env) {
    std::unique_ptr<Communicator> comm = join(env);
    overlapRank(P, rank, *comm);
    comm->barrier();
  }));
}

INSTANTIATE_TEST_SUITE_P(Gloo, PlanAsyncAllReduceRanks, ::testing::Values(2, 3),
                         [](const auto &info) {
                           return "P" + std::to_string(info.param);
                         });

} // namespace
