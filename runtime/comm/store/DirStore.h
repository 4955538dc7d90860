//===- DirStore.h - A rendezvous store in a shared folder -------*- C++ -*-===//
#ifndef FRESCO_RUNTIME_COMM_STORE_DIRSTORE_H
#define FRESCO_RUNTIME_COMM_STORE_DIRSTORE_H

#include "runtime/comm/store/KVStore.h"

namespace fresco {

/// One file per key in `dir` (created if missing), shared by the ranks of
/// one node; values appear atomically (written, then renamed). Throws
/// fresco::Error when the folder cannot be created.
std::shared_ptr<KVStore> openDirStore(const std::string &dir,
                                      std::chrono::milliseconds timeout);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_STORE_DIRSTORE_H
