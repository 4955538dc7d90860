//===- Topology.cpp - Topology files --------------------------------------===//
#include "planner/Topology.h"
#include "planner/JsonFields.h"

#include "runtime/core/Error.h"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <fstream>
#include <sstream>

namespace fresco::planner {

const Link &Topology::link(const std::vector<int> &members) const {
  for (int m : members)
    if (node(m) != node(members.front()))
      return interNode;
  return intraNode;
}

double Topology::peak(const std::string &storage) const {
  auto it = peakFlops.find(storage);
  check(it != peakFlops.end() && it->second > 0, "topology ", file,
        " has no peak_TFLOPS for ", storage,
        storage == "fp8" ? " (the rate of --gemm fp8 linears)" : " storage");
  return it->second;
}

namespace {

Link parseLink(const JsonFields &links, const char *key) {
  JsonFields l = links.object(key);
  Link out;
  out.kind = l.string("kind");
  // Vendors quote nominal rates; efficiency is what a collective reaches.
  out.bandwidth =
      l.positive("bandwidth_GBps") * 1e9 * l.fraction("efficiency", 1.0);
  out.latency = l.nonNegative("latency_us") * 1e-6;
  return out;
}

} // namespace

Topology parseTopology(const std::string &text, const std::string &file) {
  JsonFields j = JsonFields::parse(text, "topology " + file);
  Topology t;
  t.file = file;
  t.name = j.string("name");
  t.nodes = int(j.count("nodes", 1, 4096));
  t.ranksPerNode = int(j.count("ranks_per_node", 1, 4096));
  // Bounded so that the bytes convert exactly (1e300 GiB became 0 bytes).
  const double memoryGiB = j.positive("memory_per_rank_GiB");
  check(memoryGiB <= double(1 << 24), "topology ", file,
        ": 'memory_per_rank_GiB' must be at most 16777216 (16 PiB), got ",
        memoryGiB);
  t.memoryBytes = uint64_t(memoryGiB * 1073741824.0);
  t.memoryBandwidth = j.positive("memory_bandwidth_GBps") * 1e9;
  t.computeEfficiency = j.fraction("compute_efficiency", 1.0);
  t.launchOverhead = j.nonNegative("kernel_launch_us", 0) * 1e-6;
  t.hostCores = int(j.count("host_cores", 0, 1 << 20, /*optional=*/true));
  t.threadsPerRank =
      int(j.count("threads_per_rank", 0, 1 << 20, /*optional=*/true));
  t.asyncOverlap = j.flag("async_overlap", true);
  t.overlapSlowdown = j.nonNegative("overlap_slowdown", 0);
  check(t.overlapSlowdown <= 10, "topology ", file,
        ": 'overlap_slowdown' must be at most 10, got ", t.overlapSlowdown);
  JsonFields peaks = j.object("peak_TFLOPS");
  for (const std::string &k : peaks.keys()) {
    check(k == "f32" || k == "bf16" || k == "f16" || k == "fp8", "topology ",
          file, ": peak_TFLOPS keys are f32, bf16, f16 and fp8, got '", k, "'");
    t.peakFlops[k] = peaks.positive(k.c_str()) * 1e12;
  }
  check(t.peakFlops.count("f32"), "topology ", file,
        ": peak_TFLOPS needs at least f32");
  JsonFields links = j.object("links");
  t.intraNode = parseLink(links, "intra_node");
  if (t.nodes > 1)
    t.interNode = parseLink(links, "inter_node");
  else
    t.interNode = t.intraNode;
  return t;
}

std::string shareDir() {
  if (const char *env = std::getenv("FRESCO_SHARE_DIR"))
    return env;
  return FRESCO_SHARE_DIR;
}

Topology loadTopology(const std::string &pathOrPreset) {
  std::string path = pathOrPreset;
  if (path.find('/') == std::string::npos &&
      path.find(".json") == std::string::npos)
    path = shareDir() + "/topologies/" + path + ".json";
  std::ifstream in(path);
  if (!in) {
    std::string presets;
    for (const std::string &p : topologyPresets())
      presets += (presets.empty() ? "" : ", ") + p;
    fail("cannot read topology '", pathOrPreset, "' (", path,
         "): give a file or one of the presets: ", presets);
  }
  std::stringstream text;
  text << in.rdbuf();
  return parseTopology(text.str(), path);
}

std::vector<std::string> topologyPresets() {
  std::vector<std::string> names;
  std::string dir = shareDir() + "/topologies";
  if (DIR *d = opendir(dir.c_str())) {
    while (dirent *e = readdir(d)) {
      std::string n = e->d_name;
      if (n.size() > 5 && n.compare(n.size() - 5, 5, ".json") == 0)
        names.push_back(n.substr(0, n.size() - 5));
    }
    closedir(d);
  }
  std::sort(names.begin(), names.end());
  return names;
}

} // namespace fresco::planner
