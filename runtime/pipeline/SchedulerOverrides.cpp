//===- SchedulerOverrides.cpp - from_config's keyword arguments -----------===//
//
// fresco-run --scheduler-config KEY=VALUE: what diffusers users write as
// `DPMSolverMultistepScheduler.from_config(pipe.scheduler.config,
// use_karras_sigmas=True)`, applied to the plan's scheduler_config.json
// text before any scheduler reads it. A keyword diffusers passes on is an
// __init__ parameter of the class; any other it drops (unused_kwargs), so
// Fresco takes only those and refuses the rest, naming them.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/BoundedJson.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/Scheduler.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <map>

namespace fresco {
namespace {

/// The __init__ parameters of diffusers 0.31's scheduler classes.
const std::vector<std::string> &initKeys(const std::string &className) {
  static const std::vector<std::string> betas = {
      "num_train_timesteps", "beta_start", "beta_end", "beta_schedule",
      "trained_betas"};
  static const std::map<std::string, std::vector<std::string>> table = [] {
    auto with = [](std::vector<std::string> more) {
      std::vector<std::string> keys = betas;
      keys.insert(keys.end(), more.begin(), more.end());
      return keys;
    };
    std::map<std::string, std::vector<std::string>> t;
    t["DDIMScheduler"] = with(
        {"clip_sample", "set_alpha_to_one", "steps_offset", "prediction_type",
         "thresholding", "dynamic_thresholding_ratio", "clip_sample_range",
         "sample_max_value", "timestep_spacing", "rescale_betas_zero_snr"});
    t["EulerDiscreteScheduler"] =
        with({"prediction_type", "interpolation_type", "use_karras_sigmas",
              "use_exponential_sigmas", "use_beta_sigmas", "sigma_min",
              "sigma_max", "timestep_spacing", "timestep_type", "steps_offset",
              "rescale_betas_zero_snr", "final_sigmas_type"});
    t["EulerAncestralDiscreteScheduler"] =
        with({"prediction_type", "timestep_spacing", "steps_offset",
              "rescale_betas_zero_snr"});
    t["DPMSolverMultistepScheduler"] =
        with({"solver_order", "prediction_type", "thresholding",
              "dynamic_thresholding_ratio", "sample_max_value",
              "algorithm_type", "solver_type", "lower_order_final",
              "euler_at_final", "use_karras_sigmas", "use_exponential_sigmas",
              "use_beta_sigmas", "use_lu_lambdas", "final_sigmas_type",
              "lambda_min_clipped", "variance_type", "timestep_spacing",
              "steps_offset", "rescale_betas_zero_snr"});
    t["FlowMatchEulerDiscreteScheduler"] = {
        "num_train_timesteps", "shift",     "use_dynamic_shifting",
        "base_shift",          "max_shift", "base_image_seq_len",
        "max_image_seq_len"};
    t["PNDMScheduler"] =
        with({"skip_prk_steps", "set_alpha_to_one", "prediction_type",
              "timestep_spacing", "steps_offset"});
    t["UniPCMultistepScheduler"] =
        with({"solver_order", "prediction_type", "thresholding",
              "dynamic_thresholding_ratio", "sample_max_value", "predict_x0",
              "solver_type", "lower_order_final", "disable_corrector",
              "solver_p", "use_karras_sigmas", "use_exponential_sigmas",
              "use_beta_sigmas", "timestep_spacing", "steps_offset",
              "final_sigmas_type", "rescale_betas_zero_snr"});
    t["LCMScheduler"] = with(
        {"original_inference_steps", "clip_sample", "clip_sample_range",
         "set_alpha_to_one", "steps_offset", "prediction_type", "thresholding",
         "dynamic_thresholding_ratio", "sample_max_value", "timestep_spacing",
         "timestep_scaling", "rescale_betas_zero_snr"});
    t["HeunDiscreteScheduler"] =
        with({"prediction_type", "use_karras_sigmas", "use_exponential_sigmas",
              "use_beta_sigmas", "clip_sample", "clip_sample_range",
              "timestep_spacing", "steps_offset"});
    t["LMSDiscreteScheduler"] =
        with({"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
              "prediction_type", "timestep_spacing", "steps_offset"});
    t["DPMSolverSinglestepScheduler"] =
        with({"solver_order", "prediction_type", "thresholding",
              "dynamic_thresholding_ratio", "sample_max_value",
              "algorithm_type", "solver_type", "lower_order_final",
              "use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
              "final_sigmas_type", "lambda_min_clipped", "variance_type"});
    t["KDPM2DiscreteScheduler"] =
        with({"use_karras_sigmas", "use_exponential_sigmas", "use_beta_sigmas",
              "prediction_type", "timestep_spacing", "steps_offset"});
    t["KDPM2AncestralDiscreteScheduler"] = t["KDPM2DiscreteScheduler"];
    t["DDPMScheduler"] = with(
        {"variance_type", "clip_sample", "prediction_type", "thresholding",
         "dynamic_thresholding_ratio", "clip_sample_range", "sample_max_value",
         "timestep_spacing", "steps_offset", "rescale_betas_zero_snr"});
    t["TCDScheduler"] = t["LCMScheduler"]; // the same __init__ keys
    t["EDMEulerScheduler"] = {"sigma_min",
                              "sigma_max",
                              "sigma_data",
                              "sigma_schedule",
                              "num_train_timesteps",
                              "prediction_type",
                              "rho"};
    t["EDMDPMSolverMultistepScheduler"] = t["EDMEulerScheduler"];
    for (const char *key :
         {"solver_order", "thresholding", "dynamic_thresholding_ratio",
          "sample_max_value", "algorithm_type", "solver_type",
          "lower_order_final", "euler_at_final", "final_sigmas_type"})
      t["EDMDPMSolverMultistepScheduler"].push_back(key);
    return t;
  }();
  auto it = table.find(className);
  // createScheduler names an unknown class with the supported ones.
  if (it == table.end())
    createScheduler(className, "{}");
  check(it != table.end(), "unknown scheduler '", className, "'");
  return it->second;
}

} // namespace

std::string withConfigOverrides(
    const std::string &className, const std::string &configJson,
    const std::vector<std::pair<std::string, std::string>> &overrides) {
  if (overrides.empty())
    return configJson;
  const std::vector<std::string> &keys = initKeys(className);
  nlohmann::json config;
  try {
    config =
        parseBoundedJson(configJson.empty() ? std::string("{}") : configJson);
  } catch (const nlohmann::json::exception &e) {
    fail(className, ": the scheduler config is not valid JSON: ", e.what());
  }
  check(config.is_object(), className,
        ": the scheduler config must be a JSON object");
  for (const auto &[key, text] : overrides) {
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string known;
      for (const std::string &k : keys)
        known += (known.empty() ? "" : ", ") + k;
      fail("--scheduler-config ", key, ": ", className,
           " (diffusers 0.31) takes no '", key,
           "' (diffusers would drop it); "
           "its settings: ",
           known);
    }
    nlohmann::json value;
    try {
      value = parseBoundedJson(text);
    } catch (const nlohmann::json::exception &) {
      value = text; // a bare word: trailing, sigma_min
    }
    // from_config would pass None to __init__, which is not "the default".
    check(!value.is_null(), "--scheduler-config ", key,
          ": give a value (null and NaN are not settings)");
    config[key] = value;
    // A keyword argument wins over the config's defaults list.
    auto it = config.find("_use_default_values");
    if (it != config.end() && it->is_array())
      it->erase(std::remove(it->begin(), it->end(), nlohmann::json(key)),
                it->end());
  }
  std::string merged;
  try {
    merged = config.dump();
  } catch (const nlohmann::json::exception &) {
    // A bare word that is not UTF-8 (JSON strings must be).
    fail("--scheduler-config: a value is not valid UTF-8 text");
  }
  // Build it once: a value the class refuses fails here, naming the key.
  createScheduler(className, merged);
  return merged;
}

} // namespace fresco
