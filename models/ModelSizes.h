//===- ModelSizes.h - Model sizes before building ---------------*- C++ -*-===//
//
// Config validation calls these with the config's own sizes; pipelines
// call them again with the image size they will build. Each refuses, naming
// the keys, a model far beyond any real one (SizeEstimate's limits).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_MODELS_MODELSIZES_H
#define FRESCO_MODELS_MODELSIZES_H

#include "llvm/Support/Error.h"

#include <cstdint>

namespace fresco::models {

struct VAEConfig;
struct UNetConfig;
struct CLIPTextConfig;
struct T5Config;
struct SD3Config;

/// The decoder producing a `height` x `width` image.
llvm::Error checkVAESize(const VAEConfig &c, int64_t height, int64_t width);
/// The UNet on a `height` x `width` latent.
llvm::Error checkUNetSize(const UNetConfig &c, int64_t height, int64_t width);
/// The SD3 transformer with `textTokens` context tokens.
llvm::Error checkSD3Size(const SD3Config &c, int64_t textTokens);
llvm::Error checkCLIPSize(const CLIPTextConfig &c);
llvm::Error checkT5Size(const T5Config &c);

} // namespace fresco::models

#endif // FRESCO_MODELS_MODELSIZES_H
