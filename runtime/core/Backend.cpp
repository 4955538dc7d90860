//===- Backend.cpp - The Backend interface's default methods --------------===//
//
// Here rather than inline: the class's key function, so its vtable and
// type info live in fresco_core with the interface.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Backend.h"

#include <chrono>

#include <sys/sysinfo.h>

namespace fresco {

namespace {

/// Waits for the kernels at every mark and reads the host clock: a step's
/// time is then its kernels' and its launch's.
class HostTimeline final : public Timeline {
public:
  explicit HostTimeline(Backend &be) : be_(be) {}
  void clear() override { marks_.clear(); }
  void mark() override {
    be_.synchronize();
    marks_.push_back(std::chrono::steady_clock::now());
  }
  std::vector<int64_t> read() override {
    std::vector<int64_t> ns;
    for (const auto &m : marks_)
      ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(
                       m - marks_.front())
                       .count());
    return ns;
  }

private:
  Backend &be_;
  std::vector<std::chrono::steady_clock::time_point> marks_;
};

} // namespace

std::unique_ptr<Timeline> Backend::timeline() {
  return std::make_unique<HostTimeline>(*this);
}

uint64_t Backend::memoryCapacity() const {
  struct sysinfo info {};
  if (sysinfo(&info) != 0)
    return UINT64_MAX; // unknown: let allocate() decide
  return (uint64_t(info.totalram) + uint64_t(info.totalswap)) * info.mem_unit;
}

} // namespace fresco
