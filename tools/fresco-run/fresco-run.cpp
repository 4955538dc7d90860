//===- fresco-run.cpp - Run a compiled Fresco plan ------------------------===//
//
// Two modes: generate images with a plan compiled from a pipeline folder
// (--class-label ... -o out.png), or run one function on NumPy inputs
// (iree-run-module conventions: `--input @file.npy`, in argument order or by
// name). Exit codes: 0 success, 1 runtime error, 2 misuse.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "tools/fresco-run/Options.h"

#include <iostream>

using namespace fresco;

int main(int argc, char **argv) {
  run::Options o = run::parseArgs(argc, argv);
  try {
    return o.generating() ? run::runPipeline(o) : run::runFunction(o);
  } catch (const Error &e) {
    std::cerr << "fresco-run: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "fresco-run: internal error: " << e.what() << "\n";
    return 1;
  }
}
