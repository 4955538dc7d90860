//===- EncoderSpec.h - A pipeline spec with a VAE encoder -------*- C++ -*-===//
//
// The smallest PipelineSpec that image-to-image and inpainting accept: a
// pipeline kind and an encoder component of the given pixel size, for the
// unit tests of their checks and schedule arithmetic.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_ENCODERSPEC_H
#define FRESCO_TEST_UNIT_ENCODERSPEC_H

#include "runtime/pipeline/PipelineSpec.h"

#include <cstdint>
#include <string>

namespace fresco::test {

inline PipelineSpec specWithEncoder(const std::string &kind,
                                    int64_t height = 16, int64_t width = 16) {
  PipelineSpec s;
  s.kind = kind;
  ComponentSpec enc;
  enc.role = plan::ComponentRole::Encoder;
  enc.function = "vae_encoder";
  enc.ranks = {0};
  enc.pixelShape = {2, 3, height, width};
  s.components.push_back(enc);
  return s;
}

} // namespace fresco::test

#endif // FRESCO_TEST_UNIT_ENCODERSPEC_H
