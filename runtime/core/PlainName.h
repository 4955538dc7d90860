//===- PlainName.h - Names a plan may use for files and folders -*- C++ -*-===//
//
// A plan names folders under the weights folder the user gives (weight
// components, tokenizers); a crafted plan must not reach outside it. These
// names are diffusers' component names: letters, digits, '_', '-', '.'.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_PLAINNAME_H
#define FRESCO_RUNTIME_CORE_PLAINNAME_H

#include <cctype>
#include <string>

namespace fresco {

/// Whether `name` is one path component that stays inside its parent: no
/// separator, not "." or "..", at most 128 characters of [A-Za-z0-9_.-].
inline bool isPlainName(const std::string &name) {
  if (name.empty() || name.size() > 128 || name == "." || name == "..")
    return false;
  for (char ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '_' &&
        ch != '-' && ch != '.')
      return false;
  return true;
}

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_PLAINNAME_H
