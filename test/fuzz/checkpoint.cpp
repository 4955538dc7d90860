//===- checkpoint.cpp - libFuzzer target: a sharded checkpoint folder -----===//
//
// Parts: config.json, model.safetensors.index.json, then the shards a.st and
// b.st (the seeds' index maps tensors to them).
//
//===----------------------------------------------------------------------===//
#include "runtime/io/Checkpoint.h"
#include "FuzzUtil.h"
#include "runtime/core/Error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  namespace fs = std::filesystem;
  std::vector<std::string> parts = fresco::fuzz::splitParts(data, size, 4);
  fs::path dir = fresco::fuzz::freshScratchFolder();
  fresco::fuzz::writeFile(dir / "config.json", parts[0]);
  fresco::fuzz::writeFile(dir / "model.safetensors.index.json", parts[1]);
  fresco::fuzz::writeFile(dir / "a.st", parts[2]);
  fresco::fuzz::writeFile(dir / "b.st", parts[3]);
  try {
    fresco::Checkpoint ck(dir.string());
    for (const std::string &name : ck.names()) {
      const fresco::TensorInfo &t = ck.get(name);
      std::vector<float> out(size_t(t.numel()));
      fresco::readAsF32(t, out.data());
    }
  } catch (const fresco::Error &) {
  }
  return 0;
}
