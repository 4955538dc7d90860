//===- ConformanceFixture.h - The backend conformance tests' fixture -*- C++
//-*-===//
//
// Shared by BackendConformanceTest.cpp (every kernel but attention) and
// the Attention*Test.cpp files: the Conformance fixture (one backend per
// parameter: "cpu", "cpu-staged", "cuda"), device buffers and tolerances.
// A named namespace, so that every file's TEST_Ps join one suite.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_CONFORMANCEFIXTURE_H
#define FRESCO_TEST_UNIT_CONFORMANCEFIXTURE_H

#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Error.h"
#include "test/unit/Reference.h"
#ifdef FRESCO_HAVE_CUDA
#include "runtime/backends/cuda/CudaBackend.h"
#include "runtime/backends/cuda/Cudnn.h"
#include "runtime/backends/cuda/CudnnAttention.h"
#endif

#include <gtest/gtest.h>

#include <optional>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

namespace fresco::conformance {

using namespace ref;

/// Tolerances per dtype (f32 today; bf16/f16 storage will add rows).
/// `rel`: |got - ref| <= rel * max|ref| over a tensor, for reductions whose
/// order differs from the reference (GEMMs, norms, softmax).
/// `elementwise`: |got - ref| <= elementwise * (|ref| + 1) per value.
struct Tolerance {
  double rel, elementwise;
};
constexpr Tolerance kF32{1e-5, 2e-6};

inline void expectClose(const RefVec &ref, const Vec &got,
                        double rel = kF32.rel) {
  ref::expectClose(ref, got, rel);
}

inline void expectEachClose(const RefVec &ref, const Vec &got,
                            double tol = kF32.elementwise) {
  ref::expectEachClose(ref, got, tol);
}

/// Backend memory holding `count` elements of `elemSize` bytes, or (with
/// elemSize 0) a float tensor of `count` elements in the backend's float
/// storage: floats are rounded to it on upload and widened on read, as the
/// executor does with inputs and outputs.
class Buffer {
public:
  Buffer(Backend &be, size_t count, size_t elemSize = 0)
      : be_(&be), storage_(elemSize ? DType::F32 : be.floatStorage()),
        es_(elemSize ? elemSize : dtypeSize(storage_)), bytes_(count * es_),
        ptr_(be.allocate(std::max<size_t>(bytes_, 1))) {}
  ~Buffer() { be_->release(ptr_); }
  Buffer(const Buffer &) = delete;
  Buffer &operator=(const Buffer &) = delete;

  float *f() { return static_cast<float *>(ptr_); }
  /// Element i of a float tensor (its storage may be 2 bytes an element).
  float *at(size_t i) {
    return reinterpret_cast<float *>(static_cast<uint8_t *>(ptr_) + i * es_);
  }
  void *raw() { return ptr_; }
  template <typename T> T *as() { return static_cast<T *>(ptr_); }

  template <typename T> void upload(const std::vector<T> &v) {
    if (std::is_same<T, float>::value && storage_ != DType::F32) {
      ASSERT_EQ(v.size() * es_, bytes_);
      std::vector<uint8_t> narrow(bytes_);
      narrowFloats(reinterpret_cast<const float *>(v.data()), narrow.data(),
                   v.size(), storage_);
      be_->copyToDevice(ptr_, narrow.data(), bytes_);
      return;
    }
    ASSERT_EQ(v.size() * sizeof(T), bytes_);
    be_->copyToDevice(ptr_, v.data(), bytes_);
  }
  /// Waits for the kernels (reporting deferred errors), then copies back.
  template <typename T = float> std::vector<T> read() {
    be_->synchronize();
    if (std::is_same<T, float>::value && storage_ != DType::F32) {
      std::vector<uint8_t> narrow(bytes_);
      be_->copyToHost(narrow.data(), ptr_, bytes_);
      std::vector<T> v(bytes_ / es_);
      widenFloats(narrow.data(), reinterpret_cast<float *>(v.data()), v.size(),
                  storage_);
      return v;
    }
    std::vector<T> v(bytes_ / sizeof(T));
    be_->copyToHost(v.data(), ptr_, bytes_);
    return v;
  }

private:
  Backend *be_;
  DType storage_;
  size_t es_, bytes_;
  void *ptr_;
};

inline std::string cudaSkipReason() {
#ifdef FRESCO_HAVE_CUDA
  std::string why;
  return cudaDeviceUsable(&why) ? std::string() : why;
#else
  return "this build has no CUDA backend";
#endif
}

class Conformance : public ::testing::TestWithParam<std::string> {
protected:
  void SetUp() override {
    if (GetParam() == "cpu") {
      backend = createCpuBackend();
      return;
    }
    if (GetParam() == "cpu-staged") {
      backend = createStagedCpuBackend();
      return;
    }
    std::string why = cudaSkipReason();
    if (!why.empty())
      GTEST_SKIP() << "no CUDA device: " << why;
#ifdef FRESCO_HAVE_CUDA
    backend = createCudaBackend(0);
#endif
  }

  Backend &be() { return *backend; }
  /// A buffer holding `v`.
  template <typename T> std::unique_ptr<Buffer> in(const std::vector<T> &v) {
    auto b = std::make_unique<Buffer>(
        *backend, v.size(), std::is_same<T, float>::value ? 0 : sizeof(T));
    b->upload(v);
    return b;
  }
  /// A float buffer of n NaNs.
  std::unique_ptr<Buffer> out(size_t n) {
    return in(Vec(n, std::numeric_limits<float>::quiet_NaN()));
  }

  /// Another backend of this kind, storing floats in `precision` (the
  /// plain CPU backend stores f32 only).
  std::unique_ptr<Backend> backendWith(GemmPrecision precision) {
    if (GetParam() == "cpu")
      return createCpuBackend();
    if (GetParam() == "cpu-staged")
      return createStagedCpuBackend(precision);
#ifdef FRESCO_HAVE_CUDA
    return createCudaBackend(0, precision);
#else
    return nullptr; // SetUp skipped
#endif
  }

  /// What attention's operands are rounded to on a backendWith(precision):
  /// its float storage (q, k, v are stored so, and o is rounded when
  /// stored). The CUDA backend's tensor-core kernel (heads 1 to 128 wide
  /// unless FRESCO_CUDA_ATTENTION=f32) also rounds the probabilities, which
  /// the bound allows for; elsewhere the same bound holds with room.
  GemmPrecision attentionRounding(GemmPrecision precision) const {
    return GetParam() == "cpu" ? GemmPrecision::F32 : precision;
  }

  std::unique_ptr<Backend> backend;
};

} // namespace fresco::conformance

#endif // FRESCO_TEST_UNIT_CONFORMANCEFIXTURE_H
