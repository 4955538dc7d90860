//===- ClipText.h - CLIP's text cleaning and word split ---------*- C++ -*-===//
//
// What transformers 4.46's CLIPTokenizer does to a prompt before BPE when
// ftfy is not installed (internal to runtime/text). The Unicode character
// data (general categories, bidirectional classes, NFC, full lower-casing,
// simple case folding) comes from ICU: Debian 12's ICU 72, Unicode 15.0.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_TEXT_CLIPTEXT_H
#define FRESCO_RUNTIME_TEXT_CLIPTEXT_H

#include <string>
#include <vector>

namespace fresco::text {

/// " ".join(BasicTokenizer(strip_accents=False,
/// do_split_on_punc=False).tokenize(utf8)): control, format, private-use
/// and unassigned characters, NUL and U+FFFD dropped; other whitespace
/// made a space; a space on each side of every CJK ideograph; NFC; split on
/// whitespace; each word lower-cased. `utf8` must be valid UTF-8.
std::string clipClean(const std::string &utf8);

/// re.findall of CLIPTokenizer's pattern (the `regex` module, IGNORECASE)
/// over a cleaned text, as UTF-8 strings:
///   <\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|
///   [\p{N}]|[^\s\p{L}\p{N}]+
std::vector<std::string> clipWords(const std::string &cleaned);

} // namespace fresco::text

#endif // FRESCO_RUNTIME_TEXT_CLIPTEXT_H
