//===- PlannerTest.cpp - The cost model on hand-computed cases ------------===//
#include "planner/Calibration.h"
#include "planner/Collectives.h"
#include "planner/Layouts.h"
#include "planner/Predict.h"
#include "planner/Topology.h"
#include "test/unit/PlanTestUtil.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace fresco;
using namespace fresco::planner;

namespace {

// 100 GB/s each way, 5 us per message.
Link link100() { return {"test", 100e9, 5e-6}; }

using fresco::test::errorOf;

TEST(PlannerCollectives, RingAllReduceByHand) {
  // 8 MiB on 4 ranks: 6 messages of 2 MiB, each 5 us + 2097152 / 1e11 s.
  EXPECT_NEAR(ringAllReduce(8388608, 4, link100()), 6 * (5e-6 + 2.097152e-5),
              1e-12);
  // Tree: 2 * (2 latencies + 8 MiB / 1e11).
  EXPECT_NEAR(treeAllReduce(8388608, 4, link100()),
              2 * (2 * 5e-6 + 8.388608e-5), 1e-12);
  // Large: the ring moves half as much per link; small: the tree has
  // fewer latencies (8 ranks: 3 against 7 per phase).
  EXPECT_DOUBLE_EQ(allReduce(8388608, 4, link100()),
                   ringAllReduce(8388608, 4, link100()));
  EXPECT_DOUBLE_EQ(allReduce(1024, 8, link100()),
                   treeAllReduce(1024, 8, link100()));
  EXPECT_NEAR(treeAllReduce(1024, 8, link100()), 2 * (3 * 5e-6 + 1.024e-8),
              1e-15);
  EXPECT_EQ(allReduce(1 << 20, 1, link100()), 0);
}

TEST(PlannerCollectives, GatherExchangeBroadcastSend) {
  // All-gather of a 4 MB result over 4 ranks: 3 messages of 1 MB.
  EXPECT_NEAR(allGather(4e6, 4, link100()), 3 * (5e-6 + 1e-5), 1e-12);
  // Reduce-scatter of a 4 MB operand over 4 ranks: 3 messages of 1 MB, the
  // first half of the ring all-reduce of the operand.
  EXPECT_NEAR(reduceScatter(4e6, 4, link100()), 3 * (5e-6 + 1e-5), 1e-12);
  EXPECT_NEAR(2 * reduceScatter(4e6, 4, link100()),
              ringAllReduce(4e6, 4, link100()), 1e-12);
  EXPECT_EQ(reduceScatter(4e6, 1, link100()), 0);
  // All-to-all of a 2 MB operand over 2 ranks: one 1 MB message.
  EXPECT_NEAR(allToAll(2e6, 2, link100()), 5e-6 + 1e-5, 1e-12);
  // Broadcast over 8 ranks: the tree's 3 latencies beat the ring's 7.
  EXPECT_NEAR(broadcast(1e6, 8, link100()), 3 * 5e-6 + 1e-5, 1e-12);
  EXPECT_NEAR(sendRecv(1e9, link100()), 5e-6 + 1e-2, 1e-12);
}

TEST(PlannerCollectives, RingAttentionOverlapsHopsWithBlocks) {
  // A hop of 2 MB takes 25 us. Blocks of 1 ms hide it: 4 blocks, 4 ms.
  EXPECT_NEAR(ringAttention(1e-3, 2e6, 4, link100()), 4e-3, 1e-12);
  // Blocks of 10 us do not: the first block, then 3 hops of 25 us.
  EXPECT_NEAR(ringAttention(1e-5, 2e6, 4, link100()), 1e-5 + 3 * 2.5e-5, 1e-12);
  EXPECT_DOUBLE_EQ(ringAttention(1e-3, 2e6, 1, link100()), 1e-3);
  // Slowed by 1.0 (twice as long) beside each 25 us hop: 12.5 us of a
  // block's work per hop, the rest at full rate.
  EXPECT_NEAR(ringAttention(1e-3, 2e6, 4, link100(), 1.0),
              1e-3 + 3 * (2.5e-5 + 1e-3 - 1.25e-5), 1e-12);
  // Blocks of 10 us take 20 us beside a 25 us hop: the hop still bounds.
  EXPECT_NEAR(ringAttention(1e-5, 2e6, 4, link100(), 1.0), 1e-5 + 3 * 2.5e-5,
              1e-12);
}

Topology unitTopology() {
  Topology t;
  t.name = "unit";
  t.ranksPerNode = 8;
  t.memoryBytes = 1 << 20;
  t.peakFlops["f32"] = 1e9; // 1 GFLOP/s
  t.memoryBandwidth = 1e15; // bytes never the bound here
  t.intraNode = t.interNode = link100();
  return t;
}

TEST(PlannerPredict, GemmAtTheRooflineRate) {
  // y [2, 3] = x [2, 3] w [3, 3]^T: 2 * 6 * 3 = 36 FLOPs at 1 GFLOP/s.
  std::vector<uint8_t> bytes =
      plantest::linearSpec(plan::Activation::None).build();
  LoadedPlan p = LoadedPlan::fromBytes(bytes, "gemm");
  Topology t = unitTopology();
  PredictOptions o{&t, nullptr, DType::F32};
  Prediction pred = predict(p, o);
  ASSERT_EQ(pred.functions.size(), 1u);
  EXPECT_NEAR(pred.stepSeconds, 36e-9, 1e-18);
  EXPECT_EQ(pred.functions[0].roofline, 1);
  EXPECT_NEAR(pred.functions[0].ranks[0].compute, 36e-9, 1e-18);
  EXPECT_EQ(pred.functions[0].ranks[0].comm, 0);
  // The compute by op kind adds up to it, under the op's plan name.
  ASSERT_EQ(pred.functions[0].ranks[0].computeByOp.size(), 1u);
  EXPECT_NEAR(pred.functions[0].ranks[0].computeByOp.at("Linear"), 36e-9,
              1e-18);
  EXPECT_NE(describe(pred, 1, t).find("compute of rank 0 by op: Linear"),
            std::string::npos);
  // Half the efficiency, twice the time; a launch cost adds to it.
  t.computeEfficiency = 0.5;
  t.launchOverhead = 1e-6;
  EXPECT_NEAR(predict(p, o).stepSeconds, 72e-9 + 1e-6, 1e-15);
}

TEST(PlannerPredict, InPlaceCopiesCostNothing) {
  // At 1 GB/s: a copied Concat reads and writes 64 bytes (128), the Slice
  // counts its whole 64-byte operand and its 32-byte result (96); in place
  // they take no time, and a Concat with one of two operands in place
  // copies the other half (64).
  Topology t = unitTopology();
  t.peakFlops["f32"] = 1e15;
  t.memoryBandwidth = 1e9;
  PredictOptions o{&t, nullptr, DType::F32};
  auto seconds = [&](uint64_t bAt, uint64_t cAt, uint64_t sAt) {
    std::vector<uint8_t> bytes = plantest::inPlaceSpec(bAt, cAt, sAt).build();
    return predict(LoadedPlan::fromBytes(bytes, "in-place"), o).stepSeconds;
  };
  EXPECT_NEAR(seconds(32, 64, 128), (128 + 96) * 1e-9, 1e-15);
  EXPECT_EQ(seconds(32, 0, 32), 0);
  EXPECT_NEAR(seconds(160, 0, 192), (64 + 96) * 1e-9, 1e-15);
}

TEST(PlannerPredict, CalibrationEntryWinsOverRoofline) {
  std::vector<uint8_t> bytes =
      plantest::linearSpec(plan::Activation::None).build();
  LoadedPlan p = LoadedPlan::fromBytes(bytes, "gemm");
  Topology t = unitTopology();
  Calibration c;
  c.storage = "f32";
  c.entries.push_back({"Linear", "2x3,3x3->2x3", 36, 96, 4e-3, 1});
  PredictOptions o{&t, &c, DType::F32};
  Prediction pred = predict(p, o);
  EXPECT_DOUBLE_EQ(pred.stepSeconds, 4e-3);
  EXPECT_EQ(pred.functions[0].calibrated, 1);
  // A table measured in another storage is not used.
  c.storage = "bf16";
  EXPECT_NEAR(predict(p, o).stepSeconds, 36e-9, 1e-18);
}

TEST(PlannerPredict, RowsSplitAcrossRanks) {
  Topology t = unitTopology();
  PredictOptions o{&t, nullptr, DType::F32};
  // Halo of x [1, 2, 5, 3] f32 (120 bytes, 5 rows) on 2 ranks: a shift of
  // one row (24 bytes) each way, and nothing to compute.
  for (auto [lo, hi] : {std::pair<int64_t, int64_t>{1, 1}, {1, 0}}) {
    std::vector<uint8_t> bytes = plantest::haloSpec(lo, hi, true).build();
    Prediction pred = predict(LoadedPlan::fromBytes(bytes, "halo"), o);
    ASSERT_EQ(pred.functions[0].ranks.size(), 2u);
    const double want = double(lo + hi) * sendRecv(24, link100());
    EXPECT_NEAR(pred.stepSeconds, want, 1e-15);
    for (const RankTime &r : pred.functions[0].ranks) {
      EXPECT_NEAR(r.comm, want, 1e-15);
      EXPECT_EQ(r.compute, 0);
    }
  }
  // A GroupNorm split over 2 ranks computes what the whole one does on its
  // block, then gathers a mean and an M2 per group (2 groups: 16 bytes a
  // rank).
  auto norm = [&](std::vector<int32_t> stats, bool both) {
    std::vector<uint8_t> bytes =
        plantest::groupNormSpec(std::move(stats), both).build();
    return predict(LoadedPlan::fromBytes(bytes, "group-norm"), o);
  };
  const Prediction whole = norm({}, false), split = norm({0, 1}, true);
  ASSERT_EQ(split.functions[0].ranks.size(), 2u);
  const double compute = whole.functions[0].ranks[0].compute;
  EXPECT_GT(compute, 0);
  for (const RankTime &r : split.functions[0].ranks) {
    EXPECT_NEAR(r.compute, compute, 1e-15);
    EXPECT_NEAR(r.comm, allGather(32, 2, link100()), 1e-15);
  }
  EXPECT_NEAR(split.stepSeconds, compute + allGather(32, 2, link100()), 1e-15);
}

/// r = all_reduce(a) over ranks {0, 1}, s = silu(a), out = r + s, the
/// all_reduce started asynchronously (and waited for before the Add) or run
/// in place, predicted on `t`.
Prediction predictReduceBesideSilu(const Topology &t, bool async) {
  PredictOptions o{&t, nullptr, DType::F32};
  plantest::PlanSpec s;
  s.numRanks = 2;
  s.programPerRank = true;
  plantest::InstrSpec reduce{
      plan::OpCode::AllReduce, {0}, {1}, false, -1, {0, 1}};
  reduce.async = async;
  s.instrs = {reduce,
              {plan::OpCode::Silu, {0}, {2}},
              {plan::OpCode::Wait, {1}, {}},
              {plan::OpCode::Add, {1, 2}, {3}}};
  if (!async)
    s.instrs.erase(s.instrs.begin() + 2);
  s.inputs = {0};
  s.inputNames = {"a"};
  return predict(LoadedPlan::fromBytes(s.build(), "all-reduce"), o);
}

// Started (version 22), the all_reduce hides whole behind the Silu (slower
// than the sum at 1 MB/s); run in place, it is all exposed. Either way both
// ranks compute the same.
TEST(PlannerPredict, AsyncAllReduceHidesBehindCompute) {
  Topology t = unitTopology();
  t.memoryBandwidth = 1e6;
  auto predictFor = [&](bool async) {
    return predictReduceBesideSilu(t, async);
  };
  const double d = allReduce(24, 2, link100());
  const Prediction sync = predictFor(false), async = predictFor(true);
  ASSERT_EQ(sync.functions[0].ranks.size(), 2u);
  ASSERT_EQ(async.functions[0].ranks.size(), 2u);
  const double compute = sync.functions[0].ranks[0].compute;
  const double silu = sync.functions[0].ranks[0].computeByOp.at("Silu");
  ASSERT_GT(silu, d) << "the Silu must be slow enough to hide the sum";
  EXPECT_NEAR(sync.stepSeconds, compute + d, 1e-12);
  EXPECT_NEAR(async.stepSeconds, compute, 1e-12);
  for (int r = 0; r < 2; ++r) {
    SCOPED_TRACE(r);
    const RankTime &st = sync.functions[0].ranks[size_t(r)];
    const RankTime &at = async.functions[0].ranks[size_t(r)];
    EXPECT_NEAR(st.comm, d, 1e-12);
    EXPECT_EQ(st.hidden, 0);
    EXPECT_NEAR(at.compute, compute, 1e-12);
    EXPECT_NEAR(at.comm, 0, 1e-12);
    EXPECT_NEAR(at.hidden, d, 1e-12);
  }
}

// The same plan with overlap_slowdown k: the Silu beside the started sum
// runs at 1 / (1 + k) of its rate until the sum is done (d), then at full
// rate; without overlap nothing changes.
TEST(PlannerPredict, ComputeBesideAStartedCollectiveIsSlowed) {
  Topology t = unitTopology();
  t.memoryBandwidth = 1e6;
  auto predictFor = [&](bool async, double k) {
    t.overlapSlowdown = k;
    return predictReduceBesideSilu(t, async);
  };
  const double d = allReduce(24, 2, link100());
  const Prediction plain = predictFor(true, 0), slowed = predictFor(true, 0.5);
  const double silu = plain.functions[0].ranks[0].computeByOp.at("Silu");
  ASSERT_GT(silu, 1.5 * d) << "the Silu must outlast the slowed part";
  // d of wall time beside the sum does d / 1.5 of the Silu's work.
  const double extra = d - d / 1.5;
  EXPECT_NEAR(slowed.stepSeconds, plain.stepSeconds + extra, 1e-12);
  EXPECT_NEAR(slowed.functions[0].ranks[0].computeByOp.at("Silu"), silu + extra,
              1e-12);
  // In place (nothing beside it) or with slowdown 0: as before.
  EXPECT_NEAR(predictFor(false, 0.5).stepSeconds,
              predictFor(false, 0).stepSeconds, 1e-15);
}

std::vector<uint8_t> bf16LinearPlan(bool fp8) {
  return plantest::bf16LinearSpec(fp8).build();
}

TEST(PlannerPredict, Fp8LinearAtTheFp8Rate) {
  // 2 * 64 * 32 * 16 = 65536 FLOPs: at 1 GFLOP/s (bf16) 65.536 us; at the
  // topology's 2 GFLOP/s for fp8, half that, plus two launches (the
  // input's quantizer and the GEMM) instead of one.
  Topology t = unitTopology();
  t.peakFlops["bf16"] = 1e9;
  t.launchOverhead = 1e-6;
  PredictOptions o{&t, nullptr, DType::BF16};
  LoadedPlan bf16 = LoadedPlan::fromBytes(bf16LinearPlan(false), "bf16");
  EXPECT_NEAR(predict(bf16, o).stepSeconds, 65.536e-6 + 1e-6, 1e-12);
  LoadedPlan fp8 = LoadedPlan::fromBytes(bf16LinearPlan(true), "fp8");
  // A topology without an fp8 rate says so.
  EXPECT_NE(errorOf([&] { predict(fp8, o); })
                .find("has no peak_TFLOPS for fp8 (the rate of --gemm fp8 "
                      "linears)"),
            std::string::npos);
  t.peakFlops["fp8"] = 2e9;
  Prediction p = predict(fp8, o);
  EXPECT_NEAR(p.stepSeconds, 32.768e-6 + 2e-6, 1e-12);
  // Bytes: x in bf16 (2048), its e4m3 copy written and read with a scale
  // per row (2 * (1024 + 256)), the e4m3 weight (512) and its scales
  // (128), y in bf16 (4096).
  t.peakFlops["fp8"] = 1e30;
  t.memoryBandwidth = 1e6; // 1 byte per microsecond
  t.launchOverhead = 0;
  EXPECT_NEAR(predict(fp8, o).stepSeconds, (2048 + 2560 + 640 + 4096) * 1e-6,
              1e-12);
  // Memory: the plan weight (32 x 16 bf16 = 1024 bytes) plus its e4m3 copy
  // and scales (640), plus the input's scratch (1024 + 256).
  ASSERT_EQ(p.memory.size(), 1u);
  EXPECT_EQ(p.memory[0].weightBytes, 1024u);
  EXPECT_EQ(p.memory[0].fp8Bytes, 640u + 1280u);
  // Only the FP8 linear reads the weight: its bf16 copy is released.
  EXPECT_EQ(p.memory[0].releasedBytes, 1024u);
  EXPECT_EQ(p.memory[0].total(), p.memory[0].arenaBytes + 640u + 1280u);
  EXPECT_EQ(predict(bf16, o).memory[0].fp8Bytes, 0u);
  EXPECT_NE(describe(p, 1, t).find("(FP8 copies)"), std::string::npos);
}

TEST(PlannerPredict, Fp8LinearHasItsOwnCalibrationEntries) {
  Topology t = unitTopology();
  t.peakFlops["bf16"] = t.peakFlops["fp8"] = 1e9;
  LoadedPlan fp8 = LoadedPlan::fromBytes(bf16LinearPlan(true), "fp8");
  Calibration c;
  c.storage = "bf16";
  // A bf16 linear's entry is not an FP8 one's: the roofline times it.
  c.entries.push_back({"Linear", "64x16,32x16->64x32", 65536, 0, 1e-3, 1});
  PredictOptions o{&t, &c, DType::BF16};
  EXPECT_EQ(predict(fp8, o).functions[0].calibrated, 0);
  c.entries.push_back({"LinearFp8", "64x16,32x16->64x32", 65536, 0, 2e-4, 1});
  Prediction p = predict(fp8, o);
  EXPECT_EQ(p.functions[0].calibrated, 1);
  EXPECT_DOUBLE_EQ(p.stepSeconds, 2e-4);
}

TEST(PlannerCalibration, InterpolatesByWork) {
  Calibration c;
  c.entries = {{"Linear", "a", 1e6, 0, 1e-3, 1},
               {"Linear", "b", 3e6, 0, 2e-3, 1},
               {"Add", "c", 0, 1e6, 1e-4, 1}};
  // Between two GEMMs by FLOPs; past the largest at its rate; below the
  // smallest not under half its time.
  EXPECT_NEAR(*c.lookup("Linear", "x", 2e6, 0), 1.5e-3, 1e-15);
  EXPECT_NEAR(*c.lookup("Linear", "x", 6e6, 0), 4e-3, 1e-15);
  EXPECT_NEAR(*c.lookup("Linear", "x", 1e5, 0), 5e-4, 1e-15);
  // Elementwise ops scale by bytes.
  EXPECT_NEAR(*c.lookup("Add", "y", 1e9, 2e6), 2e-4, 1e-15);
  EXPECT_DOUBLE_EQ(*c.lookup("Linear", "b", 0, 0), 2e-3);
  EXPECT_FALSE(c.lookup("Conv2d", "z", 1, 1).has_value());
}

TEST(PlannerFiles, TopologyErrorsNameTheField) {
  EXPECT_NE(errorOf([] {
              parseTopology("{", "t.json");
            }).find("t.json: not valid JSON"),
            std::string::npos);
  std::string noLinks = R"({"name": "x", "nodes": 1, "ranks_per_node": 2,
    "memory_per_rank_GiB": 1, "memory_bandwidth_GBps": 1,
    "peak_TFLOPS": {"f32": 1}})";
  EXPECT_NE(errorOf([&] {
              parseTopology(noLinks, "t.json");
            }).find("missing field 'links'"),
            std::string::npos);
  std::string badPeak = R"({"name": "x", "nodes": 1, "ranks_per_node": 2,
    "memory_per_rank_GiB": 1, "memory_bandwidth_GBps": 1,
    "peak_TFLOPS": {"f32": -1}, "links": {}})";
  EXPECT_NE(errorOf([&] {
              parseTopology(badPeak, "t.json");
            }).find("'f32' must be positive"),
            std::string::npos);
  // Past uint64 bytes it converted to 0 and rejected every layout as not
  // fitting 0 MiB.
  std::string hugeMemory = R"({"name": "x", "nodes": 1, "ranks_per_node": 2,
    "memory_per_rank_GiB": 1e300, "memory_bandwidth_GBps": 1,
    "peak_TFLOPS": {"f32": 1}, "links": {}})";
  EXPECT_NE(errorOf([&] {
              parseTopology(hugeMemory, "t.json");
            }).find("'memory_per_rank_GiB' must be at most 16777216"),
            std::string::npos);
  std::string slowdown = R"({"name": "x", "nodes": 1, "ranks_per_node": 2,
    "memory_per_rank_GiB": 1, "memory_bandwidth_GBps": 1,
    "peak_TFLOPS": {"f32": 1}, "links": {"intra_node": {"kind": "k",
    "bandwidth_GBps": 1, "latency_us": 1}}, "overlap_slowdown": )";
  EXPECT_NE(errorOf([&] {
              parseTopology(slowdown + "-0.1}", "t.json");
            }).find("overlap_slowdown"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              parseTopology(slowdown + "11}", "t.json");
            }).find("'overlap_slowdown' must be at most 10"),
            std::string::npos);
  EXPECT_DOUBLE_EQ(parseTopology(slowdown + "0.2}", "t.json").overlapSlowdown,
                   0.2);
  EXPECT_NE(errorOf([] { loadTopology("no-such-preset"); }).find("h100-sxm-8"),
            std::string::npos);
  EXPECT_NE(errorOf([] {
              parseCalibration(R"({"device": "d"})", "c.json");
            }).find("c.json: missing field 'backend'"),
            std::string::npos);
}

TEST(PlannerFiles, CalibrationEntriesBounded) {
  auto table = [](const std::string &entry) {
    return R"({"device": "d", "backend": "cpu", "storage": "f32",
      "entries": [{"op": "Linear", "shape": "a", "flops": 1e6, "bytes": 8,
                   "seconds": 1e-3, "calls": 3}, )" +
           entry + "]}";
  };
  // 1e308 s (or a work of 1e-300) predicted inf seconds for every step.
  const std::string ok = R"({"op": "Linear", "shape": "b", "flops": 2e6,
    "bytes": 8, "seconds": 2e-3, "calls": 3})";
  EXPECT_EQ(parseCalibration(table(ok), "c.json").entries.size(), 2u);
  struct Case {
    const char *entry, *error;
  } cases[] = {
      {R"({"op": "Linear", "shape": "b", "flops": 2e6, "bytes": 8,
           "seconds": 1e308, "calls": 1})",
       "c.json, entries[1]: 'seconds' must be at most 86400"},
      {R"({"op": "Linear", "shape": "b", "flops": 1e-300, "bytes": 8,
           "seconds": 1, "calls": 1})",
       "c.json, entries[1]: 'flops' must be 0 or in [1, 1e21]"},
      {R"({"op": "Add", "shape": "b", "flops": 0, "bytes": 1e300,
           "seconds": 1, "calls": 1})",
       "c.json, entries[1]: 'bytes' must be 0 or in [1, 1e21]"},
      {R"({"op": "Add", "shape": "b", "flops": 0, "bytes": 8,
           "seconds": -1, "calls": 1})",
       "'seconds' must be >= 0"},
      // Past the doubles: nlohmann's own clear error.
      {R"({"op": "Add", "shape": "b", "flops": 0, "bytes": 8,
           "seconds": 1e400, "calls": 1})",
       "not valid JSON: [json.exception.out_of_range.406] number overflow"},
  };
  for (const Case &c : cases) {
    std::string msg =
        errorOf([&] { parseCalibration(table(c.entry), "c.json"); });
    EXPECT_NE(msg.find(c.error), std::string::npos) << c.entry << " -> " << msg;
  }
  // The lookup of the accepted table stays finite far past its entries.
  Calibration c = parseCalibration(table(ok), "c.json");
  EXPECT_TRUE(std::isfinite(*c.lookup("Linear", "z", 1e21, 0)));
}

TEST(PlannerFiles, PresetsLoad) {
  for (const std::string &name : topologyPresets()) {
    Topology t = loadTopology(name);
    EXPECT_GT(t.ranks(), 0) << name;
    EXPECT_GT(t.intraNode.bandwidth, 0) << name;
  }
  Topology ib = loadTopology("h100-sxm-2x8-ib");
  EXPECT_EQ(ib.ranks(), 16);
  // Within a node NVLink; across nodes the InfiniBand link.
  EXPECT_EQ(ib.link({0, 7}).kind, "nvlink4-nvswitch");
  EXPECT_EQ(ib.link({7, 8}).kind, "infiniband-ndr");
  // The shipped table parses.
  Calibration c =
      loadCalibration(shareDir() + "/calibrations/cpu-dit-small.json");
  EXPECT_FALSE(c.entries.empty());
}

TEST(PlannerLayouts, DegreeProducts) {
  std::vector<std::string> four = degreeProducts(4);
  // cfg at most 2; every other axis any divisor.
  EXPECT_NE(std::find(four.begin(), four.end(), "cfg=2,tp=2"), four.end());
  EXPECT_NE(std::find(four.begin(), four.end(), "pipeline=4"), four.end());
  EXPECT_EQ(std::find(four.begin(), four.end(), "cfg=4"), four.end());
  // 4 = 1*4 over 4 axes, 2*2 over pairs of 5 axes minus cfg=4:
  // 4 + C(5,2) = 14 ordered placements of the factors.
  EXPECT_EQ(four.size(), 14u);
  EXPECT_EQ(degreeProducts(1), std::vector<std::string>{""});
  // tp last: its groups are neighbouring ranks, on one node.
  std::vector<std::string> eight = degreeProducts(8);
  EXPECT_NE(std::find(eight.begin(), eight.end(), "pipeline=2,tp=4"),
            eight.end());
  EXPECT_EQ(std::find(eight.begin(), eight.end(), "tp=4,pipeline=2"),
            eight.end());
}

TEST(PlannerLayouts, ApproximateLayouts) {
  std::vector<Layout> four = approximateLayouts(4);
  std::vector<std::string> labels;
  for (const Layout &l : four) {
    EXPECT_EQ(l.ranks, 4);
    EXPECT_TRUE(l.approximate()) << l.label();
    labels.push_back(l.label());
  }
  auto has = [&](const std::string &s) {
    return std::find(labels.begin(), labels.end(), s) != labels.end();
  };
  // patch=P with cfg, pipeline and tp, in the grid order; never with the
  // exact sequence axes.
  EXPECT_TRUE(has("patch=4"));
  EXPECT_TRUE(has("cfg=2,patch=2"));
  EXPECT_TRUE(has("pipeline=2,patch=2"));
  EXPECT_TRUE(has("patch=2,tp=2"));
  // pipefusion=S with S and 2S patches; never with patch or pipeline.
  EXPECT_TRUE(has("pipefusion=4"));
  EXPECT_TRUE(has("pipefusion=4 --pipefusion-patches 8"));
  EXPECT_TRUE(has("cfg=2,pipefusion=2 --pipefusion-patches 4"));
  EXPECT_TRUE(has("pipefusion=2,tp=2"));
  for (const std::string &l : labels) {
    EXPECT_EQ(l.find("ulysses"), std::string::npos) << l;
    EXPECT_EQ(l.find("ring"), std::string::npos) << l;
    EXPECT_FALSE(l.find("pipefusion") != std::string::npos &&
                 (l.find("patch=") != std::string::npos ||
                  l.find("pipeline=") != std::string::npos))
        << l;
  }
  // patch: 4, cfg x 2, pipeline x 2, x tp 2 (4); pipefusion: 4, 2 x tp 2,
  // cfg x 2, each with S and 2S patches (6).
  EXPECT_EQ(four.size(), 10u);
  EXPECT_TRUE(approximateLayouts(1).empty());
  // At most 64 patches.
  for (const Layout &l : approximateLayouts(64))
    EXPECT_LE(l.patches, 64) << l.label();
  Layout exact{4, 1, "cfg=2,tp=2", "", 0};
  EXPECT_FALSE(exact.approximate());
}

} // namespace
