//===- StaleGather.cpp - Blocks of the previous run (DistriFusion) --------===//
//
// patch=P (DistriFusion, Li et al., CVPR 2024): attention's keys and values
// are split over the members by tokens; each member computes its own block
// fresh and reads the others' from their previous run of the function (the
// previous denoising step), so that the exchange can travel while the step
// computes. The result Y is the members' blocks concatenated along `dim` in
// member order, as AllGather's.
//
// The instruction keeps, in backend memory for the executor's lifetime and
// zeroed at bind, S: the members' latest blocks ([P][block], member order),
// and G: a staging copy of this member's block X.
//  - fresh run: S := every member's X of this run (a blocking gather);
//    Y := S.
//  - stale run: G := X; Y := S (the previous run's) with this member's
//    block taken from G; then S := every member's G. Where the
//    communicator works on the backend's memory (NCCL; Gloo on host memory)
//    that exchange is started here and completed by a step after the
//    function's last instruction (OpBind::atEnd), so that later
//    instructions overlap it (NCCL's stream, Gloo's communication thread);
//    staged through the host (device memory, Gloo) it is a blocking
//    gatherBlocks.
// Either way S holds this run's blocks when the function returns, for the
// next stale run. G is written before Y, so that a result placed over its
// operand is still right.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/CheckedMath.h"
#include "runtime/core/ops/CommPaths.h"

namespace fresco {

void verifyStaleGather(const OpCheck &c) {
  auto *a = c.attrs<plan::CollectiveAttrs>();
  c.members(a->members(), "StaleGather group");
  const int64_t parts = int64_t(a->members()->size());
  c.need(parts >= 2, "a StaleGather group needs at least 2 members, got ",
         parts);
  const ValueInfo &x = c.ops[0];
  c.need(c.res[0].dtype == x.dtype, "result is ", dtypeName(c.res[0].dtype),
         " but its operand ", dtypeName(x.dtype));
  const int64_t dim = a->dim();
  c.need(dim >= 0 && dim < int64_t(x.shape.size()), "gather dimension ", dim,
         " out of range for an operand of rank ", x.shape.size());
  const std::optional<int64_t> n = checkedMul(x.shape[size_t(dim)], parts);
  c.need(n.has_value(), "dimension ", dim, " of ", x.shape[size_t(dim)],
         " times ", parts, " members does not fit in 64 bits");
  Shape want = x.shape;
  want[size_t(dim)] = *n;
  c.shape(c.res[0], want, "result");
}

Step bindStaleGather(OpBind &bind) {
  auto *a = bind.attrs<plan::CollectiveAttrs>();
  Communicator &comm = bind.group(a->members());
  check(bind.mode != nullptr, bind.where,
        " (StaleGather): bound without the executor's run mode");
  const Ref &x = bind.ops[0], &y = bind.res[0];
  const int64_t dim = a->dim();
  const size_t es = x.es;
  const size_t bytes = size_t(x.numel()) * es;
  const int64_t parts = comm.size(), own = comm.rank();
  // Y is [outer, parts * inner]: block p fills columns [p inner, +inner).
  const BlockLayout layout = blockLayout(x.shape, dim);
  const int64_t outer = layout.outer, inner = layout.inner;
  Backend *b = &bind.be;
  // Started (NCCL's stream, Gloo's communication thread): the stale
  // exchange may overlap the rest of the function, completed after its last
  // instruction.
  const bool overlap = direct(bind.be, comm);
  std::shared_ptr<StartedCall> call =
      overlap ? StartedCall::in(bind) : std::make_shared<StartedCall>();
  // [S: parts blocks | G], released with the step (the executor's); a
  // gather still in flight (a run that failed before atEnd) is waited for
  // first, as it writes there.
  const size_t total = bytes * size_t(parts + 1);
  std::shared_ptr<uint8_t> state(static_cast<uint8_t *>(b->allocate(total)),
                                 [b, call](uint8_t *p) {
                                   call->drop();
                                   b->release(p);
                                 });
  b->fillZero(state.get(), total);
  bind.persistentBytes = total;
  uint8_t *blocks = state.get(), *staging = blocks + bytes * size_t(parts);
  const auto *src = static_cast<const uint8_t *>(x.ptr);
  auto *dst = static_cast<uint8_t *>(y.ptr);
  auto place = [=](const uint8_t *from, int64_t p) {
    placeBlock(*b, from, dst, p, parts, outer, inner, es);
  };
  auto copyBytes = [=](const void *from, void *to, size_t n) {
    b->copyStrided(from, int64_t(n), to, int64_t(n), 1, int64_t(n), 1);
  };
  // Blocking on every path: the communicator's own gather on a direct
  // path, through host staging otherwise.
  GatherStep gather = gatherBlocks(bind, comm, bytes);
  Communicator *c = &comm;
  if (overlap)
    bind.atEnd = [call] { call->finish(); };
  std::shared_ptr<const RunMode> mode = bind.mode;
  return [=] {
    (void)state; // held for the executor's lifetime
    if (*mode == RunMode::Fresh) {
      gather(src, blocks);
      if (outer == 1) // dim 0: the blocks are Y as they lie
        copyBytes(blocks, dst, bytes * size_t(parts));
      else
        for (int64_t p = 0; p < parts; ++p)
          place(blocks + size_t(p) * bytes, p);
      return;
    }
    copyBytes(src, staging, bytes);
    for (int64_t p = 0; p < parts; ++p)
      place(p == own ? staging : blocks + size_t(p) * bytes, p);
    if (overlap)
      call->started(c->startAllGather(staging, blocks, bytes));
    else
      gather(staging, blocks);
  };
}

} // namespace fresco
