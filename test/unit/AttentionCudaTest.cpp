//===- AttentionCudaTest.cpp - cuDNN attention and attention timings ------===//
//
// bf16/f16 attention on cuDNN against the reference and Fresco's own
// kernel, in ring blocks and in CUDA graphs, and the disabled speed case
// bench/gpu-check.sh runs by name. CUDA only: skipped, saying why,
// elsewhere.
//
//===----------------------------------------------------------------------===//
#include "test/unit/AttentionConformance.h"

namespace fresco {
namespace {

using namespace ref;
using conformance::Buffer;
using conformance::Conformance;
using conformance::cudaSkipReason;
using conformance::expectClose;
using conformance::expectEachClose;
using conformance::kF32;
using namespace attentiontest;

//===----------------------------------------------------------------------===//
// bf16/f16 attention on cuDNN (FRESCO_CUDA_ATTENTION=cudnn: by name, so a
// refusal of a shape in its range fails the case)
//===----------------------------------------------------------------------===//

/// Runs on the CUDA backend only (skipped, saying why, without a GPU or
/// without cuDNN attention in this build).
class CudnnAttentionTest : public Conformance {
protected:
  void SetUp() override {
    Conformance::SetUp();
    if (IsSkipped())
      return;
#ifdef FRESCO_HAVE_CUDA
    std::string why;
    if (!cuda::cudnnAttentionAvailable(&why))
      GTEST_SKIP() << "cuDNN attention unavailable: " << why;
    static bool named = false; // which copy ran, once per process
    if (!named)
      std::printf("cuDNN attention: %s\n",
                  cuda::cudnnAttentionLibrary().c_str());
    named = true;
    const char *env = std::getenv("FRESCO_CUDA_ATTENTION");
    if (env && *env && std::strcmp(env, "cudnn") != 0 &&
        std::strcmp(env, "auto") != 0)
      GTEST_SKIP() << "FRESCO_CUDA_ATTENTION=" << env << " is set";
#endif
  }
};

/// A backend of `precision` with FRESCO_CUDA_ATTENTION=`choice`.
std::unique_ptr<Backend> backendChoosing(const char *choice,
                                         GemmPrecision precision) {
#ifdef FRESCO_HAVE_CUDA
  ScopedEnv env("FRESCO_CUDA_ATTENTION", choice);
  return createCudaBackend(0, precision);
#else
  (void)choice, (void)precision;
  return nullptr;
#endif
}

/// attention() of random q, k, v (as runAttention draws them) on `be`.
Vec attentionOf(Backend &be, const AttentionCase &c, uint32_t seed) {
  const int64_t ld = c.H * c.Dh;
  Buffer dq(be, size_t(c.B * c.Tq * ld)), dk(be, size_t(c.B * c.Tk * ld)),
      dv(be, size_t(c.B * c.Tk * ld)), dout(be, size_t(c.B * c.Tq * ld));
  dq.upload(randomVec(size_t(c.B * c.Tq * ld), seed, c.lo, c.hi));
  dk.upload(randomVec(size_t(c.B * c.Tk * ld), seed + 1, c.lo, c.hi));
  dv.upload(randomVec(size_t(c.B * c.Tk * ld), seed + 2));
  dout.upload(
      Vec(size_t(c.B * c.Tq * ld), std::numeric_limits<float>::quiet_NaN()));
  be.attention(dq.f(), dk.f(), dv.f(), dout.f(), c.B, c.Tq, c.Tk, c.H, c.Dh,
               float(1.0 / std::sqrt(double(c.Dh))));
  return dout.read();
}

// Shapes cuDNN takes (PyTorch ran it on both head widths on the H200):
// Flux's 128-wide heads, DiT's 72 and 64, Tq != Tk, key counts off any
// tile size, B = 2, scores up to 98 (exp overflows f32 without the max).
constexpr AttentionCase kCudnnCases[] = {
    {2, 256, 256, 4, 128}, {2, 100, 70, 2, 72},           {1, 64, 129, 4, 128},
    {2, 70, 150, 3, 64},   {1, 9, 40, 2, 64, 2.5f, 3.5f},
};

// Against the double reference on the rounded inputs, with the bound the
// tensor-core kernel meets: cuDNN's flash attention rounds q, k, v and the
// probabilities to the storage and accumulates in f32 as it does. Every
// shape must have run on cuDNN (a refusal names its reason on stderr).
TEST_P(CudnnAttentionTest, MatchesReference) {
#ifdef FRESCO_HAVE_CUDA
  for (GemmPrecision p : {GemmPrecision::BF16, GemmPrecision::F16}) {
    std::unique_ptr<Backend> lp = backendChoosing("cudnn", p);
    uint32_t seed = 2000;
    for (const AttentionCase &c : kCudnnCases)
      runAttention(*lp, c, seed += 3, p);
    EXPECT_EQ(cudnnAttentionCounts(*lp).onCudnn, int(std::size(kCudnnCases)));
    EXPECT_EQ(cudnnAttentionCounts(*lp).fallenBack, 0);
  }
#endif
}

// cuDNN against Fresco's own tensor-core kernel on the same inputs: each
// is within the bound of the reference, so within twice it of each other.
TEST_P(CudnnAttentionTest, MatchesFrescoKernel) {
#ifdef FRESCO_HAVE_CUDA
  for (GemmPrecision p : {GemmPrecision::BF16, GemmPrecision::F16}) {
    std::unique_ptr<Backend> viaCudnn = backendChoosing("cudnn", p);
    std::unique_ptr<Backend> viaFresco = backendChoosing("fresco", p);
    uint32_t seed = 2100;
    for (const AttentionCase &c : kCudnnCases) {
      SCOPED_TRACE(::testing::Message() << "B=" << c.B << " Tq=" << c.Tq
                                        << " Tk=" << c.Tk << " Dh=" << c.Dh);
      seed += 3;
      const Vec a = attentionOf(*viaCudnn, c, seed);
      const Vec b = attentionOf(*viaFresco, c, seed);
      const Vec v =
          roundedTo(randomVec(size_t(c.B * c.Tk * c.H * c.Dh), seed + 2), p);
      expectWithin(RefVec(b.begin(), b.end()), a,
                   2 * lowPrecisionBound(p, c.Tk, maxAbs(v), maxAbs(b), 1));
    }
    EXPECT_EQ(cudnnAttentionCounts(*viaFresco).onCudnn, 0);
  }
#endif
}

// Ring attention's blocks on cuDNN: its log-sum-exps feed the merges, the
// running output and lse stay f32 (runAttentionBlocks checks o and lse).
TEST_P(CudnnAttentionTest, BlocksMergeThroughItsStats) {
#ifdef FRESCO_HAVE_CUDA
  for (GemmPrecision p : {GemmPrecision::BF16, GemmPrecision::F16}) {
    std::unique_ptr<Backend> lp = backendChoosing("cudnn", p);
    runAttentionBlocks(*lp, {2, 70, 150, 3, 72}, {50, 64, 36}, {2, 0, 1}, 2200,
                       nullptr, p);
    runAttentionBlocks(*lp, {1, 40, 200, 2, 128}, {64, 1, 135}, {1, 2, 0}, 2203,
                       nullptr, p);
    // An empty first block (Fresco's kernel: o = 0, lse = -inf) merged into.
    runAttentionBlocks(*lp, {2, 6, 9, 2, 64}, {0, 4, 5}, {0, 2, 1}, 2206,
                       nullptr, p);
    EXPECT_EQ(cudnnAttentionCounts(*lp).blocksOnCudnn, 3 + 3 + 2);
  }
#endif
}

// Heads cuDNN does not take (odd widths, over 256) stay on Fresco's
// kernels, silently and correctly, even with cuDNN asked for by name.
TEST_P(CudnnAttentionTest, OtherHeadsFallBack) {
#ifdef FRESCO_HAVE_CUDA
  std::unique_ptr<Backend> lp = backendChoosing("cudnn", GemmPrecision::BF16);
  runAttention(*lp, {2, 67, 66, 3, 6}, 2300, GemmPrecision::BF16);
  runAttention(*lp, {1, 20, 70, 2, 260}, 2303, GemmPrecision::BF16);
  EXPECT_EQ(cudnnAttentionCounts(*lp).onCudnn, 0);
  EXPECT_EQ(cudnnAttentionCounts(*lp).fallenBack, 2);
#endif
}

#ifdef FRESCO_HAVE_CUDA
/// Runs `issue` once (building cuDNN's graphs), captures it as a CUDA
/// graph, fills `outs` with NaN, replays and expects each of them bit for
/// bit as the eager call left it. Without a capture, FRESCO_CUDA_SYNC must
/// be why (it turns capture off), and nothing is compared. True when it
/// captured.
bool expectReplaysBitwise(Backend &be, const std::function<void()> &issue,
                          std::vector<Buffer *> outs) {
  issue();
  std::vector<std::vector<uint8_t>> eager;
  for (Buffer *b : outs)
    eager.push_back(b->read<uint8_t>());
  std::unique_ptr<Recording> graph = be.record(issue);
  const char *sync = std::getenv("FRESCO_CUDA_SYNC");
  if (!graph) {
    EXPECT_TRUE(sync && *sync && std::strcmp(sync, "0") != 0)
        << "cuDNN attention could not be captured as a CUDA graph";
    return false;
  }
  for (Buffer *b : outs)
    b->upload(std::vector<uint8_t>(b->read<uint8_t>().size(), 0xff)); // NaN
  graph->replay();
  for (size_t i = 0; i < outs.size(); ++i) {
    SCOPED_TRACE(::testing::Message() << "output " << i);
    EXPECT_TRUE(outs[i]->read<uint8_t>() == eager[i])
        << "the replay differs from the eager call";
  }
  return true;
}
#endif

// After the call that built its graph, cuDNN attention is captured in a
// CUDA graph and replays to the same bits: a key count that is a multiple
// of 128, and 150, which is not (the frontend pads it on some cuDNN
// versions, with sequence lengths copied from the host at each execution:
// a capture must hold those copies too).
TEST_P(CudnnAttentionTest, ReplaysInACudaGraph) {
#ifdef FRESCO_HAVE_CUDA
  std::unique_ptr<Backend> lp = backendChoosing("cudnn", GemmPrecision::BF16);
  int shapes = 0;
  for (const AttentionCase &c :
       {AttentionCase{2, 256, 256, 4, 128}, AttentionCase{2, 70, 150, 3, 64}}) {
    SCOPED_TRACE(::testing::Message() << "Tq=" << c.Tq << " Tk=" << c.Tk);
    const int64_t ld = c.H * c.Dh;
    Buffer dq(*lp, size_t(c.B * c.Tq * ld)), dk(*lp, size_t(c.B * c.Tk * ld)),
        dv(*lp, size_t(c.B * c.Tk * ld)), dout(*lp, size_t(c.B * c.Tq * ld));
    dq.upload(randomVec(size_t(c.B * c.Tq * ld), 2400, c.lo, c.hi));
    dk.upload(randomVec(size_t(c.B * c.Tk * ld), 2401, c.lo, c.hi));
    dv.upload(randomVec(size_t(c.B * c.Tk * ld), 2402));
    expectReplaysBitwise(*lp,
                         [&] {
                           lp->attention(dq.f(), dk.f(), dv.f(), dout.f(), c.B,
                                         c.Tq, c.Tk, c.H, c.Dh,
                                         1.0f / std::sqrt(float(c.Dh)));
                         },
                         {&dout});
    EXPECT_EQ(cudnnAttentionCounts(*lp).onCudnn, ++shapes);
  }
#endif
}

// Ring attention's blocks captured: two blocks on cuDNN with its softmax
// statistics (150 keys, then 100: neither a multiple of 128) merged into
// the f32 running o and lse, replayed to the same bits as the eager calls.
TEST_P(CudnnAttentionTest, BlocksReplayInACudaGraph) {
#ifdef FRESCO_HAVE_CUDA
  std::unique_ptr<Backend> lp = backendChoosing("cudnn", GemmPrecision::BF16);
  const int64_t B = 2, Tq = 70, H = 3, Dh = 64, ld = H * Dh;
  const int64_t blocks[] = {150, 100};
  Buffer dq(*lp, size_t(B * Tq * ld)), dk0(*lp, size_t(B * blocks[0] * ld)),
      dv0(*lp, size_t(B * blocks[0] * ld)),
      dk1(*lp, size_t(B * blocks[1] * ld)),
      dv1(*lp, size_t(B * blocks[1] * ld));
  Buffer dout(*lp, size_t(B * Tq * ld), sizeof(float)),
      dlse(*lp, size_t(B * H * Tq), sizeof(float));
  dq.upload(randomVec(size_t(B * Tq * ld), 2500, -2.0f, 2.0f));
  dk0.upload(randomVec(size_t(B * blocks[0] * ld), 2501, -2.0f, 2.0f));
  dv0.upload(randomVec(size_t(B * blocks[0] * ld), 2502));
  dk1.upload(randomVec(size_t(B * blocks[1] * ld), 2503, -2.0f, 2.0f));
  dv1.upload(randomVec(size_t(B * blocks[1] * ld), 2504));
  const float scale = 1.0f / std::sqrt(float(Dh));
  const bool captured = expectReplaysBitwise(
      *lp,
      [&] {
        lp->attentionBlock(dq.f(), dk0.f(), dv0.f(), dout.f(), dlse.f(), B, Tq,
                           blocks[0], H, Dh, scale, /*first=*/true);
        lp->attentionBlock(dq.f(), dk1.f(), dv1.f(), dout.f(), dlse.f(), B, Tq,
                           blocks[1], H, Dh, scale, /*first=*/false);
      },
      {&dout, &dlse});
  // The eager calls and the capture's: all on cuDNN.
  EXPECT_EQ(cudnnAttentionCounts(*lp).blocksOnCudnn, captured ? 4 : 2);
  EXPECT_EQ(cudnnAttentionCounts(*lp).fallenBack, 0);
#endif
}

// FRESCO_CUDA_ATTENTION=cudnn asks for cuDNN by name: a head width cuDNN
// takes must run there or fail (here it does run), while widths outside
// its range (6) still take Fresco's kernel, with no error.
TEST_P(CudnnAttentionTest, ExplicitChoiceRunsOnCudnnOrFails) {
#ifdef FRESCO_HAVE_CUDA
  std::unique_ptr<Backend> lp = backendChoosing("cudnn", GemmPrecision::BF16);
  EXPECT_NO_THROW(
      runAttention(*lp, {2, 70, 150, 3, 64}, 2600, GemmPrecision::BF16));
  EXPECT_NO_THROW(
      runAttention(*lp, {2, 67, 66, 3, 6}, 2603, GemmPrecision::BF16));
  EXPECT_EQ(cudnnAttentionCounts(*lp).onCudnn, 1);
  EXPECT_EQ(cudnnAttentionCounts(*lp).fallenBack, 1);
#endif
}

INSTANTIATE_TEST_SUITE_P(Cuda, CudnnAttentionTest, ::testing::Values("cuda"),
                         [](const ::testing::TestParamInfo<std::string> &i) {
                           return i.param;
                         });

//===----------------------------------------------------------------------===//
// The choice and the library's name (no GPU needed)
//===----------------------------------------------------------------------===//

#ifdef FRESCO_HAVE_CUDA
// FRESCO_CUDA_ATTENTION: unset and "auto" fall back from cuDNN quietly,
// "cudnn" by name must not; anything else is an error naming the value.
TEST(CudaAttentionChoice, ReadsTheEnvironment) {
  struct {
    const char *value;
    cuda::AttentionChoice choice;
  } cases[] = {{"", cuda::AttentionChoice::Auto},
               {"auto", cuda::AttentionChoice::Auto},
               {"cudnn", cuda::AttentionChoice::Cudnn},
               {"fresco", cuda::AttentionChoice::Fresco},
               {"f32", cuda::AttentionChoice::F32}};
  for (const auto &c : cases) {
    ScopedEnv env("FRESCO_CUDA_ATTENTION", c.value);
    std::string error;
    EXPECT_EQ(cuda::attentionChoice(&error), c.choice) << c.value;
    EXPECT_EQ(error, "") << c.value;
  }
  ScopedEnv env("FRESCO_CUDA_ATTENTION", "cuDNN");
  std::string error;
  cuda::attentionChoice(&error);
  EXPECT_NE(error.find("FRESCO_CUDA_ATTENTION=cuDNN: expected"),
            std::string::npos)
      << error;
}

// The line logs name the loaded cuDNN with: cudnnGetVersion()'s number
// (major * 10000 + minor * 100 + patch) split, and the path.
TEST(CudaAttentionChoice, NamesTheLoadedLibrary) {
  EXPECT_EQ(cuda::describeCudnnLibrary(91002, "/lib/libcudnn.so.9"),
            "cuDNN 9.10.2 (/lib/libcudnn.so.9)");
  EXPECT_EQ(cuda::describeCudnnLibrary(90100, "?"), "cuDNN 9.1.0 (?)");
  // Nothing loaded, nothing named.
  if (!cuda::cudnnAttentionAvailable())
    EXPECT_EQ(cuda::cudnnAttentionLibrary(), "");
  else
    EXPECT_EQ(cuda::cudnnAttentionLibrary().rfind("cuDNN 9.", 0), 0u);
}
#endif

// A choice set in the environment is the only one the conformance cases
// try (gpu-check's memcheck run sets "fresco"); unset, both kernels.
TEST(CudaAttentionChoice, ConformanceKeepsAPresetChoice) {
  {
    ScopedEnv env("FRESCO_CUDA_ATTENTION", "fresco");
    const std::vector<const char *> kept = attentionChoices("cuda");
    ASSERT_EQ(kept.size(), 1u);
    EXPECT_EQ(kept[0], nullptr);
  }
  ScopedEnv env("FRESCO_CUDA_ATTENTION", "");
  const std::vector<const char *> both = attentionChoices("cuda");
  ASSERT_EQ(both.size(), 2u);
  EXPECT_STREQ(both[0], "fresco");
  EXPECT_STREQ(both[1], "auto");
  EXPECT_EQ(attentionChoices("cpu").size(), 1u);
}

//===----------------------------------------------------------------------===//
// Attention timings (not a test: bench/gpu-check.sh runs it by name)
//===----------------------------------------------------------------------===//

/// Runs on the CUDA backend only; disabled, so only
/// `--gtest_also_run_disabled_tests --gtest_filter='*AttentionSpeed*'`
/// runs it.
class AttentionSpeed : public Conformance {};

// bf16 attention per FRESCO_CUDA_ATTENTION choice on the shapes of
// bench/gpu_attention.py (PyTorch's SDPA backends), one line each in its
// format: "<shape> fresco-<choice> <ms> ms <TFLOP/s> TFLOP/s", the FLOPs
// 4 B H T^2 Dh. Host-timed over back-to-back calls on the stream, between
// two synchronizations.
TEST_P(AttentionSpeed, DISABLED_Bf16) {
#ifdef FRESCO_HAVE_CUDA
  struct Shape {
    const char *name;
    int64_t B, H, T, Dh;
  } shapes[] = {{"flux", 2, 24, 4096, 128},
                {"flux-dev", 2, 24, 4608, 128},
                {"dit-xl", 2, 16, 256, 72}};
  for (const Shape &sh : shapes) {
    const size_t n = size_t(sh.B * sh.T * sh.H * sh.Dh);
    const Vec q = randomVec(n, 2500), k = randomVec(n, 2501),
              v = randomVec(n, 2502);
    const double flops =
        4.0 * double(sh.B * sh.H) * double(sh.T) * double(sh.T) * double(sh.Dh);
    for (const char *choice : {"cudnn", "fresco", "f32"}) {
      // "auto" for cuDNN: a refusal is then labelled below, not an error
      // that would lose the other rows.
      std::unique_ptr<Backend> lp =
          backendChoosing(std::strcmp(choice, "cudnn") == 0 ? "auto" : choice,
                          GemmPrecision::BF16);
      Buffer dq(*lp, n), dk(*lp, n), dv(*lp, n), dout(*lp, n);
      dq.upload(q);
      dk.upload(k);
      dv.upload(v);
      auto attend = [&] {
        lp->attention(dq.f(), dk.f(), dv.f(), dout.f(), sh.B, sh.T, sh.T, sh.H,
                      sh.Dh, 1.0f / std::sqrt(float(sh.Dh)));
      };
      attend(); // builds cuDNN's graph
      attend();
      lp->synchronize();
      const int iters = std::strcmp(choice, "f32") == 0 ? 5 : 20;
      const auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < iters; ++i)
        attend();
      lp->synchronize();
      const double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - t0)
                            .count() /
                        iters;
      std::string label = std::string("fresco-") + choice;
      if (std::strcmp(choice, "cudnn") == 0 &&
          cudnnAttentionCounts(*lp).onCudnn == 0)
        label += "(fell-back)";
      std::printf("%-10s %-17s %8.3f ms %8.1f TFLOP/s\n", sh.name,
                  label.c_str(), ms, flops / ms / 1e9);
      std::fflush(stdout);
    }
  }
#endif
}

INSTANTIATE_TEST_SUITE_P(Cuda, AttentionSpeed, ::testing::Values("cuda"),
                         [](const ::testing::TestParamInfo<std::string> &i) {
                           return i.param;
                         });

} // namespace
} // namespace fresco
