//===- JsonDepthTest.cpp - Every runtime JSON reader bounds nesting -------===//
//
// A document nested far deeper than any config (issue 15: 50,000 levels)
// is refused by each reader with its file named, never a stack overflow.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/BoundedJson.h"
#include "runtime/core/Error.h"
#include "runtime/io/Checkpoint.h"
#include "runtime/io/Safetensors.h"
#include "runtime/pipeline/Scheduler.h"
#include "runtime/text/ClipTokenizer.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace fresco;
using namespace fresco::test;

namespace {

/// `levels` nested arrays around a 1, inside {"k": ...}.
std::string deep(int levels) {
  return "{\"k\": " + std::string(levels, '[') + "1" +
         std::string(levels, ']') + "}";
}

const std::string kTooDeep = "nesting deeper than 256 levels";

TEST(JsonDepth, BoundIsExact) {
  // The object is level 1: 255 arrays inside it make 256 levels.
  EXPECT_NO_THROW(parseBoundedJson(deep(kMaxJsonDepth - 1)));
  try {
    parseBoundedJson(deep(kMaxJsonDepth));
    FAIL() << "257 levels parsed";
  } catch (const nlohmann::json::exception &e) {
    EXPECT_NE(std::string(e.what()).find(kTooDeep), std::string::npos);
  }
}

TEST(JsonDepth, SafetensorsHeader) {
  TempDir dir;
  std::string header = deep(50000);
  std::vector<uint8_t> bytes(8);
  uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  bytes.insert(bytes.end(), header.begin(), header.end());
  writeBytes(dir / "m.safetensors", bytes);
  expectError([&] { SafetensorsFile f(dir / "m.safetensors"); },
              {"m.safetensors", kTooDeep});
}

TEST(JsonDepth, CheckpointConfigAndIndex) {
  TempDir dir;
  writeText(dir / "config.json", deep(50000));
  expectError([&] { Checkpoint c(dir.path()); }, {"config.json", kTooDeep});
  writeText(dir / "config.json", "{}");
  writeText(dir / "model.safetensors.index.json", deep(50000));
  expectError([&] { Checkpoint c(dir.path()); },
              {"model.safetensors.index.json", kTooDeep});
}

TEST(JsonDepth, SchedulerConfig) {
  expectError([&] { createScheduler("DDIMScheduler", deep(50000)); },
              {"DDIMScheduler", kTooDeep});
}

TEST(JsonDepth, TokenizerFiles) {
  TempDir dir;
  writeText(dir / "vocab.json", deep(50000));
  writeText(dir / "merges.txt", "#version: 0.2\n");
  writeText(dir / "tokenizer_config.json", "{}");
  expectError([&] { ClipTokenizer::load(dir.path()); },
              {"vocab.json", kTooDeep});
}

} // namespace

// Python writes float('inf') as -Infinity (diffusers' DPM-Solver configs
// hold "lambda_min_clipped": -Infinity): read as the largest finite
// doubles, outside strings only.
TEST(PythonJson, InfinityAndNaNLiterals) {
  EXPECT_EQ(standardJson(R"({"a": -Infinity, "b": [Infinity, NaN], )"
                         R"("c": "-Infinity NaN", "d": 1})"),
            R"({"a": -1.7976931348623157e308, "b": [1.7976931348623157e308, )"
            R"(null], "c": "-Infinity NaN", "d": 1})");
  EXPECT_EQ(standardJson(R"({"s": "a\"Infinity", "x": Infinityx})"),
            R"({"s": "a\"Infinity", "x": Infinityx})");
  nlohmann::json j = parseBoundedJson(std::string(R"({"v": -Infinity})"));
  EXPECT_EQ(j["v"].get<double>(), -1.7976931348623157e308);
}

TEST(PythonJson, SchedulerConfigWithInfinity) {
  // diffusers' own default for lambda_min_clipped is -inf: the same
  // schedule as without the key.
  std::unique_ptr<Scheduler> a = createScheduler(
      "DPMSolverMultistepScheduler", R"({"lambda_min_clipped": -Infinity})");
  std::unique_ptr<Scheduler> b =
      createScheduler("DPMSolverMultistepScheduler", "{}");
  a->setTimesteps(20);
  b->setTimesteps(20);
  EXPECT_EQ(a->timesteps(), b->timesteps());
  EXPECT_EQ(a->sigmas(), b->sigmas());
}
