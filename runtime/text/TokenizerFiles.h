//===- TokenizerFiles.h - Reading tokenizer folder files --------*- C++ -*-===//
//
// The file helpers the tokenizers share (internal to runtime/text). Each
// error starts with `who` ("CLIP tokenizer") and names the file.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_TEXT_TOKENIZERFILES_H
#define FRESCO_RUNTIME_TEXT_TOKENIZERFILES_H

#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>

namespace fresco::text {

/// The whole file; a fresco::Error "WHO: cannot read PATH (WHAT)HINT" when
/// it cannot be read.
std::string readFile(const std::string &who, const std::filesystem::path &path,
                     const std::string &what, const std::string &hint = "");

/// The file parsed as JSON; unreadable (readFile's error) or invalid JSON
/// is a fresco::Error naming it.
nlohmann::json readJson(const std::string &who,
                        const std::filesystem::path &path,
                        const std::string &what, const std::string &hint = "");

/// A special token entry of tokenizer_config.json / special_tokens_map.json:
/// a string, or an AddedToken dict with a string "content".
std::string tokenContent(const std::string &who, const nlohmann::json &v,
                         const std::filesystem::path &file,
                         const std::string &key);

/// The byte offset of the first invalid UTF-8 sequence in `text` (overlong
/// forms, surrogates and code points past U+10FFFF included), or npos.
size_t invalidUtf8At(const std::string &text);

/// `line` for a message: up to 80 bytes, then "... (N bytes)".
std::string quotedLine(const std::string &line);

} // namespace fresco::text

#endif // FRESCO_RUNTIME_TEXT_TOKENIZERFILES_H
