//===- fresco-run.cpp - Run a compiled Fresco plan ------------------------===//
//
// Conventions follow iree-run-module: inputs and outputs are NumPy files
// given as `@file.npy`, in the function's argument order or by name
// (`latents=@x.npy`). Exit codes: 0 success, 1 runtime error, 2 misuse.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuBackend.h"
#include "runtime/core/Error.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Plan.h"
#include "runtime/core/PlanVersion.h"
#include "runtime/core/Weights.h"
#include "runtime/io/Npy.h"

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <map>
#include <string>
#include <vector>

using namespace fresco;

namespace {

const char *kUsage = R"(fresco-run: run a compiled Fresco plan (.fplan)

USAGE:
  fresco-run PLAN --weights FOLDER [--function NAME] --input @x.npy ...
             [--output @out.npy ...] [--stats]

OPTIONS:
  --weights FOLDER     diffusers model folder (config.json + *.safetensors,
                       sharded or not) or pipeline folder (model_index.json +
                       one folder per component) holding the plan's weights
  --function NAME      function (component) to run, e.g. "transformer"; may be
                       left out when the plan has only one
  --input [NAME=]@FILE a NumPy .npy input; in argument order, or by name.
                       Integer arrays given for f32 arguments are converted
                       (diffusers does timesteps.float()).
  --output @FILE       write the next output as .npy; without any --output,
                       a summary of each output is printed
  --stats              print load and run times, arena and weight bytes
  --repeat N           run N times (timing: --stats reports each run)
  --profile            print the time spent per op kind (implies timing)
  --list               print the plan's functions and their signatures, exit
  -h, --help           show this help
  --version            print the plan format version

EXAMPLE:
  fresco-run dit.fplan --weights ./dit-tiny --function transformer \
    --input @latents.npy --input @timestep.npy --input @labels.npy \
    --output @sample.npy
)";

struct Options {
  std::string plan, weights, function;
  std::vector<std::pair<std::string, std::string>> inputs; // name, path
  std::vector<std::string> outputs;
  bool stats = false, list = false, profile = false;
  int repeat = 1;
};

[[noreturn]] void usageError(const std::string &msg) {
  std::cerr << "fresco-run: " << msg << "\n(run fresco-run --help for usage)\n";
  std::exit(2);
}

std::string stripAt(const std::string &s, const char *flag) {
  if (s.size() < 2 || s[0] != '@')
    usageError(std::string(flag) + " expects @FILE.npy, got '" + s + "'");
  return s.substr(1);
}

Options parseArgs(int argc, char **argv) {
  Options o;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool hasValue = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      hasValue = true;
    }
    auto next = [&]() -> std::string {
      if (hasValue)
        return value;
      if (i + 1 >= args.size())
        usageError(a + " needs a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << kUsage;
      std::exit(0);
    } else if (a == "--version") {
      std::cout << "fresco-run (plan format version " << kPlanVersion << ")\n";
      std::exit(0);
    } else if (a == "--weights") {
      o.weights = next();
    } else if (a == "--function") {
      o.function = next();
    } else if (a == "--input") {
      std::string v = next();
      std::string name;
      size_t eq = v.find('=');
      if (eq != std::string::npos && v[0] != '@') {
        name = v.substr(0, eq);
        v = v.substr(eq + 1);
      }
      o.inputs.push_back({name, stripAt(v, "--input")});
    } else if (a == "--output") {
      o.outputs.push_back(stripAt(next(), "--output"));
    } else if (a == "--stats") {
      o.stats = true;
    } else if (a == "--profile") {
      o.profile = true;
    } else if (a == "--repeat") {
      std::string v = next();
      char *end = nullptr;
      long n = std::strtol(v.c_str(), &end, 10);
      if (!end || *end || n < 1 || n > 100000)
        usageError("--repeat expects a positive count, got '" + v + "'");
      o.repeat = int(n);
    } else if (a == "--list") {
      o.list = true;
    } else if (a.rfind("-", 0) == 0) {
      usageError("unknown option '" + a + "'");
    } else if (o.plan.empty()) {
      o.plan = a;
    } else {
      usageError("unexpected argument '" + a + "' (the plan is '" + o.plan +
                 "')");
    }
  }
  if (o.plan.empty())
    usageError("no plan given");
  if (!o.list && o.weights.empty())
    usageError("--weights FOLDER is required");
  return o;
}

HostTensor fromNpy(NpyArray a) {
  HostTensor t;
  t.dtype = a.dtype;
  t.shape = std::move(a.shape);
  t.data = std::move(a.data);
  return t;
}

std::string signature(const std::vector<TensorSpec> &specs) {
  std::string s;
  for (const TensorSpec &t : specs) {
    if (!s.empty())
      s += ", ";
    s += t.name + ": " + dtypeName(t.dtype) + shapeToString(t.shape);
  }
  return s;
}

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

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

int run(const Options &o) {
  auto t0 = std::chrono::steady_clock::now();
  LoadedPlan plan = LoadedPlan::fromFile(o.plan);
  const plan::RankProgram &rp = plan.rank(0);

  std::string function = o.function;
  if (function.empty()) {
    if (rp.functions()->size() != 1 && !o.list)
      usageError("the plan has several functions: choose one with --function");
    function = rp.functions()->Get(0)->name()->str();
  }
  if (o.list) {
    auto specs = [&](const plan::Function &f,
                     const flatbuffers::Vector<int32_t> &ids,
                     const flatbuffers::Vector<flatbuffers::Offset<
                         flatbuffers::String>> &names) {
      std::vector<TensorSpec> out;
      for (flatbuffers::uoffset_t i = 0; i < ids.size(); ++i) {
        const plan::Value *v = f.values()->Get(ids.Get(i));
        out.push_back({names.Get(i)->str(), DType(v->dtype()),
                       {v->shape()->begin(), v->shape()->end()}});
      }
      return signature(out);
    };
    for (const plan::Function *f : *rp.functions())
      std::cout << f->name()->str() << "("
                << specs(*f, *f->inputs(), *f->input_names()) << ") -> ("
                << specs(*f, *f->outputs(), *f->output_names()) << "): "
                << f->instrs()->size() << " instructions, arena "
                << f->arena_bytes() << " bytes\n";
    return 0;
  }
  plan.function(0, function); // a clear error when it does not exist

  WeightStore weights(rp, o.weights);
  std::unique_ptr<Backend> backend = createCpuBackend();
  Executor exec(plan, 0, *backend, weights);
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

  exec.setProfiling(o.profile);
  std::vector<HostTensor> outs;
  std::vector<double> runSeconds;
  for (int r = 0; r < o.repeat; ++r) {
    auto t1 = std::chrono::steady_clock::now();
    outs = exec.run(function, inputs);
    runSeconds.push_back(secondsSince(t1));
  }

  for (size_t i = 0; i < outs.size(); ++i) {
    if (i < o.outputs.size())
      writeNpy(o.outputs[i], outs[i].dtype, outs[i].shape, outs[i].data.data());
    else if (o.outputs.empty())
      printSummary(outSpecs[i], outs[i]);
  }
  if (o.stats) {
    std::string runs;
    for (double s : runSeconds)
      runs += (runs.empty() ? "" : " ") + std::to_string(s).substr(0, 6);
    std::fprintf(stderr,
                 "fresco-run: load %.3f s, run %s s, arena %llu bytes, "
                 "weights %llu bytes\n",
                 loadSeconds, runs.c_str(),
                 (unsigned long long)exec.arenaBytes(),
                 (unsigned long long)weights.bytesLoaded());
  }
  if (o.profile) {
    double total = 0;
    for (const auto &[op, p] : exec.profile())
      total += p.seconds;
    std::fprintf(stderr, "fresco-run: profile over %d run(s):\n", o.repeat);
    for (const auto &[op, p] : exec.profile())
      std::fprintf(stderr, "  %-18s %8.4f s %5.1f%% %6lld calls\n", op.c_str(),
                   p.seconds, total > 0 ? 100 * p.seconds / total : 0.0,
                   (long long)p.calls);
  }
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Options o = parseArgs(argc, argv);
  try {
    return run(o);
  } catch (const Error &e) {
    std::cerr << "fresco-run: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception &e) {
    std::cerr << "fresco-run: internal error: " << e.what() << "\n";
    return 1;
  }
}
