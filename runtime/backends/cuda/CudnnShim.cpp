//===- CudnnShim.cpp - The cuDNN functions the frontend calls -------------===//
//
// The cuDNN frontend's headers call cuDNN by name. Linking libcudnn would
// make every Fresco process load it (or fail to start without it), so the
// names are defined here, hidden, forwarding to the libcudnn load()
// opens; the frontend's own dynamic-loading mode would instead load a second
// CUDA runtime, next to the static one the backend uses.
//
// NVRTC serves only engines that the frontend registers on request
// (HeurMode_t::OPENSOURCE: its experimental Blackwell engines and, from
// 1.23, a Hopper SDPA prefill engine). Fresco asks for modes A and
// FALLBACK only, so the NVRTC names are defined as stubs that report it
// unavailable.
//
//===----------------------------------------------------------------------===//
#ifdef FRESCO_HAVE_CUDNN_FRONTEND

#include "runtime/backends/cuda/CudnnShim.h"
#include "runtime/backends/cuda/Cudnn.h"
#include "runtime/core/DynamicLibrary.h"

#include <cuda_runtime.h>

#pragma GCC visibility push(hidden)
#include <cudnn.h>
#include <nvrtc.h>

#include <atomic>
#include <string>

namespace fresco {
namespace cuda {
namespace shim {
namespace {

#define FRESCO_SHIM_FUNCTIONS(X)                                               \
  X(cudnnGetVersion)                                                           \
  X(cudnnGetErrorString)                                                       \
  X(cudnnGetLastErrorString)                                                   \
  X(cudnnCreate)                                                               \
  X(cudnnDestroy)                                                              \
  X(cudnnSetStream)                                                            \
  X(cudnnGetStream)                                                            \
  X(cudnnBackendCreateDescriptor)                                              \
  X(cudnnBackendDestroyDescriptor)                                             \
  X(cudnnBackendFinalize)                                                      \
  X(cudnnBackendSetAttribute)                                                  \
  X(cudnnBackendGetAttribute)                                                  \
  X(cudnnBackendExecute)

struct Api {
#define FRESCO_SHIM_MEMBER(name) decltype(&::name) name = nullptr;
  FRESCO_SHIM_FUNCTIONS(FRESCO_SHIM_MEMBER)
#undef FRESCO_SHIM_MEMBER
};

Api table;
std::string loadError;
std::atomic<bool> loaded{false};
std::string loadedText; // set before `loaded`

bool loadOnce() {
  std::string tried;
  // As Cudnn.cpp: the library found at configure time, then the loader's
  // path (PyTorch's nvidia/cudnn/lib on GPU machines).
  void *lib = openFirstLibrary(
      {
#ifdef FRESCO_CUDNN_PATH
          FRESCO_CUDNN_PATH,
#endif
          "libcudnn.so.9", "libcudnn.so"},
      tried);
  if (!lib) {
    loadError = "cannot load cuDNN (" + tried + ")";
    return false;
  }
#define FRESCO_SHIM_LOAD(name)                                                 \
  table.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));         \
  if (!table.name) {                                                           \
    loadError = "cuDNN has no symbol " #name;                                  \
    return false;                                                              \
  }
  FRESCO_SHIM_FUNCTIONS(FRESCO_SHIM_LOAD)
#undef FRESCO_SHIM_LOAD
  // The backend API's enums and structs are those of the headers compiled
  // against.
  size_t version = table.cudnnGetVersion();
  if (version / 10000 != CUDNN_MAJOR) {
    loadError = "cuDNN " + std::to_string(version) +
                " loaded, this build needs major version " +
                std::to_string(CUDNN_MAJOR);
    return false;
  }
  // Which copy was loaded, for the logs (a machine may hold several).
  loadedText = describeCudnnLibrary(
      version, libraryPathOf(reinterpret_cast<void *>(table.cudnnCreate)));
  loaded = true;
  return true;
}

} // namespace

bool load(std::string *why) {
  static const bool ok = loadOnce(); // thread-safe, once
  if (why)
    *why = loadError;
  return ok;
}

std::string loadedLibrary() { return loaded ? loadedText : ""; }

} // namespace shim
} // namespace cuda
} // namespace fresco

using fresco::cuda::shim::table;

extern "C" {

size_t cudnnGetVersion(void) { return table.cudnnGetVersion(); }
const char *cudnnGetErrorString(cudnnStatus_t status) {
  return table.cudnnGetErrorString(status);
}
void cudnnGetLastErrorString(char *message, size_t max_size) {
  table.cudnnGetLastErrorString(message, max_size);
}
cudnnStatus_t cudnnCreate(cudnnHandle_t *handle) {
  return table.cudnnCreate(handle);
}
cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  return table.cudnnDestroy(handle);
}
cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  return table.cudnnSetStream(handle, stream);
}
cudnnStatus_t cudnnGetStream(cudnnHandle_t handle, cudaStream_t *stream) {
  return table.cudnnGetStream(handle, stream);
}
cudnnStatus_t
cudnnBackendCreateDescriptor(cudnnBackendDescriptorType_t descriptorType,
                             cudnnBackendDescriptor_t *descriptor) {
  return table.cudnnBackendCreateDescriptor(descriptorType, descriptor);
}
cudnnStatus_t cudnnBackendDestroyDescriptor(cudnnBackendDescriptor_t d) {
  return table.cudnnBackendDestroyDescriptor(d);
}
cudnnStatus_t cudnnBackendFinalize(cudnnBackendDescriptor_t d) {
  return table.cudnnBackendFinalize(d);
}
cudnnStatus_t cudnnBackendSetAttribute(cudnnBackendDescriptor_t d,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type,
                                       int64_t count, const void *elements) {
  return table.cudnnBackendSetAttribute(d, name, type, count, elements);
}
cudnnStatus_t cudnnBackendGetAttribute(cudnnBackendDescriptor_t const d,
                                       cudnnBackendAttributeName_t name,
                                       cudnnBackendAttributeType_t type,
                                       int64_t requested, int64_t *count,
                                       void *elements) {
  return table.cudnnBackendGetAttribute(d, name, type, requested, count,
                                        elements);
}
cudnnStatus_t cudnnBackendExecute(cudnnHandle_t handle,
                                  cudnnBackendDescriptor_t plan,
                                  cudnnBackendDescriptor_t pack) {
  return table.cudnnBackendExecute(handle, plan, pack);
}

// NVRTC: never reached for SDPA (see the file comment).
nvrtcResult nvrtcCreateProgram(nvrtcProgram *, const char *, const char *, int,
                               const char *const *, const char *const *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}
nvrtcResult nvrtcDestroyProgram(nvrtcProgram *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}
nvrtcResult nvrtcCompileProgram(nvrtcProgram, int, const char *const *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}
nvrtcResult nvrtcGetCUBINSize(nvrtcProgram, size_t *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}
nvrtcResult nvrtcGetCUBIN(nvrtcProgram, char *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}
nvrtcResult nvrtcGetProgramLogSize(nvrtcProgram, size_t *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}
nvrtcResult nvrtcGetProgramLog(nvrtcProgram, char *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}
// Frontends 1.19 to 1.23 also reference the PTX pair.
nvrtcResult nvrtcGetPTXSize(nvrtcProgram, size_t *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}
nvrtcResult nvrtcGetPTX(nvrtcProgram, char *) {
  return NVRTC_ERROR_INTERNAL_ERROR;
}

} // extern "C"

#pragma GCC visibility pop

#endif // FRESCO_HAVE_CUDNN_FRONTEND
