//===- T5TokenizerTest.cpp - T5 tokenizer layout and error paths ----------===//
//
// Ids are checked against transformers by test/e2e/text/t5_tokenizer_parity.py;
// here a unigram model trained in memory (SentencePiece's trainer, T5's
// layout: pad 0, eos 1, unk 2) pins the eos/pad/truncation layout, the
// warning, added-token splitting, and that every refusal names its cause.
//
//===----------------------------------------------------------------------===//
#include "runtime/text/T5Tokenizer.h"

#include "TestUtil.h"

#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <sstream>

using namespace fresco;
using namespace fresco::test;

namespace {

constexpr int64_t kPieces = 30;

class Lines : public sentencepiece::SentenceIterator {
public:
  explicit Lines(std::vector<std::string> lines) : lines_(std::move(lines)) {}
  bool done() const override { return i_ >= lines_.size(); }
  void Next() override { ++i_; }
  const std::string &value() const override { return lines_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

private:
  std::vector<std::string> lines_;
  size_t i_ = 0;
};

/// A serialized unigram model, trained once for the whole suite.
const std::string &modelProto() {
  static const std::string proto = [] {
    std::vector<std::string> lines;
    const char *words[] = {"a",     "photo", "of",   "cat",  "dog",
                           "night", "city",  "café", "東京", "42"};
    for (int i = 0; i < 400; ++i) {
      std::string line;
      for (int k = 0; k < 6; ++k)
        line += std::string(k ? " " : "") + words[(i * 7 + k * 3) % 10];
      lines.push_back(line);
    }
    Lines it(lines);
    std::string out;
    auto status = sentencepiece::SentencePieceTrainer::Train(
        {{"model_type", "unigram"},
         {"vocab_size", std::to_string(kPieces)},
         {"pad_id", "0"},
         {"eos_id", "1"},
         {"unk_id", "2"},
         {"bos_id", "-1"},
         {"minloglevel", "2"}},
        &it, &out);
    if (!status.ok())
      throw std::runtime_error("training failed: " + status.ToString());
    return out;
  }();
  return proto;
}

/// The ids SentencePiece itself gives, for expectations built from pieces.
std::vector<int64_t> spIds(const std::string &text) {
  sentencepiece::SentencePieceProcessor sp;
  EXPECT_TRUE(sp.LoadFromSerializedProto(modelProto()).ok());
  std::vector<int> ids;
  EXPECT_TRUE(sp.Encode(text, &ids).ok());
  return {ids.begin(), ids.end()};
}

struct Folder {
  TempDir dir;
  Folder() { writeText(dir / "spiece.model", modelProto()); }
  T5Tokenizer load() const { return T5Tokenizer::load(dir.path()); }
};

std::string loadError(const Folder &f) {
  try {
    f.load();
  } catch (const Error &e) {
    return e.what();
  }
  return "(loaded)";
}

TEST(T5Tokenizer, AppendsEosPadsAndTruncatesWithAWarning) {
  Folder f;
  T5Tokenizer tok = f.load();
  EXPECT_EQ(tok.eosId(), 1);
  EXPECT_EQ(tok.padId(), 0);
  EXPECT_EQ(tok.unkId(), 2);
  // 100 <extra_id_N> follow the pieces when no config lists added tokens.
  EXPECT_EQ(tok.vocabSize(), kPieces + 100);

  std::vector<int64_t> cat = spIds("a photo of a cat");
  ASSERT_GE(cat.size(), 4u);
  std::ostringstream warnings;
  T5Tokens t = tok.tokenize("a photo of a cat", 16, &warnings);
  std::vector<int64_t> want = cat;
  want.push_back(1);
  EXPECT_EQ(t.length, static_cast<int64_t>(want.size()));
  want.resize(16, 0);
  EXPECT_EQ(t.ids, want);
  EXPECT_FALSE(t.truncated);
  EXPECT_EQ(warnings.str(), "");

  // Truncation keeps max_length - 1 ids and always ends with </s>.
  t = tok.tokenize("a photo of a cat", 3, &warnings);
  EXPECT_EQ(t.ids, (std::vector<int64_t>{cat[0], cat[1], 1}));
  EXPECT_TRUE(t.truncated);
  EXPECT_EQ(t.fullLength, static_cast<int64_t>(cat.size()) + 1);
  EXPECT_NE(warnings.str().find(std::to_string(t.fullLength) + " tokens"),
            std::string::npos)
      << warnings.str();
  EXPECT_NE(warnings.str().find("max_sequence_length is 3"), std::string::npos)
      << warnings.str();

  t = tok.tokenize("", 4);
  EXPECT_EQ(t.ids, (std::vector<int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(t.length, 1);
  EXPECT_EQ(tok.tokenize("  \t ", 2).ids, (std::vector<int64_t>{1, 0}));
}

TEST(T5Tokenizer, SplitsOnAddedTokensLongestFirst) {
  Folder f;
  T5Tokenizer tok = f.load();
  std::vector<int64_t> a = spIds("a"), cat = spIds("cat");
  std::vector<int64_t> want = a;
  want.push_back(1);                 // </s>
  want.push_back(kPieces + 99 - 10); // <extra_id_10>, not <extra_id_1>
  want.insert(want.end(), cat.begin(), cat.end());
  EXPECT_EQ(tok.encode("a</s><extra_id_10>cat"), want);
  // Not an added token: tokenized as text.
  EXPECT_EQ(tok.encode("<EXTRA_ID_0>"), spIds("<EXTRA_ID_0>"));
}

TEST(T5Tokenizer, ConfigNamesAddedAndSpecialTokens) {
  Folder f;
  writeText(f.dir / "tokenizer_config.json", R"({
    "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>",
    "legacy": true,
    "added_tokens_decoder": {"0": {"content": "<pad>"}, "1": {"content": "</s>"},
      "2": {"content": "<unk>"}, "30": {"content": "<sep>"}}})");
  writeText(f.dir / "special_tokens_map.json", R"({"pad_token": "<sep>"})");
  T5Tokenizer tok = f.load();
  EXPECT_EQ(tok.padId(), kPieces);
  EXPECT_EQ(tok.vocabSize(), kPieces + 1);
  EXPECT_EQ(tok.tokenize("", 3).ids,
            (std::vector<int64_t>{1, kPieces, kPieces}));
  // Without added_tokens_decoder's <extra_id_N>, it is text.
  EXPECT_EQ(tok.encode("<extra_id_0>"), spIds("<extra_id_0>"));
}

/// A ModelProto in protobuf wire format: one SentencePiece message (field
/// 1) per piece, each with its text (field 1) and type (field 3).
std::string
protoOfPieces(const std::vector<std::pair<std::string, int>> &pieces) {
  std::string out;
  for (const auto &[text, type] : pieces) {
    std::string msg =
        std::string("\x0a") + char(text.size()) + text + "\x18" + char(type);
    out += std::string("\x0a") + char(msg.size()) + msg;
  }
  return out;
}

// Found by fuzzing: SentencePiece's trie builder throws (not a status) on a
// piece that starts with a NUL byte (a zero-length key to it); the loader let
// that exception through, not a fresco::Error.
TEST(T5Tokenizer, NulPieceIsAnError) {
  Folder f;
  writeText(
      f.dir / "spiece.model",
      protoOfPieces({{"<unk>", 2}, {"a", 1}, {std::string("\0b", 2), 1}}));
  std::string err = loadError(f);
  EXPECT_NE(err.find("spiece.model is not a valid SentencePiece model"),
            std::string::npos)
      << err;
}

TEST(T5Tokenizer, RefusesBadFoldersAndInput) {
  {
    TempDir empty;
    try {
      T5Tokenizer::load(empty.path());
      FAIL() << "loaded a folder without spiece.model";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("spiece.model does not exist"),
                std::string::npos)
          << e.what();
    }
  }
  Folder f;
  writeText(f.dir / "spiece.model", modelProto().substr(0, 50));
  EXPECT_NE(loadError(f).find("is not a valid SentencePiece model"),
            std::string::npos)
      << loadError(f);
  writeText(f.dir / "spiece.model", modelProto());

  writeText(f.dir / "tokenizer_config.json", "{not json");
  EXPECT_NE(loadError(f).find("tokenizer_config.json is not valid JSON"),
            std::string::npos)
      << loadError(f);
  writeText(f.dir / "tokenizer_config.json", R"({"legacy": false})");
  EXPECT_NE(loadError(f).find("\"legacy\": false"), std::string::npos)
      << loadError(f);
  writeText(f.dir / "tokenizer_config.json", R"({"eos_token": "<eos>"})");
  EXPECT_NE(loadError(f).find("eos_token \"<eos>\" is neither"),
            std::string::npos)
      << loadError(f);
  writeText(f.dir / "tokenizer_config.json", R"({"eos_token": 3})");
  EXPECT_NE(loadError(f).find("\"eos_token\" must be a string"),
            std::string::npos)
      << loadError(f);
  writeText(f.dir / "tokenizer_config.json",
            R"({"added_tokens_decoder": {"x": {"content": "<a>"}}})");
  EXPECT_NE(loadError(f).find("key \"x\" is not an integer id in [0, "),
            std::string::npos)
      << loadError(f);
  std::filesystem::remove(f.dir / "tokenizer_config.json");

  T5Tokenizer tok = f.load();
  for (std::string bad :
       {std::string("\xff"), std::string("\xc3"), std::string("\xc0\xaf"),
        std::string("\xed\xa0\x80")}) {
    try {
      tok.encode("ok " + bad);
      FAIL() << "accepted invalid UTF-8";
    } catch (const Error &e) {
      EXPECT_NE(std::string(e.what()).find("not valid UTF-8 at byte offset 3"),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(tok.tokenize("a", 0), Error);
}

} // namespace
