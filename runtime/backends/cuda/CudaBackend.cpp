//===- CudaBackend.cpp - The Backend implementation for one GPU -----------===//
//
// Set-up and teardown of the backend, the CUDA error helpers, the
// cuBLASLt loader and the public entry points of CudaBackend.h. The class
// and its design are in CudaBackendImpl.h.
//
// libcublasLt (540 MB) is loaded with dlopen when the first CUDA backend is
// created, not linked: linked, it costs every fresco-run process about
// 0.1 s of loading (measured), CPU runs and every test included.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaBackendImpl.h"
#include "runtime/core/DynamicLibrary.h"

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <mutex>

namespace fresco {
namespace cuda {

void checkCuda(cudaError_t e, const char *what) {
  if (e != cudaSuccess) {
    cudaGetLastError(); // clear a non-sticky error so the next call is clean
    fail("CUDA error in ", what, ": ", cudaGetErrorString(e));
  }
}

bool syncEveryLaunch() {
  static const bool on = [] {
    const char *v = std::getenv("FRESCO_CUDA_SYNC");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

void checkLaunch(const char *kernel, cudaStream_t stream) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && syncEveryLaunch())
    e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess)
    fail("CUDA error in kernel '", kernel, "': ", cudaGetErrorString(e));
}

} // namespace cuda

namespace cudabackend {

/// The process-wide table; throws when the library cannot be loaded.
const LtApi &lt() {
  static std::string error;
  static const LtApi api = []() {
    LtApi a;
    // The library found at configure time first, then the loader's search
    // path (LD_LIBRARY_PATH, e.g. PyTorch's nvidia/cublas/lib).
    std::string tried;
    void *lib = openFirstLibrary(
        {
#ifdef FRESCO_CUBLASLT_PATH
            FRESCO_CUBLASLT_PATH,
#endif
#ifdef FRESCO_CUBLASLT_SONAME
            FRESCO_CUBLASLT_SONAME,
#endif
            "libcublasLt.so"},
        tried);
    if (!lib) {
      error = "cannot load cuBLASLt (" + tried + ")";
      return a;
    }
#define FRESCO_LT_LOAD(name)                                                   \
  a.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));             \
  if (!a.name && error.empty())                                                \
    error = "cuBLASLt has no symbol " #name;
    FRESCO_LT_FUNCTIONS(FRESCO_LT_LOAD)
#undef FRESCO_LT_LOAD
    return a;
  }();
  check(error.empty(), "CUDA backend: ", error);
  return api;
}

void checkLt(cublasStatus_t s, const char *what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail("cuBLASLt error in ", what, ": ", lt().cublasLtGetStatusString(s),
         " (status ", int(s), ")");
}

CudaBackend::CudaBackend(int device, GemmPrecision precision)
    : device_(device), storage_(storageOf(precision)),
      elemSize_(dtypeSize(storage_)),
      gemmType_(storage_ == DType::BF16  ? CUDA_R_16BF
                : storage_ == DType::F16 ? CUDA_R_16F
                                         : CUDA_R_32F) {
  using cuda::checkCuda;
  checkCuda(cudaSetDevice(device), "cudaSetDevice");
  checkCuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
            "cudaStreamCreate");
  const LtApi &api = lt();
  checkLt(api.cublasLtCreate(&lt_), "cublasLtCreate");
  checkCuda(cudaMalloc(&workspace_, kWorkspaceBytes),
            "cudaMalloc (GEMM workspace)");
  checkCuda(cudaMalloc(&fault_, sizeof(cuda::EmbeddingFault)),
            "cudaMalloc (embedding check)");
  // The stream is non-blocking: everything touching the flag goes on it.
  checkCuda(cudaMemsetAsync(fault_, 0, sizeof(cuda::EmbeddingFault), stream_),
            "cudaMemset (embedding check)");
  checkCuda(cudaStreamSynchronize(stream_), "cudaMemset (embedding check)");
  const char *tf32 = std::getenv("FRESCO_CUDA_TF32");
  computeType_ = tf32 && *tf32 && std::strcmp(tf32, "0") != 0
                     ? CUBLAS_COMPUTE_32F_FAST_TF32
                     : CUBLAS_COMPUTE_32F;
  // Read per backend (not once per process) so that tests can compare
  // the two conv2d paths; the library loads on the first conv2d.
  attentionChoice_ = cuda::attentionChoice(&attentionEnvError_);
  const bool cudnnRequired = attentionChoice_ == cuda::AttentionChoice::Cudnn;
  if (storage_ != DType::F32 &&
      (cudnnRequired || attentionChoice_ == cuda::AttentionChoice::Auto))
    cudnnAttention_ = std::make_unique<cuda::CudnnAttention>(
        device, stream_, storage_, cudnnRequired);
  const char *cudnn = std::getenv("FRESCO_CUDNN");
  if (!cudnn || std::strcmp(cudnn, "0") != 0)
    cudnn_ = std::make_unique<cuda::CudnnConv>(
        device, stream_, storage_,
        computeType_ == CUBLAS_COMPUTE_32F_FAST_TF32);
}

CudaBackend::~CudaBackend() {
  // Errors are ignored here: a destructor cannot report them, and after
  // a device fault every call fails anyway.
  cudaStreamSynchronize(stream_);
  cudnn_.reset();
  cudnnAttention_.reset();
  cudaFree(cudnnWorkspace_);
  const LtApi &api = lt();
  for (auto &[key, p] : plans_)
    destroyPlan(p);
  if (lt_)
    api.cublasLtDestroy(lt_);
  cudaFree(scratch_);
  cudaFree(fp8Act_);
  cudaFree(fp8ActScales_);
  for (void *p : retired_)
    cudaFree(p);
  cudaFree(fault_);
  cudaFree(workspace_);
  cudaStreamDestroy(stream_);
  cudaGetLastError();
}

CudnnConvCounts CudaBackend::cudnnCounts() const {
  if (!cudnn_)
    return {};
  return {cudnn_->shapesOnCudnn(), cudnn_->shapesFallenBack()};
}

std::string CudaBackend::libraries() const {
  // Attention's cuDNN names the frontend too; conv2d's is the same library
  // unless the loader found two.
  std::string attention = cuda::cudnnAttentionLibrary();
  std::string conv = cuda::cudnnLoadedLibrary();
  if (!attention.empty() && !conv.empty() &&
      attention.compare(0, conv.size(), conv) != 0)
    return "attention: " + attention + "; conv2d: " + conv;
  return attention.empty() ? conv : attention;
}

CudnnAttentionCounts CudaBackend::cudnnAttentionCounts() const {
  if (!cudnnAttention_)
    return {};
  return {cudnnAttention_->shapesOnCudnn(), cudnnAttention_->shapesFallenBack(),
          blocksOnCudnn_};
}

} // namespace cudabackend

using cudabackend::CudaBackend;

int cudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void *cudaBackendStream(Backend &backend) {
  auto *cuda = dynamic_cast<CudaBackend *>(&backend);
  return cuda ? static_cast<void *>(cuda->stream()) : nullptr;
}

int cudaBackendDevice(Backend &backend) {
  auto *cuda = dynamic_cast<CudaBackend *>(&backend);
  return cuda ? cuda->device() : -1;
}

CudnnConvCounts cudnnConvCounts(Backend &backend) {
  auto *cuda = dynamic_cast<CudaBackend *>(&backend);
  return cuda ? cuda->cudnnCounts() : CudnnConvCounts{};
}

CudnnAttentionCounts cudnnAttentionCounts(Backend &backend) {
  auto *cuda = dynamic_cast<CudaBackend *>(&backend);
  return cuda ? cuda->cudnnAttentionCounts() : CudnnAttentionCounts{};
}

bool cudaDeviceUsable(std::string *reason) {
  static std::once_flag once;
  static bool usable = false;
  static std::string why;
  std::call_once(once, [] {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      why = cudaGetErrorString(e);
    } else if (count == 0) {
      why = "no CUDA device found";
    } else {
      usable = true;
    }
  });
  if (reason)
    *reason = why;
  return usable;
}

std::unique_ptr<Backend> createCudaBackend(int device,
                                           GemmPrecision precision) {
  std::string reason;
  check(cudaDeviceUsable(&reason), "CUDA backend: ", reason);
  int count = 0;
  cuda::checkCuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  check(device >= 0 && device < count, "CUDA backend: no device ", device, " (",
        count, " device", count == 1 ? "" : "s", " present)");
  return std::make_unique<CudaBackend>(device, precision);
}

} // namespace fresco
