//===- Collectives.cpp - Collective instructions: rules and binders -------===//
//
// Each binds to the communicator of its group, with three memory paths
// (CommPaths.h):
// host memory (CPU backend), the communicator working on backend memory
// (NCCL, queued on the backend's stream), and a device backend with a host
// communicator (Gloo), staged through host scratch buffers.
//
//===----------------------------------------------------------------------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/ops/CommPaths.h"

#include <cstring>

namespace fresco {

bool direct(const Backend &be, const Communicator &comm) {
  return be.usesHostMemory() || comm.usesDeviceMemory();
}

BlockLayout blockLayout(const Shape &shape, int64_t dim) {
  BlockLayout l;
  for (int64_t d = 0; d < dim; ++d)
    l.outer *= shape[size_t(d)];
  for (size_t d = size_t(dim); d < shape.size(); ++d)
    l.inner *= shape[d];
  return l;
}

void placeBlock(Backend &be, const void *block, void *dst, int64_t p,
                int64_t parts, int64_t outer, int64_t inner, size_t es) {
  be.copyStrided(block, inner, static_cast<uint8_t *>(dst) + p * inner * es,
                 parts * inner, outer, inner, es);
}

GatherStep gatherBlocks(OpBind &b, Communicator &comm, size_t bytes) {
  Communicator *c = &comm;
  if (direct(b.be, comm))
    return [c, bytes](const void *src, void *dst) {
      c->allGather(src, dst, bytes);
    };
  // Device memory, host communicator: [mine | all] on the host.
  const size_t parts = size_t(comm.size());
  b.scratch->reserveHost(bytes * (1 + parts));
  std::shared_ptr<ScratchArena> arena = b.scratch;
  Backend *be = &b.be;
  return [=](const void *src, void *dst) {
    uint8_t *mine = arena->host(), *all = mine + bytes;
    be->copyToHost(mine, src, bytes);
    c->allGather(mine, all, bytes);
    be->copyToDevice(dst, all, bytes * parts);
  };
}

RowCopy backendRowCopy(Backend &be, size_t es) {
  Backend *b = &be;
  return [b, es](const void *s, int64_t sr, void *d, int64_t dr, int64_t rows,
                 int64_t n) { b->copyStrided(s, sr, d, dr, rows, n, es); };
}

RowCopy hostRowCopy(size_t es) {
  return [es](const void *s, int64_t sr, void *d, int64_t dr, int64_t rows,
              int64_t n) {
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(static_cast<uint8_t *>(d) + size_t(r * dr) * es,
                  static_cast<const uint8_t *>(s) + size_t(r * sr) * es,
                  size_t(n) * es);
  };
}

void verifyAllReduce(const OpCheck &c) {
  c.members(c.attrs<plan::CollectiveAttrs>()->members(), "AllReduce group");
  c.shape(c.res[0], c.ops[0].shape, "result");
}

Step bindAllReduce(OpBind &bind) {
  Communicator &comm =
      bind.group(bind.attrs<plan::CollectiveAttrs>()->members());
  const void *src = bind.ops[0].ptr;
  void *dst = bind.res[0].ptr;
  const size_t n = size_t(bind.ops[0].numel()), es = bind.ops[0].es;
  // The sum is taken in the storage type (NCCL sums bf16 as bf16, as
  // PyTorch's bf16 tensor parallelism does).
  const DType t = es == 4 ? DType::F32 : bind.be.floatStorage();
  Communicator *c = &comm;
  Backend *b = &bind.be;
  if (direct(bind.be, comm)) {
    // In place in the result (NCCL: on the backend's stream), the operand
    // copied there first.
    auto copyIn = [=] {
      if (dst != src)
        b->copyStrided(src, int64_t(n), dst, int64_t(n), 1, int64_t(n), es);
    };
    if (!bind.asyncRegion)
      return [=] {
        copyIn();
        c->allReduceSumOf(dst, n, t);
      };
    // Started: nothing touches the result's bytes until the Wait (the
    // loader's window rule), so no region is needed, and the operand's
    // bytes may be reused in the window once copied.
    std::shared_ptr<StartedCall> call = StartedCall::in(bind);
    bind.finish = [call] { call->finish(); };
    return [=] {
      copyIn();
      call->started(c->startAllReduceSumOf(dst, n, t));
    };
  }
  // Device memory: the communicator works on host buffers, so the data
  // goes down, is reduced there and comes back up.
  bind.scratch->reserveHost(n * es);
  std::shared_ptr<ScratchArena> arena = bind.scratch;
  return [=] {
    uint8_t *host = arena->host();
    b->copyToHost(host, src, n * es);
    c->allReduceSumOf(host, n, t);
    b->copyToDevice(dst, host, n * es);
  };
}

void verifyAllGather(const OpCheck &c) {
  auto *a = c.attrs<plan::CollectiveAttrs>();
  c.members(a->members(), "AllGather group");
  const ValueInfo &x = c.ops[0];
  const int64_t dim = a->dim();
  c.need(dim >= 0 && dim < int64_t(x.shape.size()), "gather dimension ", dim,
         " out of range");
  Shape want = x.shape;
  want[dim] *= int64_t(a->members()->size());
  c.shape(c.res[0], want, "result");
}

Step bindAllGather(OpBind &bind) {
  auto *a = bind.attrs<plan::CollectiveAttrs>();
  Communicator &comm = bind.group(a->members());
  const Ref &x = bind.ops[0], &y = bind.res[0];
  const int64_t dim = a->dim();
  const size_t es = x.es;
  const size_t bytes = size_t(x.numel()) * es;
  const void *src = x.ptr;
  void *dst = y.ptr;
  Communicator *c = &comm;
  const int64_t parts = comm.size();
  const bool host = bind.be.usesHostMemory();
  Backend *b = &bind.be;
  // Along an inner dimension the blocks arrive contiguously and are then
  // interleaved into place ([P, outer, inner] -> [outer, P * inner]).
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d)
    outer *= x.shape[d];
  for (size_t d = dim; d < x.shape.size(); ++d)
    inner *= x.shape[d];
  auto interleave = [=](const uint8_t *blocks) {
    for (int64_t p = 0; p < parts; ++p)
      placeBlock(*b, blocks + p * bytes, dst, p, parts, outer, inner, es);
  };
  if (bind.asyncRegion && direct(bind.be, comm)) {
    // The region holds [gathered blocks (inner dimension) | this rank's
    // block]: the operand is copied there first, as its own memory may be
    // reused by the next instruction's result while the gather still
    // reads it (its live range ends here).
    std::shared_ptr<StartedCall> call = StartedCall::in(bind);
    std::shared_ptr<ScratchArena> region = bind.asyncRegion;
    const size_t mineAt = dim == 0 ? 0 : bytes * parts;
    region->reserve(mineAt + bytes);
    bind.finish = [=] {
      call->finish();
      if (dim != 0)
        interleave(static_cast<uint8_t *>(region->get()));
    };
    return [=] {
      auto *blocks = static_cast<uint8_t *>(region->get());
      uint8_t *mine = blocks + mineAt;
      b->copyStrided(src, int64_t(bytes), mine, int64_t(bytes), 1,
                     int64_t(bytes), 1);
      call->started(c->startAllGather(mine, dim == 0 ? dst : blocks, bytes));
    };
  }
  if (dim == 0) {
    GatherStep gather = gatherBlocks(bind, comm, bytes);
    return [=] { gather(src, dst); };
  }
  std::shared_ptr<ScratchArena> arena = bind.scratch;
  if (comm.usesDeviceMemory()) {
    // NCCL: gather into backend memory, interleave there.
    bind.scratch->reserve(bytes * parts);
    return [=] {
      auto *blocks = static_cast<uint8_t *>(arena->get());
      c->allGather(src, blocks, bytes);
      interleave(blocks);
    };
  }
  if (host) {
    bind.scratch->reserveHost(bytes * parts);
    return [=] {
      uint8_t *staging = arena->host();
      c->allGather(src, staging, bytes);
      interleave(staging);
    };
  }
  // Device memory: gather on the host, interleave there, copy up once.
  // [mine | all | out]: this rank's block, the gathered blocks and their
  // interleaving.
  bind.scratch->reserveHost(bytes * (1 + 2 * parts));
  return [=] {
    uint8_t *mine = arena->host(), *all = mine + bytes,
            *out = all + bytes * parts;
    b->copyToHost(mine, src, bytes);
    c->allGather(mine, all, bytes);
    size_t row = size_t(inner) * es;
    for (int64_t p = 0; p < parts; ++p)
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(out + (size_t(o) * parts + p) * row,
                    all + p * bytes + size_t(o) * row, row);
    b->copyToDevice(dst, out, bytes * parts);
  };
}

/// The blocks an AllToAll sends must tile its operand exactly, and its
/// result must be what the blocks concatenate to.
void verifyAllToAll(const OpCheck &c) {
  auto *a = c.attrs<plan::CollectiveAttrs>();
  c.members(a->members(), "AllToAll group");
  const ValueInfo &x = c.ops[0];
  const int64_t rank = int64_t(x.shape.size()), s = a->split_dim(),
                d = a->concat_dim(), parts = int64_t(a->members()->size());
  c.need(s >= 0 && s < rank && d >= 0 && d < rank, "dimensions split ", s,
         ", concat ", d, " outside the operand's rank ", rank);
  c.need(x.shape[s] % parts == 0, "split dimension ", s, " of size ",
         x.shape[s], " is not divisible by the ", parts, " members");
  Shape want = x.shape;
  want[s] /= parts;
  want[d] *= parts;
  c.need(c.res[0].shape == want, "result ", shapeToString(c.res[0].shape),
         " does not match its operand split along ", s,
         " and concatenated along ", d, " (", shapeToString(want), ")");
}

Step bindAllToAll(OpBind &bind) {
  auto *a = bind.attrs<plan::CollectiveAttrs>();
  Communicator &comm = bind.group(a->members());
  const Ref &x = bind.ops[0], &y = bind.res[0];
  const int64_t rank = int64_t(x.shape.size()), sd = a->split_dim(),
                cd = a->concat_dim(), parts = comm.size();
  Shape block = x.shape; // what each member sends each other member
  block[sd] /= parts;
  const size_t es = x.es;
  const size_t bytes = size_t(numElements(block)) * es;
  // Send block p is x's p-th run along sd: `outer` rows of `run` elements.
  int64_t outerS = 1, runS = 1, outerC = 1, runC = 1;
  for (int64_t d = 0; d < sd; ++d)
    outerS *= x.shape[d];
  for (int64_t d = sd; d < rank; ++d)
    runS *= block[d];
  // Received block p goes to y's p-th run along cd.
  for (int64_t d = 0; d < cd; ++d)
    outerC *= block[d];
  for (int64_t d = cd; d < rank; ++d)
    runC *= block[d];
  const uint8_t *src = static_cast<const uint8_t *>(x.ptr);
  uint8_t *dst = static_cast<uint8_t *>(y.ptr);
  Communicator *c = &comm;
  Backend *b = &bind.be;
  // pack: x -> contiguous blocks; unpack: blocks -> y. `copy` is the
  // backend's strided copy, or a host one for host-staged data.
  using Copy = RowCopy;
  auto pack = [=](const Copy &copy, const uint8_t *from, uint8_t *blocks) {
    for (int64_t p = 0; p < parts; ++p)
      copy(from + p * runS * es, parts * runS, blocks + p * bytes, runS, outerS,
           runS);
  };
  auto unpack = [=](const Copy &copy, const uint8_t *blocks, uint8_t *to) {
    for (int64_t p = 0; p < parts; ++p)
      copy(blocks + p * bytes, runC, to + p * runC * es, parts * runC, outerC,
           runC);
  };
  Copy onBackend = backendRowCopy(*b, es);
  if (bind.asyncRegion && direct(bind.be, comm)) {
    std::shared_ptr<StartedCall> call = StartedCall::in(bind);
    std::shared_ptr<ScratchArena> region = bind.asyncRegion;
    region->reserve(2 * bytes * parts);
    bind.finish = [=] {
      call->finish();
      unpack(onBackend, static_cast<uint8_t *>(region->get()) + bytes * parts,
             dst);
    };
    return [=] {
      auto *send = static_cast<uint8_t *>(region->get());
      pack(onBackend, src, send);
      call->started(c->startAllToAll(send, send + bytes * parts, bytes));
    };
  }
  if (direct(bind.be, comm)) {
    // Both buffers in the communicator's memory: pack, exchange, unpack
    // there (NCCL queues on the backend's stream, in order).
    bind.scratch->reserve(2 * bytes * parts);
    std::shared_ptr<ScratchArena> arena = bind.scratch;
    return [=] {
      auto *send = static_cast<uint8_t *>(arena->get());
      uint8_t *recv = send + bytes * parts;
      pack(onBackend, src, send);
      c->allToAll(send, recv, bytes);
      unpack(onBackend, recv, dst);
    };
  }
  // Device memory: exchanged through host buffers, packed and unpacked
  // on the host as the AllGather device path does.
  Copy onHost = hostRowCopy(es);
  bind.scratch->reserveHost(4 * bytes * parts);
  std::shared_ptr<ScratchArena> arena = bind.scratch;
  return [=] {
    uint8_t *mine = arena->host(), *send = mine + bytes * parts,
            *recv = send + bytes * parts, *out = recv + bytes * parts;
    b->copyToHost(mine, src, bytes * parts);
    pack(onHost, mine, send);
    c->allToAll(send, recv, bytes);
    unpack(onHost, recv, out);
    b->copyToDevice(dst, out, bytes * parts);
  };
}

/// Whether the PointToPoint family has a kernel for `op`.
static bool isPointToPoint(plan::OpCode op) {
  return op == plan::OpCode::Send || op == plan::OpCode::Recv ||
         op == plan::OpCode::Broadcast;
}

/// Send (operand, no result), Recv (result, no operand) and Broadcast
/// (result; the root, `peer`, also has the operand).
void verifyPointToPoint(const OpCheck &c) {
  const plan::OpCode op = c.in.op();
  if (!isPointToPoint(op))
    c.notInFamily("PointToPoint");
  auto *a = c.attrs<plan::CollectiveAttrs>();
  const char *name = c.op.name;
  c.members(a->members(), (std::string(name) + " group").c_str());
  c.need(a->peer() >= 0 && uint32_t(a->peer()) < a->members()->size(), "peer ",
         a->peer(), " is not one of the ", a->members()->size(), " members");
  const bool self = a->members()->Get(uint32_t(a->peer())) == c.rp.rank();
  const bool bcast = op == plan::OpCode::Broadcast;
  c.need(bcast || !self, name, " peer ", a->peer(), " is this rank itself");
  c.need(bcast || a->tag() >= 0, name, " tag ", a->tag(), " is negative");
  c.need(bcast || a->tag() < kFirstReservedTag, name, " tag ", a->tag(),
         " is reserved for the Halo exchange (tags from ", kFirstReservedTag,
         " up)");
  if (!bcast)
    return;
  c.need(c.ops.size() == (self ? 1u : 0u), "takes ", self ? 1 : 0,
         " operand(s) here (the root has its value, the others none), got ",
         c.ops.size());
  if (self)
    c.need(c.ops[0].dtype == c.res[0].dtype && c.ops[0].shape == c.res[0].shape,
           "operand and result differ");
}

Step bindPointToPoint(OpBind &bind) {
  const plan::OpCode op = bind.in.op();
  if (!isPointToPoint(op))
    bind.notInFamily("PointToPoint");
  auto *a = bind.attrs<plan::CollectiveAttrs>();
  Communicator &comm = bind.group(a->members());
  const int peer = a->peer(), tag = a->tag();
  const bool root = op == plan::OpCode::Broadcast && peer == comm.rank();
  const Ref &v = bind.res.empty() ? bind.ops[0] : bind.res[0];
  const size_t bytes = size_t(v.numel()) * v.es;
  const void *src = bind.ops.empty() ? nullptr : bind.ops[0].ptr;
  void *dst = bind.res.empty() ? nullptr : bind.res[0].ptr;
  Communicator *c = &comm;
  Backend *b = &bind.be;
  const bool straight = direct(bind.be, comm);
  if (!straight)
    bind.scratch->reserveHost(bytes);
  std::shared_ptr<ScratchArena> arena = bind.scratch;
  return [=] {
    uint8_t *host = straight ? nullptr : arena->host();
    switch (op) {
    case plan::OpCode::Send:
      if (!straight)
        b->copyToHost(host, src, bytes);
      c->send(straight ? src : host, bytes, peer, tag);
      break;
    case plan::OpCode::Recv:
      c->recv(straight ? dst : host, bytes, peer, tag);
      if (!straight)
        b->copyToDevice(dst, host, bytes);
      break;
    case plan::OpCode::Broadcast:
      if (root && straight && src != dst)
        b->copyStrided(src, int64_t(bytes), dst, int64_t(bytes), 1,
                       int64_t(bytes), 1);
      if (root && !straight)
        b->copyToHost(host, src, bytes);
      c->broadcast(straight ? dst : host, bytes, peer);
      if (!straight)
        b->copyToDevice(dst, host, bytes);
      break;
    default: // refused above, before the step was made
      break;
    }
  };
}

} // namespace fresco
