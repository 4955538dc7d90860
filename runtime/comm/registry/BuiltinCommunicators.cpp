//===- BuiltinCommunicators.cpp - The communicators of this build ---------===//
//
// nccl, gloo and gloo-direct, in the order --help lists them. nccl is known
// in every build; where it is not built, it says so when asked for.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/gloo/GlooDirect.h"
#include "runtime/comm/registry/CommunicatorRegistry.h"
#ifdef FRESCO_HAVE_NCCL
#include "runtime/comm/nccl/NcclCommunicator.h"
#endif

namespace fresco {

void registerBuiltinCommunicators(CommunicatorRegistry &registry) {
  CommunicatorEntry nccl;
  nccl.name = "nccl";
  nccl.summary = "NCCL between ranks on distinct GPUs";
  nccl.deviceNative = true;
  nccl.create = [](std::unique_ptr<Communicator> &gloo, Backend &backend,
                   std::chrono::milliseconds timeout,
                   std::string *why) -> std::unique_ptr<Communicator> {
#ifdef FRESCO_HAVE_NCCL
    return createNcclCommunicator(std::move(gloo), backend, timeout, why);
#else
    (void)gloo, (void)backend, (void)timeout;
    *why = "this build has no NCCL communicator";
    return nullptr;
#endif
  };
  registry.add(std::move(nccl));

  CommunicatorEntry gloo;
  gloo.name = "gloo";
  gloo.summary = "Gloo over TCP, staged through host buffers";
  gloo.create = [](std::unique_ptr<Communicator> &group, Backend &,
                   std::chrono::milliseconds,
                   std::string *) { return std::move(group); };
  registry.add(std::move(gloo));

  CommunicatorEntry direct;
  direct.name = "gloo-direct";
  direct.summary = "a test aid: Gloo on the backend's own memory, as NCCL "
                   "is handed it";
  direct.needsHostAddressable = true;
  direct.create = [](std::unique_ptr<Communicator> &group, Backend &,
                     std::chrono::milliseconds, std::string *) {
    return createGlooDirect(std::move(group));
  };
  registry.add(std::move(direct));
}

} // namespace fresco
