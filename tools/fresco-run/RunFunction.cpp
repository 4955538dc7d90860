//===- RunFunction.cpp - fresco-run: one function on NumPy inputs ---------===//
#include "runtime/core/Error.h"
#include "runtime/core/Plan.h"
#include "runtime/core/Weights.h"
#include "runtime/session/Session.h"
#include "tools/fresco-run/Options.h"
#include "tools/fresco-run/Profile.h"

#include <cstdio>
#include <iostream>

namespace fresco::run {
namespace {

void printSummary(const TensorSpec &spec, const HostTensor &t) {
  std::cout << spec.name << ": " << dtypeName(t.dtype)
            << shapeToString(t.shape);
  if (t.dtype == DType::F32 && t.numel() > 0) {
    const float *p = t.as<float>();
    double lo = p[0], hi = p[0], sum = 0;
    for (int64_t i = 0; i < t.numel(); ++i) {
      lo = std::min<double>(lo, p[i]);
      hi = std::max<double>(hi, p[i]);
      sum += p[i];
    }
    std::cout << " min " << lo << " max " << hi << " mean " << sum / t.numel();
  }
  std::cout << "\n";
}

} // namespace

int runFunction(const Options &o, const RankEnv &env) {
  auto t0 = std::chrono::steady_clock::now();
  LoadedPlan plan = LoadedPlan::fromFile(o.plan);
  const plan::RankProgram &rp = plan.rank(o.list ? 0 : env.rank);

  std::string function = o.function;
  if (function.empty()) {
    if (plan.plan().pipeline() && !o.list)
      usageError(std::string("this plan holds a pipeline: generate images "
                             "with ") +
                 (plan.plan().pipeline()->conditioning() &&
                          plan.plan().pipeline()->conditioning()->kind() ==
                              plan::ConditioningKind::Text
                      ? "--prompt \"...\""
                      : "--class-label L") +
                 " -o out.png, or run one of its functions with --function");
    if (!o.list) {
      // Placement may leave a rank without functions: name them all.
      if (rp.functions()->size() != 1)
        usageError(std::string("the plan has ") +
                   (rp.functions()->size() ? "several" : "no") +
                   " functions on rank " + std::to_string(rp.rank()) +
                   ": choose one with --function (--list shows them)");
      function = rp.functions()->Get(0)->name()->str();
    }
  }
  if (o.list) {
    auto specs =
        [&](const plan::Function &f, const flatbuffers::Vector<int32_t> &ids,
            const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>
                &names) {
          std::vector<TensorSpec> out;
          for (flatbuffers::uoffset_t i = 0; i < ids.size(); ++i) {
            const plan::Value *v = f.values()->Get(ids.Get(i));
            // A bf16/f16 plan's floats are passed and returned as f32.
            DType t = DType(v->dtype());
            if (t == DType(plan.plan().float_storage()))
              t = DType::F32;
            out.push_back({names.Get(i)->str(),
                           t,
                           {v->shape()->begin(), v->shape()->end()}});
          }
          return signature(out);
        };
    // Every rank's functions (a placed plan may hold none on rank 0).
    const bool ranked = plan.plan().num_ranks() > 1;
    for (const plan::RankProgram *r : *plan.plan().ranks()) {
      if (ranked)
        std::cout << "rank " << r->rank() << ":"
                  << (r->functions()->size() ? "\n" : " no functions\n");
      for (const plan::Function *f : *r->functions())
        std::cout << (ranked ? "  " : "") << f->name()->str() << "("
                  << specs(*f, *f->inputs(), *f->input_names()) << ") -> ("
                  << specs(*f, *f->outputs(), *f->output_names())
                  << "): " << f->instrs()->size() << " instructions, arena "
                  << f->arena_bytes() << " bytes\n";
    }
    return 0;
  }
  // A clear error when no rank has it; ranks without it have nothing to do.
  bool anywhere = false, here = false;
  int writer = -1; // the lowest rank that runs it writes the outputs
  for (const plan::RankProgram *r : *plan.plan().ranks())
    for (const plan::Function *f : *r->functions())
      if (f->name()->str() == function) {
        anywhere = true;
        here |= r->rank() == env.rank;
        if (writer < 0)
          writer = r->rank();
      }
  if (!anywhere)
    plan.function(0, function);
  Session session(plan, env, sessionOptions(o, plan));
  if (!here)
    return 0;

  // The backend first: a missing GPU fails before the weights are read.
  session.openBackend();
  Executor &exec = session.load(o.weights);
  const WeightStore &weights = session.weights();
  double loadSeconds = secondsSince(t0);

  const auto &specs = exec.inputs(function);
  std::vector<HostTensor> inputs(specs.size());
  std::vector<bool> given(specs.size(), false);
  size_t position = 0;
  for (const auto &[name, path] : o.inputs) {
    size_t slot = position;
    if (!name.empty()) {
      slot = specs.size();
      for (size_t i = 0; i < specs.size(); ++i)
        if (specs[i].name == name)
          slot = i;
      check(slot < specs.size(), "function '", function,
            "' has no input named '", name, "' (inputs: ", signature(specs),
            ")");
    } else {
      while (slot < specs.size() && given[slot])
        ++slot;
      position = slot + 1;
    }
    check(slot < specs.size(), "too many inputs: function '", function,
          "' takes ", specs.size(), " (", signature(specs), ")");
    check(!given[slot], "input '", specs[slot].name, "' given twice");
    inputs[slot] = fromNpy(readNpy(path));
    given[slot] = true;
  }
  for (size_t i = 0; i < specs.size(); ++i)
    check(given[i], "missing input '", specs[i].name, "' of '", function,
          "' (inputs: ", signature(specs), ")");
  const auto &outSpecs = exec.outputs(function);
  check(o.outputs.size() <= outSpecs.size(), "function '", function, "' has ",
        outSpecs.size(), " outputs but ", o.outputs.size(),
        " --output files were given");

  if (env.rank == writer)
    for (const std::string &p : o.outputs)
      checkWritable(p);
  const std::string trace =
      checkedTracePath(o.profileTrace, env.rank, env.worldSize);

  // The first run (the warm-up) is profiled too, and reported apart.
  exec.setProfiling(o.profile);
  exec.setRecording(o.graphs);
  std::vector<HostTensor> outs;
  std::vector<double> runSeconds;
  int replays = 0;
  for (int r = 0; r < o.repeat; ++r) {
    auto t1 = std::chrono::steady_clock::now();
    outs = exec.run(function, inputs);
    runSeconds.push_back(secondsSince(t1));
    replays += exec.replayed(function);
  }

  for (size_t i = 0; i < outs.size() && env.rank == writer; ++i) {
    if (i < o.outputs.size())
      writeNpy(o.outputs[i], outs[i].dtype, outs[i].shape, outs[i].data.data());
    else if (o.outputs.empty())
      printSummary(outSpecs[i], outs[i]);
  }
  if (o.stats) {
    std::string runs;
    // Microseconds: a GPU forward can take well under a millisecond.
    for (double s : runSeconds) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.6f", s);
      runs += (runs.empty() ? "" : " ") + std::string(buf);
    }
    std::fprintf(stderr,
                 "%sfresco-run: load %.3f s, run %s s, %s, %s, "
                 "%d replayed\n",
                 session.prefix(), loadSeconds, runs.c_str(),
                 arenaStats(exec).c_str(), weightStats(exec, weights).c_str(),
                 replays);
    printLibraries(session.openBackend(), session.prefix());
  }
  reportProfile(exec, session.prefix(), o.profile, trace, env.rank,
                env.worldSize, o.backend, o.plan);
  return 0;
}

} // namespace fresco::run
