//===- TokenizerFiles.cpp - Reading tokenizer folder files ----------------===//
#include "runtime/text/TokenizerFiles.h"
#include "runtime/core/BoundedJson.h"

#include "runtime/core/Error.h"

#include <fstream>
#include <sstream>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace fresco::text {

std::string readFile(const std::string &who, const fs::path &path,
                     const std::string &what, const std::string &hint) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    fail(who, ": cannot read ", path.string(), " (", what, ")", hint);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

json readJson(const std::string &who, const fs::path &path,
              const std::string &what, const std::string &hint) {
  std::string text = readFile(who, path, what, hint);
  try {
    return parseBoundedJson(text);
  } catch (const json::exception &e) {
    fail(who, ": ", path.string(), " is not valid JSON: ", e.what());
  }
}

std::string tokenContent(const std::string &who, const json &v,
                         const fs::path &file, const std::string &key) {
  if (v.is_string())
    return v.get<std::string>();
  if (v.is_object() && v.contains("content") && v["content"].is_string())
    return v["content"].get<std::string>();
  fail(who, ": ", file.string(), ": \"", key,
       "\" must be a string or an object with a string \"content\"");
}

size_t invalidUtf8At(const std::string &text) {
  size_t i = 0, n = text.size();
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool ok = len != 0 && i + len <= n && !(len == 2 && c < 0xC2);
    for (size_t k = 1; ok && k < len; ++k)
      ok = (static_cast<unsigned char>(text[i + k]) >> 6) == 0x2;
    if (ok && len >= 3) {
      unsigned cp = c & (len == 3 ? 0x0F : 0x07);
      for (size_t k = 1; k < len; ++k)
        cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
      // Overlong forms, UTF-16 surrogates and code points past U+10FFFF.
      ok = (len == 3 ? cp >= 0x800 : cp >= 0x10000) &&
           !(cp >= 0xD800 && cp <= 0xDFFF) && cp <= 0x10FFFF;
    }
    if (!ok)
      return i;
    i += len;
  }
  return std::string::npos;
}

std::string quotedLine(const std::string &line) {
  constexpr size_t kShown = 80;
  if (line.size() <= kShown)
    return "\"" + line + "\"";
  return "\"" + line.substr(0, kShown) + "\"... (" +
         std::to_string(line.size()) + " bytes)";
}

} // namespace fresco::text
