//===- Error.h - Runtime error type -----------------------------*- C++ -*-===//
//
// The runtime reports every failure (bad plan, bad checkpoint, bad input) as a
// fresco::Error carrying a message meant for the user. Tools catch it at the
// top level, print it and exit non-zero.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_ERROR_H
#define FRESCO_RUNTIME_CORE_ERROR_H

#include <sstream>
#include <stdexcept>
#include <string>

namespace fresco {

class Error : public std::runtime_error {
public:
  explicit Error(const std::string &msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void appendAll(std::ostringstream &) {}
template <typename T, typename... Rest>
void appendAll(std::ostringstream &os, const T &v, const Rest &...rest) {
  os << v;
  appendAll(os, rest...);
}
} // namespace detail

/// Throws fresco::Error with the streamed concatenation of `parts`.
template <typename... Parts> [[noreturn]] void fail(const Parts &...parts) {
  std::ostringstream os;
  detail::appendAll(os, parts...);
  throw Error(os.str());
}

/// Throws when `cond` is false.
template <typename... Parts> void check(bool cond, const Parts &...parts) {
  if (!cond)
    fail(parts...);
}

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_ERROR_H
