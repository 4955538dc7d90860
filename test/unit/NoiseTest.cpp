//===- NoiseTest.cpp - Philox4x32-10 + Box-Muller noise tests -------------===//
//
// Philox against Random123's published known-answer vectors, determinism and
// the per-image (and per-step) independence the CLI relies on, the statistics
// of the output, and (when a Python with numpy is found: FRESCO_PYTHON,
// <repo>/.venv/bin/python, /usr/bin/python3; skipped visibly otherwise) the
// NumPy transcription documented in Noise.h.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/Noise.h"
#include "runtime/core/Error.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

using namespace fresco;
using namespace fresco::test;

namespace {

std::vector<float> noise(uint64_t seed, int64_t image, int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  gaussianNoise(seed, image, v.data(), n);
  return v;
}

uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

//===----------------------------------------------------------------------===//
// Philox known answers
//===----------------------------------------------------------------------===//

struct Kat {
  int rounds;
  std::array<uint32_t, 4> ctr;
  std::array<uint32_t, 2> key;
  std::array<uint32_t, 4> expected;
};

// Random123 1.14, tests/kat_vectors, the philox4x32 lines (columns: name,
// rounds, counter[4], key[2], expected[4]).
const Kat kKats[] = {
    {7,
     {0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x5f6fb709, 0x0d893f64, 0x4f121f81, 0x4f730a48}},
    {7,
     {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x5207ddc2, 0x45165e59, 0x4d8ee751, 0x8c52f662}},
    {7,
     {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0x4dfccaba, 0x190a87f0, 0xc47362ba, 0xb6b5242a}},
    {10,
     {0x00000000, 0x00000000, 0x00000000, 0x00000000},
     {0x00000000, 0x00000000},
     {0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}},
    {10,
     {0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff},
     {0xffffffff, 0xffffffff},
     {0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}},
    {10,
     {0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344},
     {0xa4093822, 0x299f31d0},
     {0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}},
};

TEST(Philox, KnownAnswerVectors) {
  for (const Kat &k : kKats) {
    std::array<uint32_t, 4> got = philox4x32(k.ctr, k.key, k.rounds);
    for (int i = 0; i < 4; ++i)
      EXPECT_EQ(got[i], k.expected[i])
          << "rounds " << k.rounds << " ctr[0]=" << std::hex << k.ctr[0]
          << " word " << i;
  }
  // The default is Philox4x32-10.
  EXPECT_EQ(philox4x32(kKats[5].ctr, kKats[5].key), kKats[5].expected);
}

//===----------------------------------------------------------------------===//
// The stream
//===----------------------------------------------------------------------===//

TEST(Noise, MatchesTheDocumentedAlgorithm) {
  // Recompute element 5 of image 3 under seed 0x0123456789abcdef by hand:
  // block 1, lane 1 = r01 * sin(t01).
  const uint64_t seed = 0x0123456789abcdefULL;
  std::array<uint32_t, 4> w =
      philox4x32({1, 0, 3, 0}, {0x89abcdefu, 0x01234567u}, 10);
  double u0 = (double(w[0]) + 1.0) / 4294967296.0;
  double u1 = (double(w[1]) + 1.0) / 4294967296.0;
  float expected = float(std::sqrt(-2.0 * std::log(u0)) *
                         std::sin(2.0 * 3.141592653589793 * u1));
  EXPECT_EQ(bitsOf(noise(seed, 3, 6)[5]), bitsOf(expected));
}

TEST(Noise, GoldenValues) {
  // Pinned so that an accidental change of the stream is caught; the values
  // were checked against the NumPy transcription in Noise.h.
  const std::vector<float> v = noise(0, 0, 6);
  const float golden[6] = {0.991137683f,  -0.92466259f,  -0.617608964f,
                           -0.482068598f, -0.153638229f, 0.180825904f};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(bitsOf(v[size_t(i)]), bitsOf(golden[i])) << "element " << i;
}

TEST(Noise, Deterministic) {
  EXPECT_EQ(noise(42, 0, 1000), noise(42, 0, 1000));
  EXPECT_NE(noise(42, 0, 1000), noise(43, 0, 1000));
  // Both halves of the seed are key material.
  EXPECT_NE(noise(42, 0, 1000), noise(42 | (uint64_t(1) << 32), 0, 1000));
}

TEST(Noise, PrefixOfALongerStream) {
  const std::vector<float> longer = noise(7, 2, 1001);
  for (int64_t n : {0, 1, 2, 3, 4, 5, 7, 8, 9, 1000}) {
    std::vector<float> shorter = noise(7, 2, n);
    EXPECT_TRUE(std::equal(shorter.begin(), shorter.end(), longer.begin()))
        << "n = " << n;
  }
}

TEST(Noise, ImagesDependOnlyOnSeedAndIndex) {
  // A batch is filled image by image, each from its own index: image 0 of
  // `--class-label 3,7 --seed 0` equals the single image of `--class-label 3
  // --seed 0`, and the images of a batch differ.
  const int64_t n = 4 * 32 * 32;
  std::vector<float> batch(size_t(2 * n));
  gaussianNoise(0, 0, batch.data(), n);
  gaussianNoise(0, 1, batch.data() + n, n);
  const std::vector<float> single = noise(0, 0, n);
  EXPECT_TRUE(std::equal(single.begin(), single.end(), batch.begin()));
  EXPECT_FALSE(std::equal(single.begin(), single.end(), batch.begin() + n));
  // Large image indices use the counter's high word.
  EXPECT_NE(noise(0, int64_t(1) << 32, 64), noise(0, 0, 64));
}

std::vector<float> stepNoiseOf(uint64_t seed, int64_t image, int64_t step,
                               int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  stepNoise(seed, image, step, v.data(), n);
  return v;
}

TEST(StepNoise, MatchesTheDocumentedAlgorithm) {
  // Element 6 of image 2 at step 5: block 1, lane 2 = r23 * cos(t23), the
  // counter's upper words (2, 0x80000005).
  const uint64_t seed = 0xfedcba9876543210ULL;
  std::array<uint32_t, 4> w =
      philox4x32({1, 0, 2, 0x80000005u}, {0x76543210u, 0xfedcba98u}, 10);
  double u2 = (double(w[2]) + 1.0) / 4294967296.0;
  double u3 = (double(w[3]) + 1.0) / 4294967296.0;
  float expected = float(std::sqrt(-2.0 * std::log(u2)) *
                         std::cos(2.0 * 3.141592653589793 * u3));
  EXPECT_EQ(bitsOf(stepNoiseOf(seed, 2, 5, 7)[6]), bitsOf(expected));
}

TEST(StepNoise, DependsOnlyOnSeedImageAndStep) {
  const int64_t n = 256;
  const std::vector<float> a = stepNoiseOf(9, 0, 0, n);
  EXPECT_EQ(a, stepNoiseOf(9, 0, 0, n));
  // Every coordinate matters, and none is the initial noise's stream.
  EXPECT_NE(a, stepNoiseOf(10, 0, 0, n));
  EXPECT_NE(a, stepNoiseOf(9, 1, 0, n));
  EXPECT_NE(a, stepNoiseOf(9, 0, 1, n));
  EXPECT_NE(a, noise(9, 0, n));
  EXPECT_NE(stepNoiseOf(9, 0, 1, n), stepNoiseOf(9, 1, 0, n));
  // The largest indices stay apart from gaussianNoise's largest.
  EXPECT_NE(stepNoiseOf(9, 0xffffffffLL, 0x7fffffffLL, n),
            noise(9, (int64_t(0x7fffffff) << 32) | 0xffffffffLL, n));
}

TEST(StepNoise, RejectsBadArguments) {
  float f;
  expectError([&] { stepNoise(0, -1, 0, &f, 1); }, {"image index -1"});
  expectError([&] { stepNoise(0, int64_t(1) << 32, 0, &f, 1); },
              {"image index"});
  expectError([&] { stepNoise(0, 0, -1, &f, 1); }, {"step index -1"});
  expectError([&] { stepNoise(0, 0, int64_t(1) << 31, &f, 1); },
              {"step index"});
  expectError([&] { stepNoise(0, 0, 0, &f, -1); },
              {"stepNoise: negative element count"});
}

TEST(Noise, RejectsBadArguments) {
  float f;
  expectError([&] { gaussianNoise(0, -1, &f, 1); }, {"negative image index"});
  EXPECT_THROW(gaussianNoise(0, 0, &f, -1), Error);
  EXPECT_NO_THROW(gaussianNoise(0, 0, nullptr, 0));
}

//===----------------------------------------------------------------------===//
// Statistics
//===----------------------------------------------------------------------===//

TEST(Noise, IsStandardNormal) {
  const int64_t n = int64_t(1) << 20;
  std::vector<float> v = noise(1234, 0, n);
  double sum = 0, sumSq = 0, sum3 = 0, sum4 = 0;
  double laneSum[4] = {0, 0, 0, 0};
  float maxAbs = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double x = v[size_t(i)];
    ASSERT_TRUE(std::isfinite(x));
    sum += x;
    sumSq += x * x;
    sum3 += x * x * x;
    sum4 += x * x * x * x;
    laneSum[i % 4] += x;
    maxAbs = std::max(maxAbs, std::fabs(float(x)));
  }
  const double mean = sum / n, var = sumSq / n - mean * mean;
  // Bounds at about 5 standard errors: a correct generator fails them with
  // probability ~1e-6; a wrong constant or a lane mix-up fails by far.
  EXPECT_NEAR(mean, 0.0, 5.0 / std::sqrt(double(n)));
  EXPECT_NEAR(var, 1.0, 5.0 * std::sqrt(2.0 / n));
  EXPECT_NEAR(sum3 / n, 0.0, 5.0 * std::sqrt(15.0 / n)); // skewness
  EXPECT_NEAR(sum4 / n, 3.0, 5.0 * std::sqrt(96.0 / n)); // kurtosis
  for (int l = 0; l < 4; ++l)
    EXPECT_NEAR(laneSum[l] / (n / 4), 0.0, 5.0 / std::sqrt(n / 4.0))
        << "lane " << l;
  EXPECT_LT(maxAbs, 6.67f); // The documented bound sqrt(64 ln 2).
  EXPECT_GT(maxAbs, 4.0f);

  // Kolmogorov-Smirnov against the normal CDF. The 0.1% critical value is
  // 1.95 / sqrt(n).
  std::sort(v.begin(), v.end());
  double d = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double cdf = 0.5 * std::erfc(-double(v[size_t(i)]) / std::sqrt(2.0));
    d = std::max({d, cdf - double(i) / n, double(i + 1) / n - cdf});
  }
  EXPECT_LT(d, 1.95 / std::sqrt(double(n))) << "KS statistic " << d;
}

TEST(Noise, NeighbouringStreamsAreUncorrelated) {
  const int64_t n = 1 << 18;
  const std::vector<float> a = noise(5, 0, n), b = noise(5, 1, n),
                           c = noise(6, 0, n);
  double ab = 0, ac = 0, lag = 0;
  for (int64_t i = 0; i < n; ++i) {
    ab += double(a[size_t(i)]) * b[size_t(i)];
    ac += double(a[size_t(i)]) * c[size_t(i)];
    if (i + 1 < n)
      lag += double(a[size_t(i)]) * a[size_t(i + 1)]; // cos/sin pairs too
  }
  const double bound = 5.0 / std::sqrt(double(n));
  EXPECT_NEAR(ab / n, 0.0, bound);
  EXPECT_NEAR(ac / n, 0.0, bound);
  EXPECT_NEAR(lag / n, 0.0, bound);
}

//===----------------------------------------------------------------------===//
// The NumPy transcription in Noise.h
//===----------------------------------------------------------------------===//

/// The "In NumPy" block of Noise.h's header comment, without the "//   ".
std::string numpyReferenceFromHeader() {
  std::ifstream in(repoRoot() + "/runtime/pipeline/Noise.h");
  std::string line, code;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line.rfind("//   import numpy as np", 0) == 0)
      inside = true;
    else if (inside && line.rfind("// Using 32-bit uniforms", 0) == 0)
      break;
    if (inside)
      code += (line.size() > 5 ? line.substr(5) : std::string()) + "\n";
  }
  return code;
}

TEST(NoisePython, MatchesNumpyTranscriptionInHeader) {
  std::string why;
  const std::string py = findPython({"numpy"}, why);
  if (py.empty())
    GTEST_SKIP() << why;
  const std::string code = numpyReferenceFromHeader();
  ASSERT_NE(code.find("def fresco_noise"), std::string::npos)
      << "could not extract the NumPy block from Noise.h";
  TempDir dir;

  // step < 0: the initial noise (fresco_noise), else fresco_step_noise.
  struct Case {
    uint64_t seed;
    int64_t image, n, step = -1;
  };
  const Case cases[] = {{0, 0, 4099},
                        {0, 1, 4099},
                        {0xfedcba9876543210ULL, 5, 1000},
                        {42, (int64_t(1) << 32) + 3, 17},
                        {0, 0, 4099, 0},
                        {7, 1, 1001, 3},
                        {42, 0xffffffffLL, 33, 0x7fffffffLL}};
  std::string script = code + "\nimport sys\nd = sys.argv[1]\n";
  for (size_t c = 0; c < std::size(cases); ++c) {
    const Case &k = cases[c];
    script += k.step < 0 ? "fresco_noise(" : "fresco_step_noise(";
    script += std::to_string(k.seed) + ", " + std::to_string(k.image) + ", ";
    if (k.step >= 0)
      script += std::to_string(k.step) + ", ";
    script += std::to_string(k.n) + ").tofile(d + '/case" + std::to_string(c) +
              ".f32')\n";
  }
  ASSERT_EQ(runPython(py, dir, script), 0) << script;

  int64_t total = 0, exact = 0;
  for (size_t c = 0; c < std::size(cases); ++c) {
    SCOPED_TRACE(c);
    const Case &k = cases[c];
    const std::vector<float> ours =
        k.step < 0 ? noise(k.seed, k.image, k.n)
                   : stepNoiseOf(k.seed, k.image, k.step, k.n);
    std::ifstream in(dir / ("case" + std::to_string(c) + ".f32"),
                     std::ios::binary);
    std::vector<float> theirs(ours.size());
    in.read(reinterpret_cast<char *>(theirs.data()),
            std::streamsize(theirs.size() * sizeof(float)));
    ASSERT_EQ(in.gcount(), std::streamsize(theirs.size() * sizeof(float)));
    for (size_t i = 0; i < ours.size(); ++i) {
      ++total;
      // Float32 ulps between the two: NumPy may use its own SIMD log/sin/cos,
      // which can differ in the last double bit and, rarely, flip a float
      // rounding.
      const int64_t ulps = std::llabs(int64_t(int32_t(bitsOf(ours[i]))) -
                                      int64_t(int32_t(bitsOf(theirs[i]))));
      ASSERT_LE(ulps, 1) << "element " << i << ": " << ours[i] << " vs "
                         << theirs[i];
      exact += ulps == 0;
    }
  }
  EXPECT_GE(double(exact), 0.999 * double(total))
      << exact << " of " << total << " bit-identical";
}

} // namespace
