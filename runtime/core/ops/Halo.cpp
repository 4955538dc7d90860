//===- Halo.cpp - Halo exchange between neighbouring ranks ----------------===//
//
// A convolution over rows split across ranks reads rows of its neighbours'
// blocks: the Halo instruction fills them in place (CollectiveAttrs.halo_lo,
// halo_hi). Not implemented yet: a plan that has one is refused at load.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/ops/OpBind.h"

namespace fresco {

void verifyHalo(const OpCheck &c) {
  c.need(false, "Halo exchange is not implemented by this runtime yet");
}

Step bindHalo(OpBind &b) {
  (void)b;
  fail("Halo exchange is not implemented by this runtime yet");
}

} // namespace fresco
