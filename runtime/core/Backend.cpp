//===- Backend.cpp - The Backend interface's default methods --------------===//
//
// Here rather than inline: the class's key function, so its vtable and
// type info live in fresco_core with the interface.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Backend.h"

#include <sys/sysinfo.h>

namespace fresco {

uint64_t Backend::memoryCapacity() const {
  struct sysinfo info {};
  if (sysinfo(&info) != 0)
    return UINT64_MAX; // unknown: let allocate() decide
  return (uint64_t(info.totalram) + uint64_t(info.totalswap)) * info.mem_unit;
}

} // namespace fresco
