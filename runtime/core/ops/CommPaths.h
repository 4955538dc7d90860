//===- CommPaths.h - Backend memory through a communicator ----*- C++ -*-===//
//
// What the collective binders (Collectives.cpp, Halo.cpp, the split group
// norm in Norm.cpp) share: whether a backend's memory can go to a
// communicator as it is, a contiguous all_gather on the three memory paths,
// and the tags the runtime keeps for itself.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_OPS_COMMPATHS_H
#define FRESCO_RUNTIME_CORE_OPS_COMMPATHS_H

#include "runtime/core/ops/OpBind.h"

#include <climits>
#include <cstdint>
#include <functional>

namespace fresco {

/// The sendRecv tags of a Halo's two ring shifts (Halo.cpp). Send/Recv tags
/// come from the plan (fresco-specialize-ranks counts them up from 0) and
/// ring attention's hops use 0, so the Halo takes the two largest int32
/// values and the PointToPoint rule refuses them to plans: a Halo's
/// messages cannot be matched with another instruction's on any group.
constexpr int kHaloTagDown = INT_MAX - 1; // block's last rows to member i+1
constexpr int kHaloTagUp = INT_MAX;       // block's first rows to member i-1
constexpr int kFirstReservedTag = kHaloTagDown;

/// Whether the backend's memory can go to `comm` without host staging: it
/// is host memory, or the communicator works on device memory (NCCL).
bool direct(const Backend &be, const Communicator &comm);

/// The wait of a call one step starts and a later step completes (its
/// Wait's finish, or atEnd). Made for a binder, it sets the binder's
/// `abandon` to drop() it, which the executor runs after a failed run.
class StartedCall {
public:
  static std::shared_ptr<StartedCall> in(OpBind &bind) {
    auto call = std::make_shared<StartedCall>();
    bind.abandon = [call] { call->drop(); };
    return call;
  }
  void started(std::function<void()> wait) { wait_ = std::move(wait); }
  /// Waits for the call (rethrowing its failure); nothing if none is on.
  void finish() {
    std::function<void()> wait = std::move(wait_);
    wait_ = nullptr;
    if (wait)
      wait();
  }
  /// Lets the call go: its handle waits for it, its failure dropped.
  void drop() { wait_ = nullptr; }

private:
  std::function<void()> wait_;
};

/// The gather of `bytes` per member: (src, dst) with src `bytes` of backend
/// memory, dst `bytes * comm.size()` (members' blocks in member order),
/// neither overlapping. On a direct path the communicator reads and writes
/// them as they are; otherwise through host staging reserved in
/// `b.scratch` now (its host buffer: the caller may use the backend one).
using GatherStep = std::function<void(const void *src, void *dst)>;
GatherStep gatherBlocks(OpBind &b, Communicator &comm, size_t bytes);

/// A block of `shape` gathered along `dim` is [outer, inner] elements
/// (outer: the dimensions before `dim`; inner: `dim` and after), and the
/// whole [outer, parts * inner], block p in columns [p inner, +inner).
struct BlockLayout {
  int64_t outer = 1, inner = 1;
};
BlockLayout blockLayout(const Shape &shape, int64_t dim);

/// A gather along an inner dimension: member p's block ([outer, inner]
/// elements of `es` bytes, contiguous) into its columns of dst ([outer,
/// parts * inner]).
void placeBlock(Backend &be, const void *block, void *dst, int64_t p,
                int64_t parts, int64_t outer, int64_t inner, size_t es);

/// A strided copy of `rows` rows of `n` elements: (src, its row stride, dst,
/// its row stride, rows, n), strides and n in elements. The collectives that
/// pack blocks member-major (AllToAll, ReduceScatter) take one on backend
/// memory or on host staging.
using RowCopy = std::function<void(const void *, int64_t, void *, int64_t,
                                   int64_t, int64_t)>;
/// Through the backend's strided copy, elements of `es` bytes.
RowCopy backendRowCopy(Backend &be, size_t es);
/// On host memory, elements of `es` bytes.
RowCopy hostRowCopy(size_t es);

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_OPS_COMMPATHS_H
