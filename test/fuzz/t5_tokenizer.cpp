//===- t5_tokenizer.cpp - libFuzzer target: the T5 tokenizer --------------===//
//
// Parts: spiece.model, tokenizer_config.json, then the prompt.
//
//===----------------------------------------------------------------------===//
#include "FuzzUtil.h"
#include "runtime/core/Error.h"
#include "runtime/text/T5Tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<std::string> parts = fresco::fuzz::splitParts(data, size, 3);
  std::filesystem::path dir = fresco::fuzz::freshScratchFolder();
  fresco::fuzz::writeFile(dir / "spiece.model", parts[0]);
  if (!parts[1].empty())
    fresco::fuzz::writeFile(dir / "tokenizer_config.json", parts[1]);
  try {
    fresco::T5Tokenizer tok = fresco::T5Tokenizer::load(dir.string());
    (void)tok.tokenize(parts[2], 16);
  } catch (const fresco::Error &) {
  }
  return 0;
}
