//===- png.cpp - libFuzzer target: the PNG reader (--image, --mask) -------===//
#include "runtime/core/Error.h"
#include "runtime/io/Png.h"

#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  try {
    // A lower cap than the reader's 4 GiB: libFuzzer's memory limit.
    fresco::PngImage img =
        fresco::decodePng(data, size, "fuzz.png", uint64_t(64) << 20);
    // Every decoded byte is read, as --image's conversion reads them.
    std::vector<float> out(img.pixels.size());
    fresco::rgbToImageFloats(img.pixels.data(), img.channels, img.height,
                             img.width, out.data());
  } catch (const fresco::Error &) {
  }
  return 0;
}
