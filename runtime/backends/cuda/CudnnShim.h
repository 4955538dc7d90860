//===- CudnnShim.h - libcudnn for the cuDNN frontend -----------*- C++ -*-===//
//
// CudnnShim.cpp defines the cuDNN functions the frontend calls (hidden: they
// serve this library only) as forwarders to libcudnn, loaded by load().
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_CUDNNSHIM_H
#define FRESCO_RUNTIME_BACKENDS_CUDA_CUDNNSHIM_H

#include <string>

namespace fresco {
namespace cuda {
namespace shim {

/// Loads libcudnn (once) and resolves the forwarders' targets: false with
/// the reason in `why` when it does not load, is not the major version
/// compiled against, or lacks a function. The forwarders may only be
/// called after it returned true.
bool load(std::string *why);

/// What load() loaded, as describeCudnnLibrary() writes it ("cuDNN 9.10.2
/// (/path/libcudnn.so.9)"); empty before load() succeeded. Never loads.
std::string loadedLibrary();

} // namespace shim
} // namespace cuda
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_CUDNNSHIM_H
