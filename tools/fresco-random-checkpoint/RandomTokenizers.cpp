//===- RandomTokenizers.cpp - Random pipelines' tokenizers ----------------===//
#include "RandomTokenizers.h"
#include "TrainingText.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <sentencepiece_trainer.h>

#include <map>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

using namespace llvm;

namespace fresco::randomckpt {
namespace {

Error error(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

/// GPT-2's byte-to-unicode table in CLIP's vocabulary order: the printable
/// bytes stand for themselves, the others for U+0100 onwards.
std::vector<std::pair<uint8_t, std::string>> byteSymbols() {
  std::vector<std::pair<uint8_t, std::string>> out;
  auto symbol = [](unsigned codePoint) {
    std::string s;
    llvm::convertUTF32ToUTF8String(ArrayRef<UTF32>(UTF32(codePoint)), s);
    return s;
  };
  auto printable = [](unsigned b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
           (b >= 0xAE && b <= 0xFF);
  };
  for (unsigned b = 0; b < 256; ++b)
    if (printable(b))
      out.push_back({uint8_t(b), symbol(b)});
  unsigned next = 256;
  for (unsigned b = 0; b < 256; ++b)
    if (!printable(b))
      out.push_back({uint8_t(b), symbol(next++)});
  return out;
}

/// CLIP's word split of lower-cased ASCII text: letter runs, single digits,
/// runs of other non-space characters.
std::map<std::string, int64_t> countWords(StringRef text) {
  std::map<std::string, int64_t> counts;
  size_t i = 0;
  while (i < text.size()) {
    char c = toLower(text[i]);
    if (isSpace(c)) {
      ++i;
      continue;
    }
    size_t j = i + 1;
    if (isAlpha(c))
      while (j < text.size() && isAlpha(text[j]))
        ++j;
    else if (!isDigit(c))
      while (j < text.size() && !isAlnum(text[j]) && !isSpace(text[j]))
        ++j;
    ++counts[text.substr(i, j - i).lower()];
    i = j;
  }
  return counts;
}

using Word = std::vector<std::string>;
using Pair = std::pair<std::string, std::string>;

/// The most frequent adjacent pair over all words (ties: the smallest pair),
/// or false when every word is one symbol.
bool bestPair(const std::map<Word, int64_t> &words, Pair &best) {
  std::map<Pair, int64_t> counts;
  for (const auto &[word, n] : words)
    for (size_t k = 0; k + 1 < word.size(); ++k)
      counts[{word[k], word[k + 1]}] += n;
  int64_t top = 0;
  for (const auto &[pair, n] : counts)
    if (n > top) {
      top = n;
      best = pair;
    }
  return top > 0;
}

std::map<Word, int64_t> applyMerge(const std::map<Word, int64_t> &words,
                                   const Pair &merge) {
  std::map<Word, int64_t> out;
  for (const auto &[word, n] : words) {
    Word merged;
    for (size_t k = 0; k < word.size(); ++k) {
      if (k + 1 < word.size() && word[k] == merge.first &&
          word[k + 1] == merge.second) {
        merged.push_back(word[k] + word[k + 1]);
        ++k;
      } else {
        merged.push_back(word[k]);
      }
    }
    out[merged] += n;
  }
  return out;
}

Error writeText(const Twine &path, function_ref<void(raw_ostream &)> body) {
  std::error_code ec;
  raw_fd_ostream os(path.str(), ec);
  if (ec)
    return error("cannot write " + path + ": " + ec.message());
  body(os);
  os.close();
  if (os.has_error())
    return error("cannot write " + path + ": " + os.error().message());
  return Error::success();
}

/// The training text's lines, fed to SentencePiece from memory.
class LineIterator : public sentencepiece::SentenceIterator {
public:
  LineIterator() { SplitString(kTrainingText, lines_, "\n"); }
  bool done() const override { return next_ >= lines_.size(); }
  void Next() override {
    ++next_;
    if (!done())
      value_ = lines_[next_].str();
  }
  const std::string &value() const override { return value_; }
  sentencepiece::util::Status status() const override { return {}; }
  void start() {
    next_ = 0;
    value_ = lines_.empty() ? "" : lines_[0].str();
  }

private:
  SmallVector<StringRef> lines_;
  size_t next_ = 0;
  std::string value_;
};

} // namespace

Error writeClipVocabulary(StringRef dir, int64_t vocabSize) {
  const auto bytes = byteSymbols();
  const int64_t fixed = 2 * int64_t(bytes.size()) + 2; // bytes, </w>, specials
  if (vocabSize < fixed)
    return error("a CLIP vocabulary needs at least " + Twine(fixed) +
                 " tokens (256 bytes, their </w> forms, <|startoftext|>, "
                 "<|endoftext|>); the text encoder's vocab_size is " +
                 Twine(vocabSize));
  std::vector<std::string> vocab;
  std::set<std::string> known;
  std::string table[256];
  for (const auto &[b, s] : bytes) {
    table[b] = s;
    vocab.push_back(s);
  }
  for (const auto &[b, s] : bytes)
    vocab.push_back(s + "</w>");
  known.insert(vocab.begin(), vocab.end());

  // Words as byte symbols, "</w>" on the last, as CLIPTokenizer.bpe splits.
  std::map<Word, int64_t> words;
  for (const auto &[text, n] : countWords(kTrainingText)) {
    Word w;
    for (char c : text)
      w.push_back(table[uint8_t(c)]);
    w.back() += "</w>";
    words[w] += n;
  }
  // Merges until the vocabulary is full; a merge whose result is already a
  // token (reached by another split) adds no token, as CLIP's vocab.json.
  std::vector<Pair> merges;
  while (int64_t(vocab.size()) + 2 < vocabSize) {
    Pair best;
    if (!bestPair(words, best))
      return error(
          "the built-in text gives at most " + Twine(vocab.size() + 2) +
          " CLIP tokens; the text encoder's vocab_size is " + Twine(vocabSize));
    merges.push_back(best);
    words = applyMerge(words, best);
    if (known.insert(best.first + best.second).second)
      vocab.push_back(best.first + best.second);
  }
  vocab.push_back("<|startoftext|>");
  vocab.push_back("<|endoftext|>");

  SmallString<256> vocabPath(dir), mergesPath(dir);
  sys::path::append(vocabPath, "vocab.json");
  sys::path::append(mergesPath, "merges.txt");
  if (Error e = writeText(vocabPath, [&](raw_ostream &os) {
        json::OStream j(os);
        j.object([&] {
          for (size_t id = 0; id < vocab.size(); ++id)
            j.attribute(vocab[id], int64_t(id));
        });
        os << "\n";
      }))
    return e;
  return writeText(mergesPath, [&](raw_ostream &os) {
    os << "#version: 0.2\n";
    for (const Pair &m : merges)
      os << m.first << ' ' << m.second << '\n';
  });
}

Error writeT5SentencePiece(StringRef dir, int64_t maxPieces) {
  LineIterator lines;
  lines.start();
  std::string proto;
  // T5's ids: pad 0, eos 1, unk 2, no bos. hard_vocab_limit off: a size
  // above what the text supports gives fewer pieces instead of failing.
  const std::unordered_map<std::string, std::string> options = {
      {"model_type", "unigram"},
      {"vocab_size", std::to_string(maxPieces)},
      {"hard_vocab_limit", "false"},
      {"pad_id", "0"},
      {"eos_id", "1"},
      {"unk_id", "2"},
      {"bos_id", "-1"},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "nmt_nfkc"},
      {"num_threads", "1"},
      {"minloglevel", "2"}};
  sentencepiece::util::Status status =
      sentencepiece::SentencePieceTrainer::Train(options, &lines, &proto);
  if (!status.ok())
    return error("training the T5 SentencePiece model with at most " +
                 Twine(maxPieces) + " pieces failed: " + status.ToString());
  SmallString<256> path(dir);
  sys::path::append(path, "spiece.model");
  return writeText(path, [&](raw_ostream &os) { os << proto; });
}

} // namespace fresco::randomckpt
