//===- InpaintTest.cpp - Inpainting's mask: binarized, on the latent grid -===//
//
// The mask as diffusers' VaeImageProcessor(do_binarize, do_convert_grayscale)
// makes it (PIL's fixed-point "L", the 0.5 threshold of gray / 255), torch's
// nearest interpolation onto the latent grid (same size, twice the size and
// fractional ratios, in float32), and the refusals of masks and plans that
// do not fit. The e2e tests compare whole runs with diffusers.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/Inpaint.h"
#include "runtime/core/Error.h"
#include "test/unit/EncoderSpec.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

using namespace fresco;

namespace {

using fresco::test::errorOf;
using fresco::test::specWithEncoder;

HostTensor maskOf(const std::vector<float> &values, int64_t h, int64_t w) {
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = {1, 1, h, w};
  t.data.resize(values.size() * sizeof(float));
  std::copy(values.begin(), values.end(), t.as<float>());
  return t;
}

TEST(Inpaint, GrayThresholdIs128) {
  const std::vector<uint8_t> gray = {0, 127, 128, 255};
  HostTensor m = binaryMask(gray.data(), 1, 1, 4);
  EXPECT_EQ(m.shape, (std::vector<int64_t>{1, 1, 1, 4}));
  const float *v = m.as<float>();
  EXPECT_EQ(std::vector<float>(v, v + 4), (std::vector<float>{0, 0, 1, 1}));
  // Every gray level, against the processor's float32(g / 255) >= 0.5.
  std::vector<uint8_t> all(256);
  for (int g = 0; g < 256; ++g)
    all[g] = uint8_t(g);
  HostTensor m256 = binaryMask(all.data(), 1, 16, 16);
  for (int g = 0; g < 256; ++g)
    EXPECT_EQ(m256.as<float>()[g], float(g) / 255.0f >= 0.5f ? 1.0f : 0.0f)
        << g;
}

TEST(Inpaint, RgbGoesToGrayAsPil) {
  // PIL's L = (19595 R + 38470 G + 7471 B + 32768) >> 16: pure green is
  // 150 (repainted), magenta 105 (kept), where a channel mean (85, 170)
  // says the opposite; (128, 128, 128) is 128, (127, 127, 128) 127.
  const std::vector<uint8_t> rgb = {0,   255, 0,   255, 0,   255,
                                    128, 128, 128, 127, 127, 128};
  HostTensor m = binaryMask(rgb.data(), 3, 2, 2);
  const float *v = m.as<float>();
  EXPECT_EQ(std::vector<float>(v, v + 4), (std::vector<float>{1, 0, 1, 0}));
  EXPECT_EQ(maskedPixels(m), 2);
  EXPECT_NE(errorOf([&] {
              binaryMask(rgb.data(), 4, 1, 1);
            }).find("a mask has 1 (gray) or 3 (RGB) channels, got 4"),
            std::string::npos);
}

TEST(Inpaint, NearestIsTorchInterpolate) {
  // A 4 x 6 mask of distinct values (not binary: only the indices matter).
  std::vector<float> values(24);
  for (int i = 0; i < 24; ++i)
    values[i] = float(i);
  HostTensor m = maskOf(values, 4, 6);
  // The same size maps through.
  EXPECT_EQ(nearestMask(m, 4, 6), values);
  // Down by 2 (the tiny VAEs' factor): rows 0, 2; columns 0, 2, 4.
  EXPECT_EQ(nearestMask(m, 2, 3), (std::vector<float>{0, 2, 4, 12, 14, 16}));
  // Twice the size: i >> 1.
  std::vector<float> up = nearestMask(m, 8, 12);
  EXPECT_EQ(up[0], 0);
  EXPECT_EQ(up[1], 0);
  EXPECT_EQ(up[2], 1);
  EXPECT_EQ(up[12 * 7 + 11], 23);
  // Fractional: 6 -> 4 columns, scale 1.5: floor(0, 1.5, 3, 4.5) = 0 1 3 4;
  // 4 -> 3 rows, scale 4/3 in float32: 0 1 2.
  EXPECT_EQ(nearestMask(m, 3, 4),
            (std::vector<float>{0, 1, 3, 4, 6, 7, 9, 10, 12, 13, 15, 16}));
}

TEST(Inpaint, ChecksPlanAndMask) {
  PipelineSpec sd = specWithEncoder("StableDiffusionPipeline", 32, 24);
  checkMask(sd, maskOf(std::vector<float>(32 * 24, 1.0f), 32, 24));
  EXPECT_NE(errorOf([&] {
              checkMask(sd, maskOf(std::vector<float>(16 * 16), 16, 16));
            })
                .find("--mask is 16x16 pixels (width x height) but the plan "
                      "was compiled for 24x32"),
            std::string::npos);
  std::vector<float> half(32 * 24, 0.5f);
  EXPECT_NE(errorOf([&] {
              checkMask(sd, maskOf(half, 32, 24));
            }).find("the mask must hold 0s and 1s, got 0.5 at 0"),
            std::string::npos);
  for (const char *kind :
       {"StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline",
        "StableDiffusion3Pipeline", "FluxPipeline"})
    checkInpainting(specWithEncoder(kind, 32, 24));
  EXPECT_NE(errorOf([] {
              checkInpainting(specWithEncoder("DiTPipeline", 32, 24));
            }).find("plans only; this plan is a DiTPipeline"),
            std::string::npos);
  PipelineSpec noEncoder;
  noEncoder.kind = "StableDiffusionPipeline";
  EXPECT_NE(errorOf([&] { checkInpainting(noEncoder); })
                .find("compile the pipeline folder with fresco-compile "
                      "--vae-encoder"),
            std::string::npos);
}

} // namespace
