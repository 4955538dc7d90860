//===- PythonJson.h - Python's JSON literals made standard ------*- C++ -*-===//
//
// Python's json module writes float('inf') as Infinity, -Infinity and NaN,
// which JSON does not have, and diffusers saves such configs (e.g.
// DPMSolverMultistepScheduler's default "lambda_min_clipped": -Infinity).
// Both the compiler (llvm::json) and the runtime (nlohmann) read configs
// through this: outside strings the three tokens become the largest finite
// doubles (a clip at -1.8e308 clips as -inf does) and null. Header-only, no
// dependencies.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_PYTHONJSON_H
#define FRESCO_RUNTIME_CORE_PYTHONJSON_H

#include <cctype>
#include <cstring>
#include <string>

namespace fresco {

/// `text` with Python's Infinity, -Infinity and NaN literals (outside
/// strings, as whole tokens) replaced by +-1.7976931348623157e308 and null.
inline std::string standardJson(const std::string &text) {
  static constexpr const char *kMax = "1.7976931348623157e308";
  std::string out;
  out.reserve(text.size());
  bool inString = false;
  auto token = [&](size_t i, const char *word) {
    size_t n = std::strlen(word);
    if (text.compare(i, n, word) != 0)
      return false;
    char next = i + n < text.size() ? text[i + n] : ' ';
    return !(std::isalnum(static_cast<unsigned char>(next)) || next == '_');
  };
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      out += c;
      if (c == '\\' && i + 1 < text.size())
        out += text[++i];
      else if (c == '"')
        inString = false;
      continue;
    }
    if (c == '"') {
      inString = true;
    } else if (token(i, "Infinity")) {
      out += kMax;
      i += 7;
      continue;
    } else if (c == '-' && token(i + 1, "Infinity")) {
      out += "-";
      out += kMax;
      i += 8;
      continue;
    } else if (token(i, "NaN")) {
      out += "null";
      i += 2;
      continue;
    }
    out += c;
  }
  return out;
}

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_PYTHONJSON_H
