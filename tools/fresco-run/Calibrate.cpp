//===- Calibrate.cpp - fresco-run --calibrate: time each instruction ------===//
//
// Runs every function of the plan on this rank (zero inputs: timing does
// not depend on the values) once to warm up, then --repeat times (3 by
// default) with per-instruction timing, and writes the cost model's table:
// one entry per op kind and shapes, the median over its calls. Collectives
// and ring attention are left out: their time depends on the links, which
// the topology describes. Every rank times its own functions (a placement
// plan's denoiser may not be on rank 0) and sends its samples to rank 0,
// which writes the file.
//
//===----------------------------------------------------------------------===//
#include "planner/Calibration.h"
#include "planner/InstrWork.h"
#include "runtime/backends/BackendRegistry.h"
#include "runtime/core/Error.h"
#include "runtime/core/Plan.h"
#include "runtime/session/Session.h"
#include "tools/fresco-run/Options.h"

#include <omp.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>

namespace fresco::run {
namespace {

std::string cpuModel() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos)
      return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

using Key = std::pair<std::string, std::string>; // op, shape

/// One rank's samples as text lines: "op\tshape\tflops\tbytes\tsamples...".
std::string serialize(const std::map<Key, std::vector<double>> &samples,
                      const std::map<Key, planner::InstrWork> &work) {
  std::string out;
  char num[64];
  for (const auto &[key, s] : samples) {
    const planner::InstrWork &w = work.at(key);
    out += key.first + "\t" + key.second;
    for (double v : {w.flops, w.bytes}) {
      std::snprintf(num, sizeof num, "\t%.17g", v);
      out += num;
    }
    for (double v : s) {
      std::snprintf(num, sizeof num, "\t%.17g", v);
      out += num;
    }
    out += "\n";
  }
  return out;
}

/// Adds another rank's serialized samples.
void merge(const std::string &text, std::map<Key, std::vector<double>> &samples,
           std::map<Key, planner::InstrWork> &work) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    check(end != std::string::npos, "calibration: a truncated sample line");
    std::vector<std::string> fields;
    for (size_t a = start; a <= end;) {
      size_t b = std::min(text.find('\t', a), end);
      fields.push_back(text.substr(a, b - a));
      a = b + 1;
    }
    check(fields.size() >= 5, "calibration: a sample line without samples");
    Key key{fields[0], fields[1]};
    planner::InstrWork &w = work[key];
    w.op = fields[0];
    w.shape = fields[1];
    w.flops = std::stod(fields[2]);
    w.bytes = std::stod(fields[3]);
    w.compute = true;
    for (size_t i = 4; i < fields.size(); ++i)
      samples[key].push_back(std::stod(fields[i]));
    start = end + 1;
  }
}

} // namespace

int runCalibrate(const Options &o, const RankEnv &env) {
  LoadedPlan plan = LoadedPlan::fromFile(o.plan);
  Session session(plan, env, sessionOptions(o, plan));
  session.openBackend();
  Executor &exec = session.load(o.weights);
  const DType storage = exec.floatStorage();
  const plan::RankProgram &rp = plan.rank(env.rank);
  // The same function order on every rank, so that collectives meet;
  // PipeFusion's warm-up first, which fills the caches its denoiser reads.
  std::set<std::string> sorted;
  for (const plan::Function *f : *rp.functions())
    sorted.insert(f->name()->str());
  std::vector<std::string> names(sorted.begin(), sorted.end());
  if (const plan::Pipeline *pl = plan.plan().pipeline();
      pl && pl->warmup_function()) {
    auto w =
        std::find(names.begin(), names.end(), pl->warmup_function()->str());
    if (w != names.end())
      std::rotate(names.begin(), w, w + 1);
  }
  const int runs = std::max(3, o.repeat);
  // (op, shape) -> samples; their work.
  std::map<Key, std::vector<double>> samples;
  std::map<Key, planner::InstrWork> work;
  exec.setRecording(false);
  for (const std::string &name : names) {
    std::vector<HostTensor> inputs;
    for (const TensorSpec &s : exec.inputs(name)) {
      HostTensor t;
      t.dtype = s.dtype;
      t.shape = s.shape;
      t.data.assign(size_t(t.numel()) * dtypeSize(t.dtype), 0);
      inputs.push_back(std::move(t));
    }
    const plan::Function &f = plan.function(env.rank, name);
    exec.setProfiling(false);
    exec.run(name, inputs); // warm-up: scratch buffers, connections
    for (int r = 0; r < runs; ++r) {
      exec.setProfiling(true); // clears the previous run's times
      exec.run(name, inputs);
      std::vector<Executor::OpProfile> prof = exec.instructionProfile(name);
      for (size_t i = 0; i < prof.size(); ++i) {
        const plan::Instr &in = *f.instrs()->Get(flatbuffers::uoffset_t(i));
        planner::InstrWork w = planner::instrWork(f, in, storage);
        if (!w.compute || w.collective || prof[i].calls == 0)
          continue;
        samples[{w.op, w.shape}].push_back(prof[i].seconds / prof[i].calls);
        work[{w.op, w.shape}] = w;
      }
    }
  }
  exec.setProfiling(false);
  // Rank 0 collects every rank's samples, in rank order.
  constexpr int kTag = 9100;
  if (Communicator *world = session.world()) {
    if (env.rank != 0) {
      const std::string text = serialize(samples, work);
      const uint64_t n = text.size();
      // Rank 0 refuses more (and would leave the payload unread).
      check(n < (uint64_t(1) << 30), "calibration: rank ", env.rank, " has ", n,
            " bytes of samples");
      world->send(&n, sizeof n, 0, kTag);
      world->send(text.data(), n, 0, kTag + 1);
      return 0;
    }
    for (int r = 1; r < session.size(); ++r) {
      uint64_t n = 0;
      world->recv(&n, sizeof n, r, kTag);
      check(n < (uint64_t(1) << 30), "calibration: rank ", r, " sent ", n,
            " bytes of samples");
      std::string text(n, '\0');
      world->recv(text.data(), n, r, kTag + 1);
      merge(text, samples, work);
    }
  }
  planner::Calibration c;
  c.backend = o.backend;
  c.storage = dtypeName(storage);
  c.threads = BackendRegistry::global().get(o.backend).computesOnHost
                  ? omp_get_max_threads()
                  : 0;
  c.device = c.threads ? cpuModel() + ", " + std::to_string(c.threads) +
                             " thread(s) per rank, " +
                             std::to_string(session.size()) + " rank(s)"
                       : o.backend;
  for (auto &[key, s] : samples) {
    const planner::InstrWork &w = work[key];
    c.entries.push_back({key.first, key.second, w.flops, w.bytes, median(s),
                         int64_t(s.size())});
  }
  std::ofstream out(o.calibrate);
  check(bool(out), "cannot write calibration table ", o.calibrate);
  out << c.toJson();
  check(bool(out), "cannot write calibration table ", o.calibrate);
  if (!o.quiet)
    std::fprintf(stderr,
                 "fresco-run: calibration of %zu op shapes (%d timed runs) "
                 "written to %s\n",
                 c.entries.size(), runs, o.calibrate.c_str());
  return 0;
}

} // namespace fresco::run
