//===- Backends.cpp - fresco-run's backend choice -------------------------===//
//
// The CUDA backend takes the visible GPU (local rank) mod (GPU count), so
// the ranks of one node spread over its GPUs (CUDA_VISIBLE_DEVICES picks
// which are visible). Ranks on distinct GPUs talk through NCCL; ranks that
// share one stage their collectives through the host with Gloo.
//
//===----------------------------------------------------------------------===//
#include "tools/fresco-run/Backends.h"
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Error.h"
#ifdef FRESCO_HAVE_CUDA
#include "runtime/backends/cuda/CudaBackend.h"
#endif

namespace fresco::run {

bool isBackendName(const std::string &name) {
  return name == "cpu" || name == "cuda" || name == "cpu-staged";
}

std::unique_ptr<Backend> createBackend(const std::string &name, int localRank,
                                       const std::string &dtype) {
  GemmPrecision precision = dtype == "bf16"  ? GemmPrecision::BF16
                            : dtype == "f16" ? GemmPrecision::F16
                                             : GemmPrecision::F32;
  if (name == "cpu") {
    check(precision == GemmPrecision::F32, "--dtype ", dtype,
          ": the cpu backend computes in f32 (use --backend cuda, or "
          "cpu-staged to emulate the rounding)");
    return createCpuBackend();
  }
  if (name == "cpu-staged")
    return createStagedCpuBackend(precision);
  if (name == "cuda") {
#ifdef FRESCO_HAVE_CUDA
    // One GPU per local rank where there are enough; ranks share them
    // round-robin otherwise (collectives then go through the host).
    int devices = cudaDeviceCount();
    return createCudaBackend(devices > 0 ? localRank % devices : 0, precision);
#else
    fail("--backend cuda: this build has no CUDA backend (configure with "
         "-DFRESCO_ENABLE_CUDA=ON where the CUDA toolkit is installed)");
#endif
  }
  fail("unknown backend '", name, "' (expected cpu, cuda or cpu-staged)");
}

} // namespace fresco::run
