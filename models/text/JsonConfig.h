//===- JsonConfig.h - Typed reads of a transformers config.json -*- C++ -*-===//
#ifndef FRESCO_MODELS_TEXT_JSONCONFIG_H
#define FRESCO_MODELS_TEXT_JSONCONFIG_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

namespace fresco::models {

inline llvm::Error configError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Reads integer `key` into `dst` when present: it must lie in [min, max]
/// (a bound far above real models keeps size products exact and stops
/// absurd configs before anything is built).
inline llvm::Error readInt(const llvm::json::Object &config,
                           llvm::StringRef key, int64_t &dst, int64_t min,
                           int64_t max) {
  const llvm::json::Value *v = config.get(key);
  if (!v)
    return llvm::Error::success();
  std::optional<int64_t> i = v->getAsInteger();
  if (!i || *i < min || *i > max)
    return configError("config key '" + key + "' must be an integer in [" +
                       llvm::Twine(min) + ", " + llvm::Twine(max) + "]");
  dst = *i;
  return llvm::Error::success();
}

/// Reads positive number `key` into `dst` when present.
inline llvm::Error readPositive(const llvm::json::Object &config,
                                llvm::StringRef key, double &dst) {
  const llvm::json::Value *v = config.get(key);
  if (!v)
    return llvm::Error::success();
  std::optional<double> d = v->getAsNumber();
  if (!d || !(*d > 0))
    return configError("config key '" + key + "' must be a positive number");
  dst = *d;
  return llvm::Error::success();
}

/// Whether config.json's "architectures" names `cls`.
inline bool hasArchitecture(const llvm::json::Object &config,
                            llvm::StringRef cls) {
  const llvm::json::Array *a = config.getArray("architectures");
  if (!a)
    return false;
  for (const llvm::json::Value &v : *a)
    if (v.getAsString() == cls)
      return true;
  return false;
}

} // namespace fresco::models

#endif // FRESCO_MODELS_TEXT_JSONCONFIG_H
