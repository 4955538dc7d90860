//===- Attention.cpp - Attention and ring attention: rule and binder ------===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/ops/OpBind.h"

#include <algorithm>
#include <cstdlib>

namespace fresco {
namespace {

size_t roundUp256(size_t bytes) { return (bytes + 255) / 256 * 256; }

/// The real keys of one key/value block (AttentionAttrs.key_valid): S equal
/// segments of L rows, segment s real in its first valid[s] rows.
struct KeyBlock {
  std::vector<int64_t> valid; // empty: every key is real
  int64_t L = 0;
  /// How many of the block's Tk keys are real.
  int64_t real(int64_t Tk) const {
    if (valid.empty())
      return Tk;
    int64_t n = 0;
    for (int64_t v : valid)
      n += v;
    return n;
  }
  bool padded(int64_t Tk) const { return real(Tk) != Tk; }
};

/// The key blocks of an attention: one, or one per ring member (row m of
/// key_valid: the block that started on member m).
std::vector<KeyBlock> keyBlocks(const plan::AttentionAttrs &a, int64_t Tk,
                                size_t members) {
  std::vector<KeyBlock> blocks(members);
  const auto *kv = a.key_valid();
  if (!kv || kv->size() == 0)
    return blocks;
  const size_t S = kv->size() / members;
  for (size_t m = 0; m < members; ++m) {
    blocks[m].valid.assign(kv->begin() + m * S, kv->begin() + (m + 1) * S);
    blocks[m].L = Tk / int64_t(S);
  }
  return blocks;
}

/// Copies the real rows of k (or v) [B, Tk, W] to the front of each batch of
/// dst [B, Tk', W], Tk' = kb.real(Tk): one strided copy per segment, so
/// attention over dst is attention over the real keys alone.
void compactKeys(Backend &be, const void *src, void *dst, const KeyBlock &kb,
                 int64_t B, int64_t Tk, int64_t W, size_t es) {
  const int64_t real = kb.real(Tk);
  int64_t at = 0;
  for (size_t s = 0; s < kb.valid.size(); ++s) {
    const int64_t n = kb.valid[s];
    if (n == 0)
      continue;
    be.copyStrided(static_cast<const uint8_t *>(src) + s * kb.L * W * es,
                   Tk * W, static_cast<uint8_t *>(dst) + at * W * es, real * W,
                   B, n * W, es);
    at += n;
  }
}

/// Ring attention: this rank's key/value block travels around the ring
/// while each rank folds every visiting block into its running softmax
/// (Backend::attentionBlock). Step s attends to the block that started s
/// hops back and meanwhile passes it on (Communicator::startSendRecv: the
/// communicator's own thread for Gloo, NCCL's own stream on GPUs), receiving
/// the next one into the other of two buffers. Key and value travel together,
/// one message. `es`: the size of k's and v's elements in memory. `keys`: the
/// real keys of the block that started on each member; a block with padding has
/// its real keys compacted for its step, one with none skips its step's
/// attention (it still travels on).
Step ringAttention(OpBind &bind, Communicator &comm, const float *q,
                   const float *k, const float *v, float *o, int64_t B,
                   int64_t Tq, int64_t Tk, int64_t H, int64_t Dh, float scale,
                   size_t es, const std::vector<KeyBlock> &keys) {
  const int P = comm.size(), to = (comm.rank() + 1) % P,
            from = (comm.rank() + P - 1) % P;
  const int64_t kvCount = B * Tk * H * Dh;
  const size_t kvBytes = size_t(kvCount) * es;
  // k and v of a block each start at a 256-byte boundary (vector loads);
  // a message is one [k | v] pair, padding included.
  const size_t slot = (kvBytes + 255) / 256 * 256, msg = 2 * slot;
  Backend *b = &bind.be;
  // In the scratch arena: two [k | v] blocks (the one sent, the one
  // arriving), then the row log-sum-exps, under 2-byte storage the running
  // output (f32 whatever the storage; stored once at the end), and when a
  // block has padding, its real keys and values compacted for its step.
  const size_t lseBytes = roundUp256(size_t(B * H * Tq) * sizeof(float));
  const int64_t oCount = B * Tq * H * Dh;
  const bool wideOut = es != sizeof(float);
  const size_t runBytes =
      wideOut ? roundUp256(size_t(oCount) * sizeof(float)) : 0;
  // Per step: the block it attends to (the one that started on member
  // rank - s), its real keys, whether they need compacting, and whether
  // the step attends at all (a block of padding only does not).
  std::vector<KeyBlock> block(P);
  std::vector<int64_t> real(P);
  std::vector<char> attends(P), compacts(P);
  int64_t maxCompact = 0;
  int firstStep = -1; // the first step that attends sets o and lse
  for (int s = 0; s < P; ++s) {
    block[s] = keys[(comm.rank() + P - s) % P];
    real[s] = block[s].real(Tk);
    attends[s] = block[s].valid.empty() || real[s] > 0;
    compacts[s] = attends[s] && block[s].padded(Tk);
    if (compacts[s])
      maxCompact = std::max(maxCompact, real[s]);
    if (attends[s] && firstStep < 0)
      firstStep = s;
  }
  // The loader refuses a ring whose blocks are all padding.
  check(firstStep >= 0, bind.where, ": ring attention without a real key");
  const size_t compactSlot = roundUp256(size_t(B * maxCompact * H * Dh) * es);
  const size_t compactAt = 2 * msg + lseBytes + runBytes;
  bind.scratch->reserve(compactAt + 2 * compactSlot);
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
    auto keyBuf = [&](int i) { return reinterpret_cast<float *>(buffer[i]); };
    auto valueBuf = [&](int i) {
      return reinterpret_cast<float *>(buffer[i] + slot);
    };
    if (direct) { // this rank's own block, contiguous for one message
      b->copyStrided(k, kvCount, keyBuf(0), kvCount, 1, kvCount, es);
      b->copyStrided(v, kvCount, valueBuf(0), kvCount, 1, kvCount, es);
    }
    for (int s = 0; s < P; ++s) {
      // Step 0 attends to the operands themselves, later steps to what
      // arrived in buffer[s % 2]; the block is passed on from there too.
      const float *ck = s == 0 ? k : keyBuf(s % 2);
      const float *cv = s == 0 ? v : valueBuf(s % 2);
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
      if (compacts[s]) {
        float *kc = reinterpret_cast<float *>(blocks + compactAt),
              *vc = reinterpret_cast<float *>(blocks + compactAt + compactSlot);
        compactKeys(*b, ck, kc, block[s], B, Tk, H * Dh, es);
        compactKeys(*b, cv, vc, block[s], B, Tk, H * Dh, es);
        ck = kc;
        cv = vc;
      }
      if (attends[s])
        b->attentionBlock(q, ck, cv, run, lse, B, Tq, real[s], H, Dh, scale,
                          s == firstStep);
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
/// this rank's block of a sequence split around the ring. key_valid marks
/// padded keys (KeyBlock): S segments per block, R * S entries in a ring.
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
  const bool ring = a->ring_members() && a->ring_members()->size() > 1;
  const bool masked = a->causal() || c.ops.size() == 4;
  const auto *kv = a->key_valid();
  const bool padded = kv && kv->size() > 0;
  // Bias and causal mask (version 9) index whole key sequences: one rank's
  // keys, none compacted.
  c.need(!masked || (!ring && !padded),
         "a causal mask or score bias cannot be combined with ring attention "
         "or key_valid");
  if (a->causal())
    c.need(q.shape[1] == k.shape[1],
           "causal attention needs as many queries "
           "as keys, got ",
           q.shape[1], " and ", k.shape[1]);
  if (c.ops.size() == 4)
    c.shape(c.ops[3], {H, q.shape[1], k.shape[1]}, "score bias");
  if (!padded)
    return;
  // Padded keys: S segments per block, one row of S per ring member.
  const size_t R = ring ? a->ring_members()->size() : 1;
  c.need(kv->size() % R == 0, "key_valid has ", kv->size(),
         " entries, not a multiple of the ", R, " ring members");
  const int64_t S = int64_t(kv->size() / R), Tk = k.shape[1];
  c.need(Tk % S == 0, "key_valid's ", S, " segments do not divide the ", Tk,
         " keys");
  const int64_t L = Tk / S;
  int64_t total = 0;
  for (flatbuffers::uoffset_t i = 0; i < kv->size(); ++i) {
    const int64_t n = kv->Get(i);
    c.need(n >= 0 && n <= L, "key_valid[", i, "] = ", n, " outside [0, ", L,
           "] (the segment length)");
    total += n;
  }
  c.need(total > 0, "key_valid leaves no real key",
         ring ? " in the whole ring" : "", ": the softmax would be empty");
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
                         Tk, H, Dh, scale, k.es,
                         keyBlocks(*a, Tk, a->ring_members()->size()));
  Backend *be = &b.be;
  if (a->causal() || b.ops.size() == 4) {
    check(
        be->implements(OptionalKernel::MaskedAttention), b.where,
        " (Attention): a causal mask or score bias is not implemented on the ",
        be->name(), " backend yet");
    const float *bias = b.ops.size() == 4 ? b.ops[3].f32() : nullptr;
    const bool causal = a->causal();
    return [=] {
      be->attentionMasked(pq, pk, pv, bias, py, B, Tq, Tk, H, Dh, scale,
                          causal);
    };
  }
  const KeyBlock kb = keyBlocks(*a, Tk, 1)[0];
  if (!kb.padded(Tk))
    return [=] { be->attention(pq, pk, pv, py, B, Tq, Tk, H, Dh, scale); };
  // Padded keys: attention over their real rows, compacted into the scratch
  // arena as [k | v], each at a 256-byte boundary.
  const int64_t real = kb.real(Tk);
  const size_t es = k.es, slot = roundUp256(size_t(B * real * H * Dh) * es);
  b.scratch->reserve(2 * slot);
  std::shared_ptr<ScratchArena> arena = b.scratch;
  return [=] {
    auto *base = static_cast<uint8_t *>(arena->get());
    float *kc = reinterpret_cast<float *>(base),
          *vc = reinterpret_cast<float *>(base + slot);
    compactKeys(*be, pk, kc, kb, B, Tk, H * Dh, es);
    compactKeys(*be, pv, vc, kb, B, Tk, H * Dh, es);
    be->attention(pq, kc, vc, py, B, Tq, real, H, Dh, scale);
  };
}

} // namespace fresco
