//===- JsonConfig.h - Typed reads of a model's config.json ------*- C++ -*-===//
//
// The checks every builder applies to the keys of a diffusers or
// transformers config: absent keys keep their default, present ones have
// the right type and lie within bounds far above any real model (which
// keeps every size product exact and stops absurd configs before anything
// is built).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_MODELS_JSONCONFIG_H
#define FRESCO_MODELS_JSONCONFIG_H

#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <string>

namespace fresco::models {

inline llvm::Error configError(const llvm::Twine &msg) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}

/// Reads integer `key` into `dst` when present (and, with `allowNull`, not
/// null): it must lie in [min, max].
inline llvm::Error readInt(const llvm::json::Object &config,
                           llvm::StringRef key, int64_t &dst, int64_t min = 1,
                           int64_t max = int64_t(1) << 16,
                           bool allowNull = false) {
  const llvm::json::Value *v = config.get(key);
  if (!v || (allowNull && v->kind() == llvm::json::Value::Null))
    return llvm::Error::success();
  std::optional<int64_t> i = v->getAsInteger();
  if (!i || *i < min)
    return configError("config key '" + key + "' must be " +
                       (min == 1 ? std::string("a positive integer")
                                 : "an integer >= " + std::to_string(min)));
  if (*i > max)
    return configError("config key '" + key + "' is " + llvm::Twine(*i) +
                       ", more than the " + llvm::Twine(max) +
                       " this builder accepts");
  dst = *i;
  return llvm::Error::success();
}

/// Reads boolean `key` into `dst` when present.
inline llvm::Error readBool(const llvm::json::Object &config,
                            llvm::StringRef key, bool &dst) {
  const llvm::json::Value *v = config.get(key);
  if (!v)
    return llvm::Error::success();
  std::optional<bool> b = v->getAsBoolean();
  if (!b)
    return configError("config key '" + key + "' must be true or false");
  dst = *b;
  return llvm::Error::success();
}

/// Reads string `key` into `dst` when present: a value of another type
/// must not fall back to the default silently.
inline llvm::Error readString(const llvm::json::Object &config,
                              llvm::StringRef key,
                              std::optional<llvm::StringRef> &dst) {
  const llvm::json::Value *v = config.get(key);
  if (!v)
    return llvm::Error::success();
  dst = v->getAsString();
  if (!dst)
    return configError("config key '" + key + "' must be a string");
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

#endif // FRESCO_MODELS_JSONCONFIG_H
