//===- Predict.h - Predicted timelines of a compiled plan -------*- C++ -*-===//
//
// Replays every rank's instruction stream of one function on a simulated
// clock: compute instructions take their calibrated (or roofline) time;
// a collective starts when its last member reaches it and takes its
// alpha-beta time on the link the members share; an asynchronous
// all_to_all/all_gather runs while the rank computes, until its Wait; a
// pipeline stage's receive waits for the send. What a rank spends waiting
// for the others is idle time.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_PLANNER_PREDICT_H
#define FRESCO_PLANNER_PREDICT_H

#include "planner/Calibration.h"
#include "planner/Topology.h"

#include "runtime/core/DType.h"
#include "runtime/core/Plan.h"

#include <algorithm>
#include <map>
#include <string>
#include <vector>

namespace fresco::planner {

struct RankTime {
  int rank = 0;
  double compute = 0; // kernels
  double comm = 0;    // collectives the rank waits out (not hidden)
  double idle = 0;    // waiting for other ranks to arrive
  double end = 0;     // its clock when its instructions are done
  double hidden = 0;  // communication overlapped with compute
  /// `compute` by op kind (plan::OpCode name), to set against a profile.
  std::map<std::string, double> computeByOp;
};

struct FunctionTime {
  std::string function;
  std::vector<RankTime> ranks; // the ranks that run it
  double seconds = 0;          // the last rank's end
  int roofline = 0;            // compute instructions timed by the roofline
  int calibrated = 0;          // by the calibration table
  /// Calls per run beyond the denoising steps: 2 for a text encoder under
  /// text CFG (the prompts, then the negative prompts) unless the pipeline
  /// zeroes an absent negative prompt; 1 otherwise.
  int calls = 1;
  /// patch=P: the denoiser's first fresh_steps steps, whose stale gathers
  /// are waited for where they stand.
  bool fresh = false;
};

struct RankMemory {
  int rank = 0;
  uint64_t weightBytes = 0, arenaBytes = 0;
  /// FP8 linears' e4m3 weight copies and input scratch (--gemm fp8), and
  /// the weights in the float storage only they read, released at load.
  uint64_t fp8Bytes = 0, releasedBytes = 0;
  /// patch=P: each StaleGather's members' blocks and staging copy, kept
  /// from one step to the next.
  uint64_t staleStateBytes = 0;
  uint64_t total() const {
    return weightBytes + arenaBytes + fp8Bytes - releasedBytes +
           staleStateBytes;
  }
};

struct Prediction {
  std::vector<FunctionTime> functions; // the denoiser first, when a pipeline
  std::vector<RankMemory> memory;
  std::string denoiser;    // the function run every step ("" for bare models)
  int images = 1;          // images per run (the pipeline's num_images)
  double stepSeconds = 0;  // one call of the denoiser (or first function)
  double otherSeconds = 0; // the other functions, `calls` times each
  /// The first warmupSteps steps: PipeFusion's warm-up function, run in
  /// place of the denoiser, or patch=P's fresh steps of the denoiser itself
  /// (its FunctionTime has `fresh`).
  std::string warmup;
  int warmupSteps = 0;
  double warmupSeconds = 0;
  /// Seconds for a run of `steps` denoising steps.
  double imageSeconds(int steps) const {
    const int w = std::min(steps, warmup.empty() ? 0 : warmupSteps);
    return w * warmupSeconds + (steps - w) * stepSeconds + otherSeconds;
  }
  /// The first rank whose memory exceeds `capacity`, or -1.
  int overMemory(uint64_t capacity) const;
};

struct PredictOptions {
  const Topology *topology = nullptr;
  const Calibration *calibration = nullptr; // optional
  DType storage = DType::F32;
};

/// Throws fresco::Error for a plan the topology cannot hold (more ranks).
Prediction predict(const LoadedPlan &plan, const PredictOptions &o);

/// Seconds of one compute instruction on one rank with nothing else
/// running; `calibrated` says whether the table had it.
double computeSeconds(const plan::Function &f, const plan::Instr &in,
                      const PredictOptions &o, bool *calibrated = nullptr);

/// Weights, arena and FP8 copies per rank, as fresco-inspect reports them.
RankMemory rankMemory(const LoadedPlan &plan, int rank, DType storage);

/// A human-readable per-rank timeline (fresco-inspect --predict).
std::string describe(const Prediction &p, int steps, const Topology &t);
std::string toJson(const Prediction &p, int steps);

} // namespace fresco::planner

#endif // FRESCO_PLANNER_PREDICT_H
