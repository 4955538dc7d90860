//===- Executor.h - Runs a rank's functions over a static arena -*- C++ -*-===//
//
// Everything is resolved when the executor is built: each instruction
// becomes one bound kernel call with fixed pointers and sizes (and is
// shape-checked then), so running a function only copies inputs in, calls
// the kernels in order and copies outputs out.
//
// The arena and the weights live in the backend's memory: the arena is
// allocated through the backend, and the weights are uploaded once here,
// unless the backend works on host memory (CPU), which uses the weight
// store's buffers in place. Inputs and outputs cross with the backend's
// copies, so the same executor drives host and device backends.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_EXECUTOR_H
#define FRESCO_RUNTIME_CORE_EXECUTOR_H

#include "runtime/core/Backend.h"
#include "runtime/core/GroupResolver.h"
#include "runtime/core/PatchCacheState.h"
#include "runtime/core/Plan.h"
#include "runtime/core/RunMode.h"
#include "runtime/core/Tensor.h"
#include "runtime/core/Weights.h"

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace fresco {

class ScratchArena;

/// Name, dtype and shape of a function input or output.
struct TensorSpec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
};

class Communicator;

/// Where a rank's arena values live under a float storage: the plan's
/// offsets for f32; under bf16/f16 the plan's layout with every offset
/// halved for the float values (no two overlap in it, so none do at half
/// size), and slots after it for the values that keep their size (ids, and
/// the timesteps, which stay f32).
struct ArenaLayout {
  struct Function {
    std::vector<bool> pinned;     // f32 values that stay f32, per value
    std::vector<uint64_t> offset; // per value (arena values only)
  };
  std::map<std::string, Function> functions;
  uint64_t bytes = 0;
};
/// Throws fresco::Error for a plan whose timesteps also feed other
/// computations (they cannot be both f32 and bf16).
ArenaLayout layOutArena(const LoadedPlan &plan, int rank, DType storage);

/// A weight of a rank's table that only FP8 linears read (as their weight
/// operand, all as the same [N, K]): the executor keeps only its e4m3 copy.
struct Fp8OnlyWeight {
  bool only = false;
  int64_t n = 0, k = 0;
};
std::vector<Fp8OnlyWeight> fp8OnlyWeights(const plan::RankProgram &rp);
/// Whether `in` is an FP8 linear (LinearAttrs.fp8), and then its input's
/// rows M and features K and its weight's out features N.
bool fp8LinearDims(const plan::Function &f, const plan::Instr &in, int64_t &m,
                   int64_t &k, int64_t &n);

class Executor {
public:
  /// `groups` is needed when the rank's functions hold collectives.
  Executor(const LoadedPlan &plan, int rank, Backend &backend,
           const WeightStore &weights, GroupResolver groups = nullptr);
  ~Executor();

  /// True when this rank runs `function` (placement may leave it out).
  bool has(const std::string &function) const {
    return functions_.count(function) != 0;
  }

  /// Runs `function` on `inputs` (in the function's input order). An input
  /// of the wrong shape is an error; integer inputs to f32 parameters are
  /// converted (as torch's .float() does), other dtype mismatches are errors.
  /// `mode` matters only to a function holding StaleGather instructions
  /// (RunMode.h): a stale run of one is an error until it has run once.
  std::vector<HostTensor> run(const std::string &function,
                              const std::vector<HostTensor> &inputs,
                              RunMode mode = RunMode::Fresh);
  /// Whether `function` holds a StaleGather, i.e. whether its runs differ
  /// by mode.
  bool holdsStaleGather(const std::string &function) const {
    return bound(function).stale;
  }
  /// Bytes of backend memory the StaleGather instructions keep between
  /// runs (the members' blocks and a staging block each) and PipeFusion's
  /// caches (PatchCache: one whole tensor per cache).
  uint64_t staleStateBytes() const { return staleStateBytes_; }

  const std::vector<TensorSpec> &inputs(const std::string &function) const;
  const std::vector<TensorSpec> &outputs(const std::string &function) const;
  uint64_t arenaBytes() const { return arenaBytes_; }
  /// Bytes of weights in the float storage that only FP8 linears read:
  /// quantized one at a time as they are uploaded, never kept.
  uint64_t releasedFp8Bytes() const { return releasedFp8Bytes_; }
  /// Bytes that slices and concatenations leave in place instead of
  /// copying (fresco-assign-buffers placed their operands so), summed over
  /// one run of each function.
  uint64_t bytesInPlace() const {
    uint64_t n = 0;
    for (const auto &[name, f] : functions_)
      n += f.bytesInPlace;
    return n;
  }
  /// The backend's float storage (Backend::floatStorage()).
  DType floatStorage() const { return backend_.floatStorage(); }

  /// When on, run() issues the steps one by one (no recording) and times
  /// each on the backend's Timeline; profileEvents() holds every step timed
  /// since profiling was last turned on (turning it on or off clears them).
  void setProfiling(bool on);

  /// When on (the default), each function is run once step by step (the
  /// warm-up: GEMM heuristics, scratch buffers, communicators' connections),
  /// then recorded by the backend (a CUDA graph) and replayed on every later
  /// run. A function whose collectives are staged through the host or block
  /// (Gloo) runs step by step every time; one whose collectives are queued
  /// with the kernels (NCCL) is recorded with them. Backends that cannot
  /// record run step by step anyway. A function holding a StaleGather is
  /// recorded and replayed in stale runs only, after one stale run step by
  /// step; its fresh runs go step by step.
  void setRecording(bool on) { recording_ = on; }
  /// Whether the last run() of `function` replayed a recording.
  bool replayed(const std::string &function) const;
  /// How many run() calls, of any function, replayed a recording.
  int64_t replays() const { return replays_; }

  /// What profiling knows of a bound step, fixed at load.
  struct StepInfo {
    std::string op;     // the op code's name; "RingAttention", "X (wait)"
    std::string family; // gemm, attention, norm, elementwise, layout, ...
    std::string shape;  // "[2,16,32] [64,32] -> [2,16,64]"
    DType dtype;        // the first result's element type in memory
    uint32_t instr;     // plan instruction index
  };
  /// One step timed while profiling. Pointers stay valid as long as the
  /// executor.
  struct ProfileEvent {
    const std::string *function;
    const StepInfo *step;
    int64_t run;     // the function's run: 0 is its first, the warm-up
    int64_t startNs; // on the host's steady clock (std::chrono)
    int64_t ns;
  };
  const std::vector<ProfileEvent> &profileEvents() const { return events_; }

  struct OpProfile {
    double seconds = 0;
    int64_t calls = 0;
  };
  /// The profiled time per instruction of `function` (indexed as the plan's
  /// instructions; a Wait's entry holds the collective's finish). Empty
  /// when it has not run while profiling. fresco-run --calibrate reads it.
  std::vector<OpProfile> instructionProfile(const std::string &function) const;

private:
  struct Bound {
    std::string name;
    std::vector<std::function<void()>> steps;
    std::vector<StepInfo> stepInfo; // per step, for profiling
    size_t numInstrs = 0;
    std::vector<TensorSpec> inputs, outputs;
    std::vector<void *> inputPtrs;
    std::vector<const void *> outputPtrs;
    // The element type each holds in backend memory (bf16 for an f32 input
    // under bf16 storage).
    std::vector<DType> inputStored, outputStored;
    // Recording: false when a step does more than launch kernels (a
    // collective staged through the host) or the backend could not record.
    bool recordable = true;
    // The stream-ordered communicators its collectives use.
    std::vector<Communicator *> comms;
    // Bytes its in-place slices and concatenations do not copy per run.
    uint64_t bytesInPlace = 0;
    int64_t runs = 0;
    // Holds a StaleGather: runs differ by mode, and only stale ones record.
    bool stale = false;
    int64_t staleRuns = 0;
    bool replayed = false;
    std::unique_ptr<Recording> recording;
    // The binders' `abandon` steps, run after a failed run.
    std::vector<std::function<void()>> abandons;
  };
  const Bound &bound(const std::string &function) const;
  void bind(const plan::Function &f, const ArenaLayout::Function &layout,
            Bound &out);
  void uploadWeights();
  /// Reserves the FP8 linears' input scratch once, for the largest.
  void reserveFp8Scratch();
  /// Issues `b`'s steps with a timeline mark after each; adds their events.
  void profile(Bound &b);

  /// Gives backend memory back to the backend that allocated it.
  struct Release {
    Backend *backend;
    void operator()(void *p) const { backend->release(p); }
  };
  using BackendBuffer = std::unique_ptr<void, Release>;

  const LoadedPlan &plan_;
  std::shared_ptr<ScratchArena> scratch_; // shared by ring attentions
  // The buffers of collectives in flight while other steps run: one per
  // window open at the same time (any function).
  std::vector<std::shared_ptr<ScratchArena>> asyncRegions_;
  int rank_;
  GroupResolver groups_;
  Backend &backend_;
  const WeightStore &weights_;
  uint64_t arenaBytes_ = 0;
  BackendBuffer arena_;
  BackendBuffer weightMemory_; // the uploaded weights (device backends)
  // The e4m3 copies of the weights only FP8 linears read, by weight.
  std::map<int32_t, std::shared_ptr<const Fp8Weight>> fp8Weights_;
  uint64_t releasedFp8Bytes_ = 0;
  std::vector<const float *> weightPtrs_; // in backend memory, per weight
  std::map<std::string, Bound> functions_;
  // The mode of the run in progress, read by the StaleGather steps.
  std::shared_ptr<RunMode> mode_;
  uint64_t staleStateBytes_ = 0;
  /// PipeFusion's caches (PatchCache), shared by this rank's functions.
  std::shared_ptr<PatchCaches> patchCaches_ = std::make_shared<PatchCaches>();
  bool profiling_ = false;
  bool recording_ = true;
  int64_t replays_ = 0;
  std::vector<ProfileEvent> events_;
  std::unique_ptr<Timeline> timeline_; // made at the first profiled run
};

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_EXECUTOR_H
