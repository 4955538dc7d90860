//===- SizeEstimate.h - A size before building ------------------*- C++ -*-===//
//
// Each key of a config is bounded on its own; their products are not. A
// config's validation adds up its parameters and notes its largest
// activation here, with checked arithmetic, and refuses (naming the keys)
// a model far beyond any real one before the builder creates a single op.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_MODELS_SIZEESTIMATE_H
#define FRESCO_MODELS_SIZEESTIMATE_H

#include "runtime/core/CheckedMath.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <string>

namespace fresco::models {

class SizeEstimate {
public:
  /// 2^36 parameters (256 GiB in f32): over 5x FLUX.1's 12 billion.
  static constexpr int64_t kMaxParams = int64_t(1) << 36;
  /// 2^36 elements in one activation: a 16k x 16k image with 256 channels.
  static constexpr int64_t kMaxActivation = int64_t(1) << 36;

  /// `count` tensors of `dims` each.
  void params(std::initializer_list<int64_t> dims, int64_t count = 1) {
    params_ = saturatingAdd(
        params_, saturatingProduct({saturatingProduct(dims), count}));
  }
  /// An activation of `dims` (batch 1).
  void activation(std::initializer_list<int64_t> dims) {
    activation_ = std::max(activation_, saturatingProduct(dims));
  }
  int64_t numParams() const { return params_; }

  /// Fails, naming `model` and the keys that set its size, when it passes
  /// a limit.
  llvm::Error check(const llvm::Twine &model, const llvm::Twine &paramKeys,
                    const llvm::Twine &activationKeys) const {
    if (params_ > kMaxParams)
      return fail(model + " config: " + paramKeys + " make " + amount(params_) +
                  " parameters, more than the " + llvm::Twine(kMaxParams) +
                  " this builder accepts");
    if (activation_ > kMaxActivation)
      return fail(model + " config: " + activationKeys + " make an " +
                  "activation of " + amount(activation_) +
                  " elements, more than the " + llvm::Twine(kMaxActivation) +
                  " this builder accepts");
    return llvm::Error::success();
  }

private:
  static std::string amount(int64_t n) {
    return n == std::numeric_limits<int64_t>::max()
               ? std::string("more than 2^63")
               : ("about " + llvm::Twine(n)).str();
  }
  static llvm::Error fail(const llvm::Twine &msg) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
  }
  int64_t params_ = 0, activation_ = 0;
};

} // namespace fresco::models

#endif // FRESCO_MODELS_SIZEESTIMATE_H
