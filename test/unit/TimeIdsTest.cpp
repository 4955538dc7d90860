//===- TimeIdsTest.cpp - SDXL's micro-conditioning rows
//--------------------===//
//
// The TimeIds rows a run's original size, crop corner and target size give,
// written out by hand from diffusers 0.31's _get_add_time_ids and its
// callers (StableDiffusionXLPipeline for text-to-image,
// StableDiffusionXLImg2ImgPipeline for image-to-image, with and without
// requires_aesthetics_score), and the refusals: plans without SDXL's time
// ids, values out of range, and what diffusers would silently ignore.
// (sdxl_sd3_generate_parity.sh, sdxl_sd3_img2img_parity.sh and
// sdxl_refiner_parity.sh check the same against diffusers itself.)
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/TimeIds.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/PipelineSpec.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

using namespace fresco;

namespace {

using Rows = std::array<std::vector<double>, 2>;
const double kNaN = std::numeric_limits<double>::quiet_NaN();

using fresco::test::errorOf;

/// An SDXL plan's spec at 32 x 24 pixels: the base's 6 ids, or the
/// refiner's 4 and an aesthetic score.
PipelineSpec sdxl(bool refiner) {
  PipelineSpec s;
  s.kind = refiner ? "StableDiffusionXLImg2ImgPipeline"
                   : "StableDiffusionXLPipeline";
  s.conditioning = plan::ConditioningKind::Text;
  s.timeIds = {32, 24, 0, 0};
  if (refiner)
    s.aestheticScore = true;
  else
    s.timeIds.insert(s.timeIds.end(), {32, 24});
  return s;
}

MicroConditioning positive() {
  MicroConditioning m;
  m.originalSize = {{64, 48}};
  m.cropsTopLeft = {{8, 4}};
  m.targetSize = {{40, 32}};
  return m;
}

TEST(TimeIds, DefaultsAreThePlans) {
  const PipelineSpec base = sdxl(false), refiner = sdxl(true);
  for (bool i2i : {false, true})
    EXPECT_EQ(timeIdRows(base, {}, i2i, kNaN, kNaN),
              (Rows{{{32, 24, 0, 0, 32, 24}, {32, 24, 0, 0, 32, 24}}}));
  EXPECT_EQ(timeIdRows(refiner, {}, true, kNaN, kNaN),
            (Rows{{{32, 24, 0, 0, 6.0}, {32, 24, 0, 0, 2.5}}}));
  EXPECT_EQ(timeIdRows(refiner, {}, true, 7.5, 1.0),
            (Rows{{{32, 24, 0, 0, 7.5}, {32, 24, 0, 0, 1.0}}}));
  // A plan without time ids: none, and nothing to check.
  PipelineSpec sd;
  sd.kind = "StableDiffusionPipeline";
  EXPECT_EQ(timeIdRows(sd, {}, false, kNaN, kNaN), Rows{});
}

TEST(TimeIds, TextToImageIsStableDiffusionXLPipeline) {
  const PipelineSpec base = sdxl(false);
  // Positive values only: the negative half repeats them.
  MicroConditioning m = positive();
  EXPECT_EQ(timeIdRows(base, m, false, kNaN, kNaN),
            (Rows{{{64, 48, 8, 4, 40, 32}, {64, 48, 8, 4, 40, 32}}}));
  // Only the original size: crops and target stay the defaults.
  MicroConditioning o;
  o.originalSize = {{64, 48}};
  EXPECT_EQ(timeIdRows(base, o, false, kNaN, kNaN),
            (Rows{{{64, 48, 0, 0, 32, 24}, {64, 48, 0, 0, 32, 24}}}));
  // Both negative sizes: their own row, the crop corner defaulting to 0,0
  // (not the prompts').
  m.negativeOriginalSize = {{56, 40}};
  m.negativeTargetSize = {{24, 16}};
  EXPECT_EQ(timeIdRows(base, m, false, kNaN, kNaN),
            (Rows{{{64, 48, 8, 4, 40, 32}, {56, 40, 0, 0, 24, 16}}}));
  m.negativeCropsTopLeft = {{2, 6}};
  EXPECT_EQ(timeIdRows(base, m, false, kNaN, kNaN),
            (Rows{{{64, 48, 8, 4, 40, 32}, {56, 40, 2, 6, 24, 16}}}));
  // Negative values alone: the prompts' row is the plan's.
  MicroConditioning n;
  n.negativeOriginalSize = {{56, 40}};
  n.negativeTargetSize = {{24, 16}};
  EXPECT_EQ(timeIdRows(base, n, false, kNaN, kNaN),
            (Rows{{{32, 24, 0, 0, 32, 24}, {56, 40, 0, 0, 24, 16}}}));
}

TEST(TimeIds, ImageToImageIsStableDiffusionXLImg2ImgPipeline) {
  const PipelineSpec base = sdxl(false);
  // Each negative size defaults to the prompts'; the crop corner is the
  // prompts'.
  MicroConditioning m = positive();
  EXPECT_EQ(timeIdRows(base, m, true, kNaN, kNaN),
            (Rows{{{64, 48, 8, 4, 40, 32}, {64, 48, 8, 4, 40, 32}}}));
  m.negativeOriginalSize = {{56, 40}};
  EXPECT_EQ(timeIdRows(base, m, true, kNaN, kNaN),
            (Rows{{{64, 48, 8, 4, 40, 32}, {56, 40, 8, 4, 40, 32}}}));
  m.negativeTargetSize = {{24, 16}};
  EXPECT_EQ(timeIdRows(base, m, true, kNaN, kNaN),
            (Rows{{{64, 48, 8, 4, 40, 32}, {56, 40, 8, 4, 24, 16}}}));
  MicroConditioning t;
  t.negativeTargetSize = {{24, 16}};
  EXPECT_EQ(timeIdRows(base, t, true, kNaN, kNaN),
            (Rows{{{32, 24, 0, 0, 32, 24}, {32, 24, 0, 0, 24, 16}}}));
}

TEST(TimeIds, TheRefinerEndsWithTheAestheticScore) {
  const PipelineSpec refiner = sdxl(true);
  MicroConditioning m;
  m.originalSize = {{64, 48}};
  m.cropsTopLeft = {{8, 4}};
  // The negative original size defaults to the prompts', the negative crop
  // corner to 0,0.
  EXPECT_EQ(timeIdRows(refiner, m, true, 7.5, kNaN),
            (Rows{{{64, 48, 8, 4, 7.5}, {64, 48, 0, 0, 2.5}}}));
  m.negativeOriginalSize = {{56, 40}};
  m.negativeCropsTopLeft = {{2, 6}};
  EXPECT_EQ(timeIdRows(refiner, m, true, kNaN, 1.0),
            (Rows{{{64, 48, 8, 4, 6.0}, {56, 40, 2, 6, 1.0}}}));
}

TEST(TimeIds, RefusesWhatItCannotHonour) {
  auto refused = [](const PipelineSpec &s, const MicroConditioning &m, bool i2i,
                    const std::string &want) {
    const std::string got = errorOf([&] { checkMicroConditioning(s, m, i2i); });
    EXPECT_NE(got.find(want), std::string::npos)
        << "expected '" << want << "', got '" << got << "'";
  };
  const PipelineSpec base = sdxl(false), refiner = sdxl(true);
  // Plans without SDXL's time ids.
  PipelineSpec dit;
  dit.kind = "DiTPipeline";
  MicroConditioning crops;
  crops.cropsTopLeft = {{8, 4}};
  refused(dit, crops, false,
          "--crops-coords-top-left: pipeline 'DiTPipeline' has no time ids");
  PipelineSpec other = base;
  other.kind = "SomeOtherPipeline";
  refused(other, crops, false,
          "--crops-coords-top-left: the plan's 6 time ids of pipeline "
          "'SomeOtherPipeline' are not SDXL's");
  other = base;
  other.timeIds.push_back(1);
  refused(other, crops, false, "the plan's 7 time ids");
  // Out of range (fresco-run's parser refuses them first).
  for (double v : {-1.0, 2e6, kNaN, HUGE_VAL}) {
    MicroConditioning m;
    m.negativeCropsTopLeft = {{0, v}};
    m.negativeOriginalSize = m.negativeTargetSize = {{8, 8}};
    refused(base, m, false, "--negative-crops-coords-top-left: ");
  }
  MicroConditioning zero;
  zero.targetSize = {{0, 8}};
  refused(base, zero, false, "--target-size: 0 is not a size above 0");
  // The refiner has no target size.
  MicroConditioning target;
  target.targetSize = {{40, 32}};
  refused(refiner, target, true,
          "--target-size: the SDXL refiner's time ids "
          "(requires_aesthetics_score) are original size, crop corner and "
          "aesthetic score");
  target = {};
  target.negativeTargetSize = {{40, 32}};
  refused(refiner, target, true, "--negative-target-size: the SDXL refiner");
  // Text-to-image: one negative size without the other, a negative crop
  // corner without both.
  MicroConditioning half;
  half.negativeOriginalSize = {{56, 40}};
  refused(base, half, false,
          "--negative-original-size: StableDiffusionXLPipeline "
          "(text-to-image) uses negative time ids only when both");
  half = {};
  half.negativeTargetSize = {{56, 40}};
  refused(base, half, false, "--negative-target-size: ");
  half.negativeCropsTopLeft = {{2, 6}};
  refused(base, half, false, "--negative-target-size: ");
  half.negativeTargetSize.reset();
  refused(base, half, false, "--negative-crops-coords-top-left: ");
  // ... all of which image-to-image takes, but for the crop corner without
  // an aesthetic score.
  half = {};
  half.negativeOriginalSize = {{56, 40}};
  checkMicroConditioning(base, half, true);
  half.negativeCropsTopLeft = {{2, 6}};
  refused(base, half, true,
          "--negative-crops-coords-top-left: StableDiffusionXLImg2ImgPipeline "
          "without an aesthetic score");
  checkMicroConditioning(refiner, half, true);
}

} // namespace
