//===- Profile.h - fresco-run's profile tables and traces -------*- C++ -*-===//
//
// The executor times every step of every run while profiling; each
// function's first run on a rank (the warm-up) holds one-time setup
// (cuDNN plans, cuBLASLt heuristics, scratch buffers, connections) that
// later runs do not pay, so it is reported apart from the others.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TOOLS_FRESCO_RUN_PROFILE_H
#define FRESCO_TOOLS_FRESCO_RUN_PROFILE_H

#include "runtime/core/Executor.h"

#include <string>

namespace fresco::run {

/// Prints on stderr, each line after `prefix`: the runs after each
/// function's first (per op kind, then per op and shape sorted by total
/// time), then the first runs alike, in a section of their own.
void printProfile(const Executor &exec, const char *prefix);

/// The trace file of `rank`: `path` itself for a single-rank run, else
/// its stem gets "-rank<R>" (trace.json -> trace-rank1.json).
std::string tracePath(const std::string &path, int rank, int worldSize);

/// Writes the profiled runs as Chrome trace event JSON (Perfetto and
/// chrome://tracing open it): "X" events, one per step and one per run,
/// pid the rank, tid 0 (the steps in issue order); ts and dur in
/// microseconds on the host's steady clock. Throws fresco::Error when the
/// file cannot be written.
void writeTrace(const std::string &path, const Executor &exec, int rank,
                int worldSize, const std::string &backend,
                const std::string &plan);

/// The trace file this rank writes for `--profile-trace option` (""
/// without the option), checked writable before anything runs.
std::string checkedTracePath(const std::string &option, int rank,
                             int worldSize);

/// With --stats, after the runs (libraries load on first use: cuDNN on
/// CUDA): the libraries the backend loaded, if it names any.
void printLibraries(Backend &backend, const char *prefix);

/// --stats' weights field: "weights N bytes" (read from the checkpoint),
/// and what FP8 linears released after quantizing their weights.
std::string weightStats(const Executor &exec, const WeightStore &weights);
/// "arena N bytes", and the bytes in-place slices and concatenations do not
/// copy per run of every function, where there are any.
std::string arenaStats(const Executor &exec);

/// After the runs: the profile tables with --profile, and the trace when
/// `trace` is not empty.
void reportProfile(const Executor &exec, const char *prefix, bool profile,
                   const std::string &trace, int rank, int worldSize,
                   const std::string &backend, const std::string &plan);

} // namespace fresco::run

#endif // FRESCO_TOOLS_FRESCO_RUN_PROFILE_H
