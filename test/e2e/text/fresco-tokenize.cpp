//===- fresco-tokenize.cpp - Print CLIP token ids for parity tests --------===//
//
// Test-only tool behind clip_tokenizer_parity.py:
//
//   fresco-tokenize --tokenizer FOLDER [--max-length N] < prompts.jsonl
//
// stdin holds one JSON string a line (so prompts may hold newlines and
// control characters); stdout gets one line per prompt: "ids: I I ...",
// the padded ids as FluxPipeline asks for them (padding="max_length",
// truncation=True), or "error: MESSAGE" when the tokenizer refuses it.
// Exit codes: 0 ok, 1 error loading the folder, 2 misuse.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/text/ClipTokenizer.h"

#include <nlohmann/json.hpp>

#include <cstring>
#include <iostream>
#include <string>

using namespace fresco;

int main(int argc, char **argv) {
  std::string folder;
  int64_t maxLength = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--tokenizer") && i + 1 < argc) {
      folder = argv[++i];
    } else if (!std::strcmp(argv[i], "--max-length") && i + 1 < argc) {
      maxLength = std::stoll(argv[++i]);
    } else {
      std::cerr << "usage: fresco-tokenize --tokenizer FOLDER "
                   "[--max-length N] < prompts.jsonl\n";
      return 2;
    }
  }
  if (folder.empty()) {
    std::cerr << "fresco-tokenize: --tokenizer is required\n";
    return 2;
  }
  try {
    ClipTokenizer tok = ClipTokenizer::load(folder);
    std::string line;
    while (std::getline(std::cin, line)) {
      std::string prompt = nlohmann::json::parse(line).get<std::string>();
      try {
        ClipTokens t = tok.tokenize(prompt, maxLength);
        std::cout << "ids:";
        for (int64_t id : t.ids)
          std::cout << ' ' << id;
        std::cout << '\n';
      } catch (const Error &e) {
        std::cout << "error: " << e.what() << '\n';
      }
    }
  } catch (const std::exception &e) {
    std::cerr << "fresco-tokenize: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
