//===- clip_tokenizer.cpp - libFuzzer target: the CLIP tokenizer ----------===//
//
// Parts: vocab.json, merges.txt, tokenizer_config.json, then the prompt.
//
//===----------------------------------------------------------------------===//
#include "FuzzUtil.h"
#include "runtime/core/Error.h"
#include "runtime/text/ClipTokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::vector<std::string> parts = fresco::fuzz::splitParts(data, size, 4);
  std::filesystem::path dir = fresco::fuzz::freshScratchFolder();
  fresco::fuzz::writeFile(dir / "vocab.json", parts[0]);
  fresco::fuzz::writeFile(dir / "merges.txt", parts[1]);
  fresco::fuzz::writeFile(dir / "tokenizer_config.json", parts[2]);
  try {
    fresco::ClipTokenizer tok = fresco::ClipTokenizer::load(dir.string());
    (void)tok.tokenize(parts[3]);
    (void)tok.tokenize(parts[3], 8);
  } catch (const fresco::Error &) {
  }
  return 0;
}
