//===- CudaBackendMemory.cpp - CUDA memory, copies and graphs -------------===//
//
// Device memory, the copies to and from the host, the growing scratch and
// cuDNN workspace buffers, and CUDA graph capture of a step's calls.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaBackendImpl.h"

#include <algorithm>
#include <cstdio>

namespace fresco::cudabackend {

void CudaBackend::warnCaptureFailed(const char *why) {
  static bool warned = false;
  if (!warned)
    std::fprintf(stderr,
                 "fresco: warning: CUDA graph capture failed (%s); "
                 "running kernel by kernel\n",
                 why);
  warned = true;
}

std::unique_ptr<Recording>
CudaBackend::record(const std::function<void()> &issue) {
  // FRESCO_CUDA_SYNC synchronizes after each launch: not while capturing.
  if (cuda::syncEveryLaunch())
    return nullptr;
  if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) !=
      cudaSuccess) {
    cudaGetLastError();
    return nullptr;
  }
  bool embeddingBefore = embeddingPending_;
  embeddingPending_ = false;
  cudaGraph_t graph = nullptr;
  try {
    issue();
  } catch (const std::exception &error) {
    // A call the capture refused (an allocation, a collective library
    // that cannot be captured): nothing ran, and the same steps already
    // ran once step by step (the warm-up), so step by step is still
    // right.
    cudaStreamEndCapture(stream_, &graph);
    if (graph)
      cudaGraphDestroy(graph);
    cudaGetLastError();
    embeddingPending_ = embeddingBefore;
    warnCaptureFailed(error.what());
    return nullptr;
  }
  bool embedding = embeddingPending_;
  embeddingPending_ = embeddingBefore;
  cudaError_t e = cudaStreamEndCapture(stream_, &graph);
  cudaGraphExec_t exec = nullptr;
  if (e == cudaSuccess && graph)
    e = cudaGraphInstantiate(&exec, graph, 0);
  if (graph)
    cudaGraphDestroy(graph);
  if (e != cudaSuccess || !exec) {
    // Something in the step cannot be captured (an allocation the warm-up
    // run did not make): say so once and run step by step.
    cudaGetLastError();
    warnCaptureFailed(cudaGetErrorString(e));
    return nullptr;
  }
  return std::make_unique<Graph>(*this, exec, embedding);
}

uint64_t CudaBackend::memoryCapacity() const {
  size_t freeBytes = 0, total = 0;
  if (cudaMemGetInfo(&freeBytes, &total) != cudaSuccess) {
    cudaGetLastError();
    return UINT64_MAX; // unknown: let allocate() decide
  }
  return total;
}

void *CudaBackend::allocate(size_t bytes) {
  void *p = nullptr;
  cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t freeBytes = 0, total = 0;
    cudaMemGetInfo(&freeBytes, &total);
    fail("CUDA backend: cannot allocate ", bytes, " bytes on device ", device_,
         " (", freeBytes, " of ", total,
         " bytes free): ", cudaGetErrorString(e));
  }
  return p;
}

void CudaBackend::release(void *p) {
  if (!p)
    return;
  cudaFree(p); // frees are implicitly ordered after pending work
}

void CudaBackend::copyToDevice(void *dst, const void *host, size_t bytes) {
  if (!bytes)
    return;
  cuda::checkCuda(
      cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_),
      "copy to device");
  cuda::checkCuda(cudaStreamSynchronize(stream_), "copy to device");
}

void CudaBackend::copyToHost(void *host, const void *src, size_t bytes) {
  if (!bytes)
    return;
  cuda::checkCuda(
      cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_),
      "copy to host");
  cuda::checkCuda(cudaStreamSynchronize(stream_), "copy to host");
}

void CudaBackend::synchronize() {
  cuda::checkCuda(cudaStreamSynchronize(stream_),
                  "a kernel (set FRESCO_CUDA_SYNC=1 to name it)");
  if (!embeddingPending_)
    return;
  embeddingPending_ = false;
  cuda::EmbeddingFault f{};
  cuda::checkCuda(
      cudaMemcpyAsync(&f, fault_, sizeof f, cudaMemcpyDeviceToHost, stream_),
      "embedding check");
  cuda::checkCuda(cudaStreamSynchronize(stream_), "embedding check");
  if (f.flag) {
    cuda::checkCuda(cudaMemsetAsync(fault_, 0, sizeof f, stream_),
                    "embedding check");
    cuda::checkCuda(cudaStreamSynchronize(stream_), "embedding check");
    fail("embedding: id ", f.id, " at position ", f.position,
         " is outside the table's [0, ", f.tableRows, ")");
  }
}

void CudaBackend::copyStrided(const void *src, int64_t srcRowElems, void *dst,
                              int64_t dstRowElems, int64_t rows,
                              int64_t rowElems, size_t elemSize) {
  if (rows == 0 || rowElems == 0)
    return;
  const size_t rowBytes = size_t(rowElems) * elemSize;
  if (srcRowElems == rowElems && dstRowElems == rowElems) {
    cuda::checkCuda(cudaMemcpyAsync(dst, src, size_t(rows) * rowBytes,
                                    cudaMemcpyDeviceToDevice, stream_),
                    "copy");
    return;
  }
  cuda::checkCuda(cudaMemcpy2DAsync(dst, size_t(dstRowElems) * elemSize, src,
                                    size_t(srcRowElems) * elemSize, rowBytes,
                                    size_t(rows), cudaMemcpyDeviceToDevice,
                                    stream_),
                  "strided copy");
}

void CudaBackend::fillZero(void *dst, size_t bytes) {
  if (bytes)
    cuda::checkCuda(cudaMemsetAsync(dst, 0, bytes, stream_), "zero fill");
}

bool CudaBackend::cudnnWorkspace(size_t bytes) {
  if (bytes <= cudnnWorkspaceBytes_)
    return true;
  if (capturing())
    return false;
  grow(cudnnWorkspace_, cudnnWorkspaceBytes_, bytes);
  return true;
}

bool CudaBackend::capturing() const {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  return cudaStreamIsCapturing(stream_, &status) == cudaSuccess &&
         status != cudaStreamCaptureStatusNone;
}

void *CudaBackend::scratch(size_t bytes) {
  return grow(scratch_, scratchBytes_, bytes);
}

void *CudaBackend::grow(void *&buffer, size_t &have, size_t bytes) {
  if (bytes > have) {
    // A recorded graph may still point at the old buffer: keep it until
    // the backend goes.
    if (buffer)
      retired_.push_back(buffer);
    buffer = nullptr;
    have = 0;
    buffer = allocate(bytes);
    have = bytes;
  }
  return buffer;
}

} // namespace fresco::cudabackend
