//===- ClipText.cpp - CLIP's text cleaning and word split -----------------===//
//
// Replays transformers 4.46.3's models/clip/tokenization_clip.py
// (BasicTokenizer, CLIPTokenizer._tokenize) with ICU's character data in
// place of Python's unicodedata and the `regex` module's tables.
//
//===----------------------------------------------------------------------===//
#include "runtime/text/ClipText.h"

#include "runtime/core/Error.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>
#include <unicode/utf8.h>

#include <cstdint>

namespace fresco::text {
namespace {

// CLIP keeps 77 tokens; a longer text only costs memory (a few copies of
// it in UTF-16 and code points), and ICU indexes strings with int32_t.
constexpr size_t kMaxPromptBytes = size_t(1) << 24;

std::vector<UChar32> codePoints(const std::u16string &s) {
  std::vector<UChar32> out;
  out.reserve(s.size());
  for (int32_t i = 0, n = static_cast<int32_t>(s.size()); i < n;) {
    UChar32 c;
    U16_NEXT(s.data(), i, n, c);
    out.push_back(c);
  }
  return out;
}

void appendUtf8(std::string &out, UChar32 c) {
  uint8_t buf[U8_MAX_LENGTH];
  int32_t len = 0;
  U8_APPEND_UNSAFE(buf, len, c);
  out.append(reinterpret_cast<const char *>(buf), static_cast<size_t>(len));
}

// Runs an ICU function that writes a UTF-16 string: once to learn the
// length, once to write it.
template <typename Fn> std::u16string icuString(const char *what, Fn fn) {
  UErrorCode err = U_ZERO_ERROR;
  int32_t len = fn(nullptr, 0, &err);
  if (U_FAILURE(err) && err != U_BUFFER_OVERFLOW_ERROR)
    fail("CLIP tokenizer: ICU's ", what, " failed: ", u_errorName(err));
  std::u16string out(static_cast<size_t>(len), u'\0');
  err = U_ZERO_ERROR;
  fn(out.data(), len, &err);
  if (U_FAILURE(err))
    fail("CLIP tokenizer: ICU's ", what, " failed: ", u_errorName(err));
  return out;
}

// unicodedata.category(c).startswith("C"): Cc, Cf, Cs, Co and Cn
// (unassigned, so the Unicode version matters: see ClipText.h).
bool isOther(UChar32 c) {
  return U_GET_GC_MASK(c) & (U_GC_CC_MASK | U_GC_CF_MASK | U_GC_CS_MASK |
                             U_GC_CO_MASK | U_GC_CN_MASK);
}

// BasicTokenizer's _is_whitespace: the four ASCII ones, or category Zs.
bool isBasicSpace(UChar32 c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
         u_charType(c) == U_SPACE_SEPARATOR;
}

// str.isspace(), which str.split() splits on: bidirectional class WS, B or
// S, or category Zs.
bool isPythonSpace(UChar32 c) {
  if (u_charType(c) == U_SPACE_SEPARATOR)
    return true;
  UCharDirection d = u_charDirection(c);
  return d == U_WHITE_SPACE_NEUTRAL || d == U_BLOCK_SEPARATOR ||
         d == U_SEGMENT_SEPARATOR;
}

// BasicTokenizer._is_chinese_char: the CJK Unified Ideographs blocks it
// lists (not kana or hangul).
bool isCjk(UChar32 c) {
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
         (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
         (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF) ||
         (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

bool isLetter(UChar32 c) { return U_GET_GC_MASK(c) & U_GC_L_MASK; }
bool isNumber(UChar32 c) { return U_GET_GC_MASK(c) & U_GC_N_MASK; }

// What no alternative of the pattern matches, so re.findall skips it and it
// ends a run: whitespace, and a mark whose case fold is a letter. Under
// IGNORECASE the `regex` module refuses such a mark (U+0345, which folds to
// iota) in [^\s\p{L}\p{N}] for its letter fold, while [\p{L}] does not
// take it either.
bool matchesNothing(UChar32 c) {
  if (u_isUWhiteSpace(c))
    return true;
  UChar32 folded = u_foldCase(c, U_FOLD_CASE_DEFAULT);
  return folded != c && !isLetter(c) && !isNumber(c) &&
         (isLetter(folded) || isNumber(folded));
}

// The pattern's literal alternatives, in its order. Under IGNORECASE the
// `regex` module compares simple case folds, so "'ſ" matches 's.
constexpr const char *kLiterals[] = {"<|startoftext|>",
                                     "<|endoftext|>",
                                     "'s",
                                     "'t",
                                     "'re",
                                     "'ve",
                                     "'m",
                                     "'ll",
                                     "'d"};

// How many code points the first literal matching at cps[i] spans, or 0.
size_t literalAt(const std::vector<UChar32> &cps, size_t i) {
  for (const char *lit : kLiterals) {
    size_t k = 0;
    while (lit[k] && i + k < cps.size() &&
           u_foldCase(cps[i + k], U_FOLD_CASE_DEFAULT) ==
               static_cast<UChar32>(lit[k]))
      ++k;
    if (!lit[k])
      return k;
  }
  return 0;
}

} // namespace

std::string clipClean(const std::string &utf8) {
  if (utf8.size() > kMaxPromptBytes)
    fail("CLIP tokenizer: the prompt has ", utf8.size(), " bytes; at most ",
         kMaxPromptBytes, " are supported");
  // _clean_text, then _tokenize_chinese_chars.
  std::u16string cleaned;
  cleaned.reserve(utf8.size());
  auto append = [&](UChar32 c) {
    if (U_IS_BMP(c)) {
      cleaned += static_cast<char16_t>(c);
    } else {
      cleaned += static_cast<char16_t>(U16_LEAD(c));
      cleaned += static_cast<char16_t>(U16_TRAIL(c));
    }
  };
  const auto *bytes = reinterpret_cast<const uint8_t *>(utf8.data());
  for (int32_t i = 0, n = static_cast<int32_t>(utf8.size()); i < n;) {
    UChar32 c;
    U8_NEXT(bytes, i, n, c);
    check(c >= 0, "CLIP tokenizer: the prompt is not valid UTF-8");
    if (c == 0 || c == 0xFFFD ||
        (c != '\t' && c != '\n' && c != '\r' && isOther(c)))
      continue;
    if (isBasicSpace(c)) {
      append(' ');
    } else if (isCjk(c)) {
      append(' ');
      append(c);
      append(' ');
    } else {
      append(c);
    }
  }
  // unicodedata.normalize("NFC", text).
  UErrorCode err = U_ZERO_ERROR;
  const UNormalizer2 *nfc = unorm2_getNFCInstance(&err);
  if (U_FAILURE(err))
    fail("CLIP tokenizer: ICU's NFC normalizer is not available: ",
         u_errorName(err));
  std::u16string text = icuString("NFC", [&](UChar *dst, int32_t cap,
                                             UErrorCode *e) {
    return unorm2_normalize(nfc, cleaned.data(),
                            static_cast<int32_t>(cleaned.size()), dst, cap, e);
  });
  // whitespace_tokenize, token.lower() (full case mapping, final sigma
  // within the word, as ICU's root locale does), " ".join.
  std::vector<UChar32> cps = codePoints(text);
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < cps.size();) {
    if (isPythonSpace(cps[i])) {
      ++i;
      continue;
    }
    std::u16string word;
    for (; i < cps.size() && !isPythonSpace(cps[i]); ++i) {
      if (U_IS_BMP(cps[i])) {
        word += static_cast<char16_t>(cps[i]);
      } else {
        word += static_cast<char16_t>(U16_LEAD(cps[i]));
        word += static_cast<char16_t>(U16_TRAIL(cps[i]));
      }
    }
    std::u16string lower =
        icuString("lower-casing", [&](UChar *dst, int32_t cap, UErrorCode *e) {
          return u_strToLower(dst, cap, word.data(),
                              static_cast<int32_t>(word.size()), "", e);
        });
    if (!out.empty())
      out += ' ';
    for (UChar32 c : codePoints(lower))
      appendUtf8(out, c);
  }
  return out;
}

std::vector<std::string> clipWords(const std::string &cleaned) {
  std::vector<UChar32> cps;
  const auto *bytes = reinterpret_cast<const uint8_t *>(cleaned.data());
  for (int32_t i = 0, n = static_cast<int32_t>(cleaned.size()); i < n;) {
    UChar32 c;
    U8_NEXT(bytes, i, n, c);
    check(c >= 0, "CLIP tokenizer: the cleaned prompt is not valid UTF-8");
    cps.push_back(c);
  }
  // re.findall: leftmost-first alternation, skipping what matches nothing.
  std::vector<std::string> words;
  const size_t n = cps.size();
  for (size_t i = 0; i < n;) {
    UChar32 c = cps[i];
    if (matchesNothing(c)) {
      ++i;
      continue;
    }
    size_t len = literalAt(cps, i);
    if (len == 0 && isLetter(c)) {
      while (i + len < n && isLetter(cps[i + len]))
        ++len;
    } else if (len == 0 && isNumber(c)) {
      len = 1;
    } else if (len == 0) {
      while (i + len < n && !matchesNothing(cps[i + len]) &&
             !isLetter(cps[i + len]) && !isNumber(cps[i + len]))
        ++len;
    }
    std::string word;
    for (size_t k = 0; k < len; ++k)
      appendUtf8(word, cps[i + k]);
    words.push_back(std::move(word));
    i += len;
  }
  return words;
}

} // namespace fresco::text
