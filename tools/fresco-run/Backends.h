//===- Backends.h - fresco-run's backend choice -----------------*- C++ -*-===//
//
// One place that turns --backend into a Backend, so the two run modes agree
// and a build without CUDA still knows the name (and says why it cannot).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TOOLS_FRESCO_RUN_BACKENDS_H
#define FRESCO_TOOLS_FRESCO_RUN_BACKENDS_H

#include "runtime/core/Backend.h"

#include <memory>
#include <string>

namespace fresco::run {

/// True for the names --backend accepts ("cpu", "cuda"), built or not.
bool isBackendName(const std::string &name);

/// Creates backend `name`. Throws fresco::Error when it cannot be used:
/// "this build has no CUDA backend", or the driver's reason (no GPU).
std::unique_ptr<Backend> createBackend(const std::string &name,
                                       int localRank = 0,
                                       const std::string &dtype = "f32");

} // namespace fresco::run

#endif // FRESCO_TOOLS_FRESCO_RUN_BACKENDS_H
