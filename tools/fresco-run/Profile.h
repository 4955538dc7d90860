//===- Profile.h - fresco-run: the --profile table --------------*- C++ -*-===//
#ifndef FRESCO_TOOLS_FRESCO_RUN_PROFILE_H
#define FRESCO_TOOLS_FRESCO_RUN_PROFILE_H

#include "runtime/core/Executor.h"

#include <string>

namespace fresco::run {

/// Prints "<prefix>fresco-run: profile over <what>:" and one line per op
/// kind (seconds, share of the total, calls) on stderr.
void printProfile(const Executor &exec, const char *prefix,
                  const std::string &what);

} // namespace fresco::run

#endif // FRESCO_TOOLS_FRESCO_RUN_PROFILE_H
