//===- RunMode.h - Fresh and stale runs of a function -----------*- C++ -*-===//
//
// Plan version 15 (patch=P, DistriFusion): a StaleGather's result depends on
// how its function is run. A fresh run gathers every member's block of this
// run; a stale run keeps this member's block of this run and takes the
// others' from their previous run of the function. Functions without a
// StaleGather run the same either way.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_RUNMODE_H
#define FRESCO_RUNTIME_CORE_RUNMODE_H

namespace fresco {

enum class RunMode { Fresh, Stale };

inline const char *runModeName(RunMode m) {
  return m == RunMode::Fresh ? "fresh" : "stale";
}

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_RUNMODE_H
