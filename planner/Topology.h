//===- Topology.h - Machines the cost model predicts for --------*- C++ -*-===//
//
// A topology file (JSON, docs/planner.md) says what a cluster offers the
// cost model: GPUs (or CPU ranks) per node, memory per rank, peak FLOP/s per
// float storage and memory bandwidth (the roofline for ops the calibration
// table lacks), and one alpha-beta link per class: within a node (NVLink,
// PCIe, loopback) and between nodes (InfiniBand, Ethernet).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_PLANNER_TOPOLOGY_H
#define FRESCO_PLANNER_TOPOLOGY_H

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace fresco::planner {

/// One link class: a message of n bytes takes latency + n / bandwidth.
struct Link {
  std::string kind;     // "nvlink", "pcie", "infiniband", "loopback", ...
  double bandwidth = 0; // achievable bytes/s per direction per rank
  double latency = 0;   // seconds per message (alpha)
};

struct Topology {
  std::string name, file;
  int nodes = 1, ranksPerNode = 1;
  uint64_t memoryBytes = 0;                // per rank
  std::map<std::string, double> peakFlops; // storage "f32"/"bf16"/"f16"
  double memoryBandwidth = 0;              // bytes/s
  double computeEfficiency = 1;            // fraction of peak a kernel reaches
  double launchOverhead = 0;               // seconds added to every kernel
  int hostCores = 0;      // > 0: CPU ranks of a node share this many cores
  int threadsPerRank = 0; // CPU: fixed (OMP_NUM_THREADS); 0: the launcher's
  // Whether an asynchronous all_to_all/all_gather/all_reduce runs behind
  // compute (NCCL's own stream); false where it shares the compute's cores
  // (Gloo on CPU ranks: its communication thread).
  bool asyncOverlap = true;
  // Compute beside a started collective takes (1 + this) times as long: the
  // collective's kernels hold SMs and memory bandwidth (NCCL).
  double overlapSlowdown = 0;
  Link intraNode, interNode;

  int ranks() const { return nodes * ranksPerNode; }
  int node(int rank) const { return rank / ranksPerNode; }
  /// The link a collective over `members` runs at: the inter-node one as
  /// soon as they span nodes (its bandwidth is the ring's bottleneck).
  const Link &link(const std::vector<int> &members) const;
  /// Peak FLOP/s for a float storage; throws when the file has none.
  double peak(const std::string &storage) const;
};

/// Parses a topology file's text; throws fresco::Error naming `file` and
/// the bad field.
Topology parseTopology(const std::string &text, const std::string &file);
/// A path, or the name of a preset in share/topologies (without .json).
Topology loadTopology(const std::string &pathOrPreset);
/// The preset names, sorted.
std::vector<std::string> topologyPresets();
/// The folder holding share/topologies and share/calibrations.
std::string shareDir();

} // namespace fresco::planner

#endif // FRESCO_PLANNER_TOPOLOGY_H
