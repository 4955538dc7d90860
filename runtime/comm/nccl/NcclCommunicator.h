//===- NcclCommunicator.h - Collectives between GPUs with NCCL --*- C++ -*-===//
//
// One rank per GPU. The NCCL communicator works on device memory of a CUDA
// backend and queues every call on that backend's stream, in order with its
// kernels (usesDeviceMemory() is true). It is bootstrapped over a Gloo
// communicator with the same members, which carries NCCL's unique id and
// later names a failed peer. This header needs no CUDA or NCCL header; it
// exists only in builds with the CUDA backend (FRESCO_HAVE_CUDA).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_NCCL_NCCLCOMMUNICATOR_H
#define FRESCO_RUNTIME_COMM_NCCL_NCCLCOMMUNICATOR_H

#include "runtime/comm/Communicator.h"
#include "runtime/comm/gloo/GlooCommunicator.h"
#include "runtime/core/Backend.h"

#include <chrono>
#include <memory>
#include <string>

namespace fresco {

/// NCCL over the members of `bootstrap` (a Gloo communicator), each on the
/// GPU of its `cudaBackend`. Collective over the members. Returns null, with
/// the reason in `why`, when NCCL cannot serve them, the same answer on
/// every member: libnccl cannot be loaded on one of them, or two members
/// share a GPU (NCCL refuses that; stage through the host with Gloo
/// instead). Throws fresco::Error when NCCL fails to start.
///
/// Failures: a watchdog thread watches every queued call; one that has not
/// finished within `timeout`, or an asynchronous NCCL error, aborts the
/// NCCL communicator and ends the process with a message naming the
/// operation and, through Gloo, the peer that is gone. A GPU stream stuck
/// in a collective cannot be recovered in-process.
std::unique_ptr<Communicator>
createNcclCommunicator(std::unique_ptr<Communicator> bootstrap,
                       Backend &cudaBackend, std::chrono::milliseconds timeout,
                       std::string *why);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_NCCL_NCCLCOMMUNICATOR_H
