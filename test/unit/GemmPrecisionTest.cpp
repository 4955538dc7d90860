//===- GemmPrecisionTest.cpp - bf16/f16 GEMMs against a rounded reference -===//
//
// --dtype bf16|f16: announced linear weights and the inputs they multiply
// are rounded to the low precision (to nearest, ties to even), products are
// accumulated in f32. The reference rounds the same way and accumulates in
// double, so the tolerance covers only f32 accumulation, as for f32 GEMMs;
// a backend that skipped the rounding, rounded differently or accumulated
// in bf16 fails by orders of magnitude more.
//
// cpu-staged emulates the rounding and always runs; cuda (tensor cores)
// runs where a GPU is usable and is skipped, saying why, elsewhere.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuBackend.h"
#include "test/unit/Reference.h"
#ifdef FRESCO_HAVE_CUDA
#include "runtime/backends/cuda/CudaBackend.h"
#endif

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

namespace fresco {
namespace {

using ref::randomVec;
using ref::RefVec;
using ref::Vec;

float roundBf16(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  if ((u & 0x7f800000u) != 0x7f800000u)
    u = (u + 0x7fffu + ((u >> 16) & 1u)) & 0xffff0000u;
  std::memcpy(&v, &u, 4);
  return v;
}

/// f16 rounding written out (not the compiler's _Float16), for values in
/// f16's normal range: keep 10 mantissa bits, ties to even.
float roundF16(float v) {
  int e;
  double m = std::frexp(double(v), &e); // v = m * 2^e, 0.5 <= |m| < 1
  double scaled = std::ldexp(m, 11);    // 11 significant bits
  double r = std::nearbyint(scaled);    // ties to even (default mode)
  return float(std::ldexp(r, e - 11));
}

using Param = std::tuple<std::string, GemmPrecision>;

class GemmPrecisionTest : public ::testing::TestWithParam<Param> {
protected:
  void SetUp() override {
    auto [name, precision] = GetParam();
    if (name == "cpu-staged") {
      backend = createStagedCpuBackend(precision);
      return;
    }
#ifdef FRESCO_HAVE_CUDA
    std::string why;
    if (!cudaDeviceUsable(&why))
      GTEST_SKIP() << "no CUDA device: " << why;
    backend = createCudaBackend(0, precision);
#else
    GTEST_SKIP() << "no CUDA device: this build has no CUDA backend";
#endif
  }

  float round(float v) const {
    return std::get<1>(GetParam()) == GemmPrecision::BF16 ? roundBf16(v)
                                                          : roundF16(v);
  }

  float *upload(const Vec &v) {
    auto *p = static_cast<float *>(backend->allocate(v.size() * 4 + 4));
    backend->copyToDevice(p, v.data(), v.size() * 4);
    owned.push_back(p);
    return p;
  }
  Vec download(const float *p, size_t n) {
    Vec v(n);
    backend->copyToHost(v.data(), p, n * 4);
    return v;
  }
  void TearDown() override {
    for (float *p : owned)
      backend->release(p);
  }

  std::unique_ptr<Backend> backend;
  std::vector<float *> owned;
};

TEST_P(GemmPrecisionTest, AnnouncedWeightsAndInputsAreRounded) {
  struct Case {
    int64_t M, K, N;
  } cases[] = {{1, 1, 1}, {3, 5, 7}, {17, 33, 9}, {64, 96, 80}, {8, 1152, 72}};
  uint32_t seed = 7;
  for (const Case &c : cases)
    for (bool bias : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "M=" << c.M << " K=" << c.K
                                        << " N=" << c.N << " bias=" << bias);
      Vec x = randomVec(size_t(c.M * c.K), seed++);
      Vec w = randomVec(size_t(c.N * c.K), seed++);
      Vec b = randomVec(size_t(c.N), seed++);
      float *dx = upload(x), *dw = upload(w), *db = upload(b);
      float *dy = upload(Vec(size_t(c.M * c.N), NAN));
      backend->prepareWeight(dw, c.N, c.K);
      backend->linear(dx, dw, bias ? db : nullptr, dy, c.M, c.K, c.N);
      Vec y = download(dy, size_t(c.M * c.N));
      double maxRef = 0, maxErr = 0, maxUnrounded = 0;
      for (int64_t m = 0; m < c.M; ++m)
        for (int64_t n = 0; n < c.N; ++n) {
          double s = bias ? b[n] : 0.0, s32 = s;
          for (int64_t k = 0; k < c.K; ++k) {
            s += double(round(x[m * c.K + k])) * round(w[n * c.K + k]);
            s32 += double(x[m * c.K + k]) * w[n * c.K + k];
          }
          double got = y[m * c.N + n];
          ASSERT_TRUE(std::isfinite(got));
          maxRef = std::max(maxRef, std::abs(s));
          maxErr = std::max(maxErr, std::abs(got - s));
          maxUnrounded = std::max(maxUnrounded, std::abs(s32 - s));
        }
      EXPECT_LE(maxErr, 1e-5 * std::max(maxRef, 1.0));
      // The rounding is visible at these sizes: the test could tell.
      if (c.K >= 5) {
        EXPECT_GT(maxUnrounded, 1e-4 * maxRef);
      }
    }
}

// A weight only linears use is handed over from the host and kept in low
// precision only: the same products as the announced f32 copy's.
TEST_P(GemmPrecisionTest, UploadedLinearWeightsMatchAnnouncedOnes) {
  const int64_t M = 13, K = 70, N = 9;
  Vec x = randomVec(size_t(M * K), 11), w = randomVec(size_t(N * K), 12);
  Vec b = randomVec(size_t(N), 13);
  float *dx = upload(x), *dw = upload(w), *db = upload(b);
  float *y1 = upload(Vec(size_t(M * N), NAN)),
        *y2 = upload(Vec(size_t(M * N), NAN));
  backend->prepareWeight(dw, N, K);
  backend->linear(dx, dw, db, y1, M, K, N);
  const float *key = backend->uploadLinearWeight(w.data(), N, K);
  ASSERT_NE(key, nullptr);
  backend->linear(dx, key, db, y2, M, K, N);
  EXPECT_EQ(download(y1, size_t(M * N)), download(y2, size_t(M * N)));
}

TEST_P(GemmPrecisionTest, WeightsNotAnnouncedStayF32) {
  const int64_t M = 9, K = 40, N = 11;
  Vec x = randomVec(size_t(M * K), 1), w = randomVec(size_t(N * K), 2);
  float *dx = upload(x), *dw = upload(w), *dy = upload(Vec(size_t(M * N)));
  backend->linear(dx, dw, nullptr, dy, M, K, N);
  Vec y = download(dy, size_t(M * N));
  RefVec want = ref::refLinear(x, w, nullptr, M, K, N);
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_NEAR(y[i], want[i], 1e-5) << "at " << i;
}

INSTANTIATE_TEST_SUITE_P(
    Backends, GemmPrecisionTest,
    ::testing::Combine(::testing::Values("cpu-staged", "cuda"),
                       ::testing::Values(GemmPrecision::BF16,
                                         GemmPrecision::F16)),
    [](const ::testing::TestParamInfo<Param> &info) {
      std::string name = std::get<0>(info.param);
      for (char &ch : name)
        if (ch == '-')
          ch = '_';
      return name + (std::get<1>(info.param) == GemmPrecision::BF16 ? "_bf16"
                                                                    : "_f16");
    });

} // namespace
} // namespace fresco
