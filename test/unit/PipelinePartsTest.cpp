//===- PipelinePartsTest.cpp - The sampling loop's per-family parts -------===//
//
// Padding rows, class-label filling, guidance, the learned-sigma split and
// Flux's packed latents, on Pipeline tables built by PipelineTableSpec.h.
//
//===----------------------------------------------------------------------===//
#include "PipelineTableSpec.h"

#include "runtime/pipeline/Generate.h"
#include "runtime/pipeline/Parts.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace fresco;
using namespace fresco::test;

namespace {

TEST(BatchLayout, PaddingRowsRepeatImageZero) {
  BatchLayout b{2, 3, 2}; // 2 images in a plan for 3, CFG
  EXPECT_EQ(b.rows(), 6);
  std::vector<int64_t> images, blocks;
  for (int64_t r = 0; r < b.rows(); ++r) {
    images.push_back(b.image(r));
    blocks.push_back(b.block(r));
  }
  EXPECT_EQ(images, (std::vector<int64_t>{0, 1, 0, 0, 1, 0}));
  EXPECT_EQ(blocks, (std::vector<int64_t>{0, 0, 0, 1, 1, 1}));
  EXPECT_EQ(b.row(1, 1), 4);
}

PipelineSpec ditSpec() {
  static std::vector<uint8_t> bytes;
  return decode(TableSpec(), bytes);
}

HostTensor labelsTensor(int64_t rows) {
  HostTensor t;
  t.dtype = DType::I64;
  t.shape = {rows};
  t.data.resize(rows * 8);
  return t;
}

TEST(ClassLabelConditioning, FillsLabelsNullClassAndPadding) {
  PipelineSpec s = ditSpec();
  s.numImages = 3;
  GenerateOptions o;
  o.classLabels = {7, 9};
  auto c = makeConditioning(s, o);
  EXPECT_EQ(c->numImages(), 2);
  EXPECT_EQ(c->describe(1), "class 9");
  BatchLayout b{2, 3, 2};
  HostTensor t = labelsTensor(6);
  ASSERT_TRUE(c->fill(R::ClassLabels, b, true, t));
  const int64_t *v = t.as<int64_t>();
  EXPECT_EQ(std::vector<int64_t>(v, v + 6),
            (std::vector<int64_t>{7, 9, 7, 1000, 1000, 1000}));
  // Unguided: block 1 repeats the labels (its output is unused).
  ASSERT_TRUE(c->fill(R::ClassLabels, b, false, t));
  EXPECT_EQ(std::vector<int64_t>(v, v + 6),
            (std::vector<int64_t>{7, 9, 7, 7, 9, 7}));
  EXPECT_FALSE(c->fill(R::Timestep, b, true, t));
}

std::string conditioningError(std::vector<int64_t> labels) {
  GenerateOptions o;
  o.classLabels = std::move(labels);
  try {
    makeConditioning(ditSpec(), o);
  } catch (const Error &e) {
    return e.what();
  }
  return "";
}

TEST(ClassLabelConditioning, RefusesWhatThePlanCannotServe) {
  EXPECT_EQ(conditioningError({1, 2, 3}),
            "the plan generates at most 2 image(s) per run but 3 class "
            "label(s) were given; recompile with fresco-compile --batch 3");
  EXPECT_EQ(conditioningError({}), "no class labels given: the plan "
                                   "generates one image per class label");
  EXPECT_EQ(conditioningError({1000}), "class label 1000 is out of range: "
                                       "this model has 1000 classes (0..999)");
  EXPECT_EQ(conditioningError({-1}), "class label -1 is out of range: this "
                                     "model has 1000 classes (0..999)");
  EXPECT_EQ(conditioningError({5}), "");
}

TEST(Guidance, ClassifierFreeGuidanceIsDiTPipelines) {
  PipelineSpec s = ditSpec();
  std::vector<float> cond = {1, 2}, uncond = {0.5f, -1}, out(2);
  auto g = makeGuidance(s, 4.0);
  EXPECT_EQ(g->copies(), 2);
  EXPECT_TRUE(g->guided());
  g->combine({cond.data(), uncond.data()}, out.data(), 2);
  EXPECT_EQ(out[0], 0.5f + 4.0f * (1 - 0.5f));
  EXPECT_EQ(out[1], -1 + 4.0f * (2 - -1));
  // A scale of 1 or less is the conditional prediction.
  auto off = makeGuidance(s, 1.0);
  EXPECT_FALSE(off->guided());
  off->combine({cond.data(), uncond.data()}, out.data(), 2);
  EXPECT_EQ(out, cond);
  s.guidance = fp::GuidanceMode::None;
  EXPECT_EQ(makeGuidance(s, 4.0)->copies(), 1);
}

TEST(Guidance, EmbeddedGuidanceIsAnInputOfTheDenoiser) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(fluxTable(), bytes);
  auto g = makeGuidance(s, 3.5);
  EXPECT_EQ(g->copies(), 1);
  EXPECT_FALSE(g->guided());
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = {2};
  t.data.resize(8);
  ASSERT_TRUE(g->fill(R::GuidanceScale, BatchLayout{1, 2, 1}, t));
  EXPECT_EQ(t.as<float>()[0], 3.5f);
  EXPECT_EQ(t.as<float>()[1], 3.5f);
  EXPECT_FALSE(g->fill(R::Timestep, BatchLayout{1, 2, 1}, t));
  std::vector<float> pred = {1, 2}, out(2);
  g->combine({pred.data()}, out.data(), 2);
  EXPECT_EQ(out, pred);
}

TEST(ImageLatents, PredictionDropsTheLearnedSigmaChannels) {
  PipelineSpec s = ditSpec(); // 4 channels, prediction 8, 8x8
  auto l = makeLatentLayout(s);
  EXPECT_EQ(l->shape(3), (std::vector<int64_t>{3, 4, 8, 8}));
  EXPECT_EQ(l->imageSize(), 256);
  EXPECT_EQ(l->predictionRowSize(), 512);
  std::vector<float> row(512), out(256);
  for (size_t i = 0; i < row.size(); ++i)
    row[i] = float(i);
  l->prediction(row.data(), out.data());
  EXPECT_EQ(out.front(), 0);
  EXPECT_EQ(out.back(), 255);
  // Image i's noise depends on (seed, i) only.
  std::vector<float> a(256), b(256);
  l->noise(3, 1, a.data());
  l->noise(3, 1, b.data());
  EXPECT_EQ(a, b);
}

/// FluxPipeline's _pack_latents, written out independently: token (i, j)
/// holds, channel-major, the 2x2 pixels (2i + a, 2j + b) of every channel.
TEST(PackedTokenLatents, PackLikeFluxPipeline) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(fluxTable(), bytes); // 4 x 8 x 8, patch 2
  auto l = makeLatentLayout(s);
  EXPECT_EQ(l->shape(2), (std::vector<int64_t>{2, 16, 16}));
  EXPECT_EQ(l->imageSize(), 256);
  EXPECT_EQ(l->predictionRowSize(), 256);
  EXPECT_EQ(l->decoderImageSize(), 256);
  std::vector<float> packed(256), grid(256);
  for (int64_t i = 0; i < 256; ++i)
    packed[i] = float(i);
  l->toDecoder(packed.data(), grid.data());
  for (int64_t c = 0; c < 4; ++c)
    for (int64_t y = 0; y < 8; ++y)
      for (int64_t x = 0; x < 8; ++x) {
        int64_t token = (y / 2) * 4 + x / 2;
        int64_t k = c * 4 + (y % 2) * 2 + x % 2;
        ASSERT_EQ(grid[(c * 8 + y) * 8 + x], float(token * 16 + k))
            << c << " " << y << " " << x;
      }
  // An encoded image ([C, H, W]) packs the same way: the inverse.
  std::vector<float> repacked(256);
  l->fromEncoder(grid.data(), repacked.data());
  EXPECT_EQ(repacked, packed);
  // The noise is the image layout's, packed.
  std::vector<float> noise(256), unpacked(256), image(256);
  l->noise(5, 1, noise.data());
  l->toDecoder(noise.data(), unpacked.data());
  s.layout = fp::LatentLayout::Image;
  s.patchSize = 1;
  makeLatentLayout(s)->noise(5, 1, image.data());
  EXPECT_EQ(unpacked, image);
}

TEST(PackedTokenLatents, ImageIdsAreRowAndColumn) {
  std::vector<uint8_t> bytes;
  PipelineSpec s = decode(fluxTable(), bytes);
  auto l = makeLatentLayout(s);
  HostTensor ids;
  ids.dtype = DType::F32;
  ids.shape = {16, 3};
  ids.data.resize(16 * 3 * 4);
  ASSERT_TRUE(l->fill(R::ImageIds, BatchLayout{2, 2, 1}, ids));
  const float *v = ids.as<float>();
  EXPECT_EQ(std::vector<float>(v + 3 * 6, v + 3 * 7),
            (std::vector<float>{0, 1, 2})); // token 6: row 1, column 2
  EXPECT_EQ(std::vector<float>(v + 3 * 15, v + 3 * 16),
            (std::vector<float>{0, 3, 3}));
  EXPECT_FALSE(l->fill(R::TextIds, BatchLayout{2, 2, 1}, ids));
  // A prediction with extra channels per token keeps the first C p p.
  s.predictionChannels = 32;
  auto wide = makeLatentLayout(s);
  std::vector<float> row(16 * 32), out(256);
  for (size_t i = 0; i < row.size(); ++i)
    row[i] = float(i);
  wide->prediction(row.data(), out.data());
  EXPECT_EQ(out[16], 32.0f); // token 1, channel 0
  EXPECT_EQ(out[255], float(15 * 32 + 15));
}

} // namespace
