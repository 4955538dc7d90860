//===- PNDMSchedulerTest.cpp - PNDMScheduler config, schedule, steps -----===//
//
// Python-free checks of the PNDMScheduler: the configs it refuses, the
// schedule diffusers defines (PLMS-only and with the Runge-Kutta warm-up),
// and its steps against DDIM, which computes the same update for a constant
// noise estimate. Bit-level parity with diffusers is e2e-scheduler-parity's
// job.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/Scheduler.h"
#include "test/unit/TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

using namespace fresco;

namespace {

const char *kPNDM = "PNDMScheduler";

/// Stable Diffusion 1.x's scheduler_config.json keys.
const char *kSD1 = R"({
  "_class_name": "PNDMScheduler",
  "beta_end": 0.012,
  "beta_schedule": "scaled_linear",
  "beta_start": 0.00085,
  "clip_sample": false,
  "num_train_timesteps": 1000,
  "prediction_type": "epsilon",
  "set_alpha_to_one": false,
  "skip_prk_steps": true,
  "steps_offset": 1,
  "timestep_spacing": "leading",
  "trained_betas": null
})";

using fresco::test::errorOf;

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

/// Runs every step of `s` with the same model output `mo`.
std::vector<float> runAll(Scheduler &s, std::vector<float> sample,
                          const std::vector<float> &mo) {
  for (size_t i = 0; i < s.timesteps().size(); ++i)
    s.step(mo.data(), sample.data(), int64_t(sample.size()), int(i));
  return sample;
}

TEST(PNDMScheduler, RefusedConfigsNameTheKey) {
  struct Case {
    const char *json, *key;
  } cases[] = {
      // diffusers accepts it and raises in step(); Fresco refuses up front.
      {R"({"prediction_type": "sample"})", "'prediction_type'"},
      {R"({"timestep_spacing": "uniform"})", "'timestep_spacing'"},
      {R"({"beta_schedule": "sigmoid"})", "'beta_schedule'"},
      {R"({"skip_prk_steps": "yes"})", "'skip_prk_steps'"},
      {R"({"set_alpha_to_one": 1})", "'set_alpha_to_one'"},
      {R"({"steps_offset": 0.5})", "'steps_offset'"},
      {R"({"num_train_timesteps": 1})", "'num_train_timesteps'"},
  };
  for (const Case &c : cases) {
    std::string msg = errorOf([&] { createScheduler(kPNDM, c.json); });
    EXPECT_TRUE(contains(msg, c.key)) << c.json << " -> '" << msg << "'";
    EXPECT_TRUE(contains(msg, kPNDM)) << msg;
  }
}

TEST(PNDMScheduler, RefusedStepCounts) {
  // The Runge-Kutta warm-up needs four timesteps (diffusers fails to
  // broadcast with fewer).
  std::unique_ptr<Scheduler> prk = createScheduler(kPNDM, "{}");
  for (int n : {1, 2, 3}) {
    std::string msg = errorOf([&] { prk->setTimesteps(n); });
    EXPECT_TRUE(contains(msg, "'skip_prk_steps' = false")) << msg;
  }
  EXPECT_NO_THROW(prk->setTimesteps(4));
  EXPECT_TRUE(contains(errorOf([&] { prk->setTimesteps(0); }), ">= 1"));
  EXPECT_TRUE(contains(errorOf([&] { prk->setTimesteps(1001); }),
                       "num_train_timesteps"));
  // Leading spacing with steps_offset 1 at 1000 steps reaches timestep 1000.
  std::unique_ptr<Scheduler> sd = createScheduler(kPNDM, kSD1);
  std::string msg = errorOf([&] { sd->setTimesteps(1000); });
  EXPECT_TRUE(contains(msg, "timestep 1000, outside 0..999")) << msg;
}

TEST(PNDMScheduler, PlmsScheduleRepeatsTheSecondTimestep) {
  // SD 1.x at 50 steps: the leading grid 1, 21, ..., 981, highest first,
  // with 961 twice (51 model calls).
  std::unique_ptr<Scheduler> s = createScheduler(kPNDM, kSD1);
  s->setTimesteps(50);
  std::vector<double> want = {981, 961};
  for (int t = 961; t >= 1; t -= 20)
    want.push_back(t);
  EXPECT_EQ(s->timesteps(), want);
  EXPECT_EQ(s->initNoiseSigma(), 1.0);
  s->setTimesteps(1);
  EXPECT_EQ(s->timesteps(), std::vector<double>{1});
}

TEST(PNDMScheduler, PrkScheduleHalfSteps) {
  // Without skip_prk_steps: the last four grid points t3 > t2 > t1 > t0 and
  // each plus half a step h, as t3, t2+h, t2+h, t2, t2, t1+h, t1+h, t1, t1,
  // t0+h, t0+h, t0; then PLMS from t0 down (n + 9 model calls).
  std::unique_ptr<Scheduler> s =
      createScheduler(kPNDM, R"({"timestep_spacing": "linspace"})");
  s->setTimesteps(10);
  const std::vector<double> grid = {999, 888, 777, 666, 555,
                                    444, 333, 222, 111, 0};
  const double h = 1000 / 10 / 2;
  std::vector<double> want = {grid[0]};
  for (int k = 1; k < 4; ++k)
    want.insert(want.end(), {grid[k] + h, grid[k] + h, grid[k], grid[k]});
  want.pop_back();
  for (size_t k = 3; k < grid.size(); ++k)
    want.push_back(grid[k]);
  EXPECT_EQ(s->timesteps(), want);
  EXPECT_EQ(s->timesteps().size(), 19u);
}

TEST(PNDMScheduler, ConstantNoiseEstimateMatchesDDIM) {
  // For a constant epsilon every PRK and PLMS combination is that epsilon,
  // and formula (9) of the PNDM paper is DDIM's (eta = 0) update, so both
  // PNDM variants land where DDIM does over the same leading grid.
  const std::string keys = R"("beta_schedule": "scaled_linear",
      "beta_start": 0.00085, "beta_end": 0.012, "steps_offset": 1,
      "set_alpha_to_one": false)";
  std::vector<float> x = {1.5f, -0.7f, 0.2f, 2.0f},
                     mo = {0.3f, -1.1f, 0.8f, 0.05f};
  for (int n : {4, 10, 25}) {
    std::unique_ptr<Scheduler> ddim =
        createScheduler("DDIMScheduler", "{" + keys + R"(,
            "clip_sample": false})");
    ddim->setTimesteps(n);
    const std::vector<float> want = runAll(*ddim, x, mo);
    for (const char *skip : {"true", "false"}) {
      std::unique_ptr<Scheduler> pndm = createScheduler(
          kPNDM, "{" + keys + ", \"skip_prk_steps\": " + skip + "}");
      pndm->setTimesteps(n);
      const std::vector<float> got = runAll(*pndm, x, mo);
      for (size_t i = 0; i < x.size(); ++i)
        EXPECT_NEAR(got[i], want[i], 1e-4 * std::fabs(want[i]) + 1e-5)
            << "n=" << n << " skip_prk_steps " << skip << " [" << i << "]";
    }
  }
}

TEST(PNDMScheduler, IgnoresKeysItDoesNotHave) {
  // PNDMScheduler has no rescale_betas_zero_snr, clip_sample or
  // thresholding: diffusers ignores them, so the results do not change.
  std::unique_ptr<Scheduler> a = createScheduler(kPNDM, kSD1);
  std::unique_ptr<Scheduler> b = createScheduler(
      kPNDM, R"({"beta_schedule": "scaled_linear", "beta_start": 0.00085,
                 "beta_end": 0.012, "skip_prk_steps": true, "steps_offset": 1,
                 "rescale_betas_zero_snr": true, "clip_sample": true,
                 "thresholding": true, "solver_order": 3})");
  a->setTimesteps(10);
  b->setTimesteps(10);
  EXPECT_EQ(a->timesteps(), b->timesteps());
  std::vector<float> x = {3.0f, -2.0f, 0.5f}, mo = {0.25f, -0.75f, 1.0f};
  EXPECT_EQ(runAll(*a, x, mo), runAll(*b, x, mo));
}

TEST(PNDMScheduler, StepOrderAndSize) {
  std::unique_ptr<Scheduler> s = createScheduler(kPNDM, "{}");
  std::vector<float> x(4, 1.0f), mo(4, 0.1f);
  EXPECT_TRUE(contains(errorOf([&] { s->step(mo.data(), x.data(), 4, 0); }),
                       "setTimesteps"));
  s->setTimesteps(5); // 14 model calls
  ASSERT_EQ(s->timesteps().size(), 14u);
  EXPECT_TRUE(contains(errorOf([&] { s->step(mo.data(), x.data(), 4, 1); }),
                       "out of order"));
  EXPECT_NO_THROW(s->step(mo.data(), x.data(), 4, 0));
  EXPECT_TRUE(
      contains(errorOf([&] { s->step(mo.data(), x.data(), 2, 1); }), "values"));
  // set_timesteps starts over, history included: a rerun is identical.
  std::vector<std::vector<float>> runs;
  for (int rep = 0; rep < 2; ++rep) {
    s->setTimesteps(5);
    std::vector<float> y = {0.3f, -1.2f, 2.5f, 0.0f};
    for (size_t i = 0; i < s->timesteps().size(); ++i) {
      std::vector<float> m = {float(i) * 0.1f, 0.2f, -0.3f, 0.05f};
      s->step(m.data(), y.data(), 4, int(i));
    }
    runs.push_back(y);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_TRUE(contains(errorOf([&] { s->step(mo.data(), x.data(), 4, 14); }),
                       "out of range"));
}

} // namespace
