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

} // namespace fresco::text
