//===- Collectives.cpp - Alpha-beta times of collectives ------------------===//
#include "planner/Collectives.h"

#include <algorithm>
#include <cmath>

namespace fresco::planner {
namespace {
double log2Ceil(int p) { return std::ceil(std::log2(double(p))); }
} // namespace

double ringAllReduce(double bytes, int p, const Link &l) {
  if (p <= 1)
    return 0;
  return 2 * (p - 1) * (l.latency + bytes / p / l.bandwidth);
}

double treeAllReduce(double bytes, int p, const Link &l) {
  if (p <= 1)
    return 0;
  return 2 * (log2Ceil(p) * l.latency + bytes / l.bandwidth);
}

double allReduce(double bytes, int p, const Link &l) {
  return std::min(ringAllReduce(bytes, p, l), treeAllReduce(bytes, p, l));
}

double allGather(double bytes, int p, const Link &l) {
  if (p <= 1)
    return 0;
  return (p - 1) * (l.latency + bytes / p / l.bandwidth);
}

double reduceScatter(double bytes, int p, const Link &l) {
  if (p <= 1)
    return 0;
  return (p - 1) * (l.latency + bytes / p / l.bandwidth);
}

double allToAll(double bytes, int p, const Link &l) {
  if (p <= 1)
    return 0;
  return (p - 1) * (l.latency + bytes / p / l.bandwidth);
}

double broadcast(double bytes, int p, const Link &l) {
  if (p <= 1)
    return 0;
  double ring = (p - 1) * l.latency + bytes / l.bandwidth;
  double tree = log2Ceil(p) * l.latency + bytes / l.bandwidth;
  return std::min(ring, tree);
}

double sendRecv(double bytes, const Link &l) {
  return l.latency + bytes / l.bandwidth;
}

double ringAttention(double blockCompute, double hopBytes, int p, const Link &l,
                     double slowdown) {
  if (p <= 1)
    return blockCompute;
  // A step's block computes beside the hop: slowed while the hop runs.
  const double hop = sendRecv(hopBytes, l);
  const double step = blockCompute * (1 + slowdown) <= hop
                          ? hop
                          : hop + blockCompute - hop / (1 + slowdown);
  return blockCompute + (p - 1) * step;
}

} // namespace fresco::planner
