//===- OpBind.h - Binding one verified instruction to a backend -*- C++ -*-===//
//
// The executor turns each instruction into one step: a closure over fixed
// pointers and sizes calling the backend (bind<Kernel>, one per Kernel
// column of runtime/schema/Ops.def, in the op's family file). The plan was
// verified at load, so binding works sizes out and checks nothing but what
// depends on this run (its communicators).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_OPS_OPBIND_H
#define FRESCO_RUNTIME_CORE_OPS_OPBIND_H

#include "runtime/core/Backend.h"
#include "runtime/core/GroupResolver.h"
#include "runtime/core/PatchCacheState.h"
#include "runtime/core/RunMode.h"
#include "runtime/core/ScratchArena.h"
#include "runtime/core/ops/OpCheck.h"

#include <functional>
#include <memory>

namespace fresco {

class Communicator;
using Step = std::function<void()>;

/// A value resolved to memory, with its shape and dtype, and the size of
/// its elements in memory: a float tensor's is that of the backend's float
/// storage (2 under bf16/f16), but for the few pinned to f32.
struct Ref {
  void *ptr;
  DType dtype;
  Shape shape;
  size_t es;
  int64_t numel() const { return numElements(shape); }
  float *f32() const { return static_cast<float *>(ptr); }
};

/// One instruction being bound.
struct OpBind {
  const plan::Instr &in;
  std::vector<Ref> ops, res;
  Backend &be;
  std::string where;
  const GroupResolver &groups;
  int rank;
  std::shared_ptr<ScratchArena> scratch;

  /// Set by the executor before binding an asynchronous all_to_all or
  /// all_gather (CollectiveAttrs.async_start): on a direct path (no host
  /// staging) it is then bound as two steps, the returned one starting it
  /// with its buffers in `asyncRegion` (nothing else uses them until its
  /// Wait), `finish` waiting for it and unpacking its result.
  std::shared_ptr<ScratchArena> asyncRegion;
  Step finish;
  /// For a Wait: the `finish` of the collective it completes (empty when
  /// that one ran in place).
  Step awaited;
  /// The communicator the instruction talks through; null for a kernel.
  Communicator *comm = nullptr;
  /// Its row (set by OpRegistry::bind).
  const OpInfo *op = nullptr;
  /// An FP8 linear's weight, quantized by the executor as it uploaded the
  /// weights (null: the binder quantizes operand 1 itself).
  std::shared_ptr<const Fp8Weight> fp8Weight = nullptr;
  /// Set by a Slice or Concat binder: bytes already where the result wants
  /// them (fresco-assign-buffers placed them so), whose copy it skips, and
  /// whether that leaves it nothing to do (its step is then a no-op, kept so
  /// that profiles and traces still show every instruction).
  uint64_t bytesInPlace = 0;
  bool allInPlace = false;
  /// The mode of the run in progress (RunMode.h), set by the executor
  /// before each run; a StaleGather step reads it when it executes.
  std::shared_ptr<const RunMode> mode = nullptr;
  /// Set by a StaleGather binder: a step the executor issues after the
  /// function's last instruction (the exchange it started completes
  /// there), and the bytes of backend memory it keeps between runs.
  Step atEnd = nullptr;
  uint64_t persistentBytes = 0;
  /// Set by a binder that starts a call completed by a later step (its
  /// Wait, atEnd): drops the handle, which waits for the call (its failure
  /// dropped). The executor runs it after a run that failed in between, so
  /// that the next run does not reuse the call's buffers under it.
  Step abandon = nullptr;
  /// The executor's PipeFusion caches, shared by its functions.
  std::shared_ptr<PatchCaches> caches = nullptr;

  const char *opName() const {
    return op ? op->name : plan::EnumNameOpCode(in.op());
  }
  /// Fails: the row names `family`, whose binder has no case for it.
  [[noreturn]] void notInFamily(const char *family) const;

  template <typename T> const T *attrs() const { return in.attrs_as<T>(); }
  /// The communicator of a verified member list (sets `comm`).
  Communicator &group(const flatbuffers::Vector<int32_t> *members);
};

/// The step of a verified instruction (OpRegistry::global().bind).
Step bindInstr(OpBind &b);

// The ops' binders, one per Kernel column of Ops.def.
#define FRESCO_OP(Name, Attrs, Use, MinOps, MaxOps, MinRes, MaxRes, DTypes,    \
                  Kernel)                                                      \
  Step bind##Kernel(OpBind &b);
#include "runtime/schema/Ops.def"

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_OPS_OPBIND_H
