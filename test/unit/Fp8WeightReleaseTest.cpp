//===- Fp8WeightReleaseTest.cpp - FP8 linears' originals at load ----------===//
//
// A weight that only FP8 linears read is quantized at bind and its copy in
// the float storage released; one that another instruction also reads
// stays. Both give the same FP8 result (cpu-staged, bf16: the executor's
// device-memory path).
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Executor.h"
#include "runtime/io/Safetensors.h"
#include "test/unit/PlanTestUtil.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>

namespace fresco {
namespace {

TEST(Fp8Weights, OriginalsOnlyFp8LinearsReadAreReleased) {
  test::TempDir dir;
  std::ofstream(dir / "config.json") << "{}";
  std::vector<float> w(32 * 16);
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = float(int(i * 37 % 101) - 50) / 64;
  std::vector<uint8_t> wb(w.size() * 2);
  narrowFloats(w.data(), wb.data(), w.size(), DType::BF16);
  writeSafetensors(dir / "diffusion_pytorch_model.safetensors",
                   {{"w", DType::BF16, {32, 16}, wb.data()}});
  HostTensor x{DType::F32, {64, 16}, {}};
  x.data.resize(64 * 16 * 4);
  for (int i = 0; i < 64 * 16; ++i)
    x.as<float>()[i] = float((i * 13) % 29 - 14) / 8;

  std::vector<float> ys[2];
  for (bool shared : {false, true}) {
    SCOPED_TRACE(shared ? "shared" : "fp8 only");
    std::vector<uint8_t> bytes = plantest::bf16LinearSpec(true, shared).build();
    LoadedPlan p = LoadedPlan::fromBytes(bytes, "fp8");
    WeightStore weights(p.rank(0), dir.path());
    auto backend = createStagedCpuBackend(GemmPrecision::BF16);
    Executor exec(p, 0, *backend, weights);
    // 32 x 16 bf16 = 1024 bytes (a multiple of the 256-byte alignment).
    EXPECT_EQ(exec.releasedFp8Bytes(), shared ? 0u : 1024u);
    std::vector<HostTensor> out = exec.run("f", {x});
    ASSERT_EQ(out.size(), shared ? 2u : 1u);
    ASSERT_EQ(out[0].numel(), 64 * 32);
    ys[shared].assign(out[0].as<float>(), out[0].as<float>() + 64 * 32);
    // Twice: the bound steps do not read the released original (freed
    // host memory still holds its bytes: the ASan build is what catches a
    // read of it).
    out = exec.run("f", {x});
    EXPECT_EQ(
        std::vector<float>(out[0].as<float>(), out[0].as<float>() + 64 * 32),
        ys[shared]);
  }
  EXPECT_EQ(ys[0], ys[1]);
  // Not all zero: the GEMM ran on the weight's codes.
  EXPECT_NE(std::count(ys[0].begin(), ys[0].end(), 0.0f), 64 * 32);
}

} // namespace
} // namespace fresco
