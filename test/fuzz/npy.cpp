//===- npy.cpp - libFuzzer target: the .npy reader ------------------------===//
#include "runtime/io/Npy.h"
#include "runtime/core/Error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  try {
    fresco::NpyArray a = fresco::parseNpy(data, size, "fuzz.npy");
    // The conversion reads every element the header announced.
    (void)a.toF32();
  } catch (const fresco::Error &) {
  }
  return 0;
}
