//===- fresco-run.cpp - Run a compiled Fresco plan ------------------------===//
//
// Two modes: generate images with a plan compiled from a pipeline folder
// (--class-label ... -o out.png), or run one function on NumPy inputs
// (iree-run-module conventions: `--input @file.npy`, in argument order or by
// name). Exit codes: 0 success, 1 runtime error, 2 misuse.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Environment.h"
#include "runtime/comm/Launch.h"
#include "runtime/core/Error.h"
#include "runtime/core/Plan.h"
#include "tools/fresco-run/Options.h"

#include <iostream>

using namespace fresco;

int main(int argc, char **argv) {
  run::Options o = run::parseArgs(argc, argv);
  try {
    RankEnv env = rankEnvFromEnvironment();
    if (o.list)
      return run::runFunction(o, env);
    if (env.launcher == "none") {
      // Not started by a launcher: start the plan's ranks ourselves.
      int n = o.ranks;
      if (n == 0)
        n = LoadedPlan::fromFile(o.plan).plan().num_ranks();
      if (n > 1)
        return launchLocalRanks(n, argc, argv,
                                std::chrono::seconds(o.timeoutSeconds));
    } else if (o.ranks != 0 && o.ranks != env.worldSize) {
      run::usageError("--ranks " + std::to_string(o.ranks) + " but the " +
                      env.launcher + " launcher started " +
                      std::to_string(env.worldSize) + " ranks");
    }
    if (!o.calibrate.empty())
      return run::runCalibrate(o, env);
    return o.generating() ? run::runPipeline(o, env) : run::runFunction(o, env);
  } catch (const Error &e) {
    std::cerr << "fresco-run: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "fresco-run: internal error: " << e.what() << "\n";
    return 1;
  }
}
