//===- BoundedJson.h - JSON parsing with bounded nesting --------*- C++ -*-===//
//
// Every JSON file the runtime reads (config.json, weight indexes, safetensors
// headers, scheduler and tokenizer configs) goes through parseBoundedJson:
// nlohmann parses iteratively, but a document nested thousands of levels
// deep has no legitimate use and would overflow the stack of any recursive
// walk or dump of it. Header-only: the libraries that read JSON link
// nlohmann_json themselves.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_BOUNDEDJSON_H
#define FRESCO_RUNTIME_CORE_BOUNDEDJSON_H

#include "runtime/core/PythonJson.h"

#include <nlohmann/json.hpp>

#include <string>

namespace fresco {

/// Deeper than any real config (they nest 3-4 levels); the compiler's model
/// configs use the same bound.
constexpr int kMaxJsonDepth = 256;

/// Thrown for too deep a document. A nlohmann::json::exception, so that the
/// callers' handlers of malformed JSON report it with the file's name.
class JsonDepthError : public nlohmann::json::exception {
public:
  JsonDepthError()
      : nlohmann::json::exception(0, ("nesting deeper than " +
                                      std::to_string(kMaxJsonDepth) + " levels")
                                         .c_str()) {}
};

/// nlohmann::json::parse of [first, last) with at most kMaxJsonDepth nested
/// arrays/objects; throws nlohmann::json::exception for malformed or too
/// deep input.
template <typename It> nlohmann::json parseBoundedJson(It first, It last) {
  return nlohmann::json::parse(
      first, last,
      [](int depth, nlohmann::json::parse_event_t event, nlohmann::json &) {
        if ((event == nlohmann::json::parse_event_t::object_start ||
             event == nlohmann::json::parse_event_t::array_start) &&
            depth >= kMaxJsonDepth)
          throw JsonDepthError();
        return true;
      });
}

/// The same for a whole document, Python's Infinity, -Infinity and NaN
/// read as PythonJson.h says.
inline nlohmann::json parseBoundedJson(const std::string &text) {
  const std::string standard = standardJson(text);
  return parseBoundedJson(standard.begin(), standard.end());
}

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_BOUNDEDJSON_H
