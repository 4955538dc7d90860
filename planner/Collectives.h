//===- Collectives.h - Alpha-beta times of collectives ----------*- C++ -*-===//
//
// Seconds of one collective over P ranks on one link class (latency a,
// bandwidth b per direction per rank), with the algorithms NCCL picks
// between: a ring (bandwidth-optimal: every byte crosses each rank's link
// (P-1)/P times per phase) and, for all_reduce and broadcast, a tree
// (log2 P latency steps, each rank's link carrying the whole message).
// `bytes` is the tensor the collective produces on one rank (all_reduce,
// all_gather, broadcast) or its operand (all_to_all, reduce_scatter, send).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_PLANNER_COLLECTIVES_H
#define FRESCO_PLANNER_COLLECTIVES_H

#include "planner/Topology.h"

namespace fresco::planner {

/// Reduce-scatter then all-gather around a ring: 2 (P-1) messages of n/P.
double ringAllReduce(double bytes, int p, const Link &l);
/// A double binary tree: reduce up and broadcast down, pipelined, so each
/// direction costs ceil(log2 P) latencies and n / b.
double treeAllReduce(double bytes, int p, const Link &l);
/// The cheaper of the two (NCCL's tuner picks by size the same way).
double allReduce(double bytes, int p, const Link &l);
/// Ring all-gather of a result of n bytes: P-1 messages of n/P.
double allGather(double bytes, int p, const Link &l);
/// Ring reduce-scatter of an n-byte operand: P-1 messages of n/P, the
/// first half of the ring all-reduce of the operand.
double reduceScatter(double bytes, int p, const Link &l);
/// Pairwise exchange of an n-byte operand: P-1 messages of n/P.
double allToAll(double bytes, int p, const Link &l);
/// Pipelined ring or tree from the root, whichever is cheaper.
double broadcast(double bytes, int p, const Link &l);
/// One message.
double sendRecv(double bytes, const Link &l);
/// Ring attention: P blocks of `blockCompute` seconds; the P-1 hops each
/// send this rank's key and value blocks (`hopBytes`) while the previous
/// block is computed, so a hop costs the slower of the two, the block
/// taking (1 + slowdown) times as long while the hop runs.
double ringAttention(double blockCompute, double hopBytes, int p, const Link &l,
                     double slowdown = 0);

} // namespace fresco::planner

#endif // FRESCO_PLANNER_COLLECTIVES_H
