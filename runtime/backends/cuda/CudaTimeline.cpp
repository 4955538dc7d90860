//===- CudaTimeline.cpp - profiling marks as CUDA events ------------------===//
//
// Each mark records an event on the backend's stream without waiting, so a
// profiled run is issued as an unprofiled one is (step by step, no graph)
// and each step's time is the device's, between the events around it:
// its kernels, plus any idle time while the host was still launching
// them. The events are kept and reused from run to run.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaBackendImpl.h"

#include <cmath>

namespace fresco::cudabackend {
namespace {

class CudaTimeline final : public Timeline {
public:
  explicit CudaTimeline(cudaStream_t stream) : stream_(stream) {}
  ~CudaTimeline() override {
    for (cudaEvent_t e : events_)
      cudaEventDestroy(e);
  }
  void clear() override { used_ = 0; }
  void mark() override {
    if (used_ == events_.size()) {
      cudaEvent_t e = nullptr;
      cuda::checkCuda(cudaEventCreate(&e), "cudaEventCreate (profiling)");
      events_.push_back(e);
    }
    cuda::checkCuda(cudaEventRecord(events_[used_++], stream_),
                    "cudaEventRecord (profiling)");
  }
  std::vector<int64_t> read() override {
    std::vector<int64_t> ns;
    if (used_ == 0)
      return ns;
    cuda::checkCuda(cudaEventSynchronize(events_[used_ - 1]),
                    "a kernel (set FRESCO_CUDA_SYNC=1 to name it)");
    for (size_t i = 0; i < used_; ++i) {
      float ms = 0; // resolution about half a microsecond
      cuda::checkCuda(cudaEventElapsedTime(&ms, events_[0], events_[i]),
                      "cudaEventElapsedTime (profiling)");
      ns.push_back(int64_t(std::llround(double(ms) * 1e6)));
    }
    return ns;
  }

private:
  cudaStream_t stream_;
  std::vector<cudaEvent_t> events_;
  size_t used_ = 0;
};

} // namespace

std::unique_ptr<Timeline> CudaBackend::timeline() {
  return std::make_unique<CudaTimeline>(stream_);
}

} // namespace fresco::cudabackend
