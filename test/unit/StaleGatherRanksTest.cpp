//===- StaleGatherRanksTest.cpp - Fresh and stale runs, over Gloo ---------===//
//
// StaleGather (patch=P, DistriFusion) run through the executor on 2 and 3
// forked ranks joined over Gloo, along dimension 0 and inner dimensions:
//  - runs fresh, stale, stale, fresh, stale with inputs that change per run
//    and per rank: every block of each result is checked exactly (fresh:
//    every member's block of this run; stale: this member's of this run,
//    the others' of their previous run);
//  - on every memory path: cpu (Gloo on host memory), cpu-staged f32 and
//    bf16 (device memory staged through the host), cpu-staged with
//    gloo-direct (the NCCL path: the exchange started at the instruction
//    and completed after the function's last one, where the wrapper defers
//    it; recorded and replayed in stale runs only), and a plan compiled
//    for bf16 storage;
//  - an instruction after the StaleGathers writes over their operand's
//    bytes (as the arena reuses them): the other members must not see it;
//  - a stale first run is refused, naming the function.
// Then the sampling loop: a 2-rank DiT-like pipeline plan whose denoiser is
// a StaleGather of its latents, so that rank 1's prediction is rank 0's
// latents of this step (fresh) or of the previous one (stale): its final
// latents must equal the same scheduler run here with step i fresh exactly
// when i < fresh_steps. Last, fresco-inspect (the state bytes, the
// messages, the fresh steps) and fresco-run (--fresh-steps, --stats) on
// that plan.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/gloo/GlooDirect.h"
#include "runtime/pipeline/Generate.h"
#include "runtime/pipeline/Scheduler.h"
#include "test/unit/CommTestUtil.h"
#include "test/unit/PlanTestUtil.h"
#include "test/unit/RankPaths.h"

using namespace fresco;
using namespace fresco::commtest;
using namespace fresco::plantest;
using namespace fresco::ranktest;

namespace {

// Each member's block x [kA, kN, kB].
constexpr int64_t kA = 2, kN = 2, kB = 3, kBlock = kA * kN * kB;

struct Case {
  int P;
  int64_t dim;
};

/// y = StaleGather(x), yv = StaleGather(v), then u + u written over x's
/// bytes. Values: 0 x, 1 v, 2 u, 3 y, 4 yv, 5 the sum (x's offset).
PlanSpec stalePlan(const Case &c, bool bf16Plan) {
  const fp::DType t = bf16Plan ? fp::DType::BF16 : fp::DType::F32;
  const uint64_t blk = uint64_t(kBlock) * (bf16Plan ? 2 : 4);
  const std::vector<int64_t> x = {kA, kN, kB};
  std::vector<int64_t> y = x;
  y[size_t(c.dim)] *= c.P;
  const auto P = uint64_t(c.P);
  PlanSpec s;
  s.numRanks = c.P;
  s.programPerRank = true;
  s.floatStorage = t;
  s.values = {{fp::ValueKind::Arena, t, x, 0},
              {fp::ValueKind::Arena, t, x, blk},
              {fp::ValueKind::Arena, t, x, 2 * blk},
              {fp::ValueKind::Arena, t, y, 3 * blk},
              {fp::ValueKind::Arena, t, y, (3 + P) * blk},
              {fp::ValueKind::Arena, t, x, 0}};
  s.arena = (3 + 2 * P) * blk;
  InstrSpec g{fp::OpCode::StaleGather, {0}, {3}};
  g.members = world(c.P);
  g.dim = c.dim;
  InstrSpec gv = g;
  gv.operands = {1};
  gv.results = {4};
  s.instrs = {g, gv, {fp::OpCode::Add, {2, 2}, {5}}};
  s.inputs = {0, 1, 2};
  s.inputNames = {"x", "v", "u"};
  s.outputs = {3, 4};
  s.outputNames = {"y", "yv"};
  return s;
}

/// Member r's x in run k, element e: integers up to 195, exact in bf16,
/// different for every member, run and element. v is -x; u + u is 200 and
/// up, which no x takes.
float xValue(int r, int k, int64_t e) {
  return float((r * 5 + k) * 13 + e + 1);
}

HostTensor block(float (*value)(int, int, int64_t), int r, int k, float sign) {
  HostTensor t{DType::F32, {kA, kN, kB}, std::vector<uint8_t>(4 * kBlock)};
  for (int64_t e = 0; e < kBlock; ++e)
    t.as<float>()[e] = sign * value(r, k, e);
  return t;
}

float uValue(int, int, int64_t e) { return float(100 + e); }

void staleRank(const Case &c, int rank, Communicator &gloo) {
  // The NCCL path's stand-in, over the same members.
  std::unique_ptr<Communicator> direct =
      createGlooDirect(gloo.subgroup(world(c.P), "stale-direct"));
  const std::vector<RunMode> modes = {RunMode::Fresh, RunMode::Stale,
                                      RunMode::Stale, RunMode::Fresh,
                                      RunMode::Stale};
  // Y as [outer, P, inner]: element j is member p's element e.
  int64_t outer = 1, inner = 1;
  const std::vector<int64_t> x = {kA, kN, kB};
  for (int64_t d = 0; d < c.dim; ++d)
    outer *= x[size_t(d)];
  for (size_t d = size_t(c.dim); d < x.size(); ++d)
    inner *= x[d];
  for (const MemoryPath &path : kMemoryPaths) {
    LoadedPlan p = LoadedPlan::fromBytes(stalePlan(c, path.bf16Plan).build(),
                                         "stale.fplan");
    std::unique_ptr<Backend> be = rankBackend(path.backend);
    WeightStore weights(p.rank(rank), "/nonexistent");
    Communicator &comm = path.direct ? *direct : gloo;
    Executor exec(
        p, rank, *be, weights,
        [&](const std::vector<int> &) -> Communicator & { return comm; });
    RANK_CHECK(exec.holdsStaleGather("f"), "on ", path.name);
    // Two instructions, each P blocks and a staging block.
    const uint64_t es = path.backend == 2 ? 2 : 4;
    RANK_CHECK(exec.staleStateBytes() == 2 * uint64_t(c.P + 1) * kBlock * es,
               "on ", path.name, ": state of ", exec.staleStateBytes(),
               " bytes");
    std::string refused;
    try {
      exec.run("f",
               {block(xValue, rank, 0, 1), block(xValue, rank, 0, -1),
                block(uValue, rank, 0, 1)},
               RunMode::Stale);
    } catch (const Error &e) {
      refused = e.what();
    }
    RANK_CHECK(refused.find("function 'f' has not run yet, so it cannot run "
                            "stale") != std::string::npos,
               "on ", path.name, ": a stale first run gave '", refused, "'");
    int stale = 0;
    for (int k = 0; k < int(modes.size()); ++k) {
      const RunMode mode = modes[size_t(k)];
      std::vector<HostTensor> out =
          exec.run("f",
                   {block(xValue, rank, k, 1), block(xValue, rank, k, -1),
                    block(uValue, rank, k, 1)},
                   mode);
      RANK_CHECK(out.size() == 2u && out[0].numel() == kBlock * c.P &&
                     out[1].numel() == kBlock * c.P,
                 "on ", path.name);
      for (int64_t j = 0; j < kBlock * c.P; ++j) {
        const int64_t o = j / (c.P * inner), m = j / inner % c.P,
                      e = o * inner + j % inner;
        const int from = mode == RunMode::Fresh || m == rank ? k : k - 1;
        const float want = xValue(int(m), from, e);
        const float got = out[0].as<float>()[j], gotV = out[1].as<float>()[j];
        RANK_CHECK(got == want && gotV == -want, "on ", path.name, ": rank ",
                   rank, " run ", k, " (", runModeName(mode), "), element ", j,
                   " (member ", m, "'s ", e, "): got ", got, " and ", gotV,
                   ", want ", want, " and ", -want);
      }
      stale += mode == RunMode::Stale;
      // Recorded in the second stale run, replayed in the stale ones after.
      const bool replay = path.direct && path.backend != 0 &&
                          mode == RunMode::Stale && stale >= 2;
      RANK_CHECK(exec.replayed("f") == replay, "on ", path.name, ": run ", k,
                 (replay ? " was not replayed" : " was replayed"));
    }
  }
}

void PrintTo(const Case &c, std::ostream *os) {
  *os << "P=" << c.P << " dim=" << c.dim;
}

class StaleGatherRanks : public ::testing::TestWithParam<Case> {};

TEST_P(StaleGatherRanks, StaleBlocksAreThePreviousRuns) {
  const Case c = GetParam();
  expectAllSucceed(runRanks(c.P, [&](int rank, const RankEnv &env) {
    std::unique_ptr<Communicator> comm = join(env);
    staleRank(c, rank, *comm);
    comm->barrier();
  }));
}

INSTANTIATE_TEST_SUITE_P(Gloo, StaleGatherRanks,
                         ::testing::Values(Case{2, 0}, Case{2, 1}, Case{2, 2},
                                           Case{3, 0}, Case{3, 1}, Case{3, 2}),
                         [](const auto &info) {
                           return "P" + std::to_string(info.param.P) + "_dim" +
                                  std::to_string(info.param.dim);
                         });

//===----------------------------------------------------------------------===//
// The sampling loop.
//===----------------------------------------------------------------------===//

namespace R = fresco::plan;
constexpr int64_t kC = 4, kH = 2, kW = 2, kM = kC * kH * kW; // one image

/// A DiT-like pipeline (1 image, class CFG, learned sigma: the prediction
/// has 2C channels) on ranks 0 and 1, each holding both functions:
/// "transformer" is the StaleGather of its latents along the channels over
/// {0, 1} (so rank r's prediction is [member 0's latents | member 1's]),
/// "vae" a copy of its latents.
std::vector<uint8_t> pipelinePlan(int32_t freshSteps) {
  flatbuffers::FlatBufferBuilder b;
  auto value = [&](R::DType t, std::vector<int64_t> shape, uint64_t at) {
    return R::CreateValue(b, R::ValueKind::Arena, t, b.CreateVector(shape), at);
  };
  std::vector<flatbuffers::Offset<R::RankProgram>> ranks;
  for (int32_t r = 0; r < 2; ++r) {
    std::vector<int32_t> members = {0, 1};
    auto gather = R::CreateInstr(
        b, R::OpCode::StaleGather, b.CreateVector<int32_t>({0}),
        b.CreateVector<int32_t>({3}), R::OpAttrs::CollectiveAttrs,
        R::CreateCollectiveAttrs(b, b.CreateVector(members), 1).Union());
    std::vector<flatbuffers::Offset<R::Value>> denValues = {
        value(R::DType::F32, {2, kC, kH, kW}, 0),
        value(R::DType::F32, {2}, 128), value(R::DType::I64, {2}, 144),
        value(R::DType::F32, {2, 2 * kC, kH, kW}, 256)};
    auto denoiser = R::CreateFunction(
        b, b.CreateString("transformer"), b.CreateVector(denValues),
        b.CreateVector(std::vector<flatbuffers::Offset<R::Instr>>{gather}),
        b.CreateVector<int32_t>({0, 1, 2}),
        b.CreateVectorOfStrings({"latents", "timestep", "class_labels"}),
        b.CreateVector<int32_t>({3}), b.CreateVectorOfStrings({"sample"}), 512,
        512);
    auto copy = R::CreateInstr(b, R::OpCode::Copy, b.CreateVector<int32_t>({0}),
                               b.CreateVector<int32_t>({1}));
    std::vector<flatbuffers::Offset<R::Value>> vaeValues = {
        value(R::DType::F32, {1, kC, kH, kW}, 0),
        value(R::DType::F32, {1, kC, kH, kW}, 64)};
    auto vae = R::CreateFunction(
        b, b.CreateString("vae"), b.CreateVector(vaeValues),
        b.CreateVector(std::vector<flatbuffers::Offset<R::Instr>>{copy}),
        b.CreateVector<int32_t>({0}), b.CreateVectorOfStrings({"z"}),
        b.CreateVector<int32_t>({1}), b.CreateVectorOfStrings({"image"}), 512,
        512);
    std::vector<flatbuffers::Offset<R::WeightSlice>> noWeights;
    ranks.push_back(R::CreateRankProgram(
        b, r,
        b.CreateVector(
            std::vector<flatbuffers::Offset<R::Function>>{denoiser, vae}),
        b.CreateVector(noWeights), 512));
  }
  std::vector<int32_t> both = {0, 1};
  std::vector<flatbuffers::Offset<R::Component>> comps = {
      R::CreateComponent(b, R::ComponentRole::Denoiser,
                         b.CreateString("transformer"), b.CreateVector(both),
                         b.CreateVector(std::vector<R::TensorRole>{
                             R::TensorRole::Latents, R::TensorRole::Timestep,
                             R::TensorRole::ClassLabels}),
                         b.CreateVector(std::vector<R::TensorRole>{
                             R::TensorRole::Prediction})),
      R::CreateComponent(
          b, R::ComponentRole::Decoder, b.CreateString("vae"),
          b.CreateVector(both),
          b.CreateVector(std::vector<R::TensorRole>{R::TensorRole::Latents}),
          b.CreateVector(std::vector<R::TensorRole>{R::TensorRole::Image}))};
  auto compsV = b.CreateVector(comps);
  auto cond = R::CreateConditioning(b, R::ConditioningKind::ClassLabel, 10, 10);
  auto lat = R::CreateLatents(b, R::LatentLayout::Image, kC, kH, kW, 1, 2 * kC,
                              0.5, 0);
  auto sampler = R::CreateSampler(
      b, b.CreateString("DDIMScheduler"), b.CreateString("{}"),
      R::GuidanceMode::ClassCfg, 1, R::TimestepSchedule::Scheduler, false);
  auto pipeline = R::CreatePipeline(b, b.CreateString("DiTPipeline"), 1, compsV,
                                    cond, lat, sampler, freshSteps);
  auto rv = b.CreateVector(ranks);
  R::FinishPlanBuffer(b, R::CreatePlan(b, kPlanVersion, b.CreateString("test"),
                                       2, rv, pipeline));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

std::string pipelineLoadError(int32_t freshSteps) {
  try {
    LoadedPlan::fromBytes(pipelinePlan(freshSteps), "test.fplan");
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

TEST(StaleGatherPipeline, NeedsAFreshFirstStep) {
  EXPECT_EQ(pipelineLoadError(1), "");
  const std::string zero = pipelineLoadError(0);
  EXPECT_NE(zero.find("invalid plan test.fplan: pipeline: fresh_steps is 0, "
                      "but function 'transformer' on rank 0 holds a "
                      "StaleGather (patch=P)"),
            std::string::npos)
      << zero;
  const std::string negative = pipelineLoadError(-3);
  EXPECT_NE(negative.find("invalid plan test.fplan: pipeline: fresh_steps -3 "
                          "is negative"),
            std::string::npos)
      << negative;
}

/// The initial latents: any values, the same on both ranks.
std::vector<float> initialLatents() {
  std::vector<float> v(kM);
  for (int64_t i = 0; i < kM; ++i)
    v[size_t(i)] = 0.25f * float((i * 7) % 11) - 1.0f;
  return v;
}

/// What rank `rank` ends with after `steps` DDIM steps when step i runs
/// fresh exactly when i < fresh: its prediction (the first C channels) is
/// rank 0's latents, of this step or, stale, of the previous one. Rank 0
/// reads its own, so it does not depend on the modes.
std::vector<float> expectedLatents(int rank, int steps, int fresh) {
  std::unique_ptr<Scheduler> s0 = createScheduler("DDIMScheduler", "{}"),
                             s1 = createScheduler("DDIMScheduler", "{}");
  s0->setTimesteps(steps);
  s1->setTimesteps(steps);
  std::vector<float> l0 = initialLatents(), l1 = l0, previous;
  for (int i = 0; i < steps; ++i) {
    std::vector<float> x0 = l0;
    s0->scaleModelInput(x0.data(), kM, i);
    const std::vector<float> &eps1 = i < fresh ? x0 : previous;
    s1->step(eps1.data(), l1.data(), kM, i);
    s0->step(x0.data(), l0.data(), kM, i);
    previous = x0;
  }
  return rank == 0 ? l0 : l1;
}

void generateRank(int rank, Communicator &comm) {
  constexpr int kSteps = 4, kPlanFresh = 2;
  LoadedPlan p = LoadedPlan::fromBytes(pipelinePlan(kPlanFresh), "test.fplan");
  const PipelineSpec spec = PipelineSpec::fromPlan(p.plan(), "test.fplan");
  RANK_CHECK(spec.freshSteps == kPlanFresh);
  std::unique_ptr<Backend> be = createCpuBackend();
  WeightStore weights(p.rank(rank), "/nonexistent");
  Executor exec(
      p, rank, *be, weights,
      [&](const std::vector<int> &) -> Communicator & { return comm; });
  const std::vector<float> init = initialLatents();
  HostTensor latents{
      DType::F32, {1, kC, kH, kW}, std::vector<uint8_t>(4 * size_t(kM))};
  std::memcpy(latents.data.data(), init.data(), latents.data.size());
  // -1: the plan's; more than the steps: every step fresh.
  for (int fresh : {-1, 1, 3, kSteps + 2}) {
    GenerateOptions o;
    o.classLabels = {3};
    o.steps = kSteps;
    o.initialLatents = &latents;
    o.freshSteps = fresh;
    GenerateResult r = generate(spec, exec, o, rankRoles(spec, rank, &comm));
    const int used = fresh < 0 ? kPlanFresh : fresh;
    RANK_CHECK(r.freshSteps == std::min(used, kSteps), "--fresh-steps ", fresh,
               ": ", r.freshSteps, " fresh steps reported");
    const std::vector<float> want = expectedLatents(rank, kSteps, used);
    RANK_CHECK(r.latents.numel() == kM);
    for (int64_t i = 0; i < kM; ++i)
      RANK_CHECK(r.latents.as<float>()[i] == want[size_t(i)], "rank ", rank,
                 ", --fresh-steps ", fresh, ": latent ", i, " is ",
                 r.latents.as<float>()[i], ", want ", want[size_t(i)]);
  }
  // Stale steps from the second on must change rank 1's result, or the
  // comparison above shows nothing.
  if (rank == 1) {
    const std::vector<float> a = expectedLatents(1, kSteps, 1),
                             b = expectedLatents(1, kSteps, kSteps);
    RANK_CHECK(a != b, "fresh and stale runs give the same latents");
  }
  GenerateOptions bad;
  bad.classLabels = {3};
  bad.steps = kSteps;
  bad.freshSteps = 0;
  std::string refused;
  try {
    generate(spec, exec, bad, rankRoles(spec, rank, &comm));
  } catch (const Error &e) {
    refused = e.what();
  }
  RANK_CHECK(refused.find("--fresh-steps must be at least 1, got 0") !=
                 std::string::npos,
             "got '", refused, "'");
}

TEST(StaleGatherPipeline, StepsBeforeFreshStepsRunFresh) {
  expectAllSucceed(runRanks(2, [&](int rank, const RankEnv &env) {
    std::unique_ptr<Communicator> comm = join(env);
    generateRank(rank, *comm);
    comm->barrier();
  }));
}

//===----------------------------------------------------------------------===//
// The tools on the pipeline plan: fresco-inspect's state bytes and
// messages, fresco-run --fresh-steps and --stats.
//===----------------------------------------------------------------------===//

struct Ran {
  int code;
  std::string out; // stdout and stderr
};

Ran runTool(const std::string &command, const TempDir &dir) {
  const std::string log = dir.path + "/log";
  const int status = std::system((command + " > " + log + " 2>&1").c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, readFile(log)};
}

#define EXPECT_HAS(text, part)                                                 \
  EXPECT_NE((text).find(part), std::string::npos) << (text)

TEST(StaleGatherTools, InspectAndRunShowTheStaleGathers) {
  TempDir dir;
  const std::string plan = dir.path + "/patch.fplan", w = dir.path + "/w";
  const std::vector<uint8_t> bytes = pipelinePlan(2);
  std::ofstream(plan, std::ios::binary)
      .write(reinterpret_cast<const char *>(bytes.data()),
             std::streamsize(bytes.size()));
  std::filesystem::create_directory(w);
  const std::string inspect = std::string(FRESCO_INSPECT_BIN) + " " + plan,
                    run = std::string(FRESCO_RUN_BIN) + " " + plan +
                          " --weights " + w +
                          " --class-label 3 --steps 3 --quiet --stats "
                          "--output-latents @" +
                          dir.path + "/z.npy";
  // Each rank keeps 3 blocks of the [2, 4, 2, 2] f32 latents (its own
  // staging copy and both members'), and gathers 2 of them every step.
  Ran r = runTool(inspect, dir);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_HAS(r.out, "; the first 2 steps fresh, then stale\n");
  EXPECT_HAS(r.out, "rank 1: weights 0 bytes (0.00 MiB), arena 512 bytes, "
                    "stale key/value state 384 bytes (0.00 MiB)\n");
  EXPECT_HAS(r.out, "communication per step: stale_gather 1 calls, 256 bytes");
  r = runTool(inspect + " --dtype bf16 --json", dir);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_HAS(r.out, "\"comm_bytes_per_step\": {\"stale_gather\": 128}, "
                    "\"comm_calls_per_step\": {\"stale_gather\": 1}, "
                    "\"stale_state_bytes\": 192}");
  EXPECT_HAS(r.out, "\"fresh_steps\": 2");
  // The plan's 2 fresh steps, or --fresh-steps.
  r = runTool(run, dir);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_HAS(r.out, "3 steps (2 fresh, 1 stale) of DDIMScheduler");
  EXPECT_HAS(r.out, "arena 512 bytes, stale key/value state 384 bytes");
  r = runTool(run + " --fresh-steps 1", dir);
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_HAS(r.out, "3 steps (1 fresh, 2 stale) of DDIMScheduler");
  r = runTool(run + " --fresh-steps 0", dir);
  EXPECT_EQ(r.code, 2) << r.out;
  EXPECT_HAS(r.out, "fresco-run: --fresh-steps must be in 1..10000, got 0");
  // A plan without StaleGathers (the fuzz corpus' DiT pipeline).
  r = runTool(std::string(FRESCO_RUN_BIN) + " " + FRESCO_SOURCE_DIR +
                  "/test/fuzz/corpus/plan/pipe-dit-tiny.fplan --weights " + w +
                  " --class-label 3 --fresh-steps 2 -o " + dir.path + "/x.png",
              dir);
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_HAS(r.out, "pipe-dit-tiny.fplan has no patch axis (no StaleGather "
                    "instruction) and no warm-up function: it applies to "
                    "plans compiled with fresco-compile --parallel patch=P "
                    "or pipefusion=S");
}

} // namespace
