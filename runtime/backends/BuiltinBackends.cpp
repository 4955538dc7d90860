//===- BuiltinBackends.cpp - The backends of this build -------------------===//
//
// cpu, cuda and cpu-staged, in the order --help lists them. cuda is known
// in every build; where the CUDA backend is not built, creating it says so.
// The CUDA backend takes the visible GPU (local rank) mod (GPU count), so
// the ranks of one node spread over its GPUs; ranks on distinct GPUs talk
// through NCCL, its native communicator.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/BackendRegistry.h"
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Error.h"
#ifdef FRESCO_HAVE_CUDA
#include "runtime/backends/cuda/CudaBackend.h"
#endif

namespace fresco {

void registerBuiltinBackends(BackendRegistry &registry) {
  registry.add({"cpu", "f32 kernels on the host (the default)",
                [](const BackendConfig &c) {
                  check(c.precision == GemmPrecision::F32, "--dtype ",
                        dtypeName(storageOf(c.precision)),
                        ": the cpu backend computes in f32 (use --backend "
                        "cuda, or cpu-staged to emulate the rounding)");
                  return createCpuBackend();
                },
                /*nativeCommunicator=*/"", /*hostAddressable=*/false,
                /*computesOnHost=*/true});
  registry.add({"cuda",
                "a GPU: local rank mod visible GPUs (CUDA_VISIBLE_DEVICES "
                "picks which are visible)",
                [](const BackendConfig &c) -> std::unique_ptr<Backend> {
#ifdef FRESCO_HAVE_CUDA
                  // One GPU per local rank where there are enough; ranks
                  // share them round-robin otherwise (collectives then go
                  // through the host).
                  int devices = cudaDeviceCount();
                  return createCudaBackend(
                      devices > 0 ? c.localRank % devices : 0, c.precision);
#else
                  (void)c;
                  fail("--backend cuda: this build has no CUDA backend "
                       "(configure with -DFRESCO_ENABLE_CUDA=ON where the "
                       "CUDA toolkit is installed)");
#endif
                },
                /*nativeCommunicator=*/"nccl", /*hostAddressable=*/false,
                /*computesOnHost=*/false});
  registry.add({"cpu-staged",
                "the CPU kernels through the copies a GPU needs (weights "
                "copied in, collectives staged through host buffers), to "
                "test that path anywhere",
                [](const BackendConfig &c) {
                  return createStagedCpuBackend(c.precision);
                },
                /*nativeCommunicator=*/"", /*hostAddressable=*/true,
                /*computesOnHost=*/true});
}

} // namespace fresco
