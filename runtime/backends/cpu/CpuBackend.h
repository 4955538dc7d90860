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
/// With a GEMM precision below f32 it emulates a GPU's low-precision GEMMs:
/// announced linear weights (prepareWeight) and the inputs multiplied by
/// them are rounded to bf16/f16 (to nearest even), then multiplied and
/// accumulated in f32, so the executor's and the tests' handling of
/// --dtype runs here too.
std::unique_ptr<Backend>
createStagedCpuBackend(GemmPrecision precision = GemmPrecision::F32);

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CPU_CPUBACKEND_H
