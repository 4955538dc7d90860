//===- CpuBackend.h - The CPU reference and fast-path backend ---*- C++ -*-===//
//
// fp32 kernels on the host: GEMMs through OpenBLAS (cblas_sgemm), everything
// else in plain C++ parallelised with OpenMP (OMP_NUM_THREADS sets the thread
// count). One backend object serves one executor: it owns scratch buffers,
// so calls on it must not overlap. Creating one makes OpenBLAS
// single-threaded for the whole process: the kernels split GEMMs over
// OpenMP threads themselves, and two thread pools only slow each other down.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CPU_CPUBACKEND_H
#define FRESCO_RUNTIME_BACKENDS_CPU_CPUBACKEND_H

#include "runtime/core/Backend.h"

#include <memory>

namespace fresco {

/// Creates the CPU backend.
std::unique_ptr<Backend> createCpuBackend();

/// The CPU kernels behind a device backend's memory contract
/// (usesHostMemory() is false): the executor copies weights in and stages
/// collectives through host buffers exactly as it does for a GPU, so those
/// paths are tested on machines without one.
///
/// With a precision below f32 it emulates a GPU's --dtype bf16|f16: every
/// float tensor is stored in bf16/f16 (floatStorage()), each kernel computes
/// in f32 from the stored values and rounds its result once when storing
/// it (StoredCpuBackend.cpp), so the executor's and the tests' handling of
/// low-precision storage runs here too.
std::unique_ptr<Backend>
createStagedCpuBackend(GemmPrecision precision = GemmPrecision::F32);

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CPU_CPUBACKEND_H
