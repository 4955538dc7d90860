//===- T5Tokenizer.h - T5 SentencePiece tokenizer ---------------*- C++ -*-===//
//
// The tokenizer of T5 text encoders (FluxPipeline's tokenizer_2), giving the
// ids transformers 4.46's T5TokenizerFast gives with its default legacy
// behaviour, through the SentencePiece library on the folder's spiece.model:
//
//   1. the text is split on the added tokens it contains verbatim (</s>,
//      <pad>, <unk>, <extra_id_N>...), leftmost-longest as tokenizers'
//      trie does;
//   2. each piece between them is encoded by SentencePiece on its own (its
//      normalizer, dummy "▁" prefix and unigram model, all from the model
//      file), which is what the fast tokenizer's converted pipeline and the
//      slow tokenizer's sp_model.encode both do;
//   3. ids are up to max_length - 1 tokens + </s>, padded with the pad id to
//      max_length (padding="max_length", truncation=True).
//
// tokenizer_config.json with "legacy": false (no "▁" after a special token)
// is refused rather than tokenized differently.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_TEXT_T5TOKENIZER_H
#define FRESCO_RUNTIME_TEXT_T5TOKENIZER_H

#include <cstdint>
#include <iosfwd>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
} // namespace sentencepiece

namespace fresco {

/// One prompt's ids, as the T5 encoder takes them.
struct T5Tokens {
  std::vector<int64_t> ids; ///< Exactly maxLength ids.
  int64_t length = 0;       ///< Ids before the padding, eos included.
  int64_t fullLength = 0;   ///< Ids the prompt needs untruncated, eos incl.
  bool truncated = false;   ///< The prompt had more tokens than fit.
};

class T5Tokenizer {
public:
  /// Loads a diffusers tokenizer_2 folder: spiece.model is required;
  /// tokenizer_config.json and special_tokens_map.json, when present, name
  /// the special and added tokens (the latter file wins, as transformers
  /// has it). A missing or corrupt file is a fresco::Error naming it.
  static T5Tokenizer load(const std::string &folder);

  /// The ids of `text`, without eos, padding or truncation. Text that is not
  /// valid UTF-8 is a fresco::Error.
  std::vector<int64_t> encode(const std::string &text) const;

  /// encode(text) truncated to maxLength - 1 ids + eos, padded with the pad
  /// id to maxLength. A truncated prompt gets a warning naming both lengths
  /// on `warnings` (none when null), as FluxPipeline logs one.
  T5Tokens tokenize(const std::string &text, int64_t maxLength,
                    std::ostream *warnings = nullptr) const;

  int64_t eosId() const { return eosId_; }
  int64_t padId() const { return padId_; }
  int64_t unkId() const { return unkId_; }
  /// SentencePiece pieces plus the added tokens beyond them.
  int64_t vocabSize() const { return vocabSize_; }

private:
  T5Tokenizer() = default;
  void encodePiece(const std::string &piece, std::vector<int64_t> &out) const;

  // Shared so that tokenizers copy cheaply; encoding never mutates it.
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
  // Tokens never split, by content, with their ids; longest first is the
  // match order at a given position.
  std::vector<std::pair<std::string, int64_t>> added_;
  int64_t eosId_ = -1, padId_ = -1, unkId_ = -1;
  int64_t vocabSize_ = 0;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_TEXT_T5TOKENIZER_H
