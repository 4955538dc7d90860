//===- ImageToImageTest.cpp - img2img's schedule cut, noising, pixels -----===//
//
// diffusers' get_timesteps arithmetic (Python's int(steps * strength), whose
// float product can land just above or below an integer; Flux's t_start =
// int(steps - steps * strength)), every noise-predicting scheduler's
// add_noise against the closed form in double from the betas,
// FlowMatchEulerDiscreteScheduler's scale_noise at Flux's shifted sigmas, the
// shortened schedule's step order, the refusal of a scheduler without
// add_noise, and the init image's pixel conversion.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/ImageToImage.h"
#include "runtime/core/Error.h"
#include "runtime/io/Png.h"
#include "runtime/pipeline/Scheduler.h"
#include "test/unit/EncoderSpec.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

using namespace fresco;

namespace {

using fresco::test::errorOf;
using fresco::test::specWithEncoder;

TEST(ImageToImage, BeginIndexIsGetTimesteps) {
  struct Case {
    int steps;
    double strength;
    int begin;
  } cases[] = {
      {4, 1.0, 0},   {4, 0.6, 2}, // int(2.4) = 2 steps kept
      {5, 0.6, 2},                // 5 * 0.6 = 3.0000000000000004: 3 kept
      {10, 0.7, 3},               // 7.000000000000001: 7 kept
      {3, 0.9, 1},                // int(2.7) = 2 kept
      {50, 0.8, 10}, {1, 1.0, 0}, {4, 0.25, 3},
  };
  for (const Case &c : cases)
    EXPECT_EQ(imageToImageBegin(c.steps, c.strength, size_t(c.steps)), c.begin)
        << c.steps << " steps, strength " << c.strength;
}

TEST(ImageToImage, SecondOrderSchedulersBeginAtTwiceTStart) {
  // get_timesteps: timesteps[t_start * order:], Heun's 2n - 1 entries.
  EXPECT_EQ(imageToImageBegin(4, 0.6, 7, /*order=*/2), 4);
  EXPECT_EQ(imageToImageBegin(10, 0.75, 19, 2), 6);
  EXPECT_EQ(imageToImageBegin(4, 1.0, 7, 2), 0);
}

TEST(ImageToImage, RefusesStrengthsThatKeepNothing) {
  for (double s : {0.0, -0.5, 1.5, std::nan("")})
    EXPECT_NE(errorOf([&] {
                imageToImageBegin(4, s, 4);
              }).find("--strength must be in (0, 1]"),
              std::string::npos)
        << s;
  EXPECT_NE(errorOf([] {
              imageToImageBegin(4, 0.2, 4);
            }).find("--strength 0.2 of 4 steps keeps no denoising step"),
            std::string::npos);
}

TEST(ImageToImage, FluxBeginIndexIsItsGetTimesteps) {
  struct Case {
    int steps;
    double strength;
    int begin;
  } cases[] = {
      // t_start = int(max(steps - min(steps * strength, steps), 0)):
      // int(1.6) = 1, 3 steps kept where SD's int(2.4) keeps 2.
      {4, 1.0, 0},   {4, 0.6, 1},   {3, 0.9, 0}, // int(0.3): all 3
      {28, 0.95, 1}, {50, 0.8, 10}, {1, 1.0, 0},
      {4, 0.25, 3},  {4, 0.2, 3}, // SD keeps nothing here
      {3, 0.1, 2},                // 3 - 0.30000000000000004
  };
  for (const Case &c : cases)
    EXPECT_EQ(flowImageToImageBegin(c.steps, c.strength, size_t(c.steps)),
              c.begin)
        << c.steps << " steps, strength " << c.strength;
}

TEST(ImageToImage, FluxRefusesStrengthsThatKeepNothing) {
  for (double s : {0.0, -0.5, 1.5, std::nan("")})
    EXPECT_NE(errorOf([&] {
                flowImageToImageBegin(4, s, 4);
              }).find("--strength must be in (0, 1]"),
              std::string::npos)
        << s;
  // 4 - 4e-17 is 4.0 in double: t_start 4, nothing left.
  EXPECT_NE(errorOf([] { flowImageToImageBegin(4, 1e-17, 4); })
                .find("keeps no denoising step (int(steps - steps * strength) "
                      "is 4)"),
            std::string::npos);
}

TEST(ImageToImage, BeginIndexFollowsThePipelineClass) {
  EXPECT_EQ(imageToImageBegin(specWithEncoder("FluxPipeline"), 4, 0.6, 4), 1);
  EXPECT_EQ(
      imageToImageBegin(specWithEncoder("StableDiffusionPipeline"), 4, 0.6, 4),
      2);
  // StableDiffusionXLImg2ImgPipeline's get_timesteps is SD's (int(4 * 0.6)
  // = 2 kept), StableDiffusion3Img2ImgPipeline's Flux's (3 kept).
  EXPECT_EQ(imageToImageBegin(specWithEncoder("StableDiffusionXLPipeline"), 4,
                              0.6, 4),
            2);
  EXPECT_EQ(
      imageToImageBegin(specWithEncoder("StableDiffusion3Pipeline"), 4, 0.6, 4),
      1);
  EXPECT_NE(errorOf([] {
              imageToImageBegin(specWithEncoder("StableDiffusionXLPipeline"), 4,
                                0.2, 4);
            }).find("keeps no denoising step (int(steps * strength) is 0)"),
            std::string::npos);
  EXPECT_EQ(
      imageToImageBegin(specWithEncoder("StableDiffusion3Pipeline"), 4, 0.2, 4),
      3);
  EXPECT_NE(errorOf([] {
              imageToImageBegin(specWithEncoder("DiTPipeline"), 4, 0.6, 4);
            })
                .find("StableDiffusionPipeline, StableDiffusionXLPipeline, "
                      "StableDiffusionXLImg2ImgPipeline, "
                      "StableDiffusion3Pipeline and FluxPipeline plans only; "
                      "this plan is a DiTPipeline"),
            std::string::npos);
  PipelineSpec bare = specWithEncoder("FluxPipeline");
  bare.components.clear();
  EXPECT_NE(errorOf([&] { imageToImageBegin(bare, 4, 0.6, 4); })
                .find("compile the pipeline folder with fresco-compile "
                      "--vae-encoder"),
            std::string::npos);
}

TEST(ImageToImage, TheRefinerIsImageToImageOnly) {
  // StableDiffusionXLImg2ImgPipeline's get_timesteps is SDXL's.
  PipelineSpec refiner = specWithEncoder("StableDiffusionXLImg2ImgPipeline");
  EXPECT_EQ(imageToImageBegin(refiner, 4, 0.6, 4), 2);
  EXPECT_NE(errorOf([&] { checkTextToImage(refiner); })
                .find("'StableDiffusionXLImg2ImgPipeline' is image-to-image "
                      "only"),
            std::string::npos);
  checkTextToImage(specWithEncoder("StableDiffusionXLPipeline"));
  // Only a plan whose time ids end with the score takes one.
  EXPECT_NE(errorOf([&] { checkAestheticScore(refiner, 7.0, "--flag"); })
                .find("--flag: pipeline 'StableDiffusionXLImg2ImgPipeline' "
                      "takes no aesthetic score"),
            std::string::npos);
  refiner.aestheticScore = true;
  checkAestheticScore(refiner, 7.0, "--flag");
  checkAestheticScore(specWithEncoder("StableDiffusionXLPipeline"),
                      std::nan(""), "--flag");
}

TEST(ImageToImage, DenoisingStartAndEndCutTheSchedule) {
  PipelineSpec s = specWithEncoder("StableDiffusionXLPipeline");
  s.scheduler = "EulerDiscreteScheduler";
  s.schedulerConfig = R"({"num_train_timesteps": 1000})";
  // int(round(1000 - F * 1000)), Python's round: half to even.
  EXPECT_EQ(denoisingCutoff(s, 0.8), 200);
  EXPECT_EQ(denoisingCutoff(s, 0.0005), 1000); // 999.5
  EXPECT_EQ(denoisingCutoff(s, 0.0015), 998);  // 998.5
  // 8 leading steps: the base keeps those >= 200, the refiner those below.
  const std::vector<double> t = {876, 751, 626, 501, 376, 251, 126, 1};
  EXPECT_EQ(denoisingEndIndex(s, 0.8, t, 0), 6);
  EXPECT_EQ(denoisingStartBegin(s, 0.8, t), 6);
  // After image-to-image's begin, the end counts from there.
  EXPECT_EQ(denoisingEndIndex(s, 0.8, t, 4), 6);
  EXPECT_EQ(denoisingEndIndex(s, 0.5, t, 0), 4); // cutoff 500: 876..501
  EXPECT_NE(errorOf([&] {
              denoisingStartBegin(s, 0.999, t);
            }).find("keeps no denoising step"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              denoisingEndIndex(s, 0.001, t, 0);
            }).find("keeps no denoising step"),
            std::string::npos);
  // Only SDXL's classes; a start needs image-to-image and to be below the
  // end.
  checkDenoisingRange(s, 0.3, 0.8, true);
  EXPECT_NE(errorOf([&] {
              checkDenoisingRange(s, 0.3, std::nan(""), false);
            }).find("--denoising-start applies to image-to-image"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              checkDenoisingRange(s, 0.8, 0.8, true);
            }).find("must be below --denoising-end"),
            std::string::npos);
  EXPECT_NE(errorOf([&] {
              checkDenoisingRange(specWithEncoder("StableDiffusionPipeline"),
                                  std::nan(""), 0.5, false);
            })
                .find("implemented for StableDiffusionXLPipeline and "
                      "StableDiffusionXLImg2ImgPipeline plans only"),
            std::string::npos);
}

/// Flux's schedule (use_dynamic_shifting, FluxPipeline's sigmas and mu).
std::unique_ptr<Scheduler> fluxScheduler(int steps, int64_t tokens) {
  const char *config = R"({"num_train_timesteps": 1000, "shift": 3.0,
      "use_dynamic_shifting": true, "base_shift": 0.5, "max_shift": 1.15,
      "base_image_seq_len": 256, "max_image_seq_len": 4096})";
  std::unique_ptr<Scheduler> s =
      createScheduler("FlowMatchEulerDiscreteScheduler", config);
  s->setTimestepsWith(steps, fluxTimestepOptions(config, steps, tokens));
  return s;
}

TEST(ImageToImage, FlowMatchScaleNoiseIsTheInterpolation) {
  std::unique_ptr<Scheduler> s = fluxScheduler(4, 96);
  ASSERT_EQ(s->timesteps().size(), 4u);
  // sigma_i = e^mu / (e^mu + 1 / t_i - 1), t_i = linspace(1, 1/4, 4), mu
  // calculate_shift(96) in double: written out here, not read back.
  const double m = (1.15 - 0.5) / (4096 - 256), mu = 96 * m + 0.5 - m * 256;
  const std::vector<float> x = {0.5f, -1.25f, 2.0f}, eps = {1.0f, 0.3f, -2.0f};
  for (int idx = 0; idx < 4; ++idx) {
    const double t = 1.0 - idx * (1.0 - 0.25) / 3.0;
    const double sigma = std::exp(mu) / (std::exp(mu) + 1.0 / t - 1.0);
    EXPECT_NEAR(s->timesteps()[idx], 1000 * sigma, 1e-3) << idx;
    std::vector<float> out(3);
    s->addNoise(x.data(), eps.data(), out.data(), 3, idx);
    for (int i = 0; i < 3; ++i)
      EXPECT_NEAR(out[i], sigma * eps[i] + (1 - sigma) * x[i],
                  1e-6 * (std::fabs(x[i]) + std::fabs(eps[i])))
          << "step " << idx << " value " << i;
  }
  // Out of the schedule: an error, not a read past the sigmas.
  std::vector<float> out(3);
  EXPECT_NE(errorOf([&] {
              s->addNoise(x.data(), eps.data(), out.data(), 3, 4);
            }).find("addNoise step index 4 is out of range"),
            std::string::npos);
}

TEST(ImageToImage, FlowMatchBeginIndexRunsTheRest) {
  // A constant velocity v from step 1 on: x + (sigma_end - sigma_1) v, and
  // sigma_end = 0.
  std::unique_ptr<Scheduler> s = fluxScheduler(4, 96);
  s->setBeginIndex(1);
  std::vector<float> sample = {2.0f}, v = {0.5f};
  EXPECT_NE(errorOf([&] {
              s->step(v.data(), sample.data(), 1, 0);
            }).find("called out of order; the next step is 1"),
            std::string::npos);
  for (int i = 1; i < 4; ++i)
    s->step(v.data(), sample.data(), 1, i);
  EXPECT_NEAR(sample[0], 2.0 - s->sigmas()[1] * 0.5, 1e-6);
}

TEST(ImageToImage, AddNoiseIsTheClosedForm) {
  // Leading spacing: integer timesteps t, where every class's sigma is the
  // training one, sqrt((1 - a_t) / a_t).
  const char *config = R"({"num_train_timesteps": 1000, "beta_start": 0.00085,
      "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1,
      "set_alpha_to_one": false, "clip_sample": false, "skip_prk_steps": true,
      "timestep_spacing": "leading"})";
  // alphas_cumprod from the scaled_linear betas, in double.
  std::vector<double> acp(1000);
  double prod = 1;
  for (int i = 0; i < 1000; ++i) {
    const double b = std::sqrt(0.00085) +
                     (std::sqrt(0.012) - std::sqrt(0.00085)) * i / 999.0;
    prod *= 1 - b * b;
    acp[i] = prod;
  }
  const std::vector<float> x = {0.5f, -1.25f, 2.0f}, eps = {1.0f, 0.3f, -2.0f};
  for (const char *name :
       {"DDIMScheduler", "PNDMScheduler", "DPMSolverMultistepScheduler",
        "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler"}) {
    std::unique_ptr<Scheduler> s = createScheduler(name, config);
    s->setTimesteps(4); // DDIM: 751, 501, 251, 1; PNDM 501 twice
    const bool euler = std::string(name).find("Euler") != std::string::npos;
    for (size_t idx = 0; idx < s->timesteps().size(); ++idx) {
      const double t = s->timesteps()[idx];
      ASSERT_EQ(t, std::round(t)) << name;
      const double a = acp[size_t(t)];
      s->setBeginIndex(int(idx));
      std::vector<float> out(3);
      s->addNoise(x.data(), eps.data(), out.data(), 3, int(idx));
      for (int i = 0; i < 3; ++i) {
        const double want =
            euler ? x[i] + std::sqrt((1 - a) / a) * eps[i]
                  : std::sqrt(a) * x[i] + std::sqrt(1 - a) * eps[i];
        EXPECT_NEAR(out[i], want, 2e-6 * (std::fabs(want) + 1))
            << name << " step " << idx << " value " << i;
      }
    }
    std::vector<float> out(3);
    const int past = int(s->timesteps().size());
    EXPECT_NE(
        errorOf([&] { s->addNoise(x.data(), eps.data(), out.data(), 3, past); })
            .find("addNoise step index " + std::to_string(past) +
                  " is out of range"),
        std::string::npos)
        << name;
  }
}

TEST(ImageToImage, BeginIndexSkipsTheFirstSteps) {
  for (const char *name :
       {"DDIMScheduler", "PNDMScheduler", "DPMSolverMultistepScheduler",
        "EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler"}) {
    std::unique_ptr<Scheduler> s = createScheduler(name, "{}");
    s->setTimesteps(4);
    s->setStepNoise({3, 1});
    s->setBeginIndex(2);
    std::vector<float> sample = {1.0f}, eps = {0.5f};
    EXPECT_NE(errorOf([&] {
                s->step(eps.data(), sample.data(), 1, 0);
              }).find("called out of order; the next step is 2"),
              std::string::npos)
        << name;
    for (size_t i = 2; i < s->timesteps().size(); ++i)
      s->step(eps.data(), sample.data(), 1, int(i));
    EXPECT_TRUE(std::isfinite(sample[0])) << name;
    // set_timesteps starts over from step 0.
    s->setTimesteps(4);
    s->step(eps.data(), sample.data(), 1, 0);
  }
}

/// A scheduler with no add_noise of its own.
class NoAddNoise final : public Scheduler {
public:
  std::string name() const override { return "SomeNewScheduler"; }
  void setTimesteps(int) override { timesteps_ = {1, 0}; }
  void step(const float *, float *, int64_t, int) override {}
};

TEST(ImageToImage, SchedulerWithoutAddNoiseRefusesByName) {
  NoAddNoise s;
  s.setTimesteps(2);
  std::vector<float> x = {1.0f};
  for (const std::string &msg :
       {errorOf([&] { s.setBeginIndex(1); }),
        errorOf([&] { s.addNoise(x.data(), x.data(), x.data(), 1, 1); })})
    EXPECT_NE(msg.find("image-to-image is not implemented for "
                       "SomeNewScheduler"),
              std::string::npos)
        << msg;
}

TEST(ImageToImage, PixelsAsVaeImageProcessor) {
  // 2x1 RGB pixels, HWC in, CHW out: 2 * (v / 255) - 1 in float32.
  const uint8_t hwc[] = {0, 128, 255, 10, 20, 30};
  float chw[6];
  rgbToImageFloats(hwc, 3, 1, 2, chw);
  const int order[] = {0, 3, 1, 4, 2, 5}; // channel-major
  for (int k = 0; k < 6; ++k) {
    const float x = float(hwc[order[k]]) / 255.0f;
    EXPECT_EQ(chw[k], 2.0f * x - 1.0f) << k;
  }
  EXPECT_EQ(chw[0], -1.0f);
  EXPECT_EQ(chw[4], 1.0f);
}

} // namespace
