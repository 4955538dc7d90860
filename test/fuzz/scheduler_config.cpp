//===- scheduler_config.cpp - libFuzzer target: scheduler_config.json -----===//
//
// Byte 0 picks the scheduler class, byte 1 the step count (1-32); the rest is
// the config. With byte 1's top bit set, the rest's first line is a
// --scheduler-config KEY=VALUE applied to the config after it
// (withConfigOverrides). A scheduler that accepts its config then runs every
// step on a small sample (one image of 8 values for the stochastic ones).
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/Scheduler.h"

#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2)
    return 0;
  const std::vector<std::string> &classes = fresco::supportedSchedulers();
  const std::string &cls = classes[data[0] % classes.size()];
  int steps = 1 + data[1] % 32;
  std::string json(reinterpret_cast<const char *>(data) + 2, size - 2);
  try {
    if (data[1] & 0x80) {
      const size_t nl = json.find('\n');
      const std::string line = json.substr(0, nl);
      json = nl == std::string::npos ? std::string() : json.substr(nl + 1);
      const size_t eq = line.find('=');
      json = fresco::withConfigOverrides(
          cls, json,
          {{line.substr(0, eq),
            eq == std::string::npos ? std::string() : line.substr(eq + 1)}});
    }
    std::unique_ptr<fresco::Scheduler> s = fresco::createScheduler(cls, json);
    s->setStepNoise({0, 8}); // the stochastic steps draw for one image
    s->setTimesteps(steps);
    std::vector<float> sample(8, 0.5f), out(8, 0.25f);
    for (int i = 0; i < int(s->timesteps().size()); ++i) {
      s->scaleModelInput(sample.data(), 8, i);
      s->step(out.data(), sample.data(), 8, i);
    }
  } catch (const fresco::Error &) {
  }
  return 0;
}
