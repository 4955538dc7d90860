//===- Profile.cpp - fresco-run: the --profile table ----------------------===//
#include "tools/fresco-run/Profile.h"

#include <cstdio>

namespace fresco::run {

void printProfile(const Executor &exec, const char *prefix,
                  const std::string &what) {
  double total = 0;
  for (const auto &[op, p] : exec.profile())
    total += p.seconds;
  std::fprintf(stderr, "%sfresco-run: profile over %s:\n", prefix,
               what.c_str());
  for (const auto &[op, p] : exec.profile())
    std::fprintf(stderr, "%s  %-18s %8.4f s %5.1f%% %6lld calls\n", prefix,
                 op.c_str(), p.seconds,
                 total > 0 ? 100 * p.seconds / total : 0.0, (long long)p.calls);
}

} // namespace fresco::run
