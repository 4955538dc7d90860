//===- ExecutorRun.cpp - Running bound functions: copy, step, record ------===//
//
// A run copies the inputs in (converted on the host where the backend
// stores another dtype), issues the bound steps in order (or replays their
// recording, or times each one on the backend's Timeline when profiling)
// and copies the outputs out.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"

#include <algorithm>
#include <chrono>
#include <cstring>

namespace fresco {

bool Executor::replayed(const std::string &function) const {
  return bound(function).replayed;
}

void Executor::setProfiling(bool on) {
  profiling_ = on;
  events_.clear();
}

std::vector<Executor::OpProfile>
Executor::instructionProfile(const std::string &function) const {
  std::vector<OpProfile> out;
  for (const ProfileEvent &e : events_) {
    if (*e.function != function)
      continue;
    out.resize(bound(function).numInstrs);
    OpProfile &p = out[e.step->instr];
    p.seconds += double(e.ns) * 1e-9;
    ++p.calls;
  }
  return out;
}

const Executor::Bound &Executor::bound(const std::string &function) const {
  auto it = functions_.find(function);
  if (it == functions_.end())
    plan_.function(rank_, function); // throws, listing the known names
  return it->second;
}

const std::vector<TensorSpec> &
Executor::inputs(const std::string &function) const {
  return bound(function).inputs;
}

const std::vector<TensorSpec> &
Executor::outputs(const std::string &function) const {
  return bound(function).outputs;
}

/// Checks `in` against `spec`; returns true when its dtype differs, i.e.
/// when it must go through convertInput first.
static bool checkInput(const HostTensor &in, const TensorSpec &spec,
                       const std::string &function) {
  check(in.shape == spec.shape, "input '", spec.name, "' of '", function,
        "' has shape ", shapeToString(in.shape), ", expected ",
        shapeToString(spec.shape),
        (in.shape.size() == spec.shape.size() && !in.shape.empty() &&
         in.shape[0] != spec.shape[0])
            ? " (the plan was compiled for batch " +
                  std::to_string(spec.shape[0]) +
                  "; recompile with fresco-compile --batch " +
                  std::to_string(in.shape[0]) + ")"
            : std::string());
  check(in.data.size() == size_t(in.numel()) * dtypeSize(in.dtype), "input '",
        spec.name, "' has the wrong number of bytes");
  return in.dtype != spec.dtype;
}

/// Converts `in` into host memory `dst` as `spec` wants it; integer -> f32 is
/// the only conversion (diffusers' timestep embedding does
/// timesteps.float()). It runs on the host, before any copy to a device.
static void convertInput(const HostTensor &in, const TensorSpec &spec,
                         void *dst, const std::string &function) {
  int64_t n = in.numel();
  float *out = static_cast<float *>(dst);
  if (spec.dtype == DType::F32 && in.dtype == DType::I64) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = float(in.as<int64_t>()[i]);
    return;
  }
  if (spec.dtype == DType::F32 && in.dtype == DType::I32) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = float(in.as<int32_t>()[i]);
    return;
  }
  if (spec.dtype == DType::I64 && in.dtype == DType::I32) {
    int64_t *o = static_cast<int64_t *>(dst);
    for (int64_t i = 0; i < n; ++i)
      o[i] = in.as<int32_t>()[i];
    return;
  }
  fail("input '", spec.name, "' of '", function, "' has dtype ",
       dtypeName(in.dtype), ", expected ", dtypeName(spec.dtype));
}

void Executor::profile(Bound &b) {
  if (!timeline_)
    timeline_ = backend_.timeline();
  // The inputs are in and the queue is empty: the first mark is now.
  backend_.synchronize();
  const int64_t anchor =
      std::chrono::duration_cast<std::chrono::nanoseconds>(
          std::chrono::steady_clock::now().time_since_epoch())
          .count();
  timeline_->clear();
  timeline_->mark();
  for (const auto &step : b.steps) {
    step();
    timeline_->mark();
  }
  const std::vector<int64_t> ns = timeline_->read();
  check(ns.size() == b.steps.size() + 1, "the ", backend_.name(),
        " backend's timeline returned ", ns.size(), " marks for ",
        b.steps.size() + 1);
  for (size_t i = 0; i < b.steps.size(); ++i)
    events_.push_back({&b.name, &b.stepInfo[i], b.runs, anchor + ns[i],
                       std::max<int64_t>(0, ns[i + 1] - ns[i])});
}

std::vector<HostTensor> Executor::run(const std::string &function,
                                      const std::vector<HostTensor> &inputs,
                                      RunMode mode) {
  // run() updates the function's recording state, so the non-const entry.
  Bound &b = const_cast<Bound &>(bound(function));
  check(inputs.size() == b.inputs.size(), "function '", function, "' takes ",
        b.inputs.size(), " inputs, got ", inputs.size());
  // Only StaleGathers read the mode; there is nothing stale to read before
  // a first run (their blocks are zeros).
  check(!b.stale || mode == RunMode::Fresh || b.runs > 0, "function '",
        function,
        "' has not run yet, so it cannot run stale: its StaleGather "
        "instructions read the other ranks' blocks of their previous run "
        "(the first run must be fresh)");
  *mode_ = b.stale ? mode : RunMode::Fresh;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec &spec = b.inputs[i];
    const bool convert = checkInput(inputs[i], spec, function);
    const DType stored = b.inputStored[i];
    if (!convert && stored == spec.dtype) {
      backend_.copyToDevice(b.inputPtrs[i], inputs[i].data.data(),
                            inputs[i].data.size());
    } else if (backend_.usesHostMemory()) {
      convertInput(inputs[i], spec, b.inputPtrs[i], function);
    } else {
      // To the spec's dtype, then (an f32 input under bf16/f16 storage) to
      // the backend's.
      const size_t n = size_t(inputs[i].numel());
      std::vector<uint8_t> host(n * dtypeSize(spec.dtype));
      if (convert)
        convertInput(inputs[i], spec, host.data(), function);
      else
        std::memcpy(host.data(), inputs[i].data.data(), host.size());
      if (stored != spec.dtype) {
        std::vector<uint8_t> narrow(n * dtypeSize(stored));
        narrowFloats(reinterpret_cast<const float *>(host.data()),
                     narrow.data(), n, stored);
        host.swap(narrow);
      }
      backend_.copyToDevice(b.inputPtrs[i], host.data(), host.size());
    }
  }
  auto issue = [&b] {
    try {
      for (const auto &step : b.steps)
        step();
    } catch (...) {
      // Calls started but not waited for are waited for now.
      for (const auto &abandon : b.abandons)
        abandon();
      throw;
    }
  };
  b.replayed = false;
  // A function with StaleGathers records a stale run only (its steps branch
  // on the mode, a recording keeps one branch), after a stale warm-up run.
  const bool staleRun = b.stale && mode == RunMode::Stale;
  const bool replayable = b.stale ? staleRun && b.staleRuns > 0 : b.runs > 0;
  if (!profiling_ && recording_ && b.recordable && replayable) {
    if (!b.recording) {
      b.recording = backend_.record(issue);
      b.recordable = bool(b.recording);
    }
    if (b.recording) {
      b.recording->replay();
      b.replayed = true;
      ++replays_;
      // The recorded collectives run inside the replay, out of sight of
      // their communicators' own checks: have them watch it as a whole.
      for (Communicator *c : b.comms)
        c->watchQueuedWork("the replay of '" + function + "'");
    } else {
      issue();
    }
  } else if (!profiling_) {
    issue();
  } else {
    profile(b);
  }
  ++b.runs;
  b.staleRuns += staleRun;
  // Deferred kernel failures surface here, before any output is read.
  backend_.synchronize();
  std::vector<HostTensor> outs;
  for (size_t i = 0; i < b.outputs.size(); ++i) {
    HostTensor t;
    t.dtype = b.outputs[i].dtype;
    t.shape = b.outputs[i].shape;
    t.data.resize(t.numel() * dtypeSize(t.dtype));
    const DType stored = b.outputStored[i];
    if (stored == t.dtype) {
      backend_.copyToHost(t.data.data(), b.outputPtrs[i], t.data.size());
    } else {
      std::vector<uint8_t> narrow(size_t(t.numel()) * dtypeSize(stored));
      backend_.copyToHost(narrow.data(), b.outputPtrs[i], narrow.size());
      widenFloats(narrow.data(), reinterpret_cast<float *>(t.data.data()),
                  size_t(t.numel()), stored);
    }
    outs.push_back(std::move(t));
  }
  return outs;
}

} // namespace fresco
