//===- Backends.cpp - fresco-run's backend choice -------------------------===//
//
// The CUDA backend uses device 0 of the process (CUDA_VISIBLE_DEVICES picks
// which GPU that is). Several ranks on GPUs exchange data through Gloo,
// staged through host buffers (which is also how several ranks share one
// GPU); the NCCL communicator is not there yet.
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

std::unique_ptr<Backend> createBackend(const std::string &name) {
  if (name == "cpu")
    return createCpuBackend();
  if (name == "cpu-staged")
    return createStagedCpuBackend();
  if (name == "cuda") {
#ifdef FRESCO_HAVE_CUDA
    return createCudaBackend(0);
#else
    fail("--backend cuda: this build has no CUDA backend (configure with "
         "-DFRESCO_ENABLE_CUDA=ON where the CUDA toolkit is installed)");
#endif
  }
  fail("unknown backend '", name, "' (expected cpu, cuda or cpu-staged)");
}

} // namespace fresco::run
