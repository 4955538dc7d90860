//===- GlooDirect.h - Gloo handed a device backend's memory -----*- C++ -*-===//
#ifndef FRESCO_RUNTIME_COMM_GLOO_GLOODIRECT_H
#define FRESCO_RUNTIME_COMM_GLOO_GLOODIRECT_H

#include "runtime/comm/Communicator.h"

#include <memory>

namespace fresco {

/// `inner` (a Gloo communicator) presented as one that works on a device
/// backend's memory (usesDeviceMemory()), as NCCL does: right only where
/// that memory is host memory behind a device backend's contract
/// (cpu-staged), so the executor's NCCL path is tested without GPUs. Its
/// asynchronous all_to_all, all_gather and all_reduce run when waited for,
/// not when started: the latest an asynchronous collective may read and write
/// its buffers, so that a step touching them in between (the executor's bug,
/// not NCCL's luck) changes the result where the tests compare it.
std::unique_ptr<Communicator>
createGlooDirect(std::unique_ptr<Communicator> inner);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_GLOO_GLOODIRECT_H
