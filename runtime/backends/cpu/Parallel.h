//===- Parallel.h - OpenMP and OpenBLAS threading helpers -------*- C++ -*-===//
//
// The CPU kernels use two thread pools: OpenMP for their own loops and
// OpenBLAS's pthreads inside cblas_sgemm. These helpers keep the two from
// oversubscribing the cores and keep small loops single-threaded.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CPU_PARALLEL_H
#define FRESCO_RUNTIME_BACKENDS_CPU_PARALLEL_H

#include "runtime/core/Error.h"

#include <cblas.h>
#include <omp.h>

#include <climits>
#include <cstdint>

namespace fresco {
namespace cpu {

/// Below this many elements a memory-bound loop finishes before waking more
/// threads would pay off.
constexpr int64_t kParallelMinElems = 16384;

/// True when a memory-bound loop over `n` elements should use OpenMP.
inline bool worthParallel(int64_t n) {
  return n >= kParallelMinElems && omp_get_max_threads() > 1;
}

/// Narrows a dimension to BLAS's 32-bit integer, failing loudly instead of
/// wrapping when a tensor is too large for the LP64 interface.
inline blasint toBlasInt(int64_t v, const char *what) {
  check(v >= 0 && v <= INT_MAX, "cpu backend: ", what, " = ", v,
        " does not fit the BLAS interface");
  return static_cast<blasint>(v);
}

/// Makes OpenBLAS single-threaded while alive. Used around every sgemm
/// call: OpenMP threads call cblas_sgemm concurrently, and the pthread build
/// of OpenBLAS does not notice it is nested and would start its own threads
/// on top. The backend already sets one thread at creation, so this only
/// acts if something else in the process raised the count since.
class SerialBlasScope {
public:
  SerialBlasScope() : saved_(openblas_get_num_threads()) {
    if (saved_ != 1)
      openblas_set_num_threads(1);
  }
  ~SerialBlasScope() {
    if (saved_ != 1)
      openblas_set_num_threads(saved_);
  }
  SerialBlasScope(const SerialBlasScope &) = delete;
  SerialBlasScope &operator=(const SerialBlasScope &) = delete;

private:
  int saved_;
};

} // namespace cpu
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CPU_PARALLEL_H
