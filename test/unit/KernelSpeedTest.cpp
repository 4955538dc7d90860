//===- KernelSpeedTest.cpp - Memory-bound kernels against the copy rate ---===//
//
// Not a test: bench/gpu-check.sh phase 4e runs it by name, on the CUDA
// backend only (disabled, so only `--gtest_also_run_disabled_tests
// --gtest_filter='*KernelSpeed*'` runs it; without a GPU it skips, saying
// why). For each memory-bound kernel at the Flux-width DiT's shapes (batch
// 2 at 1024 px: 8192 token rows of 3072; q/k RMS norm and rotary
// embedding on 24 heads of 128) in bf16
// and f32, one line:
//   bandwidth <kernel> <dtype> <us> us <GB/s> GB/s copy <GB/s> GB/s <pct>%
// GB/s counts the bytes the kernel must read and write (each tensor once);
// "copy" is a device-to-device copy (copyStrided with whole rows: one
// cudaMemcpyAsync) moving as many bytes (half read, half written) in the
// same run, the card's practical bandwidth; pct is kernel / copy. The
// 3070-wide rows take the scalar kernels, for comparison. Host-timed over
// back-to-back calls on the stream, between two synchronizations.
//
//===----------------------------------------------------------------------===//
#include "test/unit/ConformanceFixture.h"

namespace fresco {
namespace {

using namespace ref;
using conformance::Buffer;
using conformance::Conformance;

class KernelSpeed : public Conformance {};

/// Milliseconds per call of `call`, after a warm-up call.
template <typename F> double msPerCall(Backend &be, int iters, F &&call) {
  call();
  be.synchronize();
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < iters; ++i)
    call();
  be.synchronize();
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now() - t0)
             .count() /
         iters;
}

TEST_P(KernelSpeed, DISABLED_Bandwidth) {
  const int64_t B = 2, T = 4096, H = 24, Dh = 128;
  const int iters = 50;
  for (GemmPrecision precision : {GemmPrecision::BF16, GemmPrecision::F32}) {
    std::unique_ptr<Backend> be = backendWith(precision);
    const char *dtype = precision == GemmPrecision::BF16 ? "bf16" : "f32";
    const size_t es = dtypeSize(be->floatStorage());
    // The copy baseline moves `bytes` (at most 4 tensors' worth), half of
    // them read, between buffers of its own.
    const size_t most = size_t(B * T * 3072);
    Buffer from(*be, 2 * most), to(*be, 2 * most);
    auto report = [&](const char *kernel, double ms, double bytes) {
      const int64_t half = int64_t(bytes / 2);
      const double copyMs = msPerCall(*be, iters, [&] {
        be->copyStrided(from.raw(), half, to.raw(), half, 1, half, 1);
      });
      const double gbs = bytes / ms / 1e6, copyGbs = bytes / copyMs / 1e6;
      std::printf("bandwidth %-27s %-4s %9.1f us %7.0f GB/s copy %7.0f GB/s "
                  "%4.0f%%\n",
                  kernel, dtype, ms * 1e3, gbs, copyGbs, 100.0 * gbs / copyGbs);
      std::fflush(stdout);
    };
    for (int64_t D : {3072, 3070}) {
      const int64_t n = B * T * D;
      const Vec data = randomVec(size_t(n), 2600);
      Buffer x(*be, size_t(n)), c(*be, size_t(n)), y(*be, size_t(n));
      x.upload(data);
      c.upload(data);
      const Vec rowData = randomVec(size_t(B * D), 2601);
      Buffer gate(*be, size_t(B * D)), shift(*be, size_t(B * D)),
          scale(*be, size_t(B * D));
      gate.upload(rowData);
      shift.upload(rowData);
      scale.upload(rowData);
      const std::vector<int64_t> shape = {B, T, D};
      const std::vector<int64_t> dense = {T * D, D, 1}, gs = {D, 0, 1};
      const double tensor = double(n) * double(es), row = double(B * D * es);
      const bool wide = D == 3072;
      report(wide ? "mul_add-gate-3072" : "mul_add-gate-3070(scalar)",
             msPerCall(*be, iters,
                       [&] {
                         be->mulAdd(gate.f(), x.f(), c.f(), y.f(), 3,
                                    shape.data(), gs.data(), dense.data());
                       }),
             3 * tensor + row);
      report(wide ? "add-3072" : "add-3070",
             msPerCall(*be, iters,
                       [&] {
                         be->binary(BinaryKind::Add, x.f(), c.f(), y.f(), 3,
                                    shape.data(), dense.data(), dense.data());
                       }),
             3 * tensor);
      report(wide ? "layer_norm_mod-3072" : "layer_norm_mod-3070(scalar)",
             msPerCall(*be, iters,
                       [&] {
                         be->layerNormModulate(x.f(), nullptr, nullptr,
                                               shift.f(), scale.f(), y.f(), B,
                                               T, D, 1e-6f);
                       }),
             2 * tensor + 2 * row);
      if (wide)
        report("layer_norm-3072",
               msPerCall(*be, iters,
                         [&] {
                           be->layerNorm(x.f(), nullptr, nullptr, y.f(), B * T,
                                         D, 1e-6f);
                         }),
               2 * tensor);
    }
    // Flux's q/k RMS norm: rows of one head (128), a weight per column.
    const int64_t rows = B * T * H, n = rows * Dh;
    Buffer x(*be, size_t(n)), y(*be, size_t(n)), g(*be, size_t(Dh));
    x.upload(randomVec(size_t(n), 2602));
    g.upload(randomVec(size_t(Dh), 2603));
    const double ms = msPerCall(
        *be, iters, [&] { be->rmsNorm(x.f(), g.f(), y.f(), rows, Dh, 1e-6f); });
    report("rms_norm-128", ms, 2.0 * double(n) * double(es) + double(Dh * es));
    // Rotary embedding of q (or k): [B, T, H*Dh] with a [T, Dh/2, 2] table.
    Buffer table(*be, size_t(T * Dh));
    table.upload(randomVec(size_t(T * Dh), 2604));
    report("rope-128",
           msPerCall(*be, iters,
                     [&] {
                       be->rope(x.f(), table.f(), nullptr, y.f(), B, T, H, Dh,
                                0.0f);
                     }),
           2.0 * double(n) * double(es) + double(T * Dh * es));
    // The same with Flux's q/k norm fused in: one more [Dh] read.
    report("rope-norm-128",
           msPerCall(*be, iters,
                     [&] {
                       be->rope(x.f(), table.f(), g.f(), y.f(), B, T, H, Dh,
                                1e-6f);
                     }),
           2.0 * double(n) * double(es) + double((T + 1) * Dh * es));
  }
}

INSTANTIATE_TEST_SUITE_P(Cuda, KernelSpeed, ::testing::Values("cuda"),
                         [](const ::testing::TestParamInfo<std::string> &i) {
                           return i.param;
                         });

} // namespace
} // namespace fresco
