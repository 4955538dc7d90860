//===- Halo.cpp - Halo exchange between neighbouring ranks ----------------===//
//
// A convolution over rows split across ranks reads rows of its neighbours'
// blocks: the Halo instruction fills them in (CollectiveAttrs.halo_lo,
// halo_hi). Along `dim` the operand holds halo_lo rows of halo, this
// member's block of n rows, then halo_hi rows of halo. Two shifts along
// the chain of members: the block's last halo_lo rows go to member i+1,
// which puts them in its top halo, then its first halo_hi rows go to member
// i-1, into its bottom halo. A middle member sends and receives at once
// (Communicator::sendRecv, both posted before either is waited on), the
// first member only sends down and the last only receives (and the other
// way up), so no member waits on another forever and nothing travels that
// is not used: the first member keeps its top halo and the last its bottom
// halo as the operand has them (a Pad's zeros). A slab of rows is `outer` runs
// of rows * inner elements, L * inner apart, packed into contiguous staging
// before it is sent.
//
// valid_rows (a UNet's rows padded to split evenly): after the exchange the
// rows whose global index is valid_rows or later are zeroed, the padding a
// convolution must read as zeros; member i's row j is global row
// i n - halo_lo + j. They are a run of trailing rows of each of the `outer`
// runs: one fillZero where that is all of the buffer, else a zeroed scratch
// slab copied in with one strided copy, both ordered with the exchange.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/ops/CommPaths.h"

#include <algorithm>

namespace fresco {

void verifyHalo(const OpCheck &c) {
  auto *a = c.attrs<plan::CollectiveAttrs>();
  c.members(a->members(), "Halo group");
  c.need(a->members()->size() >= 2,
         "a Halo group needs at least 2 members, got ", a->members()->size());
  const ValueInfo &x = c.ops[0];
  c.need(c.res[0].dtype == x.dtype, "result is ", dtypeName(c.res[0].dtype),
         " but its operand ", dtypeName(x.dtype));
  c.shape(c.res[0], x.shape, "result");
  const int64_t dim = a->dim(), lo = a->halo_lo(), hi = a->halo_hi();
  c.need(dim >= 0 && dim < int64_t(x.shape.size()), "halo dimension ", dim,
         " out of range for an operand of rank ", x.shape.size());
  c.need(lo >= 0 && hi >= 0, "halo rows must not be negative (halo_lo ", lo,
         ", halo_hi ", hi, ")");
  c.need(lo > 0 || hi > 0, "halo_lo and halo_hi are both 0: nothing to "
                           "exchange");
  // (Each halo within the dimension first: the difference cannot wrap.)
  c.need(lo <= x.shape[dim] && hi <= x.shape[dim], "halos of ", lo, " and ", hi,
         " rows exceed dimension ", dim, "'s ", x.shape[dim]);
  c.need(a->valid_rows() >= 0, "valid_rows must not be negative, got ",
         a->valid_rows());
  const int64_t n = x.shape[dim] - lo - hi;
  c.need(n >= std::max(lo, hi), "the block along dimension ", dim, " has ", n,
         " rows (", x.shape[dim], " less halos of ", lo, " and ", hi,
         "), fewer than the halo rows its neighbours take from it");
  // (The members' blocks make the whole tensor: more real rows than it has
  // is no padding the compiler wrote.)
  const int64_t whole = n * int64_t(a->members()->size());
  c.need(a->valid_rows() <= whole, "valid_rows ", a->valid_rows(),
         " exceeds the ", whole, " rows of the ", a->members()->size(),
         " members' blocks");
}

Step bindHalo(OpBind &bind) {
  auto *a = bind.attrs<plan::CollectiveAttrs>();
  Communicator &comm = bind.group(a->members());
  const Ref &x = bind.ops[0], &y = bind.res[0];
  const int64_t dim = a->dim(), lo = a->halo_lo(), hi = a->halo_hi();
  const int64_t L = x.shape[dim], n = L - lo - hi;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d)
    outer *= x.shape[d];
  for (size_t d = size_t(dim) + 1; d < x.shape.size(); ++d)
    inner *= x.shape[d];
  const size_t es = x.es, total = size_t(x.numel()) * es;
  const int me = comm.rank(), P = comm.size();
  const int next = (me + 1) % P, prev = (me + P - 1) % P;
  const bool first = me == 0, last = me == P - 1;
  // [send | recv] of the larger slab, in backend memory.
  const size_t slab = size_t(outer * std::max(lo, hi) * inner) * es;
  // valid_rows: rows [zeroFrom, L) of every run are padding (global row
  // me n - lo + j >= valid_rows), zeroed from a slab after [send | recv].
  const int64_t valid = a->valid_rows();
  const int64_t zeroFrom =
      valid > 0 ? std::clamp<int64_t>(valid - int64_t(me) * n + lo, 0, L) : L;
  const int64_t zeroRun = (L - zeroFrom) * inner;
  const bool zeroAll = zeroFrom == 0 || outer == 1;
  const size_t zeroSlab =
      zeroRun > 0 && !zeroAll ? size_t(outer * zeroRun) * es : 0;
  const bool straight = direct(bind.be, comm);
  bind.scratch->reserve(2 * slab + zeroSlab);
  if (!straight)
    bind.scratch->reserveHost(2 * slab);
  std::shared_ptr<ScratchArena> arena = bind.scratch;
  Communicator *c = &comm;
  Backend *b = &bind.be;
  const auto *src = static_cast<const uint8_t *>(x.ptr);
  auto *dst = static_cast<uint8_t *>(y.ptr);
  // Rows [from, from + rows) of `src` go out to `to`, and what comes back
  // from `back` lands in rows [into, into + rows) of dst; -1: no such
  // neighbour (the first member has none above, the last none below).
  auto shift = [=](int64_t from, int64_t rows, int to, int back, int64_t into,
                   int tag) {
    const int64_t run = rows * inner;
    const size_t bytes = size_t(outer * run) * es;
    auto *send = static_cast<uint8_t *>(arena->get()), *recv = send + slab;
    if (to >= 0)
      b->copyStrided(src + size_t(from * inner) * es, L * inner, send, run,
                     outer, run, es);
    uint8_t *out = send, *in = recv;
    if (!straight) {
      out = arena->host(), in = out + slab;
      if (to >= 0)
        b->copyToHost(out, send, bytes);
    }
    if (to >= 0 && back >= 0)
      c->sendRecv(out, to, in, back, bytes, tag);
    else if (to >= 0)
      c->send(out, bytes, to, tag);
    else
      c->recv(in, bytes, back, tag);
    if (back < 0)
      return;
    if (!straight)
      b->copyToDevice(recv, in, bytes);
    b->copyStrided(recv, run, dst + size_t(into * inner) * es, L * inner, outer,
                   run, es);
  };
  return [=] {
    if (dst != src)
      b->copyStrided(src, int64_t(total), dst, int64_t(total), 1,
                     int64_t(total), 1);
    if (lo > 0) // the block's last lo rows, [n, lo + n), to next's top halo
      shift(n, lo, last ? -1 : next, first ? -1 : prev, 0, kHaloTagDown);
    if (hi > 0) // its first hi rows, [lo, lo + hi), to prev's bottom halo
      shift(lo, hi, first ? -1 : prev, last ? -1 : next, lo + n, kHaloTagUp);
    if (zeroRun == 0)
      return;
    uint8_t *pad = dst + size_t(zeroFrom * inner) * es;
    if (zeroAll) { // one contiguous span: [zeroFrom, L) of the only run
      b->fillZero(pad, size_t(outer * zeroRun) * es);
      return;
    }
    uint8_t *zeros = static_cast<uint8_t *>(arena->get()) + 2 * slab;
    b->fillZero(zeros, zeroSlab);
    b->copyStrided(zeros, zeroRun, pad, L * inner, outer, zeroRun, es);
  };
}

} // namespace fresco
