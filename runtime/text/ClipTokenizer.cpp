//===- ClipTokenizer.cpp - CLIP byte-level BPE tokenizer ------------------===//
//
// Each step names the transformers 4.46.3 code it replays
// (models/clip/tokenization_clip.py and tokenization_utils.py).
//
//===----------------------------------------------------------------------===//
#include "runtime/text/ClipTokenizer.h"

#include "runtime/core/Error.h"
#include "runtime/text/ClipText.h"
#include "runtime/text/TokenizerFiles.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <filesystem>
#include <limits>
#include <queue>
#include <sstream>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace fresco {
namespace {

// The literal strings CLIPTokenizer.bpe's cache and pattern know, whatever
// the config names as bos/eos.
constexpr const char *kStartOfText = "<|startoftext|>";
constexpr const char *kEndOfText = "<|endoftext|>";

// CLIPTokenizer reads merges.txt lines [1, 49152 - 256 - 2] only: the first
// line is a header, and CLIP's vocabulary has room for 48894 merges.
constexpr size_t kMaxMerges = 49152 - 256 - 2;

constexpr const char *kWho = "CLIP tokenizer";

// Ids past this are not a vocabulary (CLIP's has 49408 tokens).
constexpr int64_t kMaxId = int64_t(1) << 24;
constexpr const char *kFolderHint =
    ": the tokenizer folder needs vocab.json, merges.txt and "
    "tokenizer_config.json";

std::string readFile(const fs::path &path, const char *what) {
  return text::readFile(kWho, path, what, kFolderHint);
}

json readJson(const fs::path &path, const char *what) {
  return text::readJson(kWho, path, what, kFolderHint);
}

// GPT-2's bytes_to_unicode(): printable bytes map to themselves, the others
// to U+0100 onwards, so that no BPE symbol holds a space or control byte.
// Returns each byte's code point encoded as UTF-8.
const std::array<std::string, 256> &byteEncoder() {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    auto utf8 = [](unsigned cp) {
      std::string s;
      if (cp < 0x80) {
        s += static_cast<char>(cp);
      } else {
        s += static_cast<char>(0xC0 | (cp >> 6));
        s += static_cast<char>(0x80 | (cp & 0x3F));
      }
      return s;
    };
    unsigned next = 256;
    for (unsigned b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
                       (b >= 0xAE && b <= 0xFF);
      t[b] = utf8(printable ? b : next++);
    }
    return t;
  }();
  return table;
}

std::string tokenContent(const json &v, const fs::path &file,
                         const std::string &key) {
  return text::tokenContent(kWho, v, file, key);
}

} // namespace

ClipTokenizer ClipTokenizer::load(const std::string &folder) {
  fs::path dir(folder);
  if (!fs::is_directory(dir))
    fail("CLIP tokenizer: ", folder,
         " is not a directory (expected a "
         "diffusers tokenizer folder with vocab.json and merges.txt)");
  ClipTokenizer tok;

  // vocab.json: {"token": id, ...}.
  fs::path vocabPath = dir / "vocab.json";
  json vocab = readJson(vocabPath, "the BPE vocabulary");
  if (!vocab.is_object() || vocab.empty())
    fail("CLIP tokenizer: ", vocabPath.string(),
         " must be a non-empty JSON object of token -> id");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer())
      fail("CLIP tokenizer: ", vocabPath.string(), ": the id of token \"",
           it.key(), "\" is not an integer");
    // Ids index the text encoder's embedding table.
    if (it.value().is_number_unsigned()
            ? it.value().get<uint64_t>() > uint64_t(kMaxId)
            : it.value().get<int64_t>() < 0 ||
                  it.value().get<int64_t>() > kMaxId)
      fail("CLIP tokenizer: ", vocabPath.string(), ": the id of token \"",
           it.key(), "\" is ", it.value().dump(), ", outside [0, ", kMaxId,
           "]");
    tok.vocab_[it.key()] = it.value().get<int64_t>();
  }

  // merges.txt: as CLIPTokenizer.__init__: read().strip().split("\n"), the
  // first line skipped whatever it says, at most kMaxMerges merges; a pair
  // listed twice keeps its last rank (dict(zip(...))).
  fs::path mergesPath = dir / "merges.txt";
  std::string merges = readFile(mergesPath, "the BPE merges");
  // transformers reads it as UTF-8 (a UnicodeDecodeError otherwise).
  if (size_t at = text::invalidUtf8At(merges); at != std::string::npos)
    fail("CLIP tokenizer: ", mergesPath.string(),
         " is not valid UTF-8 (at byte offset ", at, ")");
  const char *ws = " \t\n\r\v\f";
  size_t b = merges.find_first_not_of(ws), e = merges.find_last_not_of(ws);
  merges = b == std::string::npos ? "" : merges.substr(b, e - b + 1);
  std::istringstream lines(merges);
  std::string line;
  size_t lineNo = 0;
  std::getline(lines, line); // Header ("#version: 0.2").
  while (lineNo < kMaxMerges && std::getline(lines, line)) {
    ++lineNo;
    std::istringstream parts(line);
    std::string first, second, extra;
    if (!(parts >> first >> second) || (parts >> extra))
      fail("CLIP tokenizer: ", mergesPath.string(), " line ", lineNo + 1,
           " is not a merge (two symbols separated by a space): ",
           text::quotedLine(line));
    tok.ranks_[first + " " + second] = static_cast<int64_t>(lineNo - 1);
  }
  if (lineNo == 0)
    fail("CLIP tokenizer: ", mergesPath.string(),
         " has no merges (expected a header line, then one merge a line)");

  // Special tokens: CLIPTokenizer's defaults, then tokenizer_config.json,
  // then special_tokens_map.json (from_pretrained lets the latter win).
  std::map<std::string, std::string> special = {{"bos_token", kStartOfText},
                                                {"eos_token", kEndOfText},
                                                {"unk_token", kEndOfText},
                                                {"pad_token", kEndOfText}};
  fs::path configPath = dir / "tokenizer_config.json";
  json config = readJson(configPath, "the tokenizer config");
  if (!config.is_object())
    fail("CLIP tokenizer: ", configPath.string(), " must be a JSON object");
  auto readSpecial = [&](const json &j, const fs::path &file) {
    for (auto &[key, content] : special) {
      if (!j.contains(key))
        continue;
      if (j[key].is_null())
        fail("CLIP tokenizer: ", file.string(), ": \"", key,
             "\" is null; Fresco needs it to pad and delimit prompts");
      content = tokenContent(j[key], file, key);
    }
  };
  readSpecial(config, configPath);
  if (config.contains("model_max_length")) {
    const json &m = config["model_max_length"];
    // transformers writes 1e30 when it knows no limit; CLIP's is 77.
    if (!m.is_number() || m.get<double>() < 2 || m.get<double>() > 1e6 ||
        m.get<double>() !=
            static_cast<double>(static_cast<int64_t>(m.get<double>())))
      fail("CLIP tokenizer: ", configPath.string(),
           ": \"model_max_length\" must be an integer in [2, 1000000], got ",
           m.dump());
    tok.modelMaxLength_ = static_cast<int64_t>(m.get<double>());
  }
  // Added tokens keep their ids and are never split by BPE.
  if (config.contains("added_tokens_decoder")) {
    const json &added = config["added_tokens_decoder"];
    if (!added.is_object())
      fail("CLIP tokenizer: ", configPath.string(),
           ": \"added_tokens_decoder\" must be an object of id -> token");
    for (auto it = added.begin(); it != added.end(); ++it) {
      int64_t id = 0;
      try {
        size_t used = 0;
        id = std::stoll(it.key(), &used);
        if (used != it.key().size() || id < 0 || id > kMaxId)
          throw std::invalid_argument("not an id");
      } catch (const std::exception &) {
        fail("CLIP tokenizer: ", configPath.string(),
             ": \"added_tokens_decoder\" key \"", it.key(),
             "\" is not an integer id in [0, ", kMaxId, "]");
      }
      std::string content = tokenContent(it.value(), configPath,
                                         "added_tokens_decoder." + it.key());
      // single_word changes how neighbours split; not implemented.
      if (it.value().is_object() && it.value().value("single_word", false))
        fail("CLIP tokenizer: ", configPath.string(), ": added token \"",
             content,
             "\" has single_word true, which Fresco does not "
             "support");
      tok.added_[content] = id;
    }
  }
  fs::path mapPath = dir / "special_tokens_map.json";
  if (fs::exists(mapPath)) {
    json map = readJson(mapPath, "the special tokens map");
    if (!map.is_object())
      fail("CLIP tokenizer: ", mapPath.string(), " must be a JSON object");
    readSpecial(map, mapPath);
  }

  // Special tokens are added tokens too: their id is the added one, else the
  // vocabulary's (convert_tokens_to_ids).
  auto idOf = [&](const std::string &key) {
    const std::string &content = special[key];
    if (auto it = tok.added_.find(content); it != tok.added_.end())
      return it->second;
    auto it = tok.vocab_.find(content);
    if (it == tok.vocab_.end())
      fail("CLIP tokenizer: ", key, " \"", content, "\" is in neither ",
           vocabPath.string(), " nor the added tokens of ",
           configPath.string());
    tok.added_[content] = it->second;
    return it->second;
  };
  tok.bosId_ = idOf("bos_token");
  tok.eosId_ = idOf("eos_token");
  tok.padId_ = idOf("pad_token");
  tok.unkId_ = idOf("unk_token");
  // _convert_token_to_id falls back to the vocabulary's unk id, not the
  // added one.
  if (auto it = tok.vocab_.find(special["unk_token"]); it != tok.vocab_.end())
    tok.unkId_ = it->second;
  return tok;
}

// CLIPTokenizer.bpe + convert_tokens_to_ids for one byte-encoded word.
void ClipTokenizer::bpe(const std::string &word,
                        std::vector<int64_t> &out) const {
  auto idOf = [&](const std::string &t) {
    if (auto it = added_.find(t); it != added_.end())
      return it->second;
    auto it = vocab_.find(t);
    return it == vocab_.end() ? unkId_ : it->second;
  };
  // bpe()'s cache starts with the two literal special tokens: no "</w>".
  if (word == kStartOfText || word == kEndOfText) {
    out.push_back(idOf(word));
    return;
  }
  // Symbols are byte-encoded characters (1 or 2 UTF-8 bytes each), in a
  // linked list: next/prev indices, -1 at the ends.
  struct Symbol {
    std::string text;
    int64_t prev, next;
  };
  std::vector<Symbol> symbols;
  for (size_t i = 0; i < word.size();) {
    size_t len = (static_cast<unsigned char>(word[i]) & 0x80) ? 2 : 1;
    const int64_t n = static_cast<int64_t>(symbols.size());
    symbols.push_back({word.substr(i, len), n - 1, -1});
    if (n > 0)
      symbols[size_t(n - 1)].next = n;
    i += len;
  }
  symbols.back().text += "</w>";
  // Python's loop merges the lowest-ranked pair everywhere, left to right,
  // then looks again: O(n^2) on one long word (a 1 MB prompt word took
  // hours). The same merges from a heap of (rank, left symbol): the pairs of
  // one rank pop left to right, and a pair a merge creates is never the one
  // being merged (it is longer). Entries are checked against the current
  // symbols when popped, so stale ones are skipped.
  using Entry = std::pair<int64_t, int64_t>; // rank, left symbol
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap;
  auto rankOf = [&](int64_t left) -> int64_t {
    const int64_t right = symbols[size_t(left)].next;
    if (right < 0)
      return -1;
    auto it = ranks_.find(symbols[size_t(left)].text + " " +
                          symbols[size_t(right)].text);
    return it == ranks_.end() ? -1 : it->second;
  };
  auto push = [&](int64_t left) {
    if (left < 0)
      return;
    if (int64_t r = rankOf(left); r >= 0)
      heap.push({r, left});
  };
  for (int64_t i = 0; i + 1 < static_cast<int64_t>(symbols.size()); ++i)
    push(i);
  // Pairs a pass creates join the heap after it: Python looks for the next
  // pair only once the whole word is scanned, even when a new pair ranks
  // lower than the one being merged.
  std::vector<int64_t> created;
  while (!heap.empty()) {
    const int64_t rank = heap.top().first;
    created.clear();
    while (!heap.empty() && heap.top().first == rank) {
      const int64_t left = heap.top().second;
      heap.pop();
      Symbol &l = symbols[size_t(left)];
      // Merged into its left neighbour (text cleared), or another pair now.
      if (l.text.empty() || rankOf(left) != rank)
        continue;
      Symbol &r = symbols[size_t(l.next)];
      l.text += r.text;
      r.text.clear();
      l.next = r.next;
      if (l.next >= 0)
        symbols[size_t(l.next)].prev = left;
      created.push_back(l.prev);
      created.push_back(left);
    }
    for (int64_t left : created)
      if (left >= 0 && !symbols[size_t(left)].text.empty())
        push(left);
  }
  for (int64_t i = 0; i >= 0; i = symbols[size_t(i)].next)
    out.push_back(idOf(symbols[size_t(i)].text));
}

// CLIPTokenizer._tokenize on a piece between added tokens.
void ClipTokenizer::encodePiece(const std::string &piece,
                                std::vector<int64_t> &out) const {
  const auto &enc = byteEncoder();
  for (const std::string &w : text::clipWords(text::clipClean(piece))) {
    std::string encoded;
    for (char c : w)
      encoded += enc[static_cast<unsigned char>(c)];
    bpe(encoded, out);
  }
}

std::vector<int64_t> ClipTokenizer::encode(const std::string &text) const {
  // Python strings hold code points: a prompt must be UTF-8.
  if (size_t at = fresco::text::invalidUtf8At(text); at != std::string::npos)
    fail("CLIP tokenizer: the prompt is not valid UTF-8 (at byte offset ", at,
         ")");
  // PreTrainedTokenizer.tokenize: split on added tokens (tokens_trie.split,
  // case-sensitive, longest match at the leftmost position) before any
  // cleaning, so "x!<|endoftext|>" keeps its eos.
  std::vector<int64_t> ids;
  size_t start = 0, i = 0;
  while (i < text.size()) {
    const std::pair<const std::string, int64_t> *match = nullptr;
    for (const auto &entry : added_)
      if (!entry.first.empty() &&
          text.compare(i, entry.first.size(), entry.first) == 0 &&
          (!match || entry.first.size() > match->first.size()))
        match = &entry;
    if (!match) {
      ++i;
      continue;
    }
    encodePiece(text.substr(start, i - start), ids);
    ids.push_back(match->second);
    i += match->first.size();
    start = i;
  }
  encodePiece(text.substr(start), ids);
  return ids;
}

ClipTokens ClipTokenizer::tokenize(const std::string &text,
                                   int64_t maxLength) const {
  if (maxLength <= 0)
    maxLength = modelMaxLength_;
  check(maxLength >= 2, "CLIP tokenizer: max length ", maxLength,
        " leaves no room for the bos and eos tokens");
  std::vector<int64_t> body = encode(text);
  ClipTokens t;
  // truncation=True drops tokens from the end to leave room for bos + eos.
  size_t room = static_cast<size_t>(maxLength - 2);
  t.truncated = body.size() > room;
  if (t.truncated)
    body.resize(room);
  t.ids.reserve(maxLength);
  t.ids.push_back(bosId_);
  t.ids.insert(t.ids.end(), body.begin(), body.end());
  t.ids.push_back(eosId_);
  t.length = static_cast<int64_t>(t.ids.size());
  t.ids.resize(maxLength, padId_);
  return t;
}

} // namespace fresco
