//===- StaleGather.cpp - Blocks of the previous run (DistriFusion) --------===//
//
// Placeholder while the runtime side is written: plans holding the op are
// refused at load with a message saying so.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/ops/OpBind.h"

namespace fresco {

void verifyStaleGather(const OpCheck &c) {
  c.need(false, "StaleGather (patch=P) is not implemented in this runtime yet");
}

Step bindStaleGather(OpBind &) {
  throw Error("StaleGather (patch=P) is not implemented in this runtime yet");
}

} // namespace fresco
