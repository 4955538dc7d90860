//===- CudaBackend.h - The CUDA backend -------------------------*- C++ -*-===//
//
// Kernels on one GPU: GEMMs through cuBLASLt (bias and tanh GELU fused as
// epilogues, one heuristic query per shape, cached), everything else
// Fresco's own kernels, all issued in order on one stream. Float tensors
// are stored in f32, or in bf16/f16 (floatStorage()) with f32 arithmetic.
// Pointers given to its kernels are device pointers from allocate(); the
// executor uploads the weights and copies inputs and outputs through the
// Backend memory calls.
//
// This header needs no CUDA headers, so tools and tests include it as they
// include the CPU backend's. It exists only in builds with FRESCO_HAVE_CUDA.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_CUDABACKEND_H
#define FRESCO_RUNTIME_BACKENDS_CUDA_CUDABACKEND_H

#include "runtime/core/Backend.h"

#include <memory>
#include <string>

namespace fresco {

/// Creates the CUDA backend on GPU `device`. Throws fresco::Error with the
/// driver's reason when no device can be used ("CUDA driver version is
/// insufficient for CUDA runtime version" on a machine without a GPU
/// driver), or when cuBLASLt cannot be loaded.
/// `precision` below f32 stores every float tensor in bf16/f16
/// (floatStorage(), Backend.h's "Float storage"): GEMMs and attention on
/// tensor cores, all arithmetic and accumulation in f32.
std::unique_ptr<Backend>
createCudaBackend(int device = 0, GemmPrecision precision = GemmPrecision::F32);

/// The cudaStream_t (as a void pointer) every call of a CUDA backend is
/// queued on, and its device; null and -1 for any other backend. The NCCL
/// communicator queues its calls there, in order with the kernels.
void *cudaBackendStream(Backend &backend);
int cudaBackendDevice(Backend &backend);

/// How many CUDA devices this process sees (0 when none can be used).
int cudaDeviceCount();

/// True when a CUDA device can be used. Otherwise false, with the driver's
/// reason in `reason` (when non-null). Cheap after the first call.
bool cudaDeviceUsable(std::string *reason = nullptr);

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_CUDABACKEND_H
