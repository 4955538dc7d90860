//===- ClipTokenizer.h - CLIP byte-level BPE tokenizer ----------*- C++ -*-===//
//
// The tokenizer of CLIP text encoders, as transformers 4.46's (slow)
// CLIPTokenizer does it without ftfy installed, which is what diffusers'
// FluxPipeline and StableDiffusionPipeline call:
//
//   1. the text is split on the special tokens it contains verbatim
//      (case-sensitive: "<|endoftext|>" becomes that token's id);
//   2. each piece is cleaned as transformers' BasicTokenizer does (control,
//      format, private-use and unassigned characters dropped, CJK
//      ideographs made words of their own, NFC, whitespace runs collapsed
//      to one space, trimmed) and lower-cased (ClipText.h);
//   3. CLIP's pattern splits it into words ('s 't 're 've 'm 'll 'd, letter
//      runs, single digits, runs of other non-space characters);
//   4. each word's UTF-8 bytes go through GPT-2's byte-to-unicode table, get
//      "</w>" on their last symbol and are merged by merges.txt rank;
//   5. ids are <bos> + up to max_length - 2 tokens + <eos>, padded with the
//      pad token to max_length (padding="max_length", truncation=True).
//
// The Unicode character data is ICU's (Unicode 15.0 in Debian 12's ICU 72);
// Python's unicodedata has the tables of its own version (14.0 in Python
// 3.11), so a character assigned after 14.0 is kept here where transformers
// on Python 3.11 drops it as unassigned. A prompt that is not UTF-8 is a
// fresco::Error naming the byte offset.
//
// With ftfy installed, transformers cleans with ftfy.fix_text instead
// (HTML entities, curly quotes, mojibake); Fresco follows the no-ftfy path.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_TEXT_CLIPTOKENIZER_H
#define FRESCO_RUNTIME_TEXT_CLIPTOKENIZER_H

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace fresco {

/// One prompt's ids, as the text encoder takes them.
struct ClipTokens {
  std::vector<int64_t> ids; ///< Exactly maxLength ids.
  int64_t length = 0;       ///< Ids before the padding, bos and eos included.
  bool truncated = false;   ///< The prompt had more tokens than fit.
};

class ClipTokenizer {
public:
  /// Loads a diffusers tokenizer folder: vocab.json, merges.txt and
  /// tokenizer_config.json are required; special_tokens_map.json, when
  /// present, overrides the config's special tokens (as transformers does).
  /// Missing or malformed files are a fresco::Error naming the file.
  static ClipTokenizer load(const std::string &folder);

  /// The BPE ids of `text`, without bos/eos, padding or truncation.
  std::vector<int64_t> encode(const std::string &text) const;

  /// bos + encode(text) truncated to maxLength - 2 + eos, padded with the pad
  /// id to maxLength (modelMaxLength() when maxLength <= 0).
  ClipTokens tokenize(const std::string &text, int64_t maxLength = 0) const;

  int64_t bosId() const { return bosId_; }
  int64_t eosId() const { return eosId_; }
  int64_t padId() const { return padId_; }
  int64_t unkId() const { return unkId_; }
  int64_t modelMaxLength() const { return modelMaxLength_; }
  size_t vocabSize() const { return vocab_.size(); }

private:
  ClipTokenizer() = default;
  void bpe(const std::string &word, std::vector<int64_t> &out) const;
  void encodePiece(const std::string &piece, std::vector<int64_t> &out) const;

  std::unordered_map<std::string, int64_t> vocab_;
  // Merge rank by pair, keyed "first second" (symbols never hold spaces).
  std::unordered_map<std::string, int64_t> ranks_;
  // Tokens never split (special and added tokens), by content.
  std::map<std::string, int64_t> added_;
  int64_t bosId_ = -1, eosId_ = -1, padId_ = -1, unkId_ = -1;
  int64_t modelMaxLength_ = 77;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_TEXT_CLIPTOKENIZER_H
