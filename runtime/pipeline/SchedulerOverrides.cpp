//===- SchedulerOverrides.cpp - from_config's keyword arguments -----------===//
//
// fresco-run --scheduler-config KEY=VALUE: what diffusers users write as
// `DPMSolverMultistepScheduler.from_config(pipe.scheduler.config,
// use_karras_sigmas=True)`, applied to the plan's scheduler_config.json
// text before any scheduler reads it.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/BoundedJson.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/Scheduler.h"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace fresco {

std::string withConfigOverrides(
    const std::string &className, const std::string &configJson,
    const std::vector<std::pair<std::string, std::string>> &overrides) {
  if (overrides.empty())
    return configJson;
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
    check(!key.empty() && key[0] != '_', "--scheduler-config: '", key,
          "' is not a scheduler setting (an empty or private key)");
    nlohmann::json value;
    try {
      value = parseBoundedJson(text);
    } catch (const nlohmann::json::exception &) {
      value = text; // a bare word: trailing, sigma_min
    }
    config[key] = value;
    // A keyword argument wins over the config's defaults list.
    auto it = config.find("_use_default_values");
    if (it != config.end() && it->is_array())
      it->erase(std::remove(it->begin(), it->end(), nlohmann::json(key)),
                it->end());
  }
  const std::string merged = config.dump();
  // Build it once: a value the class refuses fails here, naming the key,
  // and a key it never reads is a typo that diffusers would only warn of.
  std::set<std::string> read;
  createScheduler(className, merged, &read);
  for (const auto &kv : overrides) {
    if (read.count(kv.first))
      continue;
    std::string known;
    for (const std::string &k : read)
      known += (known.empty() ? "" : ", ") + k;
    fail("--scheduler-config ", kv.first, ": ", className, " does not read '",
         kv.first, "' (it reads ", known, ")");
  }
  return merged;
}

} // namespace fresco
