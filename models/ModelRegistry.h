//===- ModelRegistry.h - config.json -> fresco IR ---------------*- C++ -*-===//
#ifndef FRESCO_MODELS_MODELREGISTRY_H
#define FRESCO_MODELS_MODELREGISTRY_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

namespace fresco::models {

struct BuildOptions {
  int64_t batch = 1;
};

/// Builds the component function `component` (e.g. "transformer") from the
/// text of a diffusers config.json into `module`, choosing the builder by
/// `_class_name`. Fails with a message naming the unsupported class or key.
llvm::Error buildComponentFromConfig(mlir::ModuleOp module,
                                     llvm::StringRef configText,
                                     llvm::StringRef component,
                                     const BuildOptions &options);

/// Reads `<folder>/config.json` and builds it as `component`.
llvm::Error buildComponentFromFolder(mlir::ModuleOp module,
                                     llvm::StringRef folder,
                                     llvm::StringRef component,
                                     const BuildOptions &options);

} // namespace fresco::models

#endif // FRESCO_MODELS_MODELREGISTRY_H
