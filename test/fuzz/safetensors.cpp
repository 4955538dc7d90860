//===- safetensors.cpp - libFuzzer target: one safetensors file -----------===//
#include "runtime/io/Safetensors.h"
#include "FuzzUtil.h"
#include "runtime/core/Error.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  namespace fs = std::filesystem;
  fs::path file = fresco::fuzz::freshScratchFolder() / "model.safetensors";
  fresco::fuzz::writeFile(
      file, std::string(reinterpret_cast<const char *>(data), size));
  try {
    fresco::SafetensorsFile st(file.string());
    // Read every tensor the header lets through (they lie inside the file,
    // so their sizes are bounded by the input's).
    for (const fresco::TensorInfo &t : st.tensors()) {
      std::vector<float> out(size_t(t.numel()));
      fresco::readAsF32(t, out.data());
      if (!t.shape.empty()) {
        std::vector<int64_t> offsets(t.shape.size(), 0), sizes = t.shape;
        sizes[0] = (t.shape[0] + 1) / 2;
        std::vector<float> half(size_t(fresco::numElements(sizes)));
        fresco::readSliceAsF32(t, offsets, sizes, half.data());
      }
    }
  } catch (const fresco::Error &) {
  }
  return 0;
}
