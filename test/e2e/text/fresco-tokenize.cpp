//===- fresco-tokenize.cpp - Print prompt token ids for parity tests ------===//
//
// Test-only tool behind clip_tokenizer_parity.py and t5_tokenizer_parity.py:
//
//   fresco-tokenize [--kind clip|t5] --tokenizer FOLDER [--max-length N]
//                   < prompts.jsonl
//
// stdin holds one JSON string a line (so prompts may hold newlines and
// control characters), or {"bytes": "HEX"} for bytes that are not UTF-8;
// stdout gets one line per prompt: "ids: I I ...", the padded ids as
// FluxPipeline asks for them (padding="max_length", truncation=True), or
// "error: MESSAGE" when the tokenizer refuses it. T5 lines also give
// " length: L", the ids before the padding (the attention mask's ones), and
// a truncated T5 prompt's warning comes first on a line of its own,
// "warning: MESSAGE". --kind defaults to clip; t5 needs --max-length
// (FluxPipeline's max_sequence_length).
// Exit codes: 0 ok, 1 error loading the folder, 2 misuse.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/text/ClipTokenizer.h"
#include "runtime/text/T5Tokenizer.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>

using namespace fresco;

namespace {

void printIds(const std::vector<int64_t> &ids) {
  std::cout << "ids:";
  for (int64_t id : ids)
    std::cout << ' ' << id;
}

// Runs `tokenizeLine` on each prompt of stdin, printing refusals as errors.
template <typename Fn> void eachPrompt(Fn tokenizeLine) {
  std::string line;
  while (std::getline(std::cin, line)) {
    nlohmann::json j = nlohmann::json::parse(line);
    std::string prompt;
    if (j.is_object()) {
      // {"bytes": "HEX"}: bytes JSON cannot carry (invalid UTF-8).
      std::string hex = j.at("bytes").get<std::string>();
      if (hex.size() % 2 ||
          hex.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos)
        throw std::runtime_error("\"bytes\" must be pairs of hex digits");
      for (size_t i = 0; i < hex.size(); i += 2)
        prompt += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    } else {
      prompt = j.get<std::string>();
    }
    try {
      tokenizeLine(prompt);
    } catch (const Error &e) {
      std::cout << "error: " << e.what() << '\n';
    }
  }
}

} // namespace

int main(int argc, char **argv) {
  std::string folder, kind = "clip";
  int64_t maxLength = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tokenizer") && i + 1 < argc) {
      folder = argv[++i];
    } else if (!std::strcmp(argv[i], "--kind") && i + 1 < argc) {
      kind = argv[++i];
    } else if (!std::strcmp(argv[i], "--max-length") && i + 1 < argc) {
      maxLength = std::stoll(argv[++i]);
    } else {
      std::cerr << "usage: fresco-tokenize [--kind clip|t5] --tokenizer "
                   "FOLDER [--max-length N] < prompts.jsonl\n";
      return 2;
    }
  }
  if (folder.empty() || (kind != "clip" && kind != "t5")) {
    std::cerr << "fresco-tokenize: --tokenizer is required and --kind is "
                 "clip or t5\n";
    return 2;
  }
  if (kind == "t5" && maxLength <= 0) {
    std::cerr << "fresco-tokenize: --kind t5 needs --max-length\n";
    return 2;
  }
  try {
    if (kind == "clip") {
      ClipTokenizer tok = ClipTokenizer::load(folder);
      eachPrompt([&](const std::string &prompt) {
        printIds(tok.tokenize(prompt, maxLength).ids);
        std::cout << '\n';
      });
    } else {
      T5Tokenizer tok = T5Tokenizer::load(folder);
      eachPrompt([&](const std::string &prompt) {
        std::ostringstream warnings;
        T5Tokens t = tok.tokenize(prompt, maxLength, &warnings);
        std::istringstream lines(warnings.str());
        for (std::string w; std::getline(lines, w);)
          std::cout << "warning: " << w << '\n';
        printIds(t.ids);
        std::cout << " length: " << t.length << '\n';
      });
    }
  } catch (const std::exception &e) {
    std::cerr << "fresco-tokenize: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
