//===- T5Tokenizer.cpp - T5 SentencePiece tokenizer -----------------------===//
//
// Each step names the transformers 4.46.3 code it replays
// (models/t5/tokenization_t5*.py, convert_slow_tokenizer.py).
//
//===----------------------------------------------------------------------===//
#include "runtime/text/T5Tokenizer.h"

#include "runtime/core/Error.h"
#include "runtime/text/TokenizerFiles.h"

#include <nlohmann/json.hpp>
#include <sentencepiece_processor.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <ostream>

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace fresco {
namespace {

// T5Tokenizer's defaults when no config names the special tokens.
constexpr const char *kEos = "</s>";
constexpr const char *kPad = "<pad>";
constexpr const char *kUnk = "<unk>";
constexpr int64_t kDefaultExtraIds = 100;

constexpr const char *kWho = "T5 tokenizer";

std::string readFile(const fs::path &path, const char *what) {
  return text::readFile(kWho, path, what);
}

json readJson(const fs::path &path, const char *what) {
  json j = text::readJson(kWho, path, what);
  if (!j.is_object())
    fail(kWho, ": ", path.string(), " must be a JSON object");
  return j;
}

std::string tokenContent(const json &v, const fs::path &file,
                         const std::string &key) {
  return text::tokenContent(kWho, v, file, key);
}

/// Ids and sentinel counts past this are not a vocabulary (T5's is 32k);
/// the bound keeps id + 1 and the sentinel loop small and defined.
constexpr int64_t kMaxId = int64_t(1) << 20;

int64_t parseId(const std::string &key, const fs::path &file) {
  try {
    size_t used = 0;
    int64_t id = std::stoll(key, &used);
    if (used == key.size() && id >= 0 && id < kMaxId)
      return id;
  } catch (const std::exception &) {
  }
  fail(kWho, ": ", file.string(), ": \"added_tokens_decoder\" key \"", key,
       "\" is not an integer id in [0, ", kMaxId, ")");
}

// SentencePiece would replace invalid UTF-8 silently; transformers cannot
// even receive it (prompts are Python str), so refuse it by position.
void checkUtf8(const std::string &text) {
  if (size_t at = text::invalidUtf8At(text); at != std::string::npos)
    fail(kWho, ": the prompt is not valid UTF-8 at byte offset ", at);
}

} // namespace

T5Tokenizer T5Tokenizer::load(const std::string &folder) {
  fs::path dir(folder);
  if (!fs::is_directory(dir))
    fail(kWho, ": ", folder,
         " is not a directory (expected a diffusers tokenizer_2 folder with "
         "spiece.model)");
  T5Tokenizer tok;

  // spiece.model: a serialized SentencePiece ModelProto.
  fs::path modelPath = dir / "spiece.model";
  if (!fs::exists(modelPath))
    fail(kWho, ": ", modelPath.string(),
         " does not exist: the tokenizer_2 folder needs the SentencePiece "
         "model spiece.model");
  std::string proto = readFile(modelPath, "the SentencePiece model");
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  sentencepiece::util::Status status;
  try {
    status = sp->LoadFromSerializedProto(proto);
  } catch (const std::exception &e) {
    // SentencePiece mostly returns a status, but its trie builder throws on
    // some malformed models (found by fuzzing: a zero-length piece).
    fail(kWho, ": ", modelPath.string(),
         " is not a valid SentencePiece model (", e.what(), ")");
  }
  if (!status.ok())
    fail(kWho, ": ", modelPath.string(),
         " is not a valid SentencePiece model (", status.ToString(), ")");
  const int64_t pieces = sp->GetPieceSize();
  if (pieces <= 0)
    fail(kWho, ": ", modelPath.string(), " has no pieces");
  tok.sp_ = sp;

  // Special tokens: T5Tokenizer's defaults, then tokenizer_config.json, then
  // special_tokens_map.json (from_pretrained lets the latter win).
  std::map<std::string, std::string> special = {
      {"eos_token", kEos}, {"pad_token", kPad}, {"unk_token", kUnk}};
  auto readSpecial = [&](const json &j, const fs::path &file) {
    for (auto &[key, content] : special) {
      if (!j.contains(key))
        continue;
      if (j[key].is_null())
        fail(kWho, ": ", file.string(), ": \"", key,
             "\" is null; Fresco needs it to end and pad prompts");
      content = tokenContent(j[key], file, key);
    }
  };

  // Added tokens: the config's added_tokens_decoder when it has one; else
  // T5Tokenizer.__init__'s: extra_ids sentinels <extra_id_i> at
  // pieces + extra_ids - 1 - i.
  std::map<std::string, int64_t> added;
  bool haveDecoder = false;
  int64_t extraIds = kDefaultExtraIds;
  fs::path configPath = dir / "tokenizer_config.json";
  if (fs::exists(configPath)) {
    json config = readJson(configPath, "the tokenizer config");
    readSpecial(config, configPath);
    // legacy false drops the "▁" SentencePiece adds after special tokens
    // (T5Tokenizer.tokenize / Metaspace prepend_scheme "first").
    if (config.contains("legacy") && config["legacy"].is_boolean() &&
        !config["legacy"].get<bool>())
      fail(kWho, ": ", configPath.string(),
           " sets \"legacy\": false, which Fresco does not implement (only "
           "the legacy tokenization that FLUX.1's tokenizer_2 uses)");
    if (config.contains("extra_ids")) {
      if (!config["extra_ids"].is_number_integer() ||
          config["extra_ids"].get<int64_t>() < 0 ||
          config["extra_ids"].get<int64_t>() >= kMaxId)
        fail(kWho, ": ", configPath.string(),
             ": \"extra_ids\" must be an integer in [0, ", kMaxId, ")");
      extraIds = config["extra_ids"].get<int64_t>();
    }
    if (config.contains("added_tokens_decoder")) {
      const json &dec = config["added_tokens_decoder"];
      if (!dec.is_object())
        fail(kWho, ": ", configPath.string(),
             ": \"added_tokens_decoder\" must be an object of id -> token");
      haveDecoder = true;
      for (auto it = dec.begin(); it != dec.end(); ++it) {
        std::string content = tokenContent(it.value(), configPath,
                                           "added_tokens_decoder." + it.key());
        if (it.value().is_object() && it.value().value("single_word", false))
          fail(kWho, ": ", configPath.string(), ": added token \"", content,
               "\" has single_word true, which Fresco does not "
               "support");
        if (content.empty())
          fail(kWho, ": ", configPath.string(), ": added token ", it.key(),
               " is empty");
        added[content] = parseId(it.key(), configPath);
      }
    }
  }
  fs::path mapPath = dir / "special_tokens_map.json";
  if (fs::exists(mapPath))
    readSpecial(readJson(mapPath, "the special tokens map"), mapPath);
  if (!haveDecoder)
    for (int64_t i = 0; i < extraIds; ++i)
      added["<extra_id_" + std::to_string(i) + ">"] = pieces + extraIds - 1 - i;

  // A special token's id is its added id, else SentencePiece's piece id.
  auto idOf = [&](const std::string &key) {
    const std::string &content = special[key];
    if (auto it = added.find(content); it != added.end())
      return it->second;
    int64_t id = sp->PieceToId(content);
    if (sp->IsUnknown(id) && content != sp->IdToPiece(id))
      fail(kWho, ": ", key, " \"", content, "\" is neither a piece of ",
           modelPath.string(), " nor an added token of ", configPath.string());
    added[content] = id;
    return id;
  };
  tok.eosId_ = idOf("eos_token");
  tok.padId_ = idOf("pad_token");
  tok.unkId_ = idOf("unk_token");

  tok.vocabSize_ = pieces;
  for (const auto &[content, id] : added)
    tok.vocabSize_ = std::max(tok.vocabSize_, id + 1);
  tok.added_.assign(added.begin(), added.end());
  std::stable_sort(tok.added_.begin(), tok.added_.end(),
                   [](const auto &a, const auto &b) {
                     return a.first.size() > b.first.size();
                   });
  return tok;
}

void T5Tokenizer::encodePiece(const std::string &piece,
                              std::vector<int64_t> &out) const {
  if (piece.empty())
    return;
  std::vector<int> ids;
  auto status = sp_->Encode(piece, &ids);
  if (!status.ok())
    fail(kWho, ": SentencePiece could not encode the prompt (",
         status.ToString(), ")");
  out.insert(out.end(), ids.begin(), ids.end());
}

std::vector<int64_t> T5Tokenizer::encode(const std::string &text) const {
  checkUtf8(text);
  std::vector<int64_t> out;
  size_t start = 0, pos = 0;
  while (pos < text.size()) {
    const std::pair<std::string, int64_t> *match = nullptr;
    for (const auto &token : added_)
      if (text.compare(pos, token.first.size(), token.first) == 0) {
        match = &token;
        break;
      }
    if (!match) {
      ++pos;
      continue;
    }
    // Whitespace either side of a token is dropped by SentencePiece's own
    // whitespace cleanup, as lstrip/rstrip would drop it.
    encodePiece(text.substr(start, pos - start), out);
    out.push_back(match->second);
    pos += match->first.size();
    start = pos;
  }
  encodePiece(text.substr(start), out);
  return out;
}

T5Tokens T5Tokenizer::tokenize(const std::string &text, int64_t maxLength,
                               std::ostream *warnings) const {
  if (maxLength < 1)
    fail(kWho, ": max_length must be at least 1 (room for </s>), got ",
         maxLength);
  T5Tokens t;
  t.ids = encode(text);
  t.fullLength = static_cast<int64_t>(t.ids.size()) + 1;
  // truncation=True keeps max_length - 1 ids: </s> is always appended.
  t.truncated = t.fullLength > maxLength;
  if (t.truncated)
    t.ids.resize(maxLength - 1);
  t.ids.push_back(eosId_);
  t.length = static_cast<int64_t>(t.ids.size());
  t.ids.resize(maxLength, padId_);
  if (t.truncated && warnings)
    *warnings << "fresco: warning: the T5 prompt has " << t.fullLength
              << " tokens but max_sequence_length is " << maxLength
              << "; the last " << t.fullLength - maxLength
              << " tokens before </s> were dropped\n";
  return t;
}

} // namespace fresco
