//===- json.cpp - libFuzzer target: the runtime's bounded JSON parser -----===//
#include "runtime/core/BoundedJson.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  try {
    nlohmann::json j = fresco::parseBoundedJson(data, data + size);
    // What the readers do with a parsed document: walk and print it.
    (void)j.dump();
  } catch (const nlohmann::json::exception &) {
  }
  return 0;
}
