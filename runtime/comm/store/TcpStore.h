//===- TcpStore.h - A rendezvous store served by rank 0 ---------*- C++ -*-===//
#ifndef FRESCO_RUNTIME_COMM_STORE_TCPSTORE_H
#define FRESCO_RUNTIME_COMM_STORE_TCPSTORE_H

#include "runtime/comm/store/KVStore.h"

namespace fresco {

/// The store of a tcp:<host>:<port> rendezvous (Debian's Gloo has no
/// TCPStore). With `serve` (rank 0) it keeps the map and serves it on
/// `port`; otherwise it connects to host:port, retrying until `timeout`.
/// Every request is bounded by `timeout`. Throws fresco::Error naming the
/// address when the port cannot be served or reached.
std::shared_ptr<KVStore> openTcpStore(const std::string &host, int port,
                                      bool serve,
                                      std::chrono::milliseconds timeout);

} // namespace fresco

#endif // FRESCO_RUNTIME_COMM_STORE_TCPSTORE_H
