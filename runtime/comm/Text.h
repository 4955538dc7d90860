//===- Text.h - Durations and rank lists in comm messages ------*- C++ -*-===//
//
// Shared by the stores, the failure board and the communicators so that
// every message says "2.50 s" and "ranks 0, 1" the same way.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_COMM_TEXT_H
#define FRESCO_RUNTIME_COMM_TEXT_H

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

namespace fresco::comm {

/// "2.50 s".
inline std::string seconds(std::chrono::steady_clock::duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f s",
                std::chrono::duration<double>(d).count());
  return buf;
}
inline std::string seconds(std::chrono::milliseconds d) {
  return seconds(std::chrono::steady_clock::duration(d));
}

/// "0, 1, 3".
inline std::string joinRanks(const std::vector<int> &ranks) {
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

} // namespace fresco::comm

#endif // FRESCO_RUNTIME_COMM_TEXT_H
