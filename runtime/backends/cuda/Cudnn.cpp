//===- Cudnn.cpp - conv2d through cuDNN's legacy API ----------------------===//
//
// cuDNN 9 marks its legacy convolution API (cudnn_cnn.h, the 4-d tensor and
// filter descriptors) deprecated in favour of the graph API; it is still
// the short way to a tuned forward convolution with a heuristic algorithm
// choice, so the deprecation warnings are silenced in this file only.
//
// libcudnn.so.9 is a small shim that loads its sub-libraries (cnn, ops,
// graph, engines) from the loader's path on demand; on GPU machines they
// come from PyTorch's nvidia/cudnn/lib (bench/gpu-check.sh puts it on
// LD_LIBRARY_PATH).
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/Cudnn.h"
#include "runtime/core/DynamicLibrary.h"

#include "runtime/core/Error.h"

#include <cstdio>

#ifdef FRESCO_HAVE_CUDNN

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#include <cuda_runtime.h>
#include <cudnn.h>
#include <dlfcn.h>

#include <atomic>
#include <climits>
#include <map>
#include <vector>

namespace fresco {
namespace cuda {
namespace {

//===----------------------------------------------------------------------===//
// cuDNN, loaded at run time
//===----------------------------------------------------------------------===//

#define FRESCO_CUDNN_FUNCTIONS(X)                                              \
  X(cudnnGetVersion)                                                           \
  X(cudnnGetErrorString)                                                       \
  X(cudnnCreate)                                                               \
  X(cudnnDestroy)                                                              \
  X(cudnnSetStream)                                                            \
  X(cudnnCreateTensorDescriptor)                                               \
  X(cudnnSetTensor4dDescriptor)                                                \
  X(cudnnDestroyTensorDescriptor)                                              \
  X(cudnnCreateFilterDescriptor)                                               \
  X(cudnnSetFilter4dDescriptor)                                                \
  X(cudnnDestroyFilterDescriptor)                                              \
  X(cudnnCreateConvolutionDescriptor)                                          \
  X(cudnnSetConvolution2dDescriptor)                                           \
  X(cudnnSetConvolutionMathType)                                               \
  X(cudnnGetConvolution2dForwardOutputDim)                                     \
  X(cudnnDestroyConvolutionDescriptor)                                         \
  X(cudnnGetConvolutionForwardAlgorithm_v7)                                    \
  X(cudnnGetConvolutionForwardWorkspaceSize)                                   \
  X(cudnnConvolutionForward)

struct CudnnApi {
#define FRESCO_CUDNN_MEMBER(name) decltype(&::name) name = nullptr;
  FRESCO_CUDNN_FUNCTIONS(FRESCO_CUDNN_MEMBER)
#undef FRESCO_CUDNN_MEMBER
  // Optional: only adds detail to messages.
  decltype(&::cudnnGetLastErrorString) cudnnGetLastErrorString = nullptr;
};

/// Set once api() loaded the library: what cudnnLoadedLibrary() says.
std::atomic<bool> loaded{false};
std::string loadedText;

/// The process-wide table, or null (with the reason in `why`) when the
/// library cannot be loaded or is not the major version compiled against.
const CudnnApi *api(std::string *why = nullptr) {
  static std::string error;
  static const CudnnApi table = []() {
    CudnnApi a;
    // The library found at configure time first, then the loader's search
    // path (LD_LIBRARY_PATH, e.g. PyTorch's nvidia/cudnn/lib).
    std::string tried;
    void *lib = openFirstLibrary(
        {
#ifdef FRESCO_CUDNN_PATH
            FRESCO_CUDNN_PATH,
#endif
#ifdef FRESCO_CUDNN_SONAME
            FRESCO_CUDNN_SONAME,
#endif
            "libcudnn.so.9", "libcudnn.so"},
        tried);
    if (!lib) {
      error = "cannot load cuDNN (" + tried + ")";
      return a;
    }
#define FRESCO_CUDNN_LOAD(name)                                                \
  a.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));             \
  if (!a.name && error.empty())                                                \
    error = "cuDNN has no symbol " #name;
    FRESCO_CUDNN_FUNCTIONS(FRESCO_CUDNN_LOAD)
#undef FRESCO_CUDNN_LOAD
    a.cudnnGetLastErrorString =
        reinterpret_cast<decltype(&::cudnnGetLastErrorString)>(
            dlsym(lib, "cudnnGetLastErrorString"));
    // The legacy API's structs and enums are those of the headers compiled
    // against: another major version may differ.
    if (error.empty()) {
      size_t version = a.cudnnGetVersion();
      if (version / 10000 != CUDNN_MAJOR)
        error = "cuDNN " + std::to_string(version) +
                " loaded, this build needs major version " +
                std::to_string(CUDNN_MAJOR);
      if (error.empty()) {
        loadedText = describeCudnnLibrary(
            version, libraryPathOf(reinterpret_cast<void *>(a.cudnnCreate)));
        loaded = true;
      }
    }
    return a;
  }();
  if (why)
    *why = error;
  return error.empty() ? &table : nullptr;
}

/// cuDNN's name for `s`, with its last error message when it has one.
std::string describe(cudnnStatus_t s) {
  const CudnnApi &a = *api();
  std::string text = a.cudnnGetErrorString(s);
  char detail[512] = {};
  if (a.cudnnGetLastErrorString)
    a.cudnnGetLastErrorString(detail, sizeof detail);
  if (detail[0])
    text += std::string(" (") + detail + ")";
  return text;
}

/// Algorithms needing more workspace than this are passed over.
constexpr size_t kMaxWorkspaceBytes = size_t(256) << 20;

struct Plan {
  ConvSetup setup;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo{};

  void destroy() {
    const CudnnApi *a = api();
    if (!a)
      return;
    if (x)
      a->cudnnDestroyTensorDescriptor(x);
    if (y)
      a->cudnnDestroyTensorDescriptor(y);
    if (w)
      a->cudnnDestroyFilterDescriptor(w);
    if (conv)
      a->cudnnDestroyConvolutionDescriptor(conv);
    x = y = nullptr;
    w = nullptr;
    conv = nullptr;
  }
};

} // namespace

bool cudnnAvailable(std::string *why) { return api(why) != nullptr; }

std::string cudnnLoadedLibrary() { return loaded ? loadedText : ""; }

struct CudnnConv::Impl {
  Impl(int device, cudaStream_t stream, DType storage, bool allowTf32)
      : device(device), stream(stream), storage(storage),
        allowTf32(allowTf32 && storage == DType::F32) {}

  int device;
  cudaStream_t stream;
  DType storage;
  bool allowTf32; // f32 storage only
  cudnnHandle_t handle = nullptr;
  bool handleTried = false;
  std::string handleError; // why there is no handle (library included)
  std::map<ConvDims, Plan> plans;

  /// The handle on the backend's device and stream, created once; null
  /// with handleError set when cuDNN cannot be used at all.
  cudnnHandle_t getHandle() {
    if (handleTried)
      return handle;
    handleTried = true;
    const CudnnApi *a = api(&handleError);
    if (!a)
      return nullptr;
    auto s = cudnnStatus_t(
        createOnDevice(device, [&] { return int(a->cudnnCreate(&handle)); }));
    if (s != CUDNN_STATUS_SUCCESS) {
      handle = nullptr;
      handleError = "cudnnCreate: " + describe(s);
      return nullptr;
    }
    s = a->cudnnSetStream(handle, stream);
    if (s != CUDNN_STATUS_SUCCESS) {
      a->cudnnDestroy(handle);
      handle = nullptr;
      handleError = "cudnnSetStream: " + describe(s);
    }
    return handle;
  }

  /// Fills `p` for `d`; false with p.setup.why on the first failure.
  bool setUp(const ConvDims &d, Plan &p) {
    const CudnnApi &a = *api();
    std::string &why = p.setup.why;
    // bf16/f16 data with f32 compute (cuDNN's PSEUDO_HALF / PSEUDO_BFLOAT16
    // configurations), as the GEMMs accumulate.
    const bool f32 = storage == DType::F32;
    const cudnnDataType_t data = f32                      ? CUDNN_DATA_FLOAT
                                 : storage == DType::BF16 ? CUDNN_DATA_BFLOAT16
                                                          : CUDNN_DATA_HALF;
    if (!f32 && storage != DType::BF16 && storage != DType::F16) {
      why = std::string("no cuDNN data type for ") + dtypeName(storage) +
            " storage";
      return false;
    }
    auto ok = [&](cudnnStatus_t s, const char *call) {
      if (s == CUDNN_STATUS_SUCCESS)
        return true;
      why = std::string(call) + ": " + describe(s);
      return false;
    };
    const int64_t OH = (d.H + 2 * d.padH - d.KH) / d.strideH + 1;
    const int64_t OW = (d.W + 2 * d.padW - d.KW) / d.strideW + 1;
    // The legacy descriptors take int sizes and index with int strides.
    for (int64_t v :
         {d.N * d.C * d.H * d.W, d.O * d.C * d.KH * d.KW, d.N * d.O * OH * OW,
          d.padH, d.padW, d.strideH, d.strideW})
      if (v > INT_MAX) {
        why = "sizes beyond cuDNN's 32-bit ones";
        return false;
      }
    if (!ok(a.cudnnCreateTensorDescriptor(&p.x),
            "cudnnCreateTensorDescriptor") ||
        !ok(a.cudnnCreateTensorDescriptor(&p.y),
            "cudnnCreateTensorDescriptor") ||
        !ok(a.cudnnCreateFilterDescriptor(&p.w),
            "cudnnCreateFilterDescriptor") ||
        !ok(a.cudnnCreateConvolutionDescriptor(&p.conv),
            "cudnnCreateConvolutionDescriptor"))
      return false;
    if (!ok(a.cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, data, int(d.N),
                                         int(d.C), int(d.H), int(d.W)),
            "cudnnSetTensor4dDescriptor (input)") ||
        !ok(a.cudnnSetFilter4dDescriptor(p.w, data, CUDNN_TENSOR_NCHW, int(d.O),
                                         int(d.C), int(d.KH), int(d.KW)),
            "cudnnSetFilter4dDescriptor") ||
        // PyTorch's conv is a cross-correlation (no kernel flip).
        !ok(a.cudnnSetConvolution2dDescriptor(p.conv, int(d.padH), int(d.padW),
                                              int(d.strideH), int(d.strideW), 1,
                                              1, CUDNN_CROSS_CORRELATION,
                                              CUDNN_DATA_FLOAT),
            "cudnnSetConvolution2dDescriptor"))
      return false;
    // FMA math keeps exact f32 products; the default allows TF32 tensor
    // cores, only when the backend's GEMMs do (FRESCO_CUDA_TF32). 16-bit
    // data goes to tensor cores.
    const cudnnMathType_t math = !f32        ? CUDNN_TENSOR_OP_MATH
                                 : allowTf32 ? CUDNN_DEFAULT_MATH
                                             : CUDNN_FMA_MATH;
    if (!ok(a.cudnnSetConvolutionMathType(p.conv, math),
            "cudnnSetConvolutionMathType"))
      return false;
    int n = 0, c = 0, h = 0, w = 0;
    if (!ok(a.cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &n, &c,
                                                    &h, &w),
            "cudnnGetConvolution2dForwardOutputDim"))
      return false;
    if (n != d.N || c != d.O || h != OH || w != OW) {
      why = "cuDNN's output shape " + std::to_string(n) + "x" +
            std::to_string(c) + "x" + std::to_string(h) + "x" +
            std::to_string(w) + " differs from conv2d's";
      return false;
    }
    if (!ok(a.cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, data, n, c, h,
                                         w),
            "cudnnSetTensor4dDescriptor (output)"))
      return false;

    // The heuristic's ranking; the first that succeeds within the
    // workspace cap wins (the heuristic is the only query: nothing is
    // timed, so set-up stays cheap).
    std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(
        CUDNN_CONVOLUTION_FWD_ALGO_COUNT);
    int found = 0;
    if (!ok(a.cudnnGetConvolutionForwardAlgorithm_v7(handle, p.x, p.w, p.conv,
                                                     p.y, int(perf.size()),
                                                     &found, perf.data()),
            "cudnnGetConvolutionForwardAlgorithm_v7"))
      return false;
    std::string lastError;
    for (int i = 0; i < found; ++i) {
      const cudnnConvolutionFwdAlgoPerf_t &r = perf[size_t(i)];
      if (r.status != CUDNN_STATUS_SUCCESS || r.memory > kMaxWorkspaceBytes)
        continue;
      // Strict f32 takes FMA algorithms only, never a tensor-core one.
      if (f32 && !allowTf32 && r.mathType != CUDNN_FMA_MATH)
        continue;
      // TF32 at most: never f32 data converted down to f16 or bf16 (the
      // math type only means that; 16-bit data has TENSOR_OP_MATH).
      if (r.mathType == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
        continue;
      // cuDNN picks kernels by algorithm and math type together.
      size_t bytes = 0;
      if (!ok(a.cudnnSetConvolutionMathType(p.conv, r.mathType),
              "cudnnSetConvolutionMathType") ||
          !ok(a.cudnnGetConvolutionForwardWorkspaceSize(
                  handle, p.x, p.w, p.conv, p.y, r.algo, &bytes),
              "cudnnGetConvolutionForwardWorkspaceSize")) {
        lastError = why;
        continue;
      }
      if (bytes > kMaxWorkspaceBytes)
        continue;
      p.algo = r.algo;
      p.setup.workspaceBytes = bytes;
      p.setup.ok = true;
      why.clear();
      return true;
    }
    why = "no forward algorithm within " +
          std::to_string(kMaxWorkspaceBytes >> 20) + " MiB of workspace" +
          (lastError.empty() ? "" : " (last: " + lastError + ")");
    return false;
  }
};

CudnnConv::CudnnConv(int device, CUstream_st *stream, DType storage,
                     bool allowTf32)
    : impl_(new Impl(device, stream, storage, allowTf32)) {}

CudnnConv::~CudnnConv() {
  // Errors are ignored: a destructor cannot report them.
  for (auto &[d, p] : impl_->plans)
    p.destroy();
  if (impl_->handle)
    api()->cudnnDestroy(impl_->handle);
}

const ConvSetup *CudnnConv::find(const ConvDims &d) const {
  auto it = impl_->plans.find(d);
  return it == impl_->plans.end() ? nullptr : &it->second.setup;
}

const ConvSetup &CudnnConv::prepare(const ConvDims &d) {
  auto it = impl_->plans.find(d);
  if (it != impl_->plans.end())
    return it->second.setup;
  Plan p;
  if (!impl_->getHandle()) {
    // Not the shape's fault: say it once per process.
    p.setup.why = impl_->handleError;
    static bool warned = false;
    if (!warned)
      std::fprintf(stderr,
                   "fresco: cuDNN unavailable (%s): conv2d uses im2col + "
                   "GEMM\n",
                   p.setup.why.c_str());
    warned = true;
  } else if (!impl_->setUp(d, p)) {
    p.destroy();
    std::fprintf(stderr,
                 "fresco: cuDNN cannot run conv2d N=%lld C=%lld H=%lld "
                 "W=%lld O=%lld kernel %lldx%lld stride %lldx%lld pad "
                 "%lldx%lld (%s): it uses im2col + GEMM\n",
                 (long long)d.N, (long long)d.C, (long long)d.H, (long long)d.W,
                 (long long)d.O, (long long)d.KH, (long long)d.KW,
                 (long long)d.strideH, (long long)d.strideW, (long long)d.padH,
                 (long long)d.padW, p.setup.why.c_str());
  }
  return impl_->plans.emplace(d, std::move(p)).first->second.setup;
}

void CudnnConv::forward(const ConvDims &d, const void *x, const void *w,
                        void *y, bool accumulate, void *workspace,
                        size_t workspaceBytes) {
  auto it = impl_->plans.find(d);
  check(it != impl_->plans.end() && it->second.setup.ok,
        "conv2d: no cuDNN plan for this shape");
  const Plan &p = it->second;
  // The scaling factors are f32 for f32, bf16 and f16 data alike.
  const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  cudnnStatus_t s = api()->cudnnConvolutionForward(
      impl_->handle, &alpha, p.x, x, p.w, w, p.conv, p.algo, workspace,
      workspaceBytes, &beta, p.y, y);
  if (s != CUDNN_STATUS_SUCCESS)
    fail("cuDNN error in cudnnConvolutionForward (conv2d): ", describe(s),
         " (status ", int(s), ")");
}

int CudnnConv::shapesOnCudnn() const {
  int n = 0;
  for (const auto &[d, p] : impl_->plans)
    n += p.setup.ok;
  return n;
}

int CudnnConv::shapesFallenBack() const {
  return int(impl_->plans.size()) - shapesOnCudnn();
}

} // namespace cuda
} // namespace fresco

#pragma GCC diagnostic pop

#else // !FRESCO_HAVE_CUDNN

#include <map>

namespace fresco {
namespace cuda {

// Configured without cudnn.h: every shape falls back to im2col + GEMM.
namespace {
const char *const kNoCudnn = "this build has no cuDNN (no cudnn.h at "
                             "configure time)";
} // namespace

bool cudnnAvailable(std::string *why) {
  if (why)
    *why = kNoCudnn;
  return false;
}

std::string cudnnLoadedLibrary() { return {}; }

struct CudnnConv::Impl {
  std::map<ConvDims, ConvSetup> plans;
};

CudnnConv::CudnnConv(int, CUstream_st *, DType, bool) : impl_(new Impl) {}
CudnnConv::~CudnnConv() = default;

const ConvSetup *CudnnConv::find(const ConvDims &d) const {
  auto it = impl_->plans.find(d);
  return it == impl_->plans.end() ? nullptr : &it->second;
}

const ConvSetup &CudnnConv::prepare(const ConvDims &d) {
  if (const ConvSetup *s = find(d))
    return *s;
  static bool warned = false;
  if (!warned)
    std::fprintf(stderr,
                 "fresco: cuDNN unavailable (%s): conv2d uses im2col + GEMM\n",
                 kNoCudnn);
  warned = true;
  return impl_->plans.emplace(d, ConvSetup{false, 0, kNoCudnn}).first->second;
}

void CudnnConv::forward(const ConvDims &, const void *, const void *, void *,
                        bool, void *, size_t) {
  fail("conv2d: ", kNoCudnn);
}

int CudnnConv::shapesOnCudnn() const { return 0; }
int CudnnConv::shapesFallenBack() const { return int(impl_->plans.size()); }

} // namespace cuda
} // namespace fresco

#endif // FRESCO_HAVE_CUDNN

namespace fresco {
namespace cuda {

std::string describeCudnnLibrary(size_t version, const std::string &path) {
  return "cuDNN " + std::to_string(version / 10000) + "." +
         std::to_string(version / 100 % 100) + "." +
         std::to_string(version % 100) + " (" + path + ")";
}

} // namespace cuda
} // namespace fresco
