//===- SessionTest.cpp - Embedding the runtime Session --------------------===//
//
// A program other than fresco-run builds on runtime/session as fresco-run
// does: a tiny plan (y = x + w[1], w a [3, 4] checkpoint tensor of which the
// plan reads row 1) built here, weights written here in diffusers' layout,
// then open, load, run.
//
//===----------------------------------------------------------------------===//
#include "runtime/session/Session.h"
#include "runtime/core/Error.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/io/Safetensors.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <fstream>

using namespace fresco;
namespace fp = fresco::plan;

namespace {

/// f(x: f32[2, 4]) -> y = x + w[1:2, :] (broadcast), w: [3, 4] in "model".
std::vector<uint8_t> tinyPlan() {
  flatbuffers::FlatBufferBuilder b;
  std::vector<flatbuffers::Offset<fp::Value>> values = {
      fp::CreateValue(b, fp::ValueKind::Arena, fp::DType::F32,
                      b.CreateVector(std::vector<int64_t>{2, 4}), 0, -1),
      fp::CreateValue(b, fp::ValueKind::Weight, fp::DType::F32,
                      b.CreateVector(std::vector<int64_t>{1, 4}), 0, 0),
      fp::CreateValue(b, fp::ValueKind::Arena, fp::DType::F32,
                      b.CreateVector(std::vector<int64_t>{2, 4}), 32, -1)};
  std::vector<flatbuffers::Offset<fp::Instr>> instrs = {fp::CreateInstr(
      b, fp::OpCode::Add, b.CreateVector(std::vector<int32_t>{0, 1}),
      b.CreateVector(std::vector<int32_t>{2}))};
  auto function = fp::CreateFunction(
      b, b.CreateString("f"), b.CreateVector(values), b.CreateVector(instrs),
      b.CreateVector(std::vector<int32_t>{0}), b.CreateVectorOfStrings({"x"}),
      b.CreateVector(std::vector<int32_t>{2}), b.CreateVectorOfStrings({"y"}),
      64, 64);
  auto weight = fp::CreateWeightSlice(
      b, b.CreateString("model"), b.CreateString("w"), fp::DType::F32,
      b.CreateVector(std::vector<int64_t>{3, 4}),
      b.CreateVector(std::vector<int64_t>{1, 0}),
      b.CreateVector(std::vector<int64_t>{1, 4}));
  std::vector<flatbuffers::Offset<fp::Function>> functions = {function};
  std::vector<flatbuffers::Offset<fp::WeightSlice>> weights = {weight};
  auto rank = fp::CreateRankProgram(b, 0, b.CreateVector(functions),
                                    b.CreateVector(weights), 64);
  std::vector<flatbuffers::Offset<fp::RankProgram>> ranks = {rank};
  fp::FinishPlanBuffer(b, fp::CreatePlan(b, kPlanVersion,
                                         b.CreateString("session-test"), 1,
                                         b.CreateVector(ranks)));
  return {b.GetBufferPointer(), b.GetBufferPointer() + b.GetSize()};
}

/// w[i] = i / 2 (exact in bf16), saved as `dtype` in a model folder.
void writeModel(const test::TempDir &dir, DType dtype) {
  std::vector<float> w(12);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = float(i) / 2;
  std::vector<uint8_t> bytes(w.size() * dtypeSize(dtype));
  narrowFloats(w.data(), bytes.data(), w.size(), dtype);
  std::ofstream(dir / "config.json") << "{}";
  writeSafetensors(dir / "diffusion_pytorch_model.safetensors",
                   {{"w", dtype, {3, 4}, bytes.data()}});
}

HostTensor input() {
  HostTensor x;
  x.shape = {2, 4};
  x.data.resize(8 * sizeof(float));
  for (int i = 0; i < 8; ++i)
    x.as<float>()[i] = float(i + 1);
  return x;
}

void expectSum(const HostTensor &y) {
  ASSERT_EQ(y.shape, (std::vector<int64_t>{2, 4}));
  for (int i = 0; i < 8; ++i)
    EXPECT_EQ(y.as<float>()[i], float(i + 1) + float(4 + i % 4) / 2) << i;
}

} // namespace

TEST(Session, EmbedsAPlanAndRunsAFunction) {
  test::TempDir dir;
  writeModel(dir, DType::F32);
  LoadedPlan plan = LoadedPlan::fromBytes(tinyPlan(), "session-test");
  Session session(plan, RankEnv{});
  EXPECT_EQ(session.rank(), 0);
  EXPECT_EQ(session.size(), 1);
  EXPECT_EQ(session.world(), nullptr);
  EXPECT_TRUE(session.runs("f"));
  EXPECT_FALSE(session.runs("g"));
  EXPECT_EQ(session.openBackend().name(), "cpu");
  session.load(dir.path());
  EXPECT_EQ(session.weights().bytesLoaded(), 4 * sizeof(float));
  std::vector<HostTensor> out = session.run("f", {input()});
  ASSERT_EQ(out.size(), 1u);
  expectSum(out[0]);
}

TEST(Session, Bf16CheckpointOnABf16Backend) {
  test::TempDir dir;
  writeModel(dir, DType::BF16);
  LoadedPlan plan = LoadedPlan::fromBytes(tinyPlan(), "session-test");
  SessionOptions options;
  options.backend = "cpu-staged";
  options.precision = GemmPrecision::BF16;
  Session session(plan, RankEnv{}, options);
  session.load(dir.path());
  EXPECT_EQ(session.executor().floatStorage(), DType::BF16);
  expectSum(session.run("f", {input()})[0]);
}

TEST(Session, NamesWhatItCannotDo) {
  LoadedPlan plan = LoadedPlan::fromBytes(tinyPlan(), "session-test");
  SessionOptions options;
  options.backend = "tpu";
  try {
    Session session(plan, RankEnv{}, options);
    FAIL() << "an unknown backend was accepted";
  } catch (const Error &e) {
    EXPECT_STREQ(e.what(),
                 "unknown backend 'tpu' (expected cpu, cuda or cpu-staged)");
  }
  RankEnv two;
  two.worldSize = 2;
  two.launcher = "test";
  try {
    Session session(plan, two);
    FAIL() << "a one-rank plan joined two ranks";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("compiled for 1 rank(s)"),
              std::string::npos)
        << e.what();
  }
  Session session(plan, RankEnv{});
  EXPECT_THROW(session.executor(), Error);
  EXPECT_THROW(session.generate({}), Error);
}
