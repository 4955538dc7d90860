//===- ClipTokenizerTest.cpp - CLIP tokenizer loading and error paths -----===//
//
// Ids on real CLIP merges are checked against transformers by
// test/e2e/text/clip_tokenizer_parity.py; here a tiny hand-made folder pins
// the BPE, padding and truncation, and every refusal names its file.
//
//===----------------------------------------------------------------------===//
#include "runtime/text/ClipTokenizer.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <filesystem>

using namespace fresco;
using namespace fresco::test;

namespace {

const char *kVocab = R"({"h": 0, "i": 1, "hi</w>": 2, "a</w>": 3, "!</w>": 4,
  "<|startoftext|>": 5, "<|endoftext|>": 6, "!": 7})";
const char *kMerges = "#version: 0.2\nh i</w>\n";
const char *kConfig = R"({"model_max_length": 8, "bos_token": "<|startoftext|>",
  "eos_token": {"content": "<|endoftext|>"}, "pad_token": "<|endoftext|>",
  "unk_token": "<|endoftext|>"})";

/// A tokenizer folder in diffusers' layout; tests break one file at a time.
struct Folder {
  TempDir dir;
  Folder() {
    writeText(dir / "vocab.json", kVocab);
    writeText(dir / "merges.txt", kMerges);
    writeText(dir / "tokenizer_config.json", kConfig);
  }
  ClipTokenizer load() const { return ClipTokenizer::load(dir.path()); }
};

TEST(ClipTokenizer, EncodesPadsAndTruncates) {
  Folder f;
  ClipTokenizer tok = f.load();
  EXPECT_EQ(tok.bosId(), 5);
  EXPECT_EQ(tok.eosId(), 6);
  EXPECT_EQ(tok.padId(), 6);
  EXPECT_EQ(tok.modelMaxLength(), 8);
  // Lower-cased, whitespace collapsed, "h" + "i</w>" merged, "x" unknown.
  EXPECT_EQ(tok.encode("  HI\t\nhi x a!"),
            (std::vector<int64_t>{2, 2, 6, 3, 4}));
  ClipTokens t = tok.tokenize("hi hi");
  EXPECT_EQ(t.ids, (std::vector<int64_t>{5, 2, 2, 6, 6, 6, 6, 6}));
  EXPECT_EQ(t.length, 4);
  EXPECT_FALSE(t.truncated);
  t = tok.tokenize("hi hi hi hi", 4);
  EXPECT_EQ(t.ids, (std::vector<int64_t>{5, 2, 2, 6}));
  EXPECT_TRUE(t.truncated);
  t = tok.tokenize("");
  EXPECT_EQ(t.ids, (std::vector<int64_t>{5, 6, 6, 6, 6, 6, 6, 6}));
  EXPECT_EQ(t.length, 2);
  // A special token in the text is split out before any cleaning.
  EXPECT_EQ(tok.encode("hi<|endoftext|>hi"), (std::vector<int64_t>{2, 6, 2}));
  expectError([&] { tok.tokenize("hi", 1); }, {"no room"});
}

TEST(ClipTokenizer, SpecialTokensMapOverridesConfig) {
  Folder f;
  writeText(f.dir / "special_tokens_map.json", R"({"pad_token": "!"})");
  ClipTokenizer tok = f.load();
  EXPECT_EQ(tok.padId(), 7);
  // "!" is now an added token: split out whole, not BPE'd as "!</w>".
  EXPECT_EQ(tok.encode("hi!"), (std::vector<int64_t>{2, 7}));
}

// CLIPTokenizer reads 48894 merges at most (CLIP's vocabulary size).
TEST(ClipTokenizer, IgnoresMergesPastCLIPsLimit) {
  Folder f;
  std::string merges = "#version: 0.2\n";
  for (int i = 0; i < 48894; ++i)
    merges += "x y\n";
  writeText(f.dir / "merges.txt", merges + "h i</w>\n");
  // "h" + "i</w>" stays unmerged: "h", then "i</w>" (unknown).
  EXPECT_EQ(f.load().encode("hi"), (std::vector<int64_t>{0, 6}));
  writeText(f.dir / "merges.txt",
            merges.substr(0, merges.size() - 4) + "h i</w>\n");
  EXPECT_EQ(f.load().encode("hi"), (std::vector<int64_t>{2}));
}

TEST(ClipTokenizer, MergesOnePairEverywhereBeforeTheNext) {
  // Python's bpe merges "a a" at 0-1 and 2-3 in one pass, then "aa a"
  // (ranked lower, but created by that pass) at 2-4: aa | aaa | b</w>.
  // Merging "aa a" as soon as it appeared gave aaa | aa | a | b</w>.
  Folder f;
  writeText(f.dir / "vocab.json",
            R"({"a": 0, "aa": 1, "aaa": 2, "b</w>": 3, "<|startoftext|>": 5,
                "<|endoftext|>": 6})");
  writeText(f.dir / "merges.txt", "#version: 0.2\naa a\na a\naa aa\n");
  EXPECT_EQ(f.load().encode("aaaaab"), (std::vector<int64_t>{1, 2, 3}));
  // One long word: the merges no longer rescan it per pass (a 100 kB word
  // took 40 s on CLIP's merges, 1 MB hours). Python's bpe gives "aaaa"
  // (unknown: the unk id 6) 75000 times, then "b</w>".
  std::vector<int64_t> ids = f.load().encode(std::string(300000, 'a') + "b");
  ASSERT_EQ(ids.size(), 75001u);
  EXPECT_EQ(ids[0], 6);
  EXPECT_EQ(ids.back(), 3);
}

// The Unicode steps on a tiny vocabulary: the parity test covers them on
// CLIP's real merges.
TEST(ClipTokenizer, CleansUnicodeAsBasicTokenizer) {
  Folder f;
  writeText(f.dir / "vocab.json",
            R"({"h": 0, "i": 1, "hi</w>": 2, "<|startoftext|>": 5,
                "<|endoftext|>": 6, "\u00c3\u00a9</w>": 7,
                "\u00cf\u0124</w>": 8, "\u00cf\u0125</w>": 9,
                "\u00e6\u013f\u00b1</w>": 10, "\u00e4\u00ba\u00ac</w>": 11})");
  // Byte-encoded pairs: é is C3 A9, ς CF 82, σ CF 83, 東 E6 9D B1, 京 E4 BA AC.
  writeText(f.dir / "merges.txt",
            "#version: 0.2\nh i</w>\n\u00c3 \u00a9</w>\n\u00cf \u0124</w>\n"
            "\u00cf \u0125</w>\n\u00e6 \u013f\n\u00e6\u013f \u00b1</w>\n"
            "\u00e4 \u00ba\n\u00e4\u00ba \u00ac</w>\n");
  ClipTokenizer tok = f.load();
  // NBSP is a space; U+200B (format) and U+E000 (private use) are dropped;
  // "E" + U+0301 composes to "\u00e9" and is lower-cased.
  EXPECT_EQ(tok.encode("hi\u00a0hi\u200b \ue000E\xcc\x81"),
            (std::vector<int64_t>{2, 2, 7}));
  // A final capital sigma lowers to the final form (U+03C2, bytes CF 82),
  // a lone one to U+03C3 (CF 83); each ideograph is a word of its own.
  EXPECT_EQ(tok.encode("\xce\xa3 \xe6\x9d\xb1\xe4\xba\xac"),
            (std::vector<int64_t>{9, 10, 11}));
  EXPECT_EQ(tok.encode("h\xce\xa3"), (std::vector<int64_t>{0, 8}));
}

TEST(ClipTokenizer, RefusesInvalidUtf8) {
  Folder f;
  ClipTokenizer tok = f.load();
  expectError([&] { tok.encode("caf\xc3"); }, {"not valid UTF-8", "offset 3"});
  expectError([&] { tok.encode("ab\xed\xa0\x80"); },
              {"not valid UTF-8", "offset 2"});
}

TEST(ClipTokenizer, MissingFiles) {
  expectError([] { ClipTokenizer::load("/nonexistent/tokenizer"); },
              {"/nonexistent/tokenizer", "not a directory"});
  for (const char *name :
       {"vocab.json", "merges.txt", "tokenizer_config.json"}) {
    Folder f;
    std::filesystem::remove(f.dir / name);
    expectError([&] { f.load(); }, {f.dir / name, "cannot read"});
  }
}

TEST(ClipTokenizer, MalformedVocab) {
  Folder f;
  writeText(f.dir / "vocab.json", "{\"h\": 0,");
  expectError([&] { f.load(); }, {f.dir / "vocab.json", "not valid JSON"});
  writeText(f.dir / "vocab.json", "[1, 2]");
  expectError([&] { f.load(); }, {f.dir / "vocab.json", "JSON object"});
  writeText(f.dir / "vocab.json", R"({"h": "zero"})");
  expectError([&] { f.load(); }, {f.dir / "vocab.json", "\"h\"", "integer"});
  // Ids index the embedding table: negative or past 2^24 named here, not
  // as an embedding error (2^64 - 1 read as -1 before).
  writeText(f.dir / "vocab.json", R"({"h": -5})");
  expectError([&] { f.load(); },
              {f.dir / "vocab.json", "\"h\" is -5, outside [0, 16777216]"});
  writeText(f.dir / "vocab.json", R"({"h": 18446744073709551615})");
  expectError([&] { f.load(); },
              {"\"h\" is 18446744073709551615, outside [0, 16777216]"});
}

TEST(ClipTokenizer, MalformedMerges) {
  Folder f;
  writeText(f.dir / "merges.txt", "#version: 0.2\nh i</w>\nh i x\n");
  expectError([&] { f.load(); }, {f.dir / "merges.txt", "line 3", "h i x"});
  writeText(f.dir / "merges.txt", "#version: 0.2\nh i</w>\n\nh i\n");
  expectError([&] { f.load(); }, {f.dir / "merges.txt", "line 3"});
  writeText(f.dir / "merges.txt", "#version: 0.2\n");
  expectError([&] { f.load(); }, {f.dir / "merges.txt", "no merges"});
  // transformers cannot decode it; the message names the offset.
  writeText(f.dir / "merges.txt", "#version: 0.2\nh i</w>\n\xff\xfe x\n");
  expectError([&] { f.load(); },
              {f.dir / "merges.txt", "not valid UTF-8 (at byte offset 22)"});
  // A huge bad line is quoted in part, not whole.
  writeText(f.dir / "merges.txt",
            "#version: 0.2\n" + std::string(1000000, 'q') + "\n");
  std::string msg = errorOf([&] { f.load(); });
  EXPECT_NE(msg.find("line 2"), std::string::npos) << msg.substr(0, 300);
  EXPECT_NE(msg.find("... (1000000 bytes)"), std::string::npos);
  EXPECT_LT(msg.size(), 400u);
}

TEST(ClipTokenizer, MalformedConfig) {
  Folder f;
  writeText(f.dir / "tokenizer_config.json", "not json");
  expectError([&] { f.load(); },
              {f.dir / "tokenizer_config.json", "not valid JSON"});
  writeText(f.dir / "tokenizer_config.json", R"({"model_max_length": 1e30})");
  expectError([&] { f.load(); },
              {f.dir / "tokenizer_config.json", "model_max_length"});
  writeText(f.dir / "tokenizer_config.json", R"({"pad_token": null})");
  expectError([&] { f.load(); },
              {f.dir / "tokenizer_config.json", "pad_token", "null"});
  writeText(f.dir / "tokenizer_config.json", R"({"bos_token": 3})");
  expectError([&] { f.load(); },
              {f.dir / "tokenizer_config.json", "bos_token", "string"});
  writeText(f.dir / "tokenizer_config.json", R"({"pad_token": "<pad>"})");
  expectError([&] { f.load(); }, {"pad_token", "<pad>", "vocab.json"});
  writeText(f.dir / "tokenizer_config.json",
            R"({"added_tokens_decoder": {"x": {"content": "a"}}})");
  expectError([&] { f.load(); }, {"added_tokens_decoder", "\"x\""});
  writeText(f.dir / "tokenizer_config.json",
            R"({"added_tokens_decoder": {"-5": {"content": "a"}}})");
  expectError([&] { f.load(); }, {"\"-5\" is not an integer id in [0, "});
  writeText(f.dir / "tokenizer_config.json",
            R"({"added_tokens_decoder": {"9": {"content": "zz",
                "single_word": true}}})");
  expectError([&] { f.load(); }, {"zz", "single_word"});
}

TEST(ClipTokenizer, MalformedSpecialTokensMap) {
  Folder f;
  writeText(f.dir / "special_tokens_map.json", "{");
  expectError([&] { f.load(); },
              {f.dir / "special_tokens_map.json", "not valid JSON"});
  writeText(f.dir / "special_tokens_map.json", R"({"eos_token": {"x": 1}})");
  expectError([&] { f.load(); },
              {f.dir / "special_tokens_map.json", "eos_token"});
}

} // namespace
