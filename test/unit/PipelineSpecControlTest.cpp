//===- PipelineSpecControlTest.cpp - ControlNets in the Pipeline table ----===//
//
// The ControlNets' denoiser inputs (control images, control latents, an
// inpainting SD3 net's mask channel) decode and are checked against a
// run's control options.
//
//===----------------------------------------------------------------------===//
#include "PipelineTableSpec.h"

#include "runtime/core/Error.h"
#include "runtime/pipeline/Control.h"
#include "runtime/pipeline/ImageToImage.h"
#include "runtime/pipeline/Inpaint.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace fresco;
using namespace fresco::test;

namespace {

TEST(PipelineSpec, ControlInputsDecode) {
  TableSpec t;
  addControl(t);
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(t, bytes);
  EXPECT_EQ(s.controlImage, (std::vector<int64_t>{3, 16, 16}));
  EXPECT_EQ(s.controlNets(), 1);
  TableSpec two;
  addControl(two, 2);
  std::vector<uint8_t> twoBytes;
  EXPECT_EQ(decode(two, twoBytes).controlNets(), 2);
  std::vector<uint8_t> plain;
  EXPECT_TRUE(decode(TableSpec(), plain).controlImage.empty());
}

/// A packed-token denoiser (2x2 patches of the 8x8 latents: 16 tokens of 16
/// values) with the VAE encoder and K nets' control latents.
TableSpec packedControl(int64_t perRow) {
  TableSpec t;
  t.layout = fp::LatentLayout::PackedTokens;
  t.patch = 2;
  t.prediction = 16;
  t.ranks[0]["transformer"].inputs[0].shape = {4, 16, 16};
  t.ranks[0]["transformer"].outputs[0].shape = {4, 16, 16};
  addEncoder(t);
  t.components[0].inputs.push_back(R::ControlLatents);
  t.components[0].inputs.push_back(R::ControlScale);
  t.ranks[0]["transformer"].inputs.push_back({fp::DType::F32, {4, 16, perRow}});
  t.ranks[0]["transformer"].inputs.push_back({fp::DType::F32, {4, 2}});
  return t;
}

TEST(PipelineSpec, ControlLatentsDecode) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(packedControl(32), bytes);
  EXPECT_TRUE(s.controlLatents);
  EXPECT_EQ(s.controlImage, (std::vector<int64_t>{16, 32}));
  EXPECT_EQ(s.controlNets(), 2);
  EXPECT_FALSE(s.controlModes);
  // FluxControlNetImg2ImgPipeline keeps the scale at 1.0.
  EXPECT_EQ(defaultControlScale(s, Task::ImageToImage), 1.0);
  TableSpec modes = packedControl(32);
  modes.components[0].inputs.push_back(R::ControlMode);
  modes.ranks[0]["transformer"].inputs.push_back({fp::DType::I64, {4, 2}});
  std::vector<uint8_t> modeBytes;
  EXPECT_TRUE(decode(modes, modeBytes).controlModes);
  EXPECT_NE(loadError(packedControl(24))
                .find("the denoiser's control_latents input is [4, 16, 24], "
                      "expected [batch, 16, K x 16]"),
            std::string::npos);
}

/// StableDiffusion3ControlNetInpaintingPipeline's: image latents (4x8x8),
/// one net's control latents and the mask channel.
TableSpec maskedControl(int64_t channels) {
  TableSpec t;
  addEncoder(t);
  t.controlMaskChannels = 1;
  t.components[0].inputs.push_back(R::ControlLatents);
  t.components[0].inputs.push_back(R::ControlScale);
  t.ranks[0]["transformer"].inputs.push_back(
      {fp::DType::F32, {4, channels, 8, 8}});
  t.ranks[0]["transformer"].inputs.push_back({fp::DType::F32, {4, 1}});
  return t;
}

TEST(PipelineSpec, ControlMaskChannelsDecode) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(maskedControl(5), bytes);
  EXPECT_EQ(s.controlMaskChannels, 1);
  EXPECT_EQ(s.controlNets(), 1);
  EXPECT_NE(loadError(maskedControl(4))
                .find("the denoiser's control_latents input is [4, 4, 8, 8], "
                      "expected [batch, 5, 8, 8] (one net's latents and mask)"),
            std::string::npos)
      << loadError(maskedControl(4));
  TableSpec two = maskedControl(5);
  two.controlMaskChannels = 2;
  EXPECT_NE(loadError(two).find("control_mask_channels 2 must be 0 or 1"),
            std::string::npos)
      << loadError(two);
  TableSpec none;
  none.controlMaskChannels = 1;
  EXPECT_NE(loadError(none).find(
                "control_mask_channels without a control_latents input"),
            std::string::npos)
      << loadError(none);
  TableSpec packed = packedControl(32);
  packed.controlMaskChannels = 1;
  EXPECT_NE(loadError(packed).find(
                "control mask channels need image latents (SD3's)"),
            std::string::npos)
      << loadError(packed);
}

// The control image goes to -1 in every channel where the mask is white.
TEST(PipelineSpec, MaskedControlPixels) {
  // Pixels 0.6 (204), 0.6, -0.6 (51) and 0.6 after normalizing.
  const uint8_t px[2 * 2 * 3] = {204, 204, 204, 204, 204, 204,
                                 51,  51,  51,  204, 204, 204};
  HostTensor pixels = encoderPixels(controlImage(px, 3, 2, 2));
  const uint8_t m[4] = {255, 0, 127, 128};
  HostTensor mask = binaryMask(m, 1, 2, 2);
  HostTensor masked = maskedControlPixels(pixels, mask);
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(masked.as<float>()[k * 4 + 0], -1.0f);         // white: repainted
    EXPECT_NEAR(masked.as<float>()[k * 4 + 1], 0.6f, 1e-6);  // black: kept
    EXPECT_NEAR(masked.as<float>()[k * 4 + 2], -0.6f, 1e-6); // 127: kept
    EXPECT_EQ(masked.as<float>()[k * 4 + 3], -1.0f); // gray 128: repainted
  }
  HostTensor small = binaryMask(m, 1, 1, 2);
  EXPECT_THROW(maskedControlPixels(pixels, small), Error);
}

// The mask channel: 1 - the mask at the latent grid's nearest samples (a
// 4x6 mask on 2x3 latents reads rows 0, 2 and columns 0, 2, 4), and the
// inpainting class shifts its control latents where the plain one does
// not.
TEST(PipelineSpec, ControlMaskChannel) {
  std::vector<uint8_t> m(4 * 6, 0);
  m[0 * 6 + 2] = 255; // sampled: (0, 1) repainted
  m[1 * 6 + 0] = 255; // row 1: not sampled
  m[2 * 6 + 5] = 255; // column 5: not sampled
  HostTensor mask = binaryMask(m.data(), 1, 4, 6);
  float ch[6];
  controlMaskChannel(mask, 2, 3, ch);
  const float want[6] = {1, 0, 1, 1, 1, 1};
  for (int i = 0; i < 6; ++i)
    EXPECT_EQ(ch[i], want[i]) << i;
  PipelineSpec sd3;
  sd3.kind = "StableDiffusion3Pipeline";
  EXPECT_FALSE(controlLatentsShifted(sd3));
  sd3.controlMaskChannels = 1;
  EXPECT_TRUE(controlLatentsShifted(sd3));
}

// Flux: each net's packed latents [tokens, per] in its slot of a token's
// K x per values; the pixels normalized as the VAE encoder takes them.
TEST(PipelineSpec, ControlLatentsInterleave) {
  const float a[] = {1, 2, 3, 4, 5, 6}, b[] = {7, 8, 9, 10, 11, 12};
  std::vector<float> row(12);
  interleaveControlLatents(a, 0, 2, 3, 2, row.data());
  interleaveControlLatents(b, 1, 2, 3, 2, row.data());
  EXPECT_EQ(row, (std::vector<float>{1, 2, 7, 8, 3, 4, 9, 10, 5, 6, 11, 12}));
  auto tensor = [](std::vector<int64_t> shape) {
    HostTensor t;
    t.dtype = DType::F32;
    t.shape = std::move(shape);
    t.data.resize(t.numel() * sizeof(float));
    return t;
  };
  HostTensor in = tensor({2, 3, 4});
  fillRows(row, in);
  EXPECT_EQ(in.as<float>()[12], 1.0f);
  EXPECT_EQ(in.as<float>()[23], 12.0f);
  HostTensor wrong = tensor({2, 3, 3});
  EXPECT_THROW(fillRows(row, wrong), Error);
  const uint8_t px[2 * 2 * 3] = {255, 0, 51};
  HostTensor pixels = encoderPixels(controlImage(px, 3, 2, 2));
  EXPECT_EQ(pixels.as<float>()[0], 1.0f);
  EXPECT_EQ(pixels.as<float>()[4], -1.0f);
  EXPECT_NEAR(pixels.as<float>()[8], -0.6f, 1e-6);
}

// A UNet's ControlNets take a scale per residual.
TEST(PipelineSpec, ControlScalePerResidual) {
  TableSpec t;
  addControl(t, 2);
  std::vector<uint8_t> bytes;
  EXPECT_EQ(decode(t, bytes).controlResiduals, 3);
  t.ranks[0]["transformer"].inputs.back().shape = {4, 2};
  EXPECT_NE(loadError(t).find("the denoiser's control_scale input is [4, 2], "
                              "expected [batch, K, R]"),
            std::string::npos)
      << loadError(t);
  t.ranks[0]["transformer"].inputs.back().shape = {4, 3, 3};
  EXPECT_NE(loadError(t).find("input 4 (control_scale) is f32[4, 3, 3], "
                              "expected f32[4, 2, 3]"),
            std::string::npos)
      << loadError(t);
}

// Guess mode: residual i of R times 10^(-1 + i / (R - 1)), the negative
// prompts' rows 0 under CFG.
TEST(PipelineSpec, GuessModeScales) {
  ControlOptions o;
  o.scales = {0.5, 2.0};
  const BatchLayout batch{2, 2, 2}; // rows: prompts 0, 1; negatives 2, 3
  HostTensor in;
  in.dtype = DType::F32;
  in.shape = {4, 2, 3};
  in.data.resize(in.numel() * sizeof(float));
  fillControlScales(o, batch, true, 0, 4, in);
  const float *s = in.as<float>();
  for (int64_t i = 0; i < in.numel(); ++i)
    EXPECT_EQ(s[i], i % 6 < 3 ? 0.5f : 2.0f) << i;
  o.guessMode = true;
  fillControlScales(o, batch, true, 0, 4, in);
  const float f[] = {0.1f, std::sqrt(0.1f), 1.0f};
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t k = 0; k < 2; ++k)
      for (int64_t i = 0; i < 3; ++i)
        EXPECT_NEAR(s[(r * 2 + k) * 3 + i],
                    r >= 2 ? 0.0f : (k ? 2.0f : 0.5f) * f[i], 1e-6)
            << r << " " << k << " " << i;
  // Unguided: the factors alone, in every row.
  fillControlScales(o, batch, false, 0, 4, in);
  EXPECT_NEAR(s[3 * 6 + 3], 2.0f * 0.1f, 1e-6);
  // One image in a plan of 2: the padded rows follow their block (row 1
  // the prompts', rows 2 and 3 the negative prompts').
  const BatchLayout padded{1, 2, 2};
  fillControlScales(o, padded, true, 0, 4, in);
  EXPECT_NEAR(s[1 * 6 + 2], 0.5f, 1e-6);
  EXPECT_EQ(s[2 * 6 + 2], 0.0f);
  EXPECT_EQ(s[3 * 6 + 5], 0.0f);
  // A net's scale outside its window is 0 in guess mode too.
  o.ends = {0.25};
  fillControlScales(o, padded, true, 1, 4, in);
  EXPECT_EQ(s[0 * 6 + 5], 0.0f);
  o.ends = {1.0};
  // Flux's and SD3's [rows, K]: no residuals.
  o.guessMode = false;
  in.shape = {4, 2};
  in.data.resize(in.numel() * sizeof(float));
  fillControlScales(o, batch, true, 0, 4, in);
  EXPECT_EQ(s[7], 2.0f);
}

TEST(PipelineSpec, ControlScaleFollowsTheWindow) {
  ControlOptions o;
  o.scales = {0.5};
  o.starts = {0.25};
  o.ends = {0.75};
  // diffusers' controlnet_keep over 4 timesteps: 0, 1, 1, 0.
  const float want[] = {0.0f, 0.5f, 0.5f, 0.0f};
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(controlScale(o, 0, i, 4), want[i]) << "step " << i;
  // Over 5 (PNDM's steps + 1): i / 5 < 0.25 for i = 0, 1; (i + 1) / 5 > 0.75
  // for i = 3, 4.
  const float five[] = {0.0f, 0.0f, 0.5f, 0.0f, 0.0f};
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(controlScale(o, 0, i, 5), five[i]) << "step " << i;
  // Per net: net 1 with its own scale and window, one value for both.
  o.scales = {0.5, 2.0};
  o.ends = {0.75, 1.0};
  EXPECT_EQ(controlScale(o, 1, 3, 4), 2.0f);
  EXPECT_EQ(controlScale(o, 0, 3, 4), 0.0f);
  EXPECT_EQ(controlScale(o, 1, 0, 4), 0.0f); // start 0.25 for both
}

TEST(PipelineSpec, ControlOptionsChecked) {
  TableSpec t;
  addControl(t);
  std::vector<uint8_t> bytes;
  const PipelineSpec s = decode(t, bytes);
  auto error = [&](const PipelineSpec &spec, const ControlOptions &o,
                   bool inpaint) -> std::string {
    try {
      checkControl(spec, o, inpaint ? Task::Inpainting : Task::TextToImage);
    } catch (const Error &e) {
      return e.what();
    }
    return "";
  };
  const uint8_t px[16 * 16 * 3] = {255, 0, 51};
  HostTensor img = controlImage(px, 3, 16, 16);
  EXPECT_EQ(img.as<float>()[0], 1.0f);
  EXPECT_EQ(img.as<float>()[256], 0.0f);
  EXPECT_EQ(img.as<float>()[512], 0.2f);
  ControlOptions o;
  EXPECT_NE(error(s, o, false).find("give its control image"),
            std::string::npos);
  o.images = {&img};
  EXPECT_EQ(error(s, o, false), "");
  // Inpainting: not with SD3's ControlNet
  // (StableDiffusion3ControlNetInpaintingPipeline).
  std::vector<uint8_t> packedBytes;
  PipelineSpec packed = decode(packedControl(32), packedBytes);
  packed.kind = "StableDiffusion3Pipeline";
  ControlOptions pair = o;
  pair.images = {&img, &img};
  EXPECT_NE(error(packed, pair, true).find("inpainting with an SD3 ControlNet"),
            std::string::npos);
  // Guess mode: a UNet's ControlNets only.
  ControlOptions guess = pair;
  guess.guessMode = true;
  EXPECT_NE(error(packed, guess, false)
                .find("--guess-mode applies to a "
                      "Stable Diffusion or SDXL "
                      "ControlNet plan"),
            std::string::npos);
  ControlOptions guessOne = o;
  guessOne.guessMode = true;
  EXPECT_EQ(error(s, guessOne, false), "");
  // StableDiffusion3ControlNetInpaintingPipeline: the control mask, and
  // no init image.
  std::vector<uint8_t> maskedBytes;
  PipelineSpec masked = decode(maskedControl(5), maskedBytes);
  masked.kind = "StableDiffusion3Pipeline";
  EXPECT_NE(error(masked, o, false).find("give the mask"), std::string::npos);
  const std::vector<uint8_t> white(16 * 16, 255);
  HostTensor mask = binaryMask(white.data(), 1, 16, 16);
  ControlOptions withMask = o;
  withMask.mask = &mask;
  EXPECT_EQ(error(masked, withMask, false), "");
  EXPECT_NE(error(masked, withMask, true).find("takes no --image or --mask"),
            std::string::npos);
  EXPECT_NE(error(s, withMask, false)
                .find("--control-mask: this plan's "
                      "ControlNet has no mask input"),
            std::string::npos);
  HostTensor wide = binaryMask(white.data(), 1, 8, 32);
  withMask.mask = &wide;
  EXPECT_NE(error(masked, withMask, false)
                .find("the control mask is 32x8 pixels, the plan's images "
                      "16x16"),
            std::string::npos)
      << error(masked, withMask, false);
  PipelineSpec sd = s;
  sd.kind = "StableDiffusionPipeline";
  EXPECT_EQ(error(sd, o, true), "");
  // StableDiffusionXLControlNetInpaintPipeline's defaults: strength 0.9999,
  // guidance 5.0 (the plain inpaint class's 7.5), scale 1.0.
  PipelineSpec xl = s;
  xl.kind = "StableDiffusionXLPipeline";
  EXPECT_EQ(error(xl, o, true), "");
  EXPECT_EQ(defaultControlScale(xl, Task::Inpainting), 1.0);
  EXPECT_EQ(xl.defaultStrength(Task::Inpainting), 0.9999);
  EXPECT_EQ(xl.defaultGuidanceScale(Task::Inpainting), 5.0);
  EXPECT_EQ(defaultControlScale(s, Task::TextToImage), 1.0);
  EXPECT_EQ(defaultControlScale(s, Task::ImageToImage), 0.8);
  PipelineSpec sdSpec = s;
  sdSpec.kind = "StableDiffusionPipeline";
  EXPECT_EQ(defaultControlScale(sdSpec, Task::Inpainting), 0.5);
  EXPECT_EQ(sdSpec.defaultStrength(Task::Inpainting), 1.0);
  EXPECT_EQ(sdSpec.defaultStrength(Task::ImageToImage), 0.8);
  std::vector<uint8_t> plain;
  EXPECT_NE(error(decode(TableSpec(), plain), o, false).find("no ControlNet"),
            std::string::npos);
  ControlOptions guessOnly;
  guessOnly.guessMode = true;
  EXPECT_NE(error(decode(TableSpec(), plain), guessOnly, false)
                .find("--guess-mode: this DiTPipeline plan has no ControlNet"),
            std::string::npos);
  HostTensor small = controlImage(px, 3, 8, 16);
  o.images = {&small};
  EXPECT_NE(error(s, o, false).find("control image 1 of 1 is 16x8 pixels"),
            std::string::npos);
  o.images = {&img};
  o.starts = {0.5};
  o.ends = {0.5};
  EXPECT_NE(error(s, o, false).find("0 <= start < end <= 1"),
            std::string::npos);
  // Two nets: two images, lists of 1 or 2.
  TableSpec t2;
  addControl(t2, 2);
  std::vector<uint8_t> bytes2;
  const PipelineSpec s2 = decode(t2, bytes2);
  ControlOptions two;
  two.images = {&img};
  EXPECT_NE(error(s2, two, false)
                .find("this plan runs 2 ControlNet(s); got 1 --control-image "
                      "flag(s) (one per net, in folder order"),
            std::string::npos);
  two.images = {&img, &img};
  EXPECT_EQ(error(s2, two, false), "");
  two.scales = {1.0, 0.5, 0.2};
  EXPECT_NE(error(s2, two, false)
                .find("--controlnet-scale gives 3 values for 2 ControlNet(s)"),
            std::string::npos);
}

} // namespace

TEST(PipelineSpec, LatentStatistics) {
  // SDXL's latents_mean / latents_std: the decoder's input is latents * std
  // / scaling_factor + mean per channel.
  TableSpec t; // 4 x 8 x 8 latents
  t.kind = "StableDiffusionXLPipeline";
  t.scaling = 0.5;
  t.latentsMean = {1.0, -2.0, 0.0, 3.0};
  t.latentsStd = {4.0, 0.25, 1.0, 2.0};
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(t, bytes);
  std::vector<float> z(2 * 4 * 64, 2.0f); // 2 images
  z[64] = 4.0f;                           // image 0, channel 1
  s.toDecoderInput(z.data(), int64_t(z.size()));
  EXPECT_EQ(z[0], 17.0f);          // 2 * 4 / 0.5 + 1
  EXPECT_EQ(z[64], 0.0f);          // 4 * 0.25 / 0.5 - 2
  EXPECT_EQ(z[65], -1.0f);         // 2 * 0.25 / 0.5 - 2
  EXPECT_EQ(z[2 * 64], 4.0f);      // 2 * 1 / 0.5 + 0
  EXPECT_EQ(z[3 * 64 + 5], 11.0f); // 2 * 2 / 0.5 + 3
  EXPECT_EQ(z[4 * 64], 17.0f);     // image 1, channel 0
  EXPECT_EQ(z[7 * 64 + 63], 11.0f);
  std::vector<float> partial(3);
  try {
    s.toDecoderInput(partial.data(), 3);
    ADD_FAILURE() << "3 values of [4, 8, 8] images decoded";
  } catch (const Error &e) {
    EXPECT_NE(std::string(e.what()).find("not whole images"), std::string::npos)
        << e.what();
  }

  TableSpec bad = t;
  bad.latentsStd = {4.0};
  EXPECT_NE(loadError(bad).find("latents_mean (4 values) and latents_std (1)"),
            std::string::npos)
      << loadError(bad);
  bad.latentsStd = {4.0, 0.0, 1.0, 1.0};
  EXPECT_NE(loadError(bad).find("bad latent statistics for channel 1"),
            std::string::npos)
      << loadError(bad);
  bad = packedControl(32);
  bad.latentsMean = bad.latentsStd = std::vector<double>(16, 1.0);
  EXPECT_NE(loadError(bad).find("for image latents"), std::string::npos)
      << loadError(bad);
}
