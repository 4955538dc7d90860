//===- GroupResolver.h - Communicators for collective groups ----*- C++ -*-===//
#ifndef FRESCO_RUNTIME_CORE_GROUPRESOLVER_H
#define FRESCO_RUNTIME_CORE_GROUPRESOLVER_H

#include <functional>
#include <vector>

namespace fresco {

class Communicator;

/// Returns the communicator over `members` (world ranks, in group order),
/// creating it on first use. Collective instructions bind through it.
using GroupResolver =
    std::function<Communicator &(const std::vector<int> &members)>;

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_GROUPRESOLVER_H
