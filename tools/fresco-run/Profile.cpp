//===- Profile.cpp - fresco-run: the --profile tables ---------------------===//
#include "tools/fresco-run/Profile.h"
#include "tools/fresco-run/Options.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

namespace fresco::run {
namespace {

using Event = Executor::ProfileEvent;

struct Total {
  int64_t ns = 0, calls = 0;
};

/// "transformer: 4 runs, vae: 1 run": the runs per function in `events`.
std::string runCounts(const std::vector<const Event *> &events) {
  std::map<std::string, std::set<int64_t>> runs;
  for (const Event *e : events)
    runs[*e->function].insert(e->run);
  std::string out;
  for (const auto &[function, r] : runs)
    out += (out.empty() ? "" : ", ") + function + ": " +
           std::to_string(r.size()) + (r.size() == 1 ? " run" : " runs");
  return out;
}

/// One section: per op kind (name order), then per (op, shape, dtype)
/// sorted by total time.
void printSection(const std::vector<const Event *> &events,
                  const char *prefix) {
  int64_t total = 0;
  std::map<std::string, Total> byOp;
  using Key = std::tuple<std::string, std::string, std::string, std::string>;
  std::map<Key, Total> byShape; // op, shape, dtype, family
  for (const Event *e : events) {
    total += e->ns;
    Total &t = byOp[e->step->op];
    t.ns += e->ns;
    ++t.calls;
    Total &s = byShape[{e->step->op, e->step->shape, dtypeName(e->step->dtype),
                        e->step->family}];
    s.ns += e->ns;
    ++s.calls;
  }
  auto share = [&](int64_t ns) {
    return total > 0 ? 100.0 * double(ns) / double(total) : 0.0;
  };
  for (const auto &[op, t] : byOp)
    std::fprintf(stderr, "%s  %-18s %8.4f s %5.1f%% %6lld calls\n", prefix,
                 op.c_str(), double(t.ns) * 1e-9, share(t.ns),
                 (long long)t.calls);
  std::vector<std::pair<Key, Total>> rows(byShape.begin(), byShape.end());
  std::stable_sort(rows.begin(), rows.end(), [](const auto &a, const auto &b) {
    return a.second.ns > b.second.ns;
  });
  std::fprintf(stderr,
               "%s  by op and shape (operands -> results, storage dtype), "
               "by total:\n%s  %10s %6s %6s %10s  %s\n",
               prefix, prefix, "total ms", "share", "calls", "mean ms",
               "op shapes dtype family");
  for (const auto &[key, t] : rows) {
    const auto &[op, shape, dtype, family] = key;
    std::fprintf(stderr, "%s  %10.3f %5.1f%% %6lld %10.4f  %s %s %s %s\n",
                 prefix, double(t.ns) * 1e-6, share(t.ns), (long long)t.calls,
                 double(t.ns) * 1e-6 / double(t.calls), op.c_str(),
                 shape.c_str(), dtype.c_str(), family.c_str());
  }
  std::fprintf(stderr, "%s  total %.3f ms\n", prefix, double(total) * 1e-6);
}

} // namespace

void printProfile(const Executor &exec, const char *prefix) {
  std::vector<const Event *> warm, later;
  for (const Event &e : exec.profileEvents())
    (e.run == 0 ? warm : later).push_back(&e);
  if (later.empty()) {
    std::fprintf(stderr,
                 "%sfresco-run: profile: no run after a function's first "
                 "(in function mode --repeat 2 or more adds some)\n",
                 prefix);
  } else {
    std::fprintf(stderr,
                 "%sfresco-run: profile over %s (each function's first run "
                 "left out):\n",
                 prefix, runCounts(later).c_str());
    printSection(later, prefix);
  }
  if (!warm.empty()) {
    std::fprintf(stderr,
                 "%sfresco-run: profile of the warm-up, each function's first "
                 "run (%s), one-time setup included:\n",
                 prefix, runCounts(warm).c_str());
    printSection(warm, prefix);
  }
}

std::string checkedTracePath(const std::string &option, int rank,
                             int worldSize) {
  if (option.empty())
    return "";
  checkNotFolder(option); // "t/" would become "t/-rank0"
  std::string trace = tracePath(option, rank, worldSize);
  checkWritable(trace);
  return trace;
}

std::string arenaStats(const Executor &exec) {
  std::string s = "arena " + std::to_string(exec.arenaBytes()) + " bytes";
  if (exec.bytesInPlace())
    s += " (" + std::to_string(exec.bytesInPlace()) +
         " bytes of slices and concatenations in place, not copied)";
  if (exec.staleStateBytes()) // patch=P, pipefusion: kept between steps
    s += ", stale key/value state " + std::to_string(exec.staleStateBytes()) +
         " bytes";
  return s;
}

std::string weightStats(const Executor &exec, const WeightStore &weights) {
  std::string s = "weights " + std::to_string(weights.bytesLoaded()) + " bytes";
  if (exec.releasedFp8Bytes())
    s += " (" + std::to_string(exec.releasedFp8Bytes()) +
         " bytes released after FP8 quantization)";
  return s;
}

void printLibraries(Backend &backend, const char *prefix) {
  std::string libs = backend.libraries();
  if (!libs.empty())
    std::fprintf(stderr, "%sfresco-run: libraries: %s\n", prefix, libs.c_str());
}

void reportProfile(const Executor &exec, const char *prefix, bool profile,
                   const std::string &trace, int rank, int worldSize,
                   const std::string &backend, const std::string &plan) {
  if (profile)
    printProfile(exec, prefix);
  if (!trace.empty())
    writeTrace(trace, exec, rank, worldSize, backend, plan);
}

} // namespace fresco::run
