//===- ReduceScatter.cpp - The members' sum, this member's block ----------===//
//
// ReduceScatter (plan version 19; Megatron's sequence parallelism): the
// elementwise sum over the members of their operands, split along `dim`
// into P equal blocks, block i to member i. Tensor parallelism's partial
// sums reduced this way leave each member its share of the tokens instead
// of the whole sum.
//
// The communicator reduces P contiguous blocks in member order
// (Communicator::reduceScatterSumOf). Along dim 0, or a dim whose leading
// dimensions are all 1, the operand is that already; otherwise block p is
// `outer` runs of `run` elements, P runs apart, and is packed first
// (member-major, placeBlock's inverse). The three memory paths of
// CommPaths.h: host memory and NCCL pack in backend memory (scratch) and
// hand the communicator the operand or the packing; a device backend with
// a host communicator copies the operand down, packs on the host, and
// copies this member's block up. The sum is taken in the storage type, as
// AllReduce's.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/ops/CommPaths.h"

#include <cstring>

namespace fresco {

void verifyReduceScatter(const OpCheck &c) {
  auto *a = c.attrs<plan::CollectiveAttrs>();
  c.members(a->members(), "ReduceScatter group");
  const ValueInfo &x = c.ops[0];
  const int64_t dim = a->dim(), parts = int64_t(a->members()->size());
  c.need(dim >= 0 && dim < int64_t(x.shape.size()), "scatter dimension ", dim,
         " out of range for an operand of rank ", x.shape.size());
  c.need(x.shape[size_t(dim)] % parts == 0, "scatter dimension ", dim,
         " of size ", x.shape[size_t(dim)], " is not divisible by the ", parts,
         " members");
  Shape want = x.shape;
  want[size_t(dim)] /= parts;
  c.shape(c.res[0], want, "result");
}

Step bindReduceScatter(OpBind &bind) {
  auto *a = bind.attrs<plan::CollectiveAttrs>();
  Communicator &comm = bind.group(a->members());
  const Ref &x = bind.ops[0], &y = bind.res[0];
  const int64_t parts = comm.size();
  const size_t es = x.es, n = size_t(y.numel()); // n: elements per member
  const size_t bytes = n * es;                   // one block
  // x as [outer, parts * run]: member p's block is columns [p run, +run).
  const BlockLayout l = blockLayout(x.shape, a->dim());
  const int64_t outer = l.outer, run = l.inner / parts;
  const bool packed = outer == 1 || parts == 1; // blocks already contiguous
  const DType t = es == 4 ? DType::F32 : bind.be.floatStorage();
  const auto *src = static_cast<const uint8_t *>(x.ptr);
  void *dst = y.ptr;
  Communicator *c = &comm;
  Backend *b = &bind.be;
  std::shared_ptr<ScratchArena> arena = bind.scratch;
  // Member-major packing with `copy` (the backend's strided copy, or a host
  // one): send block p = x's columns [p run, +run) of every row.
  using Copy = RowCopy;
  auto pack = [=](const Copy &copy, const uint8_t *from, uint8_t *send) {
    for (int64_t p = 0; p < parts; ++p)
      copy(from + size_t(p * run) * es, parts * run, send + size_t(p) * bytes,
           run, outer, run);
  };
  if (direct(bind.be, comm)) {
    // The communicator reads the operand as it is unless it must be packed
    // or the result overlaps it (the communicator's buffers may not).
    const uintptr_t s = uintptr_t(src), d = uintptr_t(dst);
    const bool overlap = s < d + bytes && d < s + bytes * size_t(parts);
    const bool stage = !packed || overlap;
    if (stage)
      bind.scratch->reserve(bytes * size_t(parts));
    Copy onBackend = backendRowCopy(*b, es);
    return [=] {
      const void *send = src;
      if (stage) {
        auto *buf = static_cast<uint8_t *>(arena->get());
        pack(onBackend, src, buf);
        send = buf;
      }
      c->reduceScatterSumOf(send, dst, n, t);
    };
  }
  // Device memory, host communicator: [operand | packed | this block] on
  // the host (no packed copy when the operand is packed already).
  Copy onHost = hostRowCopy(es);
  const size_t whole = bytes * size_t(parts);
  bind.scratch->reserveHost(whole * (packed ? 1 : 2) + bytes);
  return [=] {
    uint8_t *in = arena->host(), *send = in, *recv = in + whole;
    b->copyToHost(in, src, whole);
    if (!packed) {
      send = in + whole, recv = send + whole;
      pack(onHost, in, send);
    }
    c->reduceScatterSumOf(send, recv, n, t);
    b->copyToDevice(dst, recv, bytes);
  };
}

} // namespace fresco
