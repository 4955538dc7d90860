//===- Cudnn.h - conv2d through cuDNN, loaded on first use ------*- C++ -*-===//
//
// The CUDA backend's conv2d runs on cuDNN's legacy convolution API when
// libcudnn loads and the shape sets up, and falls back to im2col + GEMM
// otherwise. libcudnn is loaded with dlopen on first use, as cuBLASLt is:
// DiT runs need no conv beyond the patch embedding, and CPU runs none.
//
// x, w and y are in the backend's float storage: f32 runs use f32 data with
// FMA math (TF32 only as the backend's GEMMs allow it); bf16/f16 runs use
// that data type with f32 compute (tensor cores allowed), as cuBLASLt's
// GEMMs do.
//
// One plan per shape (descriptors, algorithm, workspace size), made on the
// shape's first call, which the executor's warm-up run makes before any
// graph capture; inside a capture only cudnnConvolutionForward runs.
//
// This header needs no cuDNN (or CUDA) header. Builds configured without
// cudnn.h compile Cudnn.cpp to stubs that report cuDNN as unavailable.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_CUDNN_H
#define FRESCO_RUNTIME_BACKENDS_CUDA_CUDNN_H

#include "runtime/core/Backend.h"

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <tuple>

struct CUstream_st; // cudaStream_t is CUstream_st *

namespace fresco {
namespace cuda {

/// True when libcudnn (the major version this build was compiled against)
/// can be loaded; otherwise false with the reason in `why` (when non-null).
/// Loads it on the first call.
bool cudnnAvailable(std::string *why = nullptr);

/// "cuDNN 9.10.2 (/path/libcudnn.so.9)": the library conv2d loaded, from
/// cudnnGetVersion() and dladdr; empty before it was loaded (or when it
/// did not load). Never loads it itself.
std::string cudnnLoadedLibrary();

/// cudnnGetVersion()'s number (major * 10000 + minor * 100 + patch since
/// cuDNN 9) as "9.10.2", with the library's path: the text of
/// cudnnLoadedLibrary().
std::string describeCudnnLibrary(size_t version, const std::string &path);

/// One conv2d problem (NCHW input, OIHW weight); the plan cache's key.
struct ConvDims {
  int64_t N, C, H, W, O, KH, KW, strideH, strideW, padH, padW;
  auto tie() const {
    return std::tie(N, C, H, W, O, KH, KW, strideH, strideW, padH, padW);
  }
  bool operator<(const ConvDims &o) const { return tie() < o.tie(); }
};

/// What set-up decided for one shape.
struct ConvSetup {
  bool ok = false;           // cuDNN runs it
  size_t workspaceBytes = 0; // what its algorithm needs (when ok)
  std::string why;           // why not (when !ok)
};

/// cuDNN convolutions queued on one stream: a handle (created on the first
/// set-up) and a plan per shape.
class CudnnConv {
public:
  /// `storage`: the element type of x, w and y (F32, BF16 or F16).
  /// `allowTf32` (f32 only): CUDNN_DEFAULT_MATH (TF32 tensor cores on
  /// Ampere and newer) rather than CUDNN_FMA_MATH (exact f32), as the
  /// backend's GEMMs.
  CudnnConv(int device, CUstream_st *stream, DType storage, bool allowTf32);
  ~CudnnConv();
  CudnnConv(const CudnnConv &) = delete;
  CudnnConv &operator=(const CudnnConv &) = delete;

  /// The cached set-up of `d`, or null before prepare(d).
  const ConvSetup *find(const ConvDims &d) const;
  /// Sets `d` up once, caching failures too: a missing library, any cuDNN
  /// status at set-up, or sizes beyond cuDNN's 32-bit ones make it !ok, and
  /// the first such decision is reported once on stderr. Outside graph
  /// capture only (it creates descriptors and may load the library).
  const ConvSetup &prepare(const ConvDims &d);
  /// y = conv(x, w) (+ y when `accumulate`) for a shape prepare() accepted,
  /// with at least its workspaceBytes at `workspace`. Throws fresco::Error
  /// naming the call and cuDNN's error.
  void forward(const ConvDims &d, const void *x, const void *w, void *y,
               bool accumulate, void *workspace, size_t workspaceBytes);

  /// Shapes set up so far that run on cuDNN / fell back (for tests).
  int shapesOnCudnn() const;
  int shapesFallenBack() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Runs `create` (a cudnnCreate; returns its status) with `device` current,
/// then makes the previous device current again: a cuDNN handle belongs
/// to the device current when it is made. CUDA failures on the way are
/// cleared so that no later kernel check reports them; the status says
/// what went wrong.
inline int createOnDevice(int device, const std::function<int()> &create) {
  int previous = -1;
  if (cudaGetDevice(&previous) != cudaSuccess) {
    cudaGetLastError();
    previous = -1;
  }
  if (previous != device && cudaSetDevice(device) != cudaSuccess)
    cudaGetLastError();
  const int status = create();
  if (previous != device && previous >= 0 &&
      cudaSetDevice(previous) != cudaSuccess)
    cudaGetLastError();
  return status;
}

} // namespace cuda

/// For a CUDA backend: how many conv2d shapes it set up on cuDNN and how
/// many fell back to im2col + GEMM ({0, 0} for other backends and with
/// FRESCO_CUDNN=0). Defined in CudaBackend.cpp; tests use it to tell the two
/// paths apart.
struct CudnnConvCounts {
  int onCudnn = 0, fallenBack = 0;
};
CudnnConvCounts cudnnConvCounts(Backend &backend);

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_CUDNN_H
