//===- SchedulerTest.cpp - Scheduler factory, config and invariants -------===//
//
// Python-free checks of runtime/pipeline/Scheduler.h: the factory and its
// messages, scheduler_config.json handling, schedule invariants, closed-form
// step results (final steps, zero model outputs) and step bookkeeping.
// Bit-level parity with diffusers is e2e-scheduler-parity's job.
//
//===----------------------------------------------------------------------===//
#include "runtime/pipeline/Scheduler.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/Noise.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <tuple>
#include <vector>

using namespace fresco;

namespace {

const char *kDDIM = "DDIMScheduler";
const char *kEuler = "EulerDiscreteScheduler";
const char *kAncestral = "EulerAncestralDiscreteScheduler";
const char *kDPM = "DPMSolverMultistepScheduler";
const char *kEdmEuler = "EDMEulerScheduler";
const char *kDDPM = "DDPMScheduler";
const char *kEdmDPM = "EDMDPMSolverMultistepScheduler";
const char *kUniPC = "UniPCMultistepScheduler";
const char *kLCM = "LCMScheduler";
const char *kFlow = "FlowMatchEulerDiscreteScheduler";
const char *kPNDM = "PNDMScheduler";

/// facebook/DiT-XL-2-256's scheduler_config.json.
const char *kDiTConfig = R"({
  "_class_name": "DDIMScheduler",
  "_diffusers_version": "0.12.0.dev0",
  "beta_end": 0.02,
  "beta_schedule": "linear",
  "beta_start": 0.0001,
  "clip_sample": false,
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "set_alpha_to_one": true,
  "steps_offset": 0,
  "trained_betas": null
})";

using fresco::test::errorOf;

std::string createError(const std::string &cls, const std::string &json) {
  return errorOf([&] { createScheduler(cls, json); });
}

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

/// Runs every step of `s` with model output `mo` (same for each step).
std::vector<float> runAll(Scheduler &s, std::vector<float> sample,
                          const std::vector<float> &mo) {
  for (size_t i = 0; i < s.timesteps().size(); ++i)
    s.step(mo.data(), sample.data(), int64_t(sample.size()), int(i));
  return sample;
}

//===----------------------------------------------------------------------===//
// Factory and config
//===----------------------------------------------------------------------===//

TEST(SchedulerFactory, SupportedListAndNames) {
  const std::vector<std::string> &names = supportedSchedulers();
  ASSERT_EQ(names.size(), 17u);
  for (const std::string &n : names) {
    std::unique_ptr<Scheduler> s = createScheduler(n, "{}");
    ASSERT_TRUE(s);
    EXPECT_EQ(s->name(), n);
  }
}

TEST(SchedulerFactory, UnknownClassListsSupportedOnes) {
  std::string msg = createError("KarrasVeScheduler", "{}");
  EXPECT_TRUE(contains(msg, "KarrasVeScheduler")) << msg;
  for (const std::string &n : supportedSchedulers())
    EXPECT_TRUE(contains(msg, n)) << msg;
}

TEST(SchedulerFactory, UnsupportedValuesNameTheKey) {
  struct Case {
    const char *cls, *json, *key;
  } cases[] = {
      {kDDIM, R"({"thresholding": true})", "'thresholding'"},
      {kDPM, R"({"thresholding": true})", "'thresholding'"},
      {kDPM, R"({"algorithm_type": "sde-dpmsolver"})", "'final_sigmas_type'"},
      {kDPM, R"({"algorithm_type": "unipc"})", "'algorithm_type'"},
      {kDPM, R"({"variance_type": "learned_range"})", "'variance_type'"},
      {kDPM, R"({"use_lu_lambdas": true})", "'use_lu_lambdas'"},
      {kDPM, R"({"solver_order": 0})", "'solver_order'"},
      {kDPM, R"({"solver_type": "bh3"})", "'solver_type'"},
      {kDPM, R"({"algorithm_type": "dpmsolver"})", "'final_sigmas_type'"},
      {kEuler, R"({"interpolation_type": "log_linear"})",
       "'interpolation_type'"},
      {kEuler, R"({"use_exponential_sigmas": true})",
       "'use_exponential_sigmas'"},
      {kEuler, R"({"use_beta_sigmas": true})", "'use_beta_sigmas'"},
      {kEuler, R"({"timestep_type": "fractional"})", "'timestep_type'"},
      {kEuler, R"({"final_sigmas_type": "one"})", "'final_sigmas_type'"},
      {kAncestral, R"({"prediction_type": "sample"})", "'prediction_type'"},
      {kAncestral, R"({"timestep_spacing": "uniform"})", "'timestep_spacing'"},
      {kDDIM, R"({"beta_schedule": "sigmoid"})", "'beta_schedule'"},
      {kDDIM, R"({"prediction_type": "noise"})", "'prediction_type'"},
      {kDDIM, R"({"timestep_spacing": "uniform"})", "'timestep_spacing'"},
      {kDDIM, R"({"steps_offset": "1"})", "'steps_offset'"},
      {kDDIM, R"({"clip_sample": 1})", "'clip_sample'"},
      {kDDIM, R"({"trained_betas": [0.1, 0.2]})", "'trained_betas'"},
      {kEuler, R"({"num_train_timesteps": 1})", "'num_train_timesteps'"},
      // Found by fuzzing: the tables are num_train_timesteps long.
      {kEuler, R"({"num_train_timesteps": 10036028275527186})",
       "'num_train_timesteps' = 10036028275527186 is more than 1000000"},
      {kDDIM, R"({"num_train_timesteps": 1000001})", "'num_train_timesteps'"},
      {kDPM, R"({"num_train_timesteps": 1e15})", "'num_train_timesteps'"},
      // "leading" adds steps_offset to every timestep: near 2^63 that
      // overflowed; past 2^63 the JSON integer wrapped to a negative one.
      {kDPM, R"({"steps_offset": 9223372036854775807})",
       "'steps_offset' = 9223372036854775807 is outside [-1000000, 1000000]"},
      {kDDIM, R"({"steps_offset": -9223372036854775807})",
       "'steps_offset' = -9223372036854775807 is outside"},
      {kEuler, R"({"steps_offset": 1000001})", "'steps_offset' = 1000001"},
      {kPNDM, R"({"steps_offset": 9223372036854775808})",
       "'steps_offset' = 9223372036854775808 is too large"},
      {kUniPC, R"({"thresholding": true})", "'thresholding'"},
      {kUniPC, R"({"solver_order": 0})", "'solver_order'"},
      {kUniPC, R"({"solver_order": 5})", "'solver_order'"},
      // Found in review: 2^32 + 2 narrowed to 2 and ran.
      {kUniPC, R"({"solver_order": 4294967298})",
       "'solver_order' = 4294967298"},
      {kDPM, R"({"solver_order": 4294967298})", "'solver_order' = 4294967298"},
      {kUniPC, R"({"solver_type": "bh3"})", "'solver_type'"},
      // Both end in NaN latents in diffusers on a schedule ending at 0.
      {kUniPC, R"({"solver_type": "bh1"})", "'solver_type'"},
      {kUniPC, R"({"predict_x0": false})", "'predict_x0'"},
      {kUniPC, R"({"disable_corrector": [1.5]})", "'disable_corrector'"},
      {kUniPC, R"({"disable_corrector": 3})", "'disable_corrector'"},
      {kUniPC, R"({"solver_p": {"_class_name": "DDIMScheduler"}})",
       "'solver_p'"},
      {kUniPC, R"({"use_beta_sigmas": true})", "'use_beta_sigmas'"},
      {kUniPC, R"({"final_sigmas_type": "one"})", "'final_sigmas_type'"},
      {kLCM, R"({"thresholding": true})", "'thresholding'"},
      {kLCM, R"({"original_inference_steps": 0})",
       "'original_inference_steps'"},
      {kLCM, R"({"timestep_scaling": "10"})", "'timestep_scaling'"},
      {kLCM, R"({"prediction_type": "flow"})", "'prediction_type'"},
      // diffusers runs these into NaN or infinite sigmas.
      {kEdmEuler, R"({"sigma_min": 0})", "'sigma_min'"},
      // An Euler config's null sigma_min: diffusers fails on None ** x.
      {kEdmEuler, R"({"sigma_min": null})", "'sigma_min' = null"},
      {kEdmDPM, R"({"sigma_max": null})", "'sigma_max' = null"},
      {kEdmEuler, R"({"sigma_min": 10, "sigma_max": 5})", "'sigma_max'"},
      {kEdmDPM, R"({"rho": -7})", "'rho'"},
      {kEdmDPM, R"({"sigma_data": 0})", "'sigma_data'"},
      {kEdmEuler, R"({"sigma_schedule": "linear"})", "'sigma_schedule'"},
      {kEdmEuler, R"({"prediction_type": "sample"})", "'prediction_type'"},
      {kEdmDPM, R"({"thresholding": true})", "'thresholding'"},
      {kEdmDPM, R"({"algorithm_type": "dpmsolver"})", "'algorithm_type'"},
      {kEdmDPM, R"({"solver_type": "bh3"})", "'solver_type'"},
      {kEdmDPM, R"({"algorithm_type": "deis"})", "'final_sigmas_type'"},
      {kDDPM, R"({"variance_type": "learned_range"})", "'variance_type'"},
      // diffusers takes the square root of a negative log: NaN latents.
      {kDDPM, R"({"variance_type": "fixed_large_log"})", "'variance_type'"},
      {kDDPM, R"({"variance_type": "small"})", "'variance_type'"},
      {kDDPM, R"({"thresholding": true})", "'thresholding'"},
      {"TCDScheduler", R"({"original_inference_steps": 0})",
       "'original_inference_steps'"},
      {kDDPM, R"({"beta_schedule": "cosine"})", "sigmoid"},
      {kDDIM, R"({"beta_schedule": "sigmoid"})", "'beta_schedule'"},
  };
  for (const Case &c : cases) {
    std::string msg = createError(c.cls, c.json);
    EXPECT_TRUE(contains(msg, c.key))
        << c.cls << " " << c.json << " -> '" << msg << "'";
    EXPECT_TRUE(contains(msg, c.cls)) << msg;
  }
}

TEST(SchedulerFactory, BadJson) {
  EXPECT_TRUE(contains(createError(kDDIM, "{\"beta_end\": "), "JSON"));
  EXPECT_TRUE(contains(createError(kDDIM, "[1, 2]"), "JSON object"));
}

TEST(SchedulerConfig, UnknownPrivateAndNullKeysAreIgnored) {
  // diffusers' from_config: unknown keys ignored, null means the default,
  // keys listed in _use_default_values dropped.
  std::unique_ptr<Scheduler> a = createScheduler(kDDIM, kDiTConfig);
  std::unique_ptr<Scheduler> b = createScheduler(
      kDDIM, R"({"_class_name": "X", "solver_order": 3, "beta_start": null,
                 "timestep_spacing": "linspace",
                 "_use_default_values": ["timestep_spacing"],
                 "clip_sample": false})");
  a->setTimesteps(50);
  b->setTimesteps(50);
  EXPECT_EQ(a->timesteps(), b->timesteps());
  // An Euler or DPM-Solver built from DiT's DDIM config, as DiT users do.
  EXPECT_NO_THROW(createScheduler(kEuler, kDiTConfig));
  EXPECT_NO_THROW(createScheduler(kDPM, kDiTConfig));
}

TEST(SchedulerConfig, OverridesAreFromConfigKeywords) {
  // A keyword argument wins over _use_default_values (which would drop the
  // key), a bare word is a string, JSON is JSON.
  const std::string config = R"({"timestep_spacing": "leading",
      "_use_default_values": ["timestep_spacing", "steps_offset"],
      "steps_offset": 1})";
  const std::string merged = withConfigOverrides(
      kEuler, config,
      {{"timestep_spacing", "trailing"}, {"use_karras_sigmas", "false"}});
  std::unique_ptr<Scheduler> a = createScheduler(kEuler, merged);
  std::unique_ptr<Scheduler> b = createScheduler(
      kEuler,
      R"({"timestep_spacing": "trailing", "use_karras_sigmas": false})");
  a->setTimesteps(10);
  b->setTimesteps(10);
  EXPECT_EQ(a->timesteps(), b->timesteps());
  // A key not overridden stays as the list says: steps_offset 0, so the
  // leading grid starts at 900, not 901.
  std::unique_ptr<Scheduler> lead = createScheduler(
      kEuler,
      withConfigOverrides(kEuler, config, {{"timestep_spacing", "leading"}}));
  lead->setTimesteps(10);
  EXPECT_EQ(lead->timesteps().front(), 900);
  EXPECT_EQ(withConfigOverrides(kEuler, config, {}), config);
  EXPECT_TRUE(contains(
      errorOf([&] {
        withConfigOverrides(kEuler, config, {{"use_karas_sigmas", "true"}});
      }),
      "--scheduler-config use_karas_sigmas: "
      "EulerDiscreteScheduler (diffusers 0.31) takes no "
      "'use_karas_sigmas' (diffusers would drop it); its "
      "settings: num_train_timesteps, "));
  // DPM-Solver reads sigma_min from a stored config, but diffusers drops
  // it as a keyword (no such __init__ parameter).
  EXPECT_TRUE(
      contains(errorOf([&] {
                 withConfigOverrides(kDPM, "{}", {{"sigma_min", "0.1"}});
               }),
               "takes no 'sigma_min'"));
  EXPECT_TRUE(contains(
      errorOf([&] {
        withConfigOverrides(kEuler, config, {{"use_karras_sigmas", "2"}});
      }),
      "must be true or false"));
  EXPECT_TRUE(contains(errorOf([&] {
                         withConfigOverrides(kFlow, "{}", {{"shift", "NaN"}});
                       }),
                       "give a value (null and NaN are not settings)"));
  // A bare word that is not UTF-8 (found by fuzzing: an uncaught JSON
  // exception).
  EXPECT_TRUE(contains(
      errorOf([&] {
        withConfigOverrides(kDDIM, "{}", {{"timestep_spacing", "\xff"}});
      }),
      "a value is not valid UTF-8 text"));
}

//===----------------------------------------------------------------------===//
// Timesteps
//===----------------------------------------------------------------------===//

TEST(SchedulerTimesteps, DiTConfigLeading) {
  std::unique_ptr<Scheduler> s = createScheduler(kDDIM, kDiTConfig);
  s->setTimesteps(50);
  const std::vector<double> &t = s->timesteps();
  ASSERT_EQ(t.size(), 50u);
  EXPECT_EQ(t.front(), 980);
  EXPECT_EQ(t[1], 960);
  EXPECT_EQ(t.back(), 0);
  EXPECT_EQ(s->initNoiseSigma(), 1.0);
}

TEST(SchedulerTimesteps, KnownSchedules) {
  std::unique_ptr<Scheduler> ddim =
      createScheduler(kDDIM, R"({"timestep_spacing": "linspace"})");
  ddim->setTimesteps(10);
  EXPECT_EQ(ddim->timesteps(), (std::vector<double>{999, 888, 777, 666, 555,
                                                    444, 333, 222, 111, 0}));

  std::unique_ptr<Scheduler> dpm = createScheduler(kDPM, "{}");
  dpm->setTimesteps(25);
  ASSERT_EQ(dpm->timesteps().size(), 25u);
  EXPECT_EQ(dpm->timesteps()[0], 999);
  EXPECT_EQ(dpm->timesteps()[12], 519); // np.round(519.48)
  EXPECT_EQ(dpm->timesteps()[13], 480); // np.round(479.52)
  EXPECT_EQ(dpm->timesteps()[24], 40);

  // Stable Diffusion's Euler config: leading spacing, steps_offset 1.
  std::unique_ptr<Scheduler> euler = createScheduler(
      kEuler, R"({"beta_schedule": "scaled_linear", "beta_start": 0.00085,
                  "beta_end": 0.012, "timestep_spacing": "leading",
                  "steps_offset": 1})");
  euler->setTimesteps(10);
  EXPECT_EQ(euler->timesteps().front(), 901);
  EXPECT_EQ(euler->timesteps().back(), 1);
  EXPECT_FLOAT_EQ(float(euler->initNoiseSigma()), 8.450066566467285f);
}

TEST(SchedulerTimesteps, TrailingMayGiveOneMore) {
  // np.arange(1000, 0, -1000/61) has 62 values; diffusers keeps them all and
  // ends on timestep -1.
  std::unique_ptr<Scheduler> s =
      createScheduler(kDDIM, R"({"timestep_spacing": "trailing"})");
  s->setTimesteps(61);
  ASSERT_EQ(s->timesteps().size(), 62u);
  EXPECT_EQ(s->timesteps().back(), -1);
  std::vector<float> x(8, 0.5f), mo(8, 0.1f);
  EXPECT_NO_THROW(runAll(*s, x, mo));
}

TEST(SchedulerTimesteps, StrictlyDecreasingAndCounted) {
  const char *spacings[] = {"leading", "trailing", "linspace"};
  for (const char *cls : {kDDIM, kEuler, kDPM, kUniPC}) {
    for (const char *spacing : spacings) {
      for (const char *schedule :
           {"linear", "scaled_linear", "squaredcos_cap_v2"}) {
        std::string json = std::string("{\"timestep_spacing\": \"") + spacing +
                           "\", \"beta_schedule\": \"" + schedule + "\"}";
        std::unique_ptr<Scheduler> s = createScheduler(cls, json);
        for (int n : {1, 4, 25, 50, 100}) {
          s->setTimesteps(n);
          const std::vector<double> &t = s->timesteps();
          ASSERT_EQ(int(t.size()), n) << cls << " " << json << " n=" << n;
          for (size_t i = 1; i < t.size(); ++i)
            ASSERT_LT(t[i], t[i - 1]) << cls << " " << json << " n=" << n;
          ASSERT_GE(t.back(), 0);
          ASSERT_LE(t.front(), 999);
          if (std::string(cls) != kEuler) {
            for (double v : t) {
              ASSERT_EQ(v, std::floor(v)) << "integer timesteps expected";
            }
          }
        }
      }
    }
  }
}

TEST(SchedulerTimesteps, EulerKarrasSigmasDecrease) {
  std::unique_ptr<Scheduler> s =
      createScheduler(kEuler, R"({"use_karras_sigmas": true, "beta_schedule":
                  "scaled_linear", "beta_start": 0.00085, "beta_end": 0.012})");
  s->setTimesteps(25);
  const std::vector<double> &t = s->timesteps();
  ASSERT_EQ(t.size(), 25u);
  for (size_t i = 1; i < t.size(); ++i)
    EXPECT_LT(t[i], t[i - 1]);
  EXPECT_GT(t.front(), 990); // sigma_max maps back to ~999
  EXPECT_FLOAT_EQ(float(s->initNoiseSigma()), 14.614645004272461f);
}

TEST(SchedulerTimesteps, EulerInitNoiseSigmaBeforeSetTimesteps) {
  // diffusers reads the training sigmas until set_timesteps.
  std::unique_ptr<Scheduler> s = createScheduler(
      kEuler, R"({"beta_schedule": "scaled_linear", "beta_start": 0.00085,
                  "beta_end": 0.012})");
  EXPECT_FLOAT_EQ(float(s->initNoiseSigma()), 14.614645004272461f);
  EXPECT_TRUE(s->timesteps().empty());
}

TEST(SchedulerTimesteps, InvalidStepCounts) {
  std::unique_ptr<Scheduler> ddim = createScheduler(kDDIM, "{}");
  EXPECT_TRUE(contains(errorOf([&] { ddim->setTimesteps(0); }), ">= 1"));
  EXPECT_TRUE(contains(errorOf([&] { ddim->setTimesteps(1001); }),
                       "num_train_timesteps"));
  // leading + steps_offset 1 at 1000 steps would index timestep 1000.
  std::unique_ptr<Scheduler> off =
      createScheduler(kDDIM, R"({"steps_offset": 1})");
  EXPECT_TRUE(contains(errorOf([&] { off->setTimesteps(1000); }), "outside"));
  // DPM-Solver: diffusers clamps the sigmas of such timesteps to the
  // table's end, and two equal sigmas made the 2M update NaN.
  std::unique_ptr<Scheduler> dpmOff = createScheduler(
      kDPM, R"({"steps_offset": 500, "timestep_spacing": "leading"})");
  EXPECT_TRUE(contains(errorOf([&] { dpmOff->setTimesteps(10); }),
                       "timestep 1400 of the 10-step schedule is outside "
                       "0..999 (steps_offset 500"));
  std::unique_ptr<Scheduler> dpmSd = createScheduler(
      kDPM, R"({"steps_offset": 1, "timestep_spacing": "leading"})");
  dpmSd->setTimesteps(10); // SD's offset: 901 .. 91
  EXPECT_EQ(dpmSd->timesteps().front(), 901);
  // Karras sigmas over the cosine schedule repeat timestep 999 at the start,
  // which diffusers cannot step through.
  std::unique_ptr<Scheduler> dpm = createScheduler(
      kDPM,
      R"({"use_karras_sigmas": true, "beta_schedule": "squaredcos_cap_v2"})");
  EXPECT_TRUE(contains(errorOf([&] { dpm->setTimesteps(10); }), "repeats"));
}

//===----------------------------------------------------------------------===//
// Steps with known results
//===----------------------------------------------------------------------===//

TEST(SchedulerStep, DDIMZeroNoiseFinalStep) {
  // Epsilon prediction with a zero model output: x0 = x / sqrt(abar_t),
  // and the last step (set_alpha_to_one) returns x0 itself.
  std::unique_ptr<Scheduler> s = createScheduler(kDDIM, kDiTConfig);
  s->setTimesteps(1); // the single timestep 0
  ASSERT_EQ(s->timesteps(), std::vector<double>{0});
  std::vector<float> x = {0.5f, -1.5f, 2.0f, 0.0f}, mo(4, 0.0f);
  const float abar0 = 1.0f - 0.0001f;
  std::vector<float> out = runAll(*s, x, mo);
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_FLOAT_EQ(out[i], x[i] / std::sqrt(abar0));
}

TEST(SchedulerStep, DDIMClipSample) {
  std::unique_ptr<Scheduler> s = createScheduler(kDDIM, R"({"clip_sample": true,
                                 "clip_sample_range": 1.5})");
  s->setTimesteps(1);
  std::vector<float> x = {10.0f, -10.0f, 0.25f}, mo(3, 0.0f);
  std::vector<float> out = runAll(*s, x, mo);
  EXPECT_EQ(out[0], 1.5f);
  EXPECT_EQ(out[1], -1.5f);
  EXPECT_FLOAT_EQ(out[2], 0.25f / std::sqrt(1.0f - 0.0001f));
}

TEST(SchedulerStep, SamplePredictionEndsOnTheModelOutput) {
  // With x0 predicted directly, the last step lands on it exactly: DDIM with
  // set_alpha_to_one, DPM-Solver(++), UniPC and Euler with a zero final
  // sigma.
  for (const char *cls : {kDDIM, kDPM, kEuler, kUniPC}) {
    for (int n : {1, 3, 10}) {
      std::unique_ptr<Scheduler> s = createScheduler(
          cls, R"({"prediction_type": "sample", "clip_sample": false})");
      s->setTimesteps(n);
      std::vector<float> x = {3.0f, -2.0f, 0.5f}, mo = {0.25f, -0.75f, 1.0f};
      std::vector<float> out = runAll(*s, x, mo);
      for (size_t i = 0; i < x.size(); ++i)
        EXPECT_NEAR(out[i], mo[i], 1e-5) << cls << " n=" << n;
    }
  }
}

TEST(SchedulerStep, EulerZeroEpsilonKeepsTheSample) {
  // x0 = x - sigma * 0 = x, so the derivative is 0 and x is unchanged.
  std::unique_ptr<Scheduler> s = createScheduler(kEuler, "{}");
  s->setTimesteps(5);
  std::vector<float> x = {1.0f, -2.0f, 3.0f}, mo(3, 0.0f);
  EXPECT_EQ(runAll(*s, x, mo), x);
}

TEST(SchedulerStep, EulerScaleModelInput) {
  std::unique_ptr<Scheduler> s = createScheduler(kEuler, "{}");
  s->setTimesteps(10);
  const float sigma = float(s->initNoiseSigma()); // linspace: sigmas[0]
  std::vector<float> x = {sigma, -2.0f * sigma};
  s->scaleModelInput(x.data(), 2, 0);
  const float denom = std::sqrt(sigma * sigma + 1.0f);
  EXPECT_FLOAT_EQ(x[0], sigma / denom);
  EXPECT_FLOAT_EQ(x[1], -2.0f * sigma / denom);
  // DDIM and DPM-Solver leave the input alone.
  for (const char *cls : {kDDIM, kDPM}) {
    std::unique_ptr<Scheduler> o = createScheduler(cls, "{}");
    o->setTimesteps(10);
    std::vector<float> y = {1.5f, -0.5f};
    o->scaleModelInput(y.data(), 2, 3);
    EXPECT_EQ(y, (std::vector<float>{1.5f, -0.5f}));
  }
}

TEST(SchedulerStep, MultistepSetTimestepsResetsHistory) {
  // The multistep history restarts with set_timesteps: a rerun is identical.
  const std::pair<const char *, const char *> configs[] = {
      {kDPM, "{}"},
      {kDPM, R"({"solver_order": 3})"},
      {kDPM, R"({"algorithm_type": "dpmsolver",
                 "final_sigmas_type": "sigma_min"})"},
      {kUniPC, "{}"},
      {kUniPC, R"({"solver_order": 4, "solver_type": "bh1",
                   "final_sigmas_type": "sigma_min"})"}};
  for (const auto &[cls, json] : configs) {
    std::unique_ptr<Scheduler> s = createScheduler(cls, json);
    std::vector<float> x = {0.3f, -1.2f, 2.5f, 0.0f};
    std::vector<std::vector<float>> runs;
    for (int rep = 0; rep < 2; ++rep) {
      s->setTimesteps(12);
      std::vector<float> y = x;
      for (size_t i = 0; i < s->timesteps().size(); ++i) {
        std::vector<float> mo = {float(i) * 0.1f, 0.2f, -0.3f, 0.05f};
        s->step(mo.data(), y.data(), 4, int(i));
      }
      runs.push_back(y);
    }
    EXPECT_EQ(runs[0], runs[1]) << json;
    for (float v : runs[0])
      EXPECT_TRUE(std::isfinite(v)) << json;
  }
}

TEST(SchedulerStep, AncestralAddsEachImagesStepNoise) {
  // A zero sample and a zero epsilon: x0 = 0, so the Euler part is 0 and a
  // step leaves noise * sigma_up, image i's from stepNoise(seed, i, step).
  std::unique_ptr<Scheduler> s = createScheduler(kAncestral, "{}");
  const int64_t m = 6;
  const uint64_t seed = 11;
  s->setStepNoise({seed, m});
  s->setTimesteps(3);
  std::vector<float> x(2 * m, 0.0f), mo(2 * m, 0.0f);
  for (int step = 0; step < 2; ++step) {
    std::fill(x.begin(), x.end(), 0.0f);
    s->step(mo.data(), x.data(), 2 * m, step);
    float sigmaUp = 0;
    for (int64_t image = 0; image < 2; ++image) {
      std::vector<float> noise(m);
      stepNoise(seed, image, step, noise.data(), m);
      for (int64_t k = 0; k < m; ++k) {
        const float ratio = x[size_t(image * m + k)] / noise[size_t(k)];
        if (sigmaUp == 0)
          sigmaUp = ratio;
        EXPECT_NEAR(ratio, sigmaUp, 1e-5f * sigmaUp)
            << "step " << step << " image " << image << " value " << k;
      }
    }
    EXPECT_GT(sigmaUp, 0.0f) << "step " << step;
  }
  // The last step goes to sigma 0: no noise, x0 exactly.
  std::fill(x.begin(), x.end(), 0.0f);
  s->step(mo.data(), x.data(), 2 * m, 2);
  EXPECT_EQ(x, std::vector<float>(2 * m, 0.0f));
}

TEST(SchedulerStep, StochasticStepsNeedTheirNoise) {
  // (class, config, the first step that draws: DPM2 a's correction call)
  const std::tuple<const char *, const char *, int> stochastic[] = {
      {kAncestral, "{}", 0},
      {kLCM, "{}", 0},
      {kDPM, R"({"algorithm_type": "sde-dpmsolver++"})", 0},
      {kEdmDPM, R"({"algorithm_type": "sde-dpmsolver++"})", 0},
      {kDDPM, "{}", 0},
      {"KDPM2AncestralDiscreteScheduler", "{}", 1}};
  EXPECT_FALSE(createScheduler(kDPM, "{}")->drawsStepNoise());
  for (const auto &[cls, json, first] : stochastic) {
    for (int withSeed = 0; withSeed < 2; ++withSeed) {
      std::unique_ptr<Scheduler> s = createScheduler(cls, json);
      EXPECT_TRUE(s->drawsStepNoise()) << cls;
      s->setTimesteps(4);
      if (withSeed)
        s->setStepNoise({0, 4});
      std::vector<float> x(6, 1.0f), mo(6, 0.1f);
      for (int i = 0; i < first; ++i)
        s->step(mo.data(), x.data(), 6, i);
      const std::string msg =
          errorOf([&] { s->step(mo.data(), x.data(), 6, first); });
      EXPECT_TRUE(contains(msg, withSeed ? "not a whole number of images of 4"
                                         : "setStepNoise"))
          << cls << ": " << msg;
    }
  }
}

TEST(SchedulerTimesteps, EdmGridOutsideFloat32IsAnError) {
  // sigma_max past float32; rho 0.5 from sigma_min 0.002, whose last sigma
  // cancels to 0 in float32 (diffusers divides by it).
  for (const char *json : {R"({"sigma_max": 1e39})", R"({"rho": 0.5})"})
    for (const char *cls : {kEdmEuler, kEdmDPM}) {
      std::unique_ptr<Scheduler> s = createScheduler(cls, json);
      const std::string msg = errorOf([&] { s->setTimesteps(4); });
      EXPECT_TRUE(contains(msg, "float32 cannot hold") && contains(msg, cls))
          << msg;
    }
}

TEST(SchedulerStep, EdmPreconditionsTheModel) {
  // sigma_data 0.5, sigma 80 at step 0: the model sees x / sqrt(6400.25)
  // and log(80) / 4; a zero output leaves x * c_skip as the denoised sample.
  std::unique_ptr<Scheduler> s = createScheduler(kEdmEuler, "{}");
  s->setTimesteps(2);
  EXPECT_NEAR(s->initNoiseSigma(), std::sqrt(6401.0), 1e-9);
  EXPECT_NEAR(s->timesteps()[0], 0.25 * std::log(80.0), 1e-6);
  EXPECT_NEAR(s->timesteps()[1], 0.25 * std::log(0.002), 1e-6);
  std::vector<float> x = {2.0f};
  s->scaleModelInput(x.data(), 1, 0);
  EXPECT_NEAR(x[0], 2.0 / std::sqrt(6400.25), 1e-7);
  // Euler from 80 to 0.002 with D(x) = c_skip x.
  x = {1.0f};
  const std::vector<float> zero = {0.0f};
  s->step(zero.data(), x.data(), 1, 0);
  const double cSkip = 0.25 / 6400.25;
  const double d = (1.0 - cSkip) / 80.0;
  EXPECT_NEAR(x[0], 1.0 + d * (0.002 - 80.0), 1e-6);
}

TEST(SchedulerStep, EtaIsDDIMsAndTCDsOnly) {
  // The pipelines' eta: DDIM and TCD take it, draw noise with it above 0;
  // the others refuse any but 0 (diffusers would drop it).
  for (const char *cls : {kDDIM, "TCDScheduler"}) {
    std::unique_ptr<Scheduler> s = createScheduler(cls, "{}");
    EXPECT_TRUE(s->takesEta()) << cls;
    EXPECT_FALSE(s->drawsStepNoise()) << cls;
    s->setEta(0.3);
    EXPECT_TRUE(s->drawsStepNoise()) << cls;
    s->setTimesteps(4);
    std::vector<float> x(8, 0.5f), mo(8, 0.1f);
    const std::string msg =
        errorOf([&] { s->step(mo.data(), x.data(), 8, 0); });
    EXPECT_TRUE(contains(msg, "setStepNoise")) << cls << ": " << msg;
    const std::string bad = errorOf([&] { s->setEta(1.5); });
    EXPECT_TRUE(contains(bad, "must be in [0, 1], got 1.5")) << bad;
  }
  std::unique_ptr<Scheduler> p = createScheduler(kPNDM, "{}");
  EXPECT_FALSE(p->takesEta());
  p->setEta(0); // the default, accepted
  const std::string msg = errorOf([&] { p->setEta(0.3); });
  EXPECT_TRUE(contains(msg, "PNDMScheduler's step takes no eta")) << msg;
}

TEST(SchedulerStep, DDPMLastStepIsTheClippedX0WithoutNoise) {
  // One leading step: timestep 0, whose "previous" alpha is 1: the step is
  // x0 = x / sqrt(alpha_0) clipped to [-1, 1] (clip_sample's default), and
  // timestep 0 draws no noise (no setStepNoise needed).
  std::unique_ptr<Scheduler> s = createScheduler(kDDPM, "{}");
  EXPECT_TRUE(s->drawsStepNoise());
  s->setTimesteps(1);
  EXPECT_EQ(s->timesteps(), std::vector<double>{0});
  std::vector<float> x = {0.5f, 3.0f, -3.0f}, mo(3, 0.0f);
  s->step(mo.data(), x.data(), 3, 0);
  EXPECT_NEAR(x[0], 0.5 / std::sqrt(1.0 - 0.0001), 1e-6);
  EXPECT_EQ(x[1], 1.0f);
  EXPECT_EQ(x[2], -1.0f);
}

TEST(SchedulerStep, HeunTakesTwoCallsPerStep) {
  std::unique_ptr<Scheduler> s = createScheduler("HeunDiscreteScheduler", "{}");
  EXPECT_EQ(s->order(), 2);
  EXPECT_EQ(createScheduler(kEuler, "{}")->order(), 1);
  s->setTimesteps(3); // linspace: 999, 499.5, 0; each but the first twice
  EXPECT_EQ(s->timesteps(), (std::vector<double>{999, 499.5, 499.5, 0, 0}));
  // Two steps, epsilon prediction: the Euler half's slope is e0, the
  // correction's e1, and the step moves the *starting* sample by their mean
  // times (sigma_1 - sigma_0); sigma_1 is the first training sigma.
  s->setTimesteps(2); // 999, then 0 twice
  ASSERT_EQ(s->timesteps(), (std::vector<double>{999, 0, 0}));
  const double s0 = s->initNoiseSigma(); // linspace: the largest sigma
  const double s1 = std::sqrt(0.00085 / (1.0 - 0.00085));
  std::vector<float> x = {1.0f, -2.0f}, e0 = {0.5f, 0.25f}, e1 = {-1.5f, 2.0f};
  std::vector<float> y = x;
  s->step(e0.data(), y.data(), 2, 0);
  s->step(e1.data(), y.data(), 2, 1);
  for (size_t i = 0; i < 2; ++i) {
    const double want = x[i] + 0.5 * (e0[i] + e1[i]) * (s1 - s0);
    // float32 cancellation in the slope at sigma_1 (about 0.03) leaves
    // ~2e-4 here; a wrong base sample or mean would miss by O(1).
    EXPECT_NEAR(y[i], want, 1e-3) << i;
  }
  // A correction may not change the sample's size.
  s->setTimesteps(3);
  std::vector<float> z(4, 1.0f), out(4, 0.1f);
  s->step(out.data(), z.data(), 4, 0);
  EXPECT_TRUE(contains(errorOf([&] { s->step(out.data(), z.data(), 2, 1); }),
                       "values"));
}

TEST(SchedulerStep, RefusedWhereDiffusersFailsOrDiverges) {
  // A third-order SDE step does not exist in diffusers 0.31: multistep, 4
  // steps run (the third is second order there), 5 fail at the third;
  // singlestep, 3 run (groups 1-2, 1), 6 fail in the first 1-2-3 group.
  for (const char *cls : {kDPM, "DPMSolverSinglestepScheduler"}) {
    std::unique_ptr<Scheduler> s = createScheduler(
        cls, R"({"algorithm_type": "sde-dpmsolver++", "solver_order": 3})");
    s->setStepNoise({0, 4});
    std::vector<float> x(4, 1.0f), mo(4, 0.1f);
    s->setTimesteps(std::string(cls) == kDPM ? 4 : 3);
    EXPECT_EQ(runAll(*s, x, mo).size(), 4u) << cls;
    s->setTimesteps(std::string(cls) == kDPM ? 5 : 6);
    std::string msg;
    for (int i = 0; i < int(s->timesteps().size()) && msg.empty(); ++i)
      msg = errorOf([&] { s->step(mo.data(), x.data(), 4, i); });
    EXPECT_TRUE(contains(msg, "third-order SDE update")) << cls << ": " << msg;
  }
  // UniPC without lower_order_final ends on a 0/0 when its last step is a
  // multistep one: refused there; one step is first order and runs.
  std::unique_ptr<Scheduler> u =
      createScheduler(kUniPC, R"({"lower_order_final": false})");
  std::vector<float> x(4, 1.0f), mo(4, 0.1f);
  u->setTimesteps(1);
  EXPECT_EQ(runAll(*u, x, mo).size(), 4u);
  u->setTimesteps(3);
  u->step(mo.data(), x.data(), 4, 0);
  u->step(mo.data(), x.data(), 4, 1);
  EXPECT_TRUE(contains(errorOf([&] { u->step(mo.data(), x.data(), 4, 2); }),
                       "'lower_order_final' = false"));
}

TEST(SchedulerStep, LMSRefusesCoefficientsQuadWouldSubdivide) {
  // Fresco replays quad's first Gauss-Kronrod pass only; at 760 steps of
  // SD's schedule quad subdivides some coefficients (seen in review).
  std::unique_ptr<Scheduler> s = createScheduler(
      "LMSDiscreteScheduler", R"({"beta_schedule": "scaled_linear",
          "beta_start": 0.00085, "beta_end": 0.012})");
  s->setTimesteps(760);
  std::vector<float> x(4, 1.0f), mo(4, 0.1f);
  std::string msg;
  for (int i = 0; i < 760 && msg.empty(); ++i)
    msg = errorOf([&] { s->step(mo.data(), x.data(), 4, i); });
  EXPECT_TRUE(contains(msg, "refines by subdivision")) << msg;
  // 50 steps (and up to about 700) run through.
  s->setTimesteps(50);
  EXPECT_EQ(runAll(*s, std::vector<float>(4, 1.0f), mo).size(), 4u);
}

TEST(SchedulerStep, LCMScheduleAndLastStep) {
  // LCM-LoRA's 4 steps: of the 50 distillation timesteps (19, 39, ..., 999),
  // those at indices 0, 12, 25, 37 counted from the noisiest.
  std::unique_ptr<Scheduler> s = createScheduler(kLCM, "{}");
  s->setTimesteps(4);
  EXPECT_EQ(s->timesteps(), (std::vector<double>{999, 759, 499, 259}));
  EXPECT_TRUE(contains(errorOf([&] { s->setTimesteps(51); }),
                       "more than original_inference_steps (50)"));
  // With x0 predicted directly: step 0 (t = 999) noises its boundary mix to
  // t = 499; the last step (t = 499) returns the mix, without noise.
  std::unique_ptr<Scheduler> x0 =
      createScheduler(kLCM, R"({"prediction_type": "sample"})");
  x0->setStepNoise({5, 2});
  x0->setTimesteps(2);
  std::vector<float> x = {0.5f, -1.0f}, mo = {0.25f, 2.0f};
  const std::vector<float> start = x;
  x0->step(mo.data(), x.data(), 2, 0);
  std::vector<float> noisy = x;
  {
    // Step 0 adds sqrt(1 - alpha_499) times its step noise: against the
    // same step with seed 6, both values move by that one factor times
    // the difference of the two seeds' noise.
    std::unique_ptr<Scheduler> other =
        createScheduler(kLCM, R"({"prediction_type": "sample"})");
    other->setStepNoise({6, 2});
    other->setTimesteps(2);
    std::vector<float> y = start;
    other->step(mo.data(), y.data(), 2, 0);
    std::vector<float> n5(2), n6(2);
    stepNoise(5, 0, 0, n5.data(), 2);
    stepNoise(6, 0, 0, n6.data(), 2);
    const float r0 = (noisy[0] - y[0]) / (n5[0] - n6[0]);
    const float r1 = (noisy[1] - y[1]) / (n5[1] - n6[1]);
    EXPECT_GT(r0, 0.1f);
    EXPECT_LT(r0, 1.0f);
    EXPECT_NEAR(r0, r1, 1e-4f);
  }
  x0->step(mo.data(), x.data(), 2, 1);
  const float scaled = 499.0f * 10.0f;
  const float cSkip = 0.25f / (scaled * scaled + 0.25f);
  const float cOut = scaled / std::sqrt(scaled * scaled + 0.25f);
  for (size_t i = 0; i < 2; ++i)
    EXPECT_FLOAT_EQ(x[i], cOut * mo[i] + cSkip * noisy[i]);
}

//===----------------------------------------------------------------------===//
// Step bookkeeping
//===----------------------------------------------------------------------===//

TEST(SchedulerStepOrder, OutOfOrderAndUnsetAreErrors) {
  for (const char *cls : {kDDIM, kEuler, kAncestral, kDPM, kUniPC, kLCM}) {
    std::unique_ptr<Scheduler> s = createScheduler(cls, "{}");
    s->setStepNoise({0, 2});
    std::vector<float> x(4, 1.0f), mo(4, 0.1f);
    EXPECT_TRUE(contains(errorOf([&] { s->step(mo.data(), x.data(), 4, 0); }),
                         "setTimesteps"))
        << cls;
    s->setTimesteps(5);
    std::string msg = errorOf([&] { s->step(mo.data(), x.data(), 4, 1); });
    EXPECT_TRUE(contains(msg, "out of order")) << cls << ": " << msg;
    EXPECT_NO_THROW(s->step(mo.data(), x.data(), 4, 0));
    EXPECT_TRUE(contains(errorOf([&] { s->step(mo.data(), x.data(), 4, 0); }),
                         "out of order"))
        << cls;
    for (int i = 1; i < 5; ++i)
      EXPECT_NO_THROW(s->step(mo.data(), x.data(), 4, i));
    EXPECT_TRUE(contains(errorOf([&] { s->step(mo.data(), x.data(), 4, 5); }),
                         "out of range"))
        << cls;
    EXPECT_TRUE(contains(errorOf([&] { s->scaleModelInput(x.data(), 4, 7); }),
                         "out of range"))
        << cls;
    // set_timesteps starts over.
    s->setTimesteps(3);
    EXPECT_NO_THROW(s->step(mo.data(), x.data(), 4, 0));
  }
}

TEST(SchedulerStepOrder, MultistepSizeMustNotChange) {
  for (const char *cls : {kDPM, kUniPC}) {
    std::unique_ptr<Scheduler> s = createScheduler(cls, "{}");
    s->setTimesteps(5);
    std::vector<float> x(4, 1.0f), mo(4, 0.1f);
    s->step(mo.data(), x.data(), 4, 0);
    EXPECT_TRUE(contains(errorOf([&] { s->step(mo.data(), x.data(), 2, 1); }),
                         "values"))
        << cls;
  }
}

} // namespace

//===----------------------------------------------------------------------===//
// FlowMatchEulerDiscreteScheduler
//===----------------------------------------------------------------------===//

TEST(FlowMatch, ScheduleAndStep) {
  std::unique_ptr<Scheduler> s = createScheduler(kFlow, "{}");
  EXPECT_TRUE(s->flowMatching());
  EXPECT_EQ(s->initNoiseSigma(), 1.0);
  s->setTimesteps(4);
  // shift 1: sigmas 1 .. 0.001 evenly, then 0; timesteps = sigmas * 1000.
  std::vector<double> sig = s->sigmas();
  ASSERT_EQ(sig.size(), 5u);
  EXPECT_EQ(sig.front(), 1.0);
  EXPECT_EQ(sig.back(), 0.0);
  ASSERT_EQ(s->timesteps().size(), 4u);
  EXPECT_EQ(s->timesteps()[0], 1000.0);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(s->timesteps()[i], double(float(sig[i]) * 1000.0f));
  // Euler on a constant velocity v: x_end = x + (0 - 1) * v.
  std::vector<float> x = runAll(*s, {1.0f, -2.0f}, {0.5f, 0.5f});
  EXPECT_NEAR(x[0], 0.5f, 1e-6);
  EXPECT_NEAR(x[1], -2.5f, 1e-6);
}

TEST(FlowMatch, DynamicShiftingNeedsMu) {
  std::unique_ptr<Scheduler> s =
      createScheduler(kFlow, R"({"use_dynamic_shifting": true})");
  std::string msg = errorOf([&] { s->setTimesteps(4); });
  EXPECT_TRUE(contains(msg, "'use_dynamic_shifting'")) << msg;
  EXPECT_TRUE(contains(msg, "mu")) << msg;
  TimestepOptions o;
  o.mu = 1.15;
  s->setTimestepsWith(4, o);
  // A larger mu keeps sigmas closer to 1 (more steps at high noise).
  std::vector<double> low = s->sigmas();
  o.mu = 2.0;
  s->setTimestepsWith(4, o);
  EXPECT_GT(s->sigmas()[1], low[1]);
}

TEST(FlowMatch, FluxOptions) {
  // FLUX.1-dev's config at 1024 px: 4096 tokens give mu = max_shift.
  const char *dev = R"({"use_dynamic_shifting": true, "shift": 3.0,
      "base_image_seq_len": 256, "max_image_seq_len": 4096,
      "base_shift": 0.5, "max_shift": 1.15})";
  TimestepOptions o = fluxTimestepOptions(dev, 28, 4096);
  ASSERT_TRUE(o.mu);
  EXPECT_NEAR(*o.mu, 1.15, 1e-12);
  ASSERT_EQ(o.sigmas.size(), 28u);
  EXPECT_EQ(o.sigmas.front(), 1.0);
  EXPECT_EQ(o.sigmas.back(), 1.0 / 28);
  std::unique_ptr<Scheduler> s = createScheduler(kFlow, dev);
  s->setTimestepsWith(28, o);
  EXPECT_EQ(s->timesteps().size(), 28u);
  std::string msg = errorOf([&] { s->setTimestepsWith(27, o); });
  EXPECT_TRUE(contains(msg, "28 custom sigmas")) << msg;
  msg = errorOf([&] {
    fluxTimestepOptions(R"({"base_image_seq_len": 64,
                            "max_image_seq_len": 64})",
                        4, 64);
  });
  EXPECT_TRUE(contains(msg, "'max_image_seq_len'")) << msg;
}

TEST(FlowMatch, ConfigErrors) {
  struct Case {
    const char *json, *key;
  } cases[] = {
      {R"({"use_karras_sigmas": true})", "'use_karras_sigmas'"},
      {R"({"invert_sigmas": true})", "'invert_sigmas'"},
      {R"({"shift_terminal": 0.1})", "'shift_terminal'"},
      {R"({"time_shift_type": "linear"})", "'time_shift_type'"},
      {R"({"shift": "3"})", "'shift'"},
      {R"({"use_dynamic_shifting": 1})", "'use_dynamic_shifting'"},
      {R"({"num_train_timesteps": 0})", "'num_train_timesteps'"},
      {R"({"num_train_timesteps": 1000001})", "is more than 1000000"},
  };
  for (const Case &c : cases) {
    std::string msg = createError(kFlow, c.json);
    EXPECT_TRUE(contains(msg, c.key)) << c.json << ": " << msg;
  }
  // A shift of 0 gives 0 / 0 at sigma 1: named, not run into NaN.
  std::unique_ptr<Scheduler> zero = createScheduler(kFlow, R"({"shift": 0})");
  std::string msg = errorOf([&] { zero->setTimesteps(4); });
  EXPECT_TRUE(contains(msg, "is not a number: check 'shift'")) << msg;
  // Neutral values of later keys and keys 0.31 ignores are accepted.
  EXPECT_EQ(createError(kFlow, R"({"shift_terminal": null,
      "use_karras_sigmas": false, "time_shift_type": "exponential",
      "timestep_spacing": "linspace"})"),
            "");
}

TEST(FlowMatch, OtherSchedulersRefuseMuAndSigmas) {
  for (const char *cls : {kDDIM, kEuler, kDPM}) {
    std::unique_ptr<Scheduler> s = createScheduler(cls, "{}");
    EXPECT_FALSE(s->flowMatching());
    TimestepOptions o;
    o.mu = 1.0;
    std::string msg = errorOf([&] { s->setTimestepsWith(4, o); });
    EXPECT_TRUE(contains(msg, "mu")) << msg;
    o = {};
    o.sigmas = {1.0, 0.5};
    msg = errorOf([&] { s->setTimestepsWith(2, o); });
    EXPECT_TRUE(contains(msg, "sigmas")) << msg;
    s->setTimestepsWith(4, {});
    EXPECT_EQ(s->timesteps().size(), 4u);
  }
}
