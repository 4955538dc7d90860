//===- Attention.cpp - Attention and ring attention: rule and binder ------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/ops/OpBind.h"

#include <cstdlib>

namespace fresco {
namespace {

/// Ring attention: this rank's key/value block travels around the ring
/// while each rank folds every visiting block into its running softmax
/// (Backend::attentionBlock). Step s attends to the block that started s
/// hops back and meanwhile passes it on (Communicator::startSendRecv: a
/// thread for Gloo, NCCL's own stream on GPUs), receiving the next one into
/// the other of two buffers. Key and value travel together, one message.
/// `es`: the size of k's and v's elements in memory.
Step ringAttention(OpBind &bind, Communicator &comm, const float *q,
                   const float *k, const float *v, float *o, int64_t B,
                   int64_t Tq, int64_t Tk, int64_t H, int64_t Dh, float scale,
                   size_t es) {
  const int P = comm.size(), to = (comm.rank() + 1) % P,
            from = (comm.rank() + P - 1) % P;
  const int64_t kvCount = B * Tk * H * Dh;
  const size_t kvBytes = size_t(kvCount) * es;
  // k and v of a block each start at a 256-byte boundary (vector loads);
  // a message is one [k | v] pair, padding included.
  const size_t slot = (kvBytes + 255) / 256 * 256, msg = 2 * slot;
  Backend *b = &bind.be;
  // In the scratch arena: two [k | v] blocks (the one sent, the one
  // arriving), then the row log-sum-exps and, under 2-byte storage, the
  // running output (f32 whatever the storage; stored once at the end).
  const size_t lseBytes =
      (size_t(B * H * Tq) * sizeof(float) + 255) / 256 * 256;
  const int64_t oCount = B * Tq * H * Dh;
  const bool wideOut = es != sizeof(float);
  bind.scratch->reserve(2 * msg + lseBytes +
                        (wideOut ? size_t(oCount) * sizeof(float) : 0));
  std::shared_ptr<ScratchArena> arena = bind.scratch;
  // Gloo with a device backend: the blocks go through host buffers.
  const bool direct = b->usesHostMemory() || comm.usesDeviceMemory();
  if (!direct)
    bind.scratch->reserveHost(2 * msg);
  // FRESCO_RING_OVERLAP=0 waits for each exchange before the block's
  // attention: the baseline the overlap is measured against.
  const char *env = std::getenv("FRESCO_RING_OVERLAP");
  const bool overlap = !(env && std::string(env) == "0");
  Communicator *c = &comm;
  return [=] {
    auto *blocks = static_cast<uint8_t *>(arena->get());
    auto *lse = reinterpret_cast<float *>(blocks + 2 * msg);
    float *run =
        wideOut ? reinterpret_cast<float *>(blocks + 2 * msg + lseBytes) : o;
    uint8_t *buffer[2] = {blocks, blocks + msg};
    auto keys = [&](int i) { return reinterpret_cast<float *>(buffer[i]); };
    auto values = [&](int i) {
      return reinterpret_cast<float *>(buffer[i] + slot);
    };
    if (direct) { // this rank's own block, contiguous for one message
      b->copyStrided(k, kvCount, keys(0), kvCount, 1, kvCount, es);
      b->copyStrided(v, kvCount, values(0), kvCount, 1, kvCount, es);
    }
    for (int s = 0; s < P; ++s) {
      // Step 0 attends to the operands themselves, later steps to what
      // arrived in buffer[s % 2]; the block is passed on from there too.
      const float *ck = s == 0 ? k : keys(s % 2);
      const float *cv = s == 0 ? v : values(s % 2);
      uint8_t *next = buffer[(s + 1) % 2];
      std::function<void()> wait;
      if (s + 1 < P && direct) {
        wait = c->startSendRecv(buffer[s % 2], to, next, from, msg, 0);
      } else if (s + 1 < P) {
        uint8_t *out = arena->host(), *in = out + msg;
        b->copyToHost(out, ck, kvBytes);
        b->copyToHost(out + slot, cv, kvBytes);
        wait = c->startSendRecv(out, to, in, from, msg, 0);
      }
      if (wait && !overlap) {
        wait();
        wait = nullptr;
      }
      b->attentionBlock(q, ck, cv, run, lse, B, Tq, Tk, H, Dh, scale, s == 0);
      if (wait)
        wait(); // rethrows a failed exchange
      if (s + 1 < P && !direct)
        b->copyToDevice(next, arena->host() + msg, msg);
    }
    if (wideOut)
      b->storeFloats(run, o, oCount);
  };
}

} // namespace

/// q [B, Tq, H*Dh], k and v [B, Tk, H*Dh]; with ring members, k and v are
/// this rank's block of a sequence split around the ring.
void verifyAttention(const OpCheck &c) {
  auto *a = c.attrs<plan::AttentionAttrs>();
  if (a->ring_members())
    c.members(a->ring_members(), "attention ring");
  const ValueInfo &q = c.ops[0], &k = c.ops[1], &v = c.ops[2];
  c.need(q.shape.size() == 3 && k.shape.size() == 3, "q, k, v must be rank 3");
  c.shape(v, k.shape, "value");
  c.need(k.shape[0] == q.shape[0] && k.shape[2] == q.shape[2],
         "query and key disagree in batch or width");
  c.shape(c.res[0], q.shape, "result");
  const int64_t H = a->num_heads();
  c.need(H > 0 && q.shape[2] % H == 0, "width ", q.shape[2],
         " not divisible by ", H, " heads");
}

Step bindAttention(OpBind &b) {
  const Ref &q = b.ops[0], &k = b.ops[1], &v = b.ops[2];
  auto *a = b.attrs<plan::AttentionAttrs>();
  const int64_t H = a->num_heads(), B = q.shape[0], Tq = q.shape[1],
                Tk = k.shape[1], Dh = q.shape[2] / H;
  const float scale = a->scale();
  const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32();
  float *py = b.res[0].f32();
  if (a->ring_members() && a->ring_members()->size() > 1)
    return ringAttention(b, b.group(a->ring_members()), pq, pk, pv, py, B, Tq,
                         Tk, H, Dh, scale, k.es);
  Backend *be = &b.be;
  return [=] { be->attention(pq, pk, pv, py, B, Tq, Tk, H, Dh, scale); };
}

} // namespace fresco
