//===- Executor.cpp - Runs a rank's functions over a static arena ---------===//
#include "runtime/core/Executor.h"
#include "runtime/comm/Communicator.h"
#include "runtime/core/Error.h"

#include <algorithm>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <future>
#include <memory>

namespace fresco {
namespace {

using Shape = std::vector<int64_t>;

/// A value resolved to memory, with its shape and dtype, and the size of
/// its elements in memory: a float tensor's is that of the backend's float
/// storage (2 under bf16/f16), but for the few pinned to f32.
struct Ref {
  void *ptr;
  DType dtype;
  Shape shape;
  size_t es;
  int64_t numel() const { return numElements(shape); }
  float *f32() const { return static_cast<float *>(ptr); }
};

std::string opName(plan::OpCode op) { return plan::EnumNameOpCode(op); }

} // namespace

/// Memory that instructions use only while they run: ring attention's
/// key/value blocks and row statistics, the collectives' staging buffers.
/// They run one at a time, so one backend buffer and one host buffer, each
/// sized at bind time to the largest need and allocated on first use, serve
/// them all (per-instruction buffers cost gigabytes at Flux size).
class ScratchArena {
public:
  explicit ScratchArena(Backend &backend) : backend_(backend) {}
  ~ScratchArena() {
    if (buffer_)
      backend_.release(buffer_);
  }
  void reserve(size_t bytes) { bytes_ = std::max(bytes_, bytes); }
  void *get() {
    if (!buffer_)
      buffer_ = backend_.allocate(bytes_);
    return buffer_;
  }
  void reserveHost(size_t bytes) { hostBytes_ = std::max(hostBytes_, bytes); }
  uint8_t *host() {
    if (host_.size() < hostBytes_)
      host_.resize(hostBytes_);
    return host_.data();
  }

private:
  Backend &backend_;
  size_t bytes_ = 0;
  void *buffer_ = nullptr;
  size_t hostBytes_ = 0;
  std::vector<uint8_t> host_;
};

namespace {

/// Checks and binds one instruction to a backend call.
class InstrBinder {
public:
  InstrBinder(const plan::Instr &in, std::vector<Ref> operands,
              std::vector<Ref> results, Backend &be, std::string where,
              const GroupResolver &groups, int rank,
              std::shared_ptr<ScratchArena> scratch)
      : in(in), ops(std::move(operands)), res(std::move(results)), be(be),
        where(std::move(where)), groups(groups), rank(rank),
        scratch(std::move(scratch)) {}

  std::function<void()> bind();
  /// The communicator the instruction talks through; null for a kernel.
  Communicator *communicator() const { return comm; }

  /// Set before bind(): an all_to_all or all_gather on a direct path (no
  /// host staging) is then bound as two steps, bind()'s result starting it
  /// (Communicator::startAllToAll / startAllGather) with its buffers in
  /// `asyncRegion` (nothing else uses them meanwhile), and `finish`
  /// waiting for it and unpacking its result.
  std::shared_ptr<ScratchArena> asyncRegion;
  std::function<void()> finish;

private:
  template <typename... Parts> void need(bool cond, const Parts &...parts) {
    check(cond, where, " (", opName(in.op()), "): ", parts...);
  }
  void counts(size_t minOps, size_t maxOps) {
    need(ops.size() >= minOps && ops.size() <= maxOps, "expected ",
         minOps == maxOps ? "" : "between ", minOps,
         minOps == maxOps ? "" : " and ",
         minOps == maxOps ? "" : std::to_string(maxOps), " operands, got ",
         ops.size());
    need(res.size() == 1, "expected one result, got ", res.size());
  }
  void f32(const Ref &r, const char *what) {
    need(r.dtype == DType::F32, what, " must be f32, got ", dtypeName(r.dtype));
  }
  void shape(const Ref &r, const Shape &want, const char *what) {
    need(r.shape == want, what, " has shape ", shapeToString(r.shape),
         ", expected ", shapeToString(want));
  }
  template <typename T> const T *attrs() {
    const T *a = in.attrs_as<T>();
    need(a != nullptr, "missing or wrong attributes");
    return a;
  }
  std::function<void()> binary(BinaryKind kind, bool fused = false);
  std::function<void()> pointToPoint();
  /// `es`: the size of k's and v's elements in memory.
  std::function<void()> ringAttention(Communicator &comm, const float *q,
                                      const float *k, const float *v, float *o,
                                      int64_t B, int64_t Tq, int64_t Tk,
                                      int64_t H, int64_t Dh, float scale,
                                      size_t es);
  void checkDTypes();

  const plan::Instr &in;
  std::vector<Ref> ops, res;
  Backend &be;
  std::string where;
  const GroupResolver &groups;
  int rank;
  std::shared_ptr<ScratchArena> scratch;
  Communicator *comm = nullptr;

  Communicator &group(const plan::CollectiveAttrs &a) {
    return group(a.members());
  }
  Communicator &group(const flatbuffers::Vector<int32_t> *m) {
    need(m && m->size() >= 1, "no group members");
    std::vector<int> members(m->begin(), m->end());
    need(std::find(members.begin(), members.end(), rank) != members.end(),
         "this rank (", rank, ") is not a member of its group");
    for (size_t i = 1; i < members.size(); ++i)
      need(members[i - 1] < members[i], "group members must be sorted");
    need(bool(groups), "the plan has collectives but the runtime was started "
                       "without a communicator");
    comm = &groups(members);
    return *comm;
  }
};

/// Ring attention: this rank's key/value block travels around the ring
/// while each rank folds every visiting block into its running softmax
/// (Backend::attentionBlock). Step s attends to the block that started s
/// hops back and meanwhile passes it on (Communicator::startSendRecv: a
/// thread for Gloo, NCCL's own stream on GPUs), receiving the next one into
/// the other of two buffers. Key and value travel together, one message.
std::function<void()>
InstrBinder::ringAttention(Communicator &comm, const float *q, const float *k,
                           const float *v, float *o, int64_t B, int64_t Tq,
                           int64_t Tk, int64_t H, int64_t Dh, float scale,
                           size_t es) {
  const int P = comm.size(), to = (comm.rank() + 1) % P,
            from = (comm.rank() + P - 1) % P;
  const int64_t kvCount = B * Tk * H * Dh;
  const size_t kvBytes = size_t(kvCount) * es;
  // k and v of a block each start at a 256-byte boundary (vector loads);
  // a message is one [k | v] pair, padding included.
  const size_t slot = (kvBytes + 255) / 256 * 256, msg = 2 * slot;
  Backend *b = &be;
  // In the scratch arena: two [k | v] blocks (the one sent, the one
  // arriving), then the row log-sum-exps and, under 2-byte storage, the
  // running output (f32 whatever the storage; stored once at the end).
  const size_t lseBytes =
      (size_t(B * H * Tq) * sizeof(float) + 255) / 256 * 256;
  const int64_t oCount = B * Tq * H * Dh;
  const bool wideOut = es != sizeof(float);
  scratch->reserve(2 * msg + lseBytes +
                   (wideOut ? size_t(oCount) * sizeof(float) : 0));
  std::shared_ptr<ScratchArena> arena = scratch;
  // Gloo with a device backend: the blocks go through host buffers.
  const bool direct = be.usesHostMemory() || comm.usesDeviceMemory();
  if (!direct)
    scratch->reserveHost(2 * msg);
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

/// Pipeline stages: Send (operand, no result), Recv (result, no operand)
/// and Broadcast (result; the root also has the operand). Staged through
/// host scratch for a device backend with a host-memory communicator.
std::function<void()> InstrBinder::pointToPoint() {
  auto *a = attrs<plan::CollectiveAttrs>();
  Communicator &comm = group(*a);
  const plan::OpCode op = in.op();
  const int peer = a->peer(), tag = a->tag();
  need(peer >= 0 && peer < comm.size(), "peer ", peer, " is not one of the ",
       comm.size(), " members");
  need(op != plan::OpCode::Send || peer != comm.rank(),
       "a send to this rank itself");
  const bool root = op == plan::OpCode::Broadcast && peer == comm.rank();
  const size_t wantOps = op == plan::OpCode::Send || root ? 1 : 0;
  const size_t wantRes = op == plan::OpCode::Send ? 0 : 1;
  need(ops.size() == wantOps && res.size() == wantRes, "expected ", wantOps,
       " operand(s) and ", wantRes, " result(s), got ", ops.size(), " and ",
       res.size());
  const Ref &v = wantRes ? res[0] : ops[0];
  if (root)
    need(ops[0].dtype == v.dtype && ops[0].shape == v.shape,
         "operand and result differ");
  const size_t bytes = size_t(v.numel()) * v.es;
  const void *src = wantOps ? ops[0].ptr : nullptr;
  void *dst = wantRes ? res[0].ptr : nullptr;
  Communicator *c = &comm;
  Backend *b = &be;
  const bool direct = be.usesHostMemory() || comm.usesDeviceMemory();
  if (!direct)
    scratch->reserveHost(bytes);
  std::shared_ptr<ScratchArena> arena = scratch;
  return [=] {
    uint8_t *host = direct ? nullptr : arena->host();
    switch (op) {
    case plan::OpCode::Send:
      if (!direct)
        b->copyToHost(host, src, bytes);
      c->send(direct ? src : host, bytes, peer, tag);
      break;
    case plan::OpCode::Recv:
      c->recv(direct ? dst : host, bytes, peer, tag);
      if (!direct)
        b->copyToDevice(dst, host, bytes);
      break;
    default: // Broadcast
      if (root && direct && src != dst)
        b->copyStrided(src, int64_t(bytes), dst, int64_t(bytes), 1,
                       int64_t(bytes), 1);
      if (root && !direct)
        b->copyToHost(host, src, bytes);
      c->broadcast(direct ? dst : host, bytes, peer);
      if (!direct)
        b->copyToDevice(dst, host, bytes);
    }
  };
}

/// binary(), or with `fused` MulAdd: a * b + c, c shaped as the result.
std::function<void()> InstrBinder::binary(BinaryKind kind, bool fused) {
  counts(fused ? 3 : 2, fused ? 3 : 2);
  const Ref &a = ops[0], &b = ops[1], &y = res[0];
  f32(a, "lhs");
  f32(b, "rhs");
  f32(y, "result");
  int rank = int(y.shape.size());
  need(rank <= kMaxRank && a.shape.size() <= y.shape.size() &&
           b.shape.size() <= y.shape.size(),
       "rank too large");
  // Right-aligned NumPy broadcasting: stride 0 on broadcast dimensions.
  auto strides = [&](const Shape &s, const char *what) {
    std::vector<int64_t> st(rank, 0);
    int64_t stride = 1;
    for (int i = rank - 1, j = int(s.size()) - 1; j >= 0; --i, --j) {
      need(s[j] == y.shape[i] || s[j] == 1, what, " ", shapeToString(s),
           " does not broadcast to ", shapeToString(y.shape));
      st[i] = s[j] == 1 ? 0 : stride;
      stride *= s[j];
    }
    return st;
  };
  auto as = strides(a.shape, "lhs"), bs = strides(b.shape, "rhs");
  Shape out = y.shape;
  const float *pa = a.f32(), *pb = b.f32();
  float *py = y.f32();
  Backend *bp = &be;
  if (fused) {
    f32(ops[2], "addend");
    shape(ops[2], y.shape, "addend");
    const float *pc = ops[2].f32();
    return [=] {
      bp->mulAdd(pa, pb, pc, py, rank, out.data(), as.data(), bs.data());
    };
  }
  return [=] {
    bp->binary(kind, pa, pb, py, rank, out.data(), as.data(), bs.data());
  };
}

void InstrBinder::checkDTypes() {
  switch (in.op()) {
  case plan::OpCode::Transpose:
  case plan::OpCode::Slice:
  case plan::OpCode::Concat:
  case plan::OpCode::Copy:
  case plan::OpCode::Send:
  case plan::OpCode::Recv:
  case plan::OpCode::Broadcast:
    // Data movement: any dtype, the same on both sides.
    for (const Ref &r : ops)
      need(res.empty() || (r.dtype == res[0].dtype && r.es == res[0].es),
           "operand and result dtypes differ");
    return;
  case plan::OpCode::Embedding:
    need(ops.size() == 2 && ops[1].dtype == DType::I64, "ids must be i64");
    need(ops[0].dtype == DType::F32, "table must be f32");
    break;
  case plan::OpCode::TimestepEmbedding:
    need(ops.size() == 1 &&
             (ops[0].dtype == DType::F32 || ops[0].dtype == DType::I64),
         "timesteps must be f32 or i64");
    break;
  default:
    for (const Ref &r : ops)
      need(r.dtype == DType::F32, "operands must be f32, got ",
           dtypeName(r.dtype));
  }
  // Every computing kernel writes f32.
  for (const Ref &r : res)
    need(r.dtype == DType::F32, "results must be f32, got ",
         dtypeName(r.dtype));
}

std::function<void()> InstrBinder::bind() {
  Backend *bp = &be;
  // Kernels cast pointers by these dtypes: check them all up front so a
  // crafted plan cannot make a kernel write past a smaller buffer.
  checkDTypes();
  switch (in.op()) {
  case plan::OpCode::Linear: {
    counts(2, 3);
    const Ref &x = ops[0], &w = ops[1], &y = res[0];
    f32(x, "input");
    f32(w, "weight");
    f32(y, "result");
    need(w.shape.size() == 2 && !x.shape.empty(), "weight must be [out, in]");
    int64_t K = w.shape[1], N = w.shape[0];
    need(x.shape.back() == K, "input ", shapeToString(x.shape),
         " does not match weight ", shapeToString(w.shape));
    Shape ys = x.shape;
    ys.back() = N;
    shape(y, ys, "result");
    const float *bias = nullptr;
    if (ops.size() == 3) {
      f32(ops[2], "bias");
      shape(ops[2], {N}, "bias");
      bias = ops[2].f32();
    }
    int64_t M = K ? x.numel() / K : 0;
    const float *px = x.f32(), *pw = w.f32();
    float *py = y.f32();
    // A fused activation (LinearAttrs; the plan verifier checked the kind).
    plan::Activation act = plan::Activation::None;
    if (in.attrs_type() != plan::OpAttrs::NONE)
      act = attrs<plan::LinearAttrs>()->activation();
    UnaryKind kind;
    switch (act) {
    case plan::Activation::None:
      return [=] { bp->linear(px, pw, bias, py, M, K, N); };
    case plan::Activation::GeluTanh:
      kind = UnaryKind::GeluTanh;
      break;
    case plan::Activation::GeluErf:
      kind = UnaryKind::GeluErf;
      break;
    case plan::Activation::Silu:
      kind = UnaryKind::Silu;
      break;
    default:
      need(false, "unknown activation ", int(act));
      return nullptr;
    }
    return [=] { bp->linearActivation(px, pw, bias, py, M, K, N, kind); };
  }
  case plan::OpCode::Conv2d: {
    counts(2, 3);
    const Ref &x = ops[0], &w = ops[1], &y = res[0];
    f32(x, "input");
    f32(w, "weight");
    f32(y, "result");
    auto *a = attrs<plan::Conv2dAttrs>();
    need(x.shape.size() == 4 && w.shape.size() == 4 && w.shape[1] == x.shape[1],
         "input ", shapeToString(x.shape), " and weight ",
         shapeToString(w.shape), " are not NCHW/OIHW with matching channels");
    int64_t sh = a->stride_h(), sw = a->stride_w(), ph = a->pad_h(),
            pw = a->pad_w();
    need(sh > 0 && sw > 0 && ph >= 0 && pw >= 0 && ph < (1 << 20) &&
             pw < (1 << 20),
         "bad strides or padding");
    int64_t H = x.shape[2], W = x.shape[3], KH = w.shape[2], KW = w.shape[3];
    need(H + 2 * ph >= KH && W + 2 * pw >= KW, "kernel larger than input");
    Shape ys = {x.shape[0], w.shape[0], (H + 2 * ph - KH) / sh + 1,
                (W + 2 * pw - KW) / sw + 1};
    shape(y, ys, "result");
    const float *bias = nullptr;
    if (ops.size() == 3) {
      shape(ops[2], {w.shape[0]}, "bias");
      bias = ops[2].f32();
    }
    Shape xs = x.shape;
    int64_t O = w.shape[0];
    const float *px = x.f32(), *pwt = w.f32();
    float *py = y.f32();
    return [=] {
      bp->conv2d(px, pwt, bias, py, xs[0], xs[1], xs[2], xs[3], O, KH, KW, sh,
                 sw, ph, pw);
    };
  }
  case plan::OpCode::LayerNorm: {
    auto *a = attrs<plan::LayerNormAttrs>();
    // Modulated: x, [weight, bias,] shift, scale (the plan verifier
    // checked the count against the flag; checked again here).
    const bool mod = a->modulated();
    need((!mod && (ops.size() == 1 || ops.size() == 3)) ||
             (mod && (ops.size() == 3 || ops.size() == 5)),
         "expected ", mod ? "3 or 5" : "1 or 3", " operands, got ", ops.size());
    const size_t affineOps = ops.size() - (mod ? 2 : 0); // x [, w, b]
    need(res.size() == 1, "expected one result");
    const Ref &x = ops[0], &y = res[0];
    f32(x, "input");
    need(!x.shape.empty(), "input must have rank >= 1");
    shape(y, x.shape, "result");
    float eps = a->epsilon();
    int64_t cols = x.shape.back(), rows = cols ? x.numel() / cols : 0;
    const float *g = nullptr, *bb = nullptr;
    if (affineOps == 3) {
      shape(ops[1], {cols}, "weight");
      shape(ops[2], {cols}, "bias");
      g = ops[1].f32();
      bb = ops[2].f32();
    }
    const float *px = x.f32();
    float *py = y.f32();
    if (!mod)
      return [=] { bp->layerNorm(px, g, bb, py, rows, cols, eps); };
    need(x.shape.size() == 3, "a modulated input must be [B, T, D], got ",
         shapeToString(x.shape));
    Shape bd = {x.shape[0], x.shape[2]};
    shape(ops[affineOps], bd, "shift");
    shape(ops[affineOps + 1], bd, "scale");
    int64_t B = x.shape[0], T = x.shape[1];
    const float *ps = ops[affineOps].f32(), *pc = ops[affineOps + 1].f32();
    return
        [=] { bp->layerNormModulate(px, g, bb, ps, pc, py, B, T, cols, eps); };
  }
  case plan::OpCode::GroupNorm: {
    need(ops.size() == 1 || ops.size() == 3, "expected 1 or 3 operands");
    need(res.size() == 1, "expected one result");
    const Ref &x = ops[0], &y = res[0];
    f32(x, "input");
    need(x.shape.size() >= 2, "input must be [N, C, ...]");
    shape(y, x.shape, "result");
    auto *a = attrs<plan::GroupNormAttrs>();
    int64_t N = x.shape[0], C = x.shape[1], groups = a->num_groups();
    need(groups > 0 && C % groups == 0, "channels ", C, " not divisible by ",
         groups, " groups");
    int64_t S = (N != 0 && C != 0) ? x.numel() / (N * C) : 0;
    const float *g = nullptr, *bb = nullptr;
    if (ops.size() == 3) {
      shape(ops[1], {C}, "weight");
      shape(ops[2], {C}, "bias");
      g = ops[1].f32();
      bb = ops[2].f32();
    }
    float eps = a->epsilon();
    const float *px = x.f32();
    float *py = y.f32();
    return [=] { bp->groupNorm(px, g, bb, py, N, C, S, groups, eps); };
  }
  case plan::OpCode::RmsNorm: {
    counts(1, 2);
    const Ref &x = ops[0], &y = res[0];
    need(!x.shape.empty(), "input must have rank >= 1");
    shape(y, x.shape, "result");
    auto *a = attrs<plan::LayerNormAttrs>();
    need(!a->modulated(), "an RmsNorm is never modulated");
    const int64_t cols = x.shape.back();
    const int64_t rows = cols ? x.numel() / cols : 0;
    const float *g = nullptr;
    if (ops.size() == 2) {
      shape(ops[1], {cols}, "weight");
      g = ops[1].f32();
    }
    const float eps = a->epsilon();
    need(eps > 0.0f, "epsilon must be positive");
    const float *px = x.f32();
    float *py = y.f32();
    return [=] { bp->rmsNorm(px, g, py, rows, cols, eps); };
  }
  case plan::OpCode::UpsampleNearest: {
    counts(1, 1);
    const Ref &x = ops[0], &y = res[0];
    f32(x, "input");
    need(x.shape.size() == 4, "input must be NCHW");
    auto *a = attrs<plan::UpsampleAttrs>();
    int64_t sh = a->scale_h(), sw = a->scale_w();
    need(sh > 0 && sw > 0 && sh < (1 << 16) && sw < (1 << 16),
         "bad scale factors");
    shape(y, {x.shape[0], x.shape[1], x.shape[2] * sh, x.shape[3] * sw},
          "result");
    Shape xs = x.shape;
    const float *px = x.f32();
    float *py = y.f32();
    return [=] {
      bp->upsampleNearest(px, py, xs[0], xs[1], xs[2], xs[3], sh, sw);
    };
  }
  case plan::OpCode::Modulate: {
    counts(3, 3);
    const Ref &x = ops[0], &y = res[0];
    f32(x, "input");
    need(x.shape.size() == 3, "input must be [B, T, D]");
    Shape bd = {x.shape[0], x.shape[2]};
    shape(ops[1], bd, "shift");
    shape(ops[2], bd, "scale");
    shape(y, x.shape, "result");
    int64_t B = x.shape[0], T = x.shape[1], D = x.shape[2];
    const float *px = x.f32(), *ps = ops[1].f32(), *pc = ops[2].f32();
    float *py = y.f32();
    return [=] { bp->modulate(px, ps, pc, py, B, T, D); };
  }
  case plan::OpCode::Attention: {
    counts(3, 3);
    const Ref &q = ops[0], &k = ops[1], &v = ops[2], &y = res[0];
    f32(q, "query");
    need(q.shape.size() == 3 && k.shape.size() == 3, "q, k, v must be rank 3");
    shape(v, k.shape, "value");
    need(k.shape[0] == q.shape[0] && k.shape[2] == q.shape[2],
         "query and key disagree in batch or width");
    shape(y, q.shape, "result");
    auto *a = attrs<plan::AttentionAttrs>();
    int64_t H = a->num_heads();
    need(H > 0 && q.shape[2] % H == 0, "width ", q.shape[2],
         " not divisible by ", H, " heads");
    int64_t B = q.shape[0], Tq = q.shape[1], Tk = k.shape[1],
            Dh = q.shape[2] / H;
    float scale = a->scale();
    const float *pq = q.f32(), *pk = k.f32(), *pv = v.f32();
    float *py = y.f32();
    if (a->ring_members() && a->ring_members()->size() > 1)
      return ringAttention(group(a->ring_members()), pq, pk, pv, py, B, Tq, Tk,
                           H, Dh, scale, k.es);
    return [=] { bp->attention(pq, pk, pv, py, B, Tq, Tk, H, Dh, scale); };
  }
  case plan::OpCode::Gelu:
  case plan::OpCode::Silu: {
    counts(1, 1);
    f32(ops[0], "input");
    shape(res[0], ops[0].shape, "result");
    UnaryKind kind = UnaryKind::Silu;
    if (in.op() == plan::OpCode::Gelu)
      kind = attrs<plan::GeluAttrs>()->tanh() ? UnaryKind::GeluTanh
                                              : UnaryKind::GeluErf;
    const float *px = ops[0].f32();
    float *py = res[0].f32();
    int64_t n = ops[0].numel();
    return [=] { bp->unary(kind, px, py, n); };
  }
  case plan::OpCode::Add:
    return binary(BinaryKind::Add);
  case plan::OpCode::Sub:
    return binary(BinaryKind::Sub);
  case plan::OpCode::Mul:
    return binary(BinaryKind::Mul);
  case plan::OpCode::Div:
    return binary(BinaryKind::Div);
  case plan::OpCode::MulAdd:
    return binary(BinaryKind::Mul, /*fused=*/true);
  case plan::OpCode::TimestepEmbedding: {
    counts(1, 1);
    const Ref &t = ops[0], &y = res[0];
    auto *a = attrs<plan::TimestepEmbeddingAttrs>();
    need(t.shape.size() == 1, "timesteps must be [B]");
    need(t.dtype == DType::F32 || t.dtype == DType::I64,
         "timesteps must be f32 or i64");
    shape(y, {t.shape[0], a->dim()}, "result");
    f32(y, "result");
    const float *tf = t.dtype == DType::F32 ? t.f32() : nullptr;
    const int64_t *ti =
        t.dtype == DType::I64 ? static_cast<const int64_t *>(t.ptr) : nullptr;
    float *py = y.f32();
    int64_t B = t.shape[0], dim = a->dim();
    bool flip = a->flip_sin_to_cos();
    float shift = a->downscale_freq_shift(), sc = a->scale(),
          period = a->max_period();
    need(float(dim / 2) != shift, "dim too small for the frequency shift");
    return [=] {
      bp->timestepEmbedding(tf, ti, py, B, dim, flip, shift, sc, period);
    };
  }
  case plan::OpCode::Embedding: {
    counts(2, 2);
    const Ref &table = ops[0], &ids = ops[1], &y = res[0];
    f32(table, "table");
    need(table.shape.size() == 2, "table must be [V, D]");
    need(ids.dtype == DType::I64, "ids must be i64");
    Shape ys = ids.shape;
    ys.push_back(table.shape[1]);
    shape(y, ys, "result");
    const float *pt = table.f32();
    const int64_t *pi = static_cast<const int64_t *>(ids.ptr);
    float *py = y.f32();
    int64_t n = ids.numel(), V = table.shape[0], D = table.shape[1];
    return [=] { bp->embedding(pt, pi, py, n, V, D); };
  }
  case plan::OpCode::PosEmbed2d: {
    counts(0, 0);
    auto *a = attrs<plan::PosEmbed2dAttrs>();
    need(a->grid_h() > 0 && a->grid_w() > 0 && a->dim() > 0 &&
             a->dim() % 4 == 0,
         "bad grid or dim");
    shape(res[0], {1, a->grid_h() * a->grid_w(), a->dim()}, "result");
    float *py = res[0].f32();
    int64_t gh = a->grid_h(), gw = a->grid_w(), dim = a->dim();
    double base = a->base_size(), interp = a->interpolation_scale();
    need(base > 0 && interp > 0, "bad base_size or interpolation_scale");
    return [=] { bp->posEmbed2d(py, gh, gw, dim, base, interp); };
  }
  case plan::OpCode::Transpose: {
    counts(1, 1);
    const Ref &x = ops[0], &y = res[0];
    auto *a = attrs<plan::TransposeAttrs>();
    need(a->permutation() != nullptr, "missing permutation");
    Shape perm(a->permutation()->begin(), a->permutation()->end());
    int rank = int(x.shape.size());
    need(rank <= kMaxRank && perm.size() == x.shape.size(),
         "permutation does not match the input rank");
    std::vector<bool> seen(rank, false);
    Shape ys;
    for (int64_t p : perm) {
      need(p >= 0 && p < rank && !seen[p], "invalid permutation");
      seen[p] = true;
      ys.push_back(x.shape[p]);
    }
    shape(y, ys, "result");
    need(y.dtype == x.dtype, "dtype changes");
    Shape xs = x.shape;
    size_t es = x.es;
    const void *px = x.ptr;
    void *py = y.ptr;
    return [=] { bp->transpose(px, py, rank, xs.data(), perm.data(), es); };
  }
  case plan::OpCode::Slice: {
    counts(1, 1);
    const Ref &x = ops[0], &y = res[0];
    auto *a = attrs<plan::AxisAttrs>();
    int64_t axis = a->axis(), start = a->start();
    need(axis >= 0 && axis < int64_t(x.shape.size()), "axis out of range");
    need(y.dtype == x.dtype && y.shape.size() == x.shape.size(),
         "result does not match the input");
    int64_t size = y.shape[axis];
    Shape ys = x.shape;
    ys[axis] = size;
    shape(y, ys, "result");
    need(start >= 0 && start <= x.shape[axis] && size <= x.shape[axis] - start,
         "slice outside the input");
    int64_t inner = 1, outer = 1;
    for (size_t d = axis + 1; d < x.shape.size(); ++d)
      inner *= x.shape[d];
    for (int64_t d = 0; d < axis; ++d)
      outer *= x.shape[d];
    size_t es = x.es;
    const uint8_t *src =
        static_cast<const uint8_t *>(x.ptr) + start * inner * es;
    void *dst = y.ptr;
    int64_t srcRow = x.shape[axis] * inner, rowElems = size * inner;
    return [=] {
      bp->copyStrided(src, srcRow, dst, rowElems, outer, rowElems, es);
    };
  }
  case plan::OpCode::Concat: {
    need(!ops.empty() && res.size() == 1, "needs inputs and one result");
    const Ref &y = res[0];
    auto *a = attrs<plan::AxisAttrs>();
    int64_t axis = a->axis();
    need(axis >= 0 && axis < int64_t(y.shape.size()), "axis out of range");
    int64_t inner = 1, outer = 1, total = 0;
    for (size_t d = axis + 1; d < y.shape.size(); ++d)
      inner *= y.shape[d];
    for (int64_t d = 0; d < axis; ++d)
      outer *= y.shape[d];
    size_t es = y.es;
    struct Part {
      const void *src;
      int64_t rowElems, dstOffset;
    };
    std::vector<Part> parts;
    for (const Ref &x : ops) {
      need(x.dtype == y.dtype && x.shape.size() == y.shape.size(),
           "inputs must match the result's dtype and rank");
      Shape want = y.shape;
      want[axis] = x.shape[axis];
      shape(x, want, "input");
      parts.push_back({x.ptr, x.shape[axis] * inner, total * inner});
      total += x.shape[axis];
    }
    need(total == y.shape[axis], "inputs do not add up to the result");
    int64_t dstRow = y.shape[axis] * inner;
    uint8_t *dst = static_cast<uint8_t *>(y.ptr);
    return [=] {
      for (const Part &p : parts)
        bp->copyStrided(p.src, p.rowElems, dst + p.dstOffset * es, dstRow,
                        outer, p.rowElems, es);
    };
  }
  case plan::OpCode::AllReduce: {
    counts(1, 1);
    shape(res[0], ops[0].shape, "result");
    f32(ops[0], "operand");
    Communicator &comm = group(*attrs<plan::CollectiveAttrs>());
    const void *src = ops[0].ptr;
    void *dst = res[0].ptr;
    size_t n = size_t(ops[0].numel()), es = ops[0].es;
    // The sum is taken in the storage type (NCCL sums bf16 as bf16, as
    // PyTorch's bf16 tensor parallelism does).
    const DType t = es == 4 ? DType::F32 : be.floatStorage();
    Communicator *c = &comm;
    Backend *b = &be;
    if (comm.usesDeviceMemory()) // NCCL: in place, on the backend's stream
      return [=] {
        if (dst != src)
          b->copyStrided(src, int64_t(n), dst, int64_t(n), 1, int64_t(n), es);
        c->allReduceSumOf(dst, n, t);
      };
    if (be.usesHostMemory())
      return [=] {
        if (dst != src)
          std::memcpy(dst, src, n * es);
        c->allReduceSumOf(dst, n, t);
      };
    // Device memory: the communicator works on host buffers, so the data
    // goes down, is reduced there and comes back up.
    scratch->reserveHost(n * es);
    std::shared_ptr<ScratchArena> arena = scratch;
    return [=] {
      uint8_t *host = arena->host();
      b->copyToHost(host, src, n * es);
      c->allReduceSumOf(host, n, t);
      b->copyToDevice(dst, host, n * es);
    };
  }
  case plan::OpCode::AllGather: {
    counts(1, 1);
    auto *a = attrs<plan::CollectiveAttrs>();
    Communicator &comm = group(*a);
    const Ref &x = ops[0], &y = res[0];
    int64_t dim = a->dim();
    need(dim >= 0 && dim < int64_t(x.shape.size()), "gather dimension ", dim,
         " out of range");
    need(y.dtype == x.dtype, "dtype changes");
    Shape want = x.shape;
    want[dim] *= comm.size();
    shape(y, want, "result");
    size_t es = x.es;
    size_t bytes = size_t(x.numel()) * es;
    const void *src = x.ptr;
    void *dst = y.ptr;
    Communicator *c = &comm;
    int64_t parts = comm.size();
    bool host = be.usesHostMemory();
    Backend *b = &be;
    // Along an inner dimension the blocks arrive contiguously and are then
    // interleaved into place ([P, outer, inner] -> [outer, P * inner]).
    int64_t outer = 1, inner = 1;
    for (int64_t d = 0; d < dim; ++d)
      outer *= x.shape[d];
    for (size_t d = dim; d < x.shape.size(); ++d)
      inner *= x.shape[d];
    const bool direct = host || comm.usesDeviceMemory();
    if (asyncRegion && direct) {
      // The region holds [gathered blocks (inner dimension) | this rank's
      // block]: the operand is copied there first, as its own memory may be
      // reused by the next instruction's result while the gather still
      // reads it (its live range ends here).
      auto pending = std::make_shared<std::function<void()>>();
      std::shared_ptr<ScratchArena> region = asyncRegion;
      const size_t mineAt = dim == 0 ? 0 : bytes * parts;
      region->reserve(mineAt + bytes);
      finish = [=] {
        (*pending)();
        *pending = nullptr;
        if (dim == 0)
          return;
        auto *blocks = static_cast<uint8_t *>(region->get());
        for (int64_t p = 0; p < parts; ++p)
          b->copyStrided(blocks + p * bytes, inner,
                         static_cast<uint8_t *>(dst) + p * inner * es,
                         parts * inner, outer, inner, es);
      };
      return [=] {
        auto *blocks = static_cast<uint8_t *>(region->get());
        uint8_t *mine = blocks + mineAt;
        b->copyStrided(src, int64_t(bytes), mine, int64_t(bytes), 1,
                       int64_t(bytes), 1);
        *pending = c->startAllGather(mine, dim == 0 ? dst : blocks, bytes);
      };
    }
    if (direct && dim == 0)
      return [=] { c->allGather(src, dst, bytes); };
    std::shared_ptr<ScratchArena> arena = scratch;
    if (comm.usesDeviceMemory()) {
      // NCCL: gather into backend memory, interleave there.
      scratch->reserve(bytes * parts);
      return [=] {
        auto *blocks = static_cast<uint8_t *>(arena->get());
        c->allGather(src, blocks, bytes);
        for (int64_t p = 0; p < parts; ++p)
          b->copyStrided(blocks + p * bytes, inner,
                         static_cast<uint8_t *>(dst) + p * inner * es,
                         parts * inner, outer, inner, es);
      };
    }
    if (host) {
      scratch->reserveHost(bytes * parts);
      return [=] {
        uint8_t *staging = arena->host();
        c->allGather(src, staging, bytes);
        for (int64_t p = 0; p < parts; ++p)
          b->copyStrided(staging + p * bytes, inner,
                         static_cast<uint8_t *>(dst) + p * inner * es,
                         parts * inner, outer, inner, es);
      };
    }
    // Device memory: gather on the host, interleave there, copy up once.
    // [mine | all | out]: this rank's block, the gathered blocks, and
    // (for an inner dimension) their interleaving.
    scratch->reserveHost(bytes * (1 + parts + (dim == 0 ? 0 : parts)));
    return [=] {
      uint8_t *mine = arena->host(), *all = mine + bytes,
              *out = all + bytes * parts;
      b->copyToHost(mine, src, bytes);
      c->allGather(mine, all, bytes);
      if (dim == 0) {
        b->copyToDevice(dst, all, bytes * parts);
        return;
      }
      size_t row = size_t(inner) * es;
      for (int64_t p = 0; p < parts; ++p)
        for (int64_t o = 0; o < outer; ++o)
          std::memcpy(out + (size_t(o) * parts + p) * row,
                      all + p * bytes + size_t(o) * row, row);
      b->copyToDevice(dst, out, bytes * parts);
    };
  }
  case plan::OpCode::AllToAll: {
    counts(1, 1);
    auto *a = attrs<plan::CollectiveAttrs>();
    Communicator &comm = group(*a);
    const Ref &x = ops[0], &y = res[0];
    int64_t rank = int64_t(x.shape.size()), sd = a->split_dim(),
            cd = a->concat_dim(), parts = comm.size();
    need(sd >= 0 && sd < rank && cd >= 0 && cd < rank, "split dimension ", sd,
         " or concat dimension ", cd, " out of range");
    need(x.shape[sd] % parts == 0, "split dimension ", sd, " of ",
         shapeToString(x.shape), " not divisible by ", parts, " members");
    need(y.dtype == x.dtype, "dtype changes");
    Shape block = x.shape; // what each member sends each other member
    block[sd] /= parts;
    Shape want = block;
    want[cd] *= parts;
    shape(y, want, "result");
    size_t es = x.es;
    size_t bytes = size_t(numElements(block)) * es;
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
    Backend *b = &be;
    // pack: x -> contiguous blocks; unpack: blocks -> y. `copy` is the
    // backend's strided copy, or a host one for host-staged data.
    using Copy = std::function<void(const void *, int64_t, void *, int64_t,
                                    int64_t, int64_t)>;
    auto pack = [=](const Copy &copy, const uint8_t *from, uint8_t *blocks) {
      for (int64_t p = 0; p < parts; ++p)
        copy(from + p * runS * es, parts * runS, blocks + p * bytes, runS,
             outerS, runS);
    };
    auto unpack = [=](const Copy &copy, const uint8_t *blocks, uint8_t *to) {
      for (int64_t p = 0; p < parts; ++p)
        copy(blocks + p * bytes, runC, to + p * runC * es, parts * runC, outerC,
             runC);
    };
    Copy onBackend = [b, es](const void *s, int64_t sr, void *d, int64_t dr,
                             int64_t rows, int64_t n) {
      b->copyStrided(s, sr, d, dr, rows, n, es);
    };
    if (asyncRegion && (be.usesHostMemory() || comm.usesDeviceMemory())) {
      auto pending = std::make_shared<std::function<void()>>();
      std::shared_ptr<ScratchArena> region = asyncRegion;
      region->reserve(2 * bytes * parts);
      finish = [=] {
        (*pending)();
        *pending = nullptr;
        unpack(onBackend, static_cast<uint8_t *>(region->get()) + bytes * parts,
               dst);
      };
      return [=] {
        auto *send = static_cast<uint8_t *>(region->get());
        pack(onBackend, src, send);
        *pending = c->startAllToAll(send, send + bytes * parts, bytes);
      };
    }
    if (be.usesHostMemory() || comm.usesDeviceMemory()) {
      // Both buffers in the communicator's memory: pack, exchange, unpack
      // there (NCCL queues on the backend's stream, in order).
      scratch->reserve(2 * bytes * parts);
      std::shared_ptr<ScratchArena> arena = scratch;
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
    Copy onHost = [es](const void *s, int64_t sr, void *d, int64_t dr,
                       int64_t rows, int64_t n) {
      for (int64_t r = 0; r < rows; ++r)
        std::memcpy(static_cast<uint8_t *>(d) + size_t(r * dr) * es,
                    static_cast<const uint8_t *>(s) + size_t(r * sr) * es,
                    size_t(n) * es);
    };
    scratch->reserveHost(4 * bytes * parts);
    std::shared_ptr<ScratchArena> arena = scratch;
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
  case plan::OpCode::Send:
  case plan::OpCode::Recv:
  case plan::OpCode::Broadcast:
    return pointToPoint();
  case plan::OpCode::Copy: {
    counts(1, 1);
    need(ops[0].dtype == res[0].dtype && ops[0].numel() == res[0].numel(),
         "copy between different sizes");
    const void *src = ops[0].ptr;
    void *dst = res[0].ptr;
    // One row of the strided copy: a plain copy in the backend's memory.
    int64_t n = ops[0].numel();
    size_t es = ops[0].es;
    return [=] { bp->copyStrided(src, n, dst, n, 1, n, es); };
  }
  }
  fail(where, ": op code ", int(in.op()), " is not implemented by the ",
       be.name(), " backend");
}

} // namespace

/// Data movement: the instructions that copy elements without computing.
static bool movesData(plan::OpCode op) {
  switch (op) {
  case plan::OpCode::Transpose:
  case plan::OpCode::Slice:
  case plan::OpCode::Concat:
  case plan::OpCode::Copy:
  case plan::OpCode::AllGather:
  case plan::OpCode::AllToAll:
  case plan::OpCode::Send:
  case plan::OpCode::Recv:
  case plan::OpCode::Broadcast:
    return true;
  default:
    return false;
  }
}

/// Under bf16/f16 storage, the f32 values that stay f32 in memory: the
/// timestep embedding's f32 timesteps and whatever only moves them there
/// (CFG's slice of the function input). Such a value may not feed any
/// other computation.
static std::vector<bool> pinnedToF32(const plan::Function &f,
                                     const std::string &ctx, DType storage) {
  const size_t n = f.values()->size();
  std::vector<bool> pin(n, false);
  auto isF32 = [&](int32_t id) {
    return DType(f.values()->Get(id)->dtype()) == DType::F32;
  };
  for (const plan::Instr *in : *f.instrs())
    if (in->op() == plan::OpCode::TimestepEmbedding &&
        in->operands()->size() == 1 && isF32(in->operands()->Get(0)))
      pin[in->operands()->Get(0)] = true;
  // A reshape is no instruction but a second value at its operand's offset
  // (a view): it shares the pin of the value written there last before the
  // view is first read.
  const uint32_t m = f.instrs()->size();
  std::vector<int64_t> defAt(n, INT64_MIN), firstUse(n, int64_t(m));
  for (int32_t id : *f.inputs())
    defAt[id] = -1;
  for (uint32_t i = 0; i < m; ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    for (int32_t id : *in->results())
      defAt[id] = i;
    for (int32_t id : *in->operands())
      firstUse[id] = std::min(firstUse[id], int64_t(i));
  }
  std::vector<std::pair<int32_t, int32_t>> views; // (view, viewed)
  for (size_t v = 0; v < n; ++v) {
    const plan::Value *val = f.values()->Get(flatbuffers::uoffset_t(v));
    if (defAt[v] != INT64_MIN || val->kind() != plan::ValueKind::Arena)
      continue;
    int64_t best = INT64_MIN;
    int32_t root = -1;
    for (size_t r = 0; r < n; ++r) {
      const plan::Value *rv = f.values()->Get(flatbuffers::uoffset_t(r));
      if (defAt[r] == INT64_MIN || rv->kind() != plan::ValueKind::Arena ||
          rv->offset() != val->offset() || defAt[r] >= int64_t(firstUse[v]) ||
          defAt[r] <= best)
        continue;
      best = defAt[r];
      root = int32_t(r);
    }
    if (root >= 0)
      views.push_back({int32_t(v), root});
  }
  // Through data movement and views, both ways, until nothing changes.
  for (bool changed = true; changed;) {
    changed = false;
    for (auto [v, r] : views)
      if (pin[v] != pin[r] && isF32(v) && isF32(r))
        pin[v] = pin[r] = changed = true;
    for (const plan::Instr *in : *f.instrs()) {
      if (!movesData(in->op()))
        continue;
      bool any = false;
      for (int32_t id : *in->operands())
        any |= pin[id];
      for (int32_t id : *in->results())
        any |= pin[id];
      if (!any)
        continue;
      for (auto *ids : {in->operands(), in->results()})
        for (int32_t id : *ids)
          if (isF32(id) && !pin[id])
            pin[id] = changed = true;
    }
  }
  for (flatbuffers::uoffset_t i = 0; i < f.instrs()->size(); ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    // Another rank decides its own pins: a message of f32 timesteps there
    // might be one of 2-byte values here.
    const bool crossesRanks =
        in->op() == plan::OpCode::AllGather ||
        in->op() == plan::OpCode::AllToAll || in->op() == plan::OpCode::Send ||
        in->op() == plan::OpCode::Recv || in->op() == plan::OpCode::Broadcast;
    if (crossesRanks)
      for (auto *ids : {in->operands(), in->results()})
        for (int32_t id : *ids)
          check(!pin[id], "invalid plan ", ctx, ", instruction ", i, " (",
                plan::EnumNameOpCode(in->op()), "): with ", dtypeName(storage),
                " storage the timesteps stay f32, but value ", id,
                " (timesteps) would go to another rank, which is not "
                "supported: run with --dtype f32, or embed the timesteps on "
                "the rank that receives them");
    if (movesData(in->op()))
      continue;
    for (auto *ids : {in->operands(), in->results()})
      for (int32_t id : *ids)
        check(!pin[id] || (in->op() == plan::OpCode::TimestepEmbedding &&
                           ids == in->operands()),
              "invalid plan ", ctx, ", instruction ", i, " (",
              plan::EnumNameOpCode(in->op()), "): with ", dtypeName(storage),
              " storage the timesteps stay f32, but value ", id,
              " is both timesteps and an operand or result of this "
              "instruction");
  }
  for (flatbuffers::uoffset_t i = 0; i < n; ++i)
    check(!pin[i] || f.values()->Get(i)->kind() == plan::ValueKind::Arena,
          "invalid plan ", ctx, ": value ", i,
          " is a weight used as timesteps");
  return pin;
}

Executor::Executor(const LoadedPlan &plan, int rank, Backend &backend,
                   const WeightStore &weights, GroupResolver groups)
    : plan_(plan), scratch_(std::make_shared<ScratchArena>(backend)),
      rank_(rank), groups_(std::move(groups)), backend_(backend),
      weights_(weights), arena_(nullptr, Release{&backend}),
      weightMemory_(nullptr, Release{&backend}) {
  const plan::RankProgram &rp = plan.rank(rank);
  check(weights.size() == (rp.weights() ? rp.weights()->size() : 0),
        "weight store does not match the plan's weight table");
  ArenaLayout layout = layOutArena(plan, rank, backend.floatStorage());
  arenaBytes_ = layout.bytes;
  arena_.reset(backend.allocate(arenaBytes_ ? arenaBytes_ : 1));
  uploadWeights();
  for (const plan::Function *f : *rp.functions())
    bind(*f, layout.functions.at(f->name()->str()),
         functions_[f->name()->str()]);
}

ArenaLayout layOutArena(const LoadedPlan &plan, int rank, DType storage) {
  const plan::RankProgram &rp = plan.rank(rank);
  ArenaLayout out;
  std::map<std::string, ArenaLayout::Function> &layouts = out.functions;
  out.bytes = rp.arena_bytes();
  for (const plan::Function *f : *rp.functions()) {
    ArenaLayout::Function &l = layouts[f->name()->str()];
    const size_t n = f->values()->size();
    l.pinned.assign(n, false);
    l.offset.resize(n);
    for (size_t i = 0; i < n; ++i)
      l.offset[i] = f->values()->Get(flatbuffers::uoffset_t(i))->offset();
    if (storage != DType::F32)
      l.pinned = pinnedToF32(*f,
                             plan.name() + ", rank " + std::to_string(rank) +
                                 ", function '" + f->name()->str() + "'",
                             storage);
  }
  if (dtypeSize(storage) != 2)
    return out;
  // 2-byte floats: the plan's layout (for f32) with every offset halved
  // holds the float values in half the bytes, as no two overlap in it. The
  // values that keep their size (ids, the f32 timesteps) go after it, one
  // slot per function and plan offset (a view shares its root's offset).
  const uint64_t floats = (rp.arena_bytes() / 2 + 63) / 64 * 64;
  std::map<std::pair<std::string, uint64_t>, uint64_t> slotBytes;
  auto keepsSize = [&](const plan::Value &v, const ArenaLayout::Function &l,
                       size_t i) {
    return v.kind() == plan::ValueKind::Arena &&
           (DType(v.dtype()) != DType::F32 || l.pinned[i]);
  };
  for (const plan::Function *f : *rp.functions()) {
    const ArenaLayout::Function &l = layouts.at(f->name()->str());
    for (size_t i = 0; i < l.offset.size(); ++i) {
      const plan::Value &v = *f->values()->Get(flatbuffers::uoffset_t(i));
      if (!keepsSize(v, l, i))
        continue;
      uint64_t &b = slotBytes[{f->name()->str(), v.offset()}];
      b = std::max(b, valueBytes(v));
    }
  }
  std::map<std::pair<std::string, uint64_t>, uint64_t> slotAt;
  uint64_t end = floats;
  for (const auto &[key, bytes] : slotBytes) {
    slotAt[key] = end;
    end += (std::max<uint64_t>(bytes, 1) + 63) / 64 * 64;
  }
  for (const plan::Function *f : *rp.functions()) {
    ArenaLayout::Function &l = layouts.at(f->name()->str());
    for (size_t i = 0; i < l.offset.size(); ++i) {
      const plan::Value &v = *f->values()->Get(flatbuffers::uoffset_t(i));
      l.offset[i] = keepsSize(v, l, i)
                        ? slotAt.at({f->name()->str(), v.offset()})
                        : v.offset() / 2;
    }
  }
  out.bytes = end;
  return out;
}

Executor::~Executor() = default;

void Executor::uploadWeights() {
  weightPtrs_.resize(weights_.size());
  const DType storage = backend_.floatStorage();
  if (backend_.usesHostMemory()) {
    check(storage == DType::F32, "the ", backend_.name(),
          " backend uses host weights in place, so it must store f32, not ",
          dtypeName(storage));
    // f32 in place; the store widens a bf16/f16 checkpoint's slices here.
    for (size_t i = 0; i < weights_.size(); ++i)
      weightPtrs_[i] = weights_.data(int(i));
    return;
  }
  // One allocation, each weight at a 256-byte boundary (what cuBLASLt's
  // fastest kernels assume), copied once in the float storage: straight
  // from the store when the checkpoint has that dtype, else converted one
  // tensor at a time into a reused buffer (never the whole model).
  const size_t es = dtypeSize(storage);
  auto padded = [](size_t bytes) { return (bytes + 255) / 256 * 256; };
  size_t total = 0;
  for (size_t i = 0; i < weights_.size(); ++i)
    total += padded(weights_.count(int(i)) * es);
  if (total == 0)
    return;
  weightMemory_.reset(backend_.allocate(total));
  auto *base = static_cast<uint8_t *>(weightMemory_.get());
  size_t offset = 0;
  std::vector<uint8_t> converted;
  for (size_t i = 0; i < weights_.size(); ++i) {
    const size_t bytes = weights_.count(int(i)) * es;
    const void *host = weights_.bytes(int(i));
    if (weights_.dtype(int(i)) != storage) {
      converted.resize(bytes);
      weights_.copyAs(int(i), storage, converted.data());
      host = converted.data();
    }
    // copyToDevice is done with `host` when it returns.
    backend_.copyToDevice(base + offset, host, bytes);
    weightPtrs_[i] = reinterpret_cast<const float *>(base + offset);
    offset += padded(bytes);
  }
  backend_.synchronize();
}

/// For each instruction, the index of the first instruction that must wait
/// for it if it runs asynchronously (the first that reads its result, or
/// the function's end), or 0 when it runs in place: only all_to_all and
/// all_gather whose result is not read at once, and only when no other
/// communication happens before the wait except more of those on the same
/// group (a communicator's calls stay in one order on one stream; other
/// groups' NCCL kernels must not run concurrently). FRESCO_ASYNC_COLLECTIVES=0
/// keeps every collective in place, to measure what the overlap buys.
///
/// The result is found by its memory (`refs`), not only by its value id: a
/// reshape is no instruction but a second value at the same offset (a view
/// read under another id), and a result nothing reads may share its memory
/// with a value defined later, which must not be written before the wait.
static std::vector<uint32_t> asyncWindows(const plan::Function &f,
                                          const std::vector<Ref> &refs) {
  const uint32_t n = f.instrs()->size();
  std::vector<uint32_t> until(n, 0);
  const char *env = std::getenv("FRESCO_ASYNC_COLLECTIVES");
  if (env && std::string(env) == "0")
    return until;
  auto members = [](const plan::Instr &in) {
    const plan::CollectiveAttrs *a = in.attrs_as_CollectiveAttrs();
    return a && a->members()
               ? std::vector<int>(a->members()->begin(), a->members()->end())
               : std::vector<int>();
  };
  auto communicates = [](const plan::Instr &in) {
    if (in.attrs_as_CollectiveAttrs())
      return true;
    const plan::AttentionAttrs *a = in.attrs_as_AttentionAttrs();
    return a && a->ring_members() && a->ring_members()->size() > 1;
  };
  for (uint32_t i = 0; i < n; ++i) {
    const plan::Instr &in = *f.instrs()->Get(i);
    if ((in.op() != plan::OpCode::AllToAll &&
         in.op() != plan::OpCode::AllGather) ||
        in.results()->size() != 1)
      continue;
    const int32_t r = in.results()->Get(0);
    const auto *rBegin = static_cast<const uint8_t *>(refs[r].ptr);
    const uint8_t *rEnd = rBegin + size_t(refs[r].numel()) * refs[r].es;
    auto touches = [&](const flatbuffers::Vector<int32_t> *ids) {
      for (int32_t id : *ids) {
        if (id == r)
          return true;
        const auto *b = static_cast<const uint8_t *>(refs[id].ptr);
        const uint8_t *e = b + size_t(refs[id].numel()) * refs[id].es;
        if (b < rEnd && rBegin < e)
          return true;
      }
      return false;
    };
    uint32_t j = i + 1;
    bool ok = true;
    for (; j < n; ++j) {
      const plan::Instr &next = *f.instrs()->Get(j);
      if (touches(next.operands()) || touches(next.results()))
        break;
      if (communicates(next) && ((next.op() != plan::OpCode::AllToAll &&
                                  next.op() != plan::OpCode::AllGather) ||
                                 members(next) != members(in))) {
        ok = false;
        break;
      }
    }
    if (ok && j > i + 1)
      until[i] = j;
  }
  return until;
}

void Executor::bind(const plan::Function &f,
                    const ArenaLayout::Function &layout, Bound &out) {
  std::string ctx = plan_.name() + ", rank " + std::to_string(rank_) +
                    ", function '" + f.name()->str() + "'";
  const DType storage = backend_.floatStorage();
  const std::vector<bool> &pinned = layout.pinned;
  std::vector<Ref> refs;
  refs.reserve(f.values()->size());
  for (flatbuffers::uoffset_t i = 0; i < f.values()->size(); ++i) {
    const plan::Value *v = f.values()->Get(i);
    void *ptr = v->kind() == plan::ValueKind::Arena
                    ? static_cast<void *>(static_cast<uint8_t *>(arena_.get()) +
                                          layout.offset[i])
                    : const_cast<float *>(weightPtrs_.at(v->weight()));
    DType t = DType(v->dtype());
    size_t es =
        t == DType::F32 && !pinned[i] ? dtypeSize(storage) : dtypeSize(t);
    refs.push_back({ptr, t, Shape(v->shape()->begin(), v->shape()->end()), es});
  }
  const std::vector<uint32_t> asyncUntil = asyncWindows(f, refs);
  // Interval colouring of the asynchronous windows [start, wait): each gets
  // a scratch region no other window open at the same time uses.
  std::vector<uint32_t> regionFreeAt;
  auto asyncRegion = [&](uint32_t start, uint32_t wait) {
    size_t k = 0;
    while (k < regionFreeAt.size() && regionFreeAt[k] > start)
      ++k;
    if (k == regionFreeAt.size())
      regionFreeAt.push_back(0);
    regionFreeAt[k] = wait;
    while (asyncRegions_.size() <= k)
      asyncRegions_.push_back(std::make_shared<ScratchArena>(backend_));
    return asyncRegions_[k];
  };
  std::map<uint32_t, std::vector<std::pair<std::string, std::function<void()>>>>
      finishes;
  for (flatbuffers::uoffset_t i = 0; i < f.instrs()->size(); ++i) {
    const plan::Instr *in = f.instrs()->Get(i);
    std::vector<Ref> ops, res;
    for (int32_t id : *in->operands())
      ops.push_back(refs[id]);
    for (int32_t id : *in->results())
      res.push_back(refs[id]);
    InstrBinder binder(*in, std::move(ops), std::move(res), backend_,
                       "invalid plan " + ctx + ", instruction " +
                           std::to_string(i),
                       groups_, rank_, scratch_);
    // The collectives started earlier that this instruction needs.
    for (auto &[name, wait] : finishes[i]) {
      out.steps.push_back(std::move(wait));
      out.stepOps.push_back(name + " (wait)");
    }
    finishes.erase(i);
    const uint32_t waitAt = asyncUntil[i];
    if (waitAt > i + 1)
      binder.asyncRegion = asyncRegion(i, waitAt);
    out.steps.push_back(binder.bind());
    if (binder.finish)
      finishes[waitAt].push_back({opName(in->op()), std::move(binder.finish)});
    const plan::AttentionAttrs *ring = in->attrs_as_AttentionAttrs();
    if (ring && !(ring->ring_members() && ring->ring_members()->size() > 1))
      ring = nullptr;
    out.stepOps.push_back(ring ? "RingAttention" : opName(in->op()));
    // A collective can be recorded with the kernels only where it is queued
    // in order with them on the backend's own memory (NCCL): staged through
    // the host or blocking (Gloo), it must run every time.
    if (Communicator *c = binder.communicator()) {
      if (!c->usesDeviceMemory() || backend_.usesHostMemory())
        out.recordable = false;
      else if (std::find(out.comms.begin(), out.comms.end(), c) ==
               out.comms.end())
        out.comms.push_back(c);
    }
  }
  // Collectives whose results only the function's outputs use: waited for
  // at its end.
  for (auto &[at, waits] : finishes)
    for (auto &[name, wait] : waits) {
      out.steps.push_back(std::move(wait));
      out.stepOps.push_back(name + " (wait)");
    }
  // What the backend holds for each input and output: the f32 ones are
  // converted on the host, on their way in and out, to and from the
  // storage type.
  auto stored = [&](const Ref &r) {
    return r.dtype == DType::F32 && r.es != 4 ? storage : r.dtype;
  };
  for (flatbuffers::uoffset_t i = 0; i < f.inputs()->size(); ++i) {
    const Ref &r = refs[f.inputs()->Get(i)];
    out.inputs.push_back({f.input_names()->Get(i)->str(), r.dtype, r.shape});
    out.inputPtrs.push_back(r.ptr);
    out.inputStored.push_back(stored(r));
  }
  for (flatbuffers::uoffset_t i = 0; i < f.outputs()->size(); ++i) {
    const Ref &r = refs[f.outputs()->Get(i)];
    out.outputs.push_back({f.output_names()->Get(i)->str(), r.dtype, r.shape});
    out.outputPtrs.push_back(r.ptr);
    out.outputStored.push_back(stored(r));
  }
}

bool Executor::replayed(const std::string &function) const {
  return bound(function).replayed;
}

void Executor::setProfiling(bool on) {
  profiling_ = on;
  profile_.clear();
}

const Executor::Bound &Executor::bound(const std::string &function) const {
  auto it = functions_.find(function);
  if (it == functions_.end())
    plan_.function(rank_, function); // throws, listing the known names
  return it->second;
}

const std::vector<TensorSpec> &
Executor::inputs(const std::string &function) const {
  return bound(function).inputs;
}

const std::vector<TensorSpec> &
Executor::outputs(const std::string &function) const {
  return bound(function).outputs;
}

/// Checks `in` against `spec`; returns true when its dtype differs, i.e.
/// when it must go through convertInput first.
static bool checkInput(const HostTensor &in, const TensorSpec &spec,
                       const std::string &function) {
  check(in.shape == spec.shape, "input '", spec.name, "' of '", function,
        "' has shape ", shapeToString(in.shape), ", expected ",
        shapeToString(spec.shape),
        (in.shape.size() == spec.shape.size() && !in.shape.empty() &&
         in.shape[0] != spec.shape[0])
            ? " (the plan was compiled for batch " +
                  std::to_string(spec.shape[0]) +
                  "; recompile with fresco-compile --batch " +
                  std::to_string(in.shape[0]) + ")"
            : std::string());
  check(in.data.size() == size_t(in.numel()) * dtypeSize(in.dtype), "input '",
        spec.name, "' has the wrong number of bytes");
  return in.dtype != spec.dtype;
}

/// Converts `in` into host memory `dst` as `spec` wants it; integer -> f32 is
/// the only conversion (diffusers' timestep embedding does
/// timesteps.float()). It runs on the host, before any copy to a device.
static void convertInput(const HostTensor &in, const TensorSpec &spec,
                         void *dst, const std::string &function) {
  int64_t n = in.numel();
  float *out = static_cast<float *>(dst);
  if (spec.dtype == DType::F32 && in.dtype == DType::I64) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = float(in.as<int64_t>()[i]);
    return;
  }
  if (spec.dtype == DType::F32 && in.dtype == DType::I32) {
    for (int64_t i = 0; i < n; ++i)
      out[i] = float(in.as<int32_t>()[i]);
    return;
  }
  if (spec.dtype == DType::I64 && in.dtype == DType::I32) {
    int64_t *o = static_cast<int64_t *>(dst);
    for (int64_t i = 0; i < n; ++i)
      o[i] = in.as<int32_t>()[i];
    return;
  }
  fail("input '", spec.name, "' of '", function, "' has dtype ",
       dtypeName(in.dtype), ", expected ", dtypeName(spec.dtype));
}

std::vector<HostTensor> Executor::run(const std::string &function,
                                      const std::vector<HostTensor> &inputs) {
  // run() updates the function's recording state, so the non-const entry.
  Bound &b = const_cast<Bound &>(bound(function));
  check(inputs.size() == b.inputs.size(), "function '", function, "' takes ",
        b.inputs.size(), " inputs, got ", inputs.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const TensorSpec &spec = b.inputs[i];
    const bool convert = checkInput(inputs[i], spec, function);
    const DType stored = b.inputStored[i];
    if (!convert && stored == spec.dtype) {
      backend_.copyToDevice(b.inputPtrs[i], inputs[i].data.data(),
                            inputs[i].data.size());
    } else if (backend_.usesHostMemory()) {
      convertInput(inputs[i], spec, b.inputPtrs[i], function);
    } else {
      // To the spec's dtype, then (an f32 input under bf16/f16 storage) to
      // the backend's.
      const size_t n = size_t(inputs[i].numel());
      std::vector<uint8_t> host(n * dtypeSize(spec.dtype));
      if (convert)
        convertInput(inputs[i], spec, host.data(), function);
      else
        std::memcpy(host.data(), inputs[i].data.data(), host.size());
      if (stored != spec.dtype) {
        std::vector<uint8_t> narrow(n * dtypeSize(stored));
        narrowFloats(reinterpret_cast<const float *>(host.data()),
                     narrow.data(), n, stored);
        host.swap(narrow);
      }
      backend_.copyToDevice(b.inputPtrs[i], host.data(), host.size());
    }
  }
  auto issue = [&b] {
    for (const auto &step : b.steps)
      step();
  };
  b.replayed = false;
  if (!profiling_ && recording_ && b.recordable && b.runs > 0) {
    if (!b.recording) {
      b.recording = backend_.record(issue);
      b.recordable = bool(b.recording);
    }
    if (b.recording) {
      b.recording->replay();
      b.replayed = true;
      ++replays_;
      // The recorded collectives run inside the replay, out of sight of
      // their communicators' own checks: have them watch it as a whole.
      for (Communicator *c : b.comms)
        c->watchQueuedWork("the replay of '" + function + "'");
    } else {
      issue();
    }
  } else if (!profiling_) {
    issue();
  } else {
    for (size_t i = 0; i < b.steps.size(); ++i) {
      auto t0 = std::chrono::steady_clock::now();
      b.steps[i]();
      backend_.synchronize(); // time the kernel, not its launch
      OpProfile &p = profile_[b.stepOps[i]];
      p.seconds +=
          std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
              .count();
      ++p.calls;
    }
  }
  ++b.runs;
  // Deferred kernel failures surface here, before any output is read.
  backend_.synchronize();
  std::vector<HostTensor> outs;
  for (size_t i = 0; i < b.outputs.size(); ++i) {
    HostTensor t;
    t.dtype = b.outputs[i].dtype;
    t.shape = b.outputs[i].shape;
    t.data.resize(t.numel() * dtypeSize(t.dtype));
    const DType stored = b.outputStored[i];
    if (stored == t.dtype) {
      backend_.copyToHost(t.data.data(), b.outputPtrs[i], t.data.size());
    } else {
      std::vector<uint8_t> narrow(size_t(t.numel()) * dtypeSize(stored));
      backend_.copyToHost(narrow.data(), b.outputPtrs[i], narrow.size());
      widenFloats(narrow.data(), reinterpret_cast<float *>(t.data.data()),
                  size_t(t.numel()), stored);
    }
    outs.push_back(std::move(t));
  }
  return outs;
}

} // namespace fresco
