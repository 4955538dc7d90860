//===- Backend.h - The kernel interface every backend implements -*- C++
//-*-===//
//
// The executor resolves each plan instruction to one call on a Backend with
// pointers and sizes fixed at load time. Tensors are row-major and
// contiguous; ids are i64. Every pointer a kernel takes is in the backend's
// own memory: host memory for the CPU backend, device memory for the CUDA
// backend. The memory calls below are the only way data crosses between the
// host and a backend, so the executor runs unchanged on either.
//
// Float storage: a backend keeps every float tensor (activations and
// weights alike) in one element type, floatStorage(): f32, or bf16/f16
// (--dtype). Below f32 each `float *` a kernel takes points at 2-byte
// elements of that type (the pointer type is nominal); kernels compute in
// f32 (GEMM accumulation, norm statistics, softmax) and round once when they
// store. A few operands stay f32 whatever the storage: attentionBlock's
// running output and lse (a block merges into them: stored, they would be
// rounded once per block), which storeFloats then stores, and
// timestepEmbedding's tF32 (timesteps such as 999 have no exact bf16
// value). The executor converts weights and function inputs on the host
// before copying them in, and outputs after copying them out.
//
// Kernels throw fresco::Error on data-dependent failures (an id out of
// range). A backend that runs kernels asynchronously may report such a
// failure at the next synchronize() instead of at the call.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_CORE_BACKEND_H
#define FRESCO_RUNTIME_CORE_BACKEND_H

#include "runtime/core/DType.h"
#include "runtime/core/Error.h"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace fresco {

/// Broadcasting elementwise binary operation kinds.
enum class BinaryKind : uint8_t { Add = 0, Sub = 1, Mul = 2, Div = 3 };

/// Unary activation kinds.
/// QuickGelu: x * sigmoid(1.702 x) (CLIP's quick_gelu).
enum class UnaryKind : uint8_t {
  GeluTanh = 0,
  GeluErf = 1,
  Silu = 2,
  QuickGelu = 3
};
/// Kernels that a backend may not have yet (Backend::implements): the
/// binder refuses a plan that needs one at load, naming the backend.
enum class OptionalKernel : uint8_t {
  MaskedAttention = 0,      // attentionMasked
  RelativePositionBias = 1, // relativePositionBias
  EosPool = 2,              // eosPool
  Fp8Linear = 3,            // prepareFp8Weight, linearFp8
  SplitGroupNorm = 4        // groupNormStats, groupNormApply
};

/// A linear's weight [N, K] prepared for FP8 GEMMs (prepareFp8Weight): its
/// rows rounded to e4m3 with one f32 scale per output channel (amax/448,
/// runtime/core/Fp8.h), in the backend's memory. `values` is
/// backend-defined: the e4m3 bytes on a GPU, their f32 values in the CPU
/// emulation.
struct Fp8Weight {
  const void *values = nullptr;
  const float *scales = nullptr; // [N]
  int64_t N = 0, K = 0;
};

/// The precision a backend is created with (--dtype): its floatStorage(),
/// and the precision of its GEMM and attention operands (tensor cores on
/// GPUs). Accumulation is f32 in every case.
enum class GemmPrecision : uint8_t { F32 = 0, BF16 = 1, F16 = 2 };

/// The storage element type of a precision.
inline DType storageOf(GemmPrecision p) {
  return p == GemmPrecision::BF16  ? DType::BF16
         : p == GemmPrecision::F16 ? DType::F16
                                   : DType::F32;
}

/// A rows x cols window from (rowStart, colStart) of a gridH x gridW grid
/// of 2-D positions: the whole grid's extent scales the positions, so a
/// window holds the same values as the whole table's rows it covers.
struct PosGrid {
  int64_t gridH = 0, gridW = 0;
  int64_t rowStart = 0, colStart = 0, rows = 0, cols = 0;

  static PosGrid whole(int64_t gridH, int64_t gridW) {
    return {gridH, gridW, 0, 0, gridH, gridW};
  }
  /// Extents non-negative, the window inside the grid (checked with
  /// subtraction: the fields may come from a file).
  bool valid() const {
    return gridH >= 0 && gridW >= 0 && rowStart >= 0 && colStart >= 0 &&
           rows >= 0 && cols >= 0 && rowStart <= gridH && colStart <= gridW &&
           rows <= gridH - rowStart && cols <= gridW - colStart;
  }
};

/// Up to this many dimensions for the strided kernels (binary, transpose).
constexpr int kMaxRank = 8;

/// Kernels recorded once (a CUDA graph) and issued again as one unit.
class Recording {
public:
  virtual ~Recording() = default;
  /// Issues the recorded kernels again, on the same pointers.
  virtual void replay() = 0;
};

/// Where profiling reads step times: marks placed in the backend's queue
/// between the steps of a run, read once the run is done.
class Timeline {
public:
  virtual ~Timeline() = default;
  /// Forgets the marks of the previous run.
  virtual void clear() = 0;
  /// Marks the point after the kernels issued so far.
  virtual void mark() = 0;
  /// Waits for every mark; each one's nanoseconds since the first.
  virtual std::vector<int64_t> read() = 0;
};

class Backend {
public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;

  /// The timeline profiling uses. By default each mark waits for the kernels
  /// (synchronize()) and reads the host's steady clock; a device backend
  /// marks its stream (CUDA events) without waiting, so that steps are timed
  /// as the device ran them.
  virtual std::unique_ptr<Timeline> timeline();
  /// The element type of every float tensor in this backend's memory: F32,
  /// BF16 or F16 (see the file comment). A backend that uses host memory
  /// in place (usesHostMemory()) stores F32.
  virtual DType floatStorage() const { return DType::F32; }
  /// The libraries loaded at run time that decide this backend's numerics
  /// and speed, with versions and paths (for --stats; a machine may hold
  /// several copies); empty when there is nothing to name.
  virtual std::string libraries() const { return {}; }

  /// Records the kernels `issue` launches, without running them, for
  /// replay(). Null when the backend cannot record, or the recording failed;
  /// then nothing was issued and the caller runs `issue` itself. `issue`
  /// must only launch kernels: no memory calls, no host work.
  virtual std::unique_ptr<Recording>
  record(const std::function<void()> &issue) {
    (void)issue;
    return nullptr;
  }

  //===--------------------------------------------------------------------===//
  // Memory
  //===--------------------------------------------------------------------===//

  /// True when kernels take host pointers: then host buffers (the weight
  /// store's) are used in place rather than copied.
  virtual bool usesHostMemory() const = 0;
  /// The most memory allocate() can ever give, to refuse at load a plan
  /// that cannot fit (a host may overcommit and fail later, at a page
  /// fault): by default the host's RAM plus swap.
  virtual uint64_t memoryCapacity() const;
  /// `bytes` bytes (at least one) of backend memory aligned to 64 bytes or
  /// more; throws fresco::Error when none is left. Never null.
  virtual void *allocate(size_t bytes) = 0;
  /// Frees memory from allocate(); null is ignored.
  virtual void release(void *p) = 0;
  /// Copies host memory into backend memory, ordered after the kernels
  /// already issued; `host` may be reused as soon as the call returns.
  virtual void copyToDevice(void *dst, const void *host, size_t bytes) = 0;
  /// Copies backend memory to the host once the kernels already issued are
  /// done; complete when the call returns.
  virtual void copyToHost(void *host, const void *src, size_t bytes) = 0;
  /// Waits for every issued kernel, then throws any failure that was
  /// deferred (a device fault, an embedding id out of range).
  virtual void synchronize() = 0;

  //===--------------------------------------------------------------------===//
  // Kernels
  //===--------------------------------------------------------------------===//

  /// y[M,N] = x[M,K] * w[N,K]^T (+ b[N] when b is non-null).
  virtual void linear(const float *x, const float *w, const float *b, float *y,
                      int64_t M, int64_t K, int64_t N) = 0;

  /// y = act(linear(x, w, b)): a linear with a fused activation (the plan's
  /// LinearAttrs). By default the GEMM, then the activation in place; a
  /// backend with GEMM epilogues overrides it.
  virtual void linearActivation(const float *x, const float *w, const float *b,
                                float *y, int64_t M, int64_t K, int64_t N,
                                UnaryKind act) {
    linear(x, w, b, y, M, K, N);
    unary(act, y, y, M * N);
  }

  /// y = linear(x, w, b) + r, r [M,N] not aliasing y: a linear with a
  /// residual added in the same kernel (LinearAttrs.residual). By default
  /// the GEMM, then the sum (two roundings under 2-byte storage); backends
  /// override it with a GEMM that accumulates onto r (cpu-staged: one
  /// rounding; cuBLASLt: what its epilogue does).
  virtual void linearResidual(const float *x, const float *w, const float *b,
                              const float *r, float *y, int64_t M, int64_t K,
                              int64_t N) {
    linear(x, w, b, y, M, K, N);
    addInPlace(y, r, M * N);
  }

  /// y = r + g * linear(x, w, b) (r null: g * linear(x, w, b)): a linear
  /// with a gated residual in the same kernel (LinearAttrs.gate). g is
  /// [G, N]: the M rows are G samples of M/G rows each, sample i scaled by
  /// g's row i (G = 1: one gate for all). r [M,N] and g do not alias y. By
  /// default the GEMM, then the gated sum (mulAdd: two roundings under
  /// 2-byte storage, as the unfused linear and mul_add); backends override
  /// it with one rounding where they can.
  virtual void linearGated(const float *x, const float *w, const float *b,
                           const float *g, int64_t G, const float *r, float *y,
                           int64_t M, int64_t K, int64_t N) {
    linear(x, w, b, y, M, K, N);
    gatedSumInPlace(g, G, r, y, M, N);
  }

  /// y = r + g * y in place (r null: g * y), g [G, N] broadcast over each
  /// of the G samples' M/G rows: mulAdd() (or binary()'s Mul).
  void gatedSumInPlace(const float *g, int64_t G, const float *r, float *y,
                       int64_t M, int64_t N) {
    if (M == 0 || N == 0)
      return;
    const int64_t shape[3] = {G, M / G, N};
    const int64_t gs[3] = {N, 0, 1}, ys[3] = {(M / G) * N, N, 1};
    if (r)
      mulAdd(g, y, r, y, 3, shape, gs, ys);
    else
      binary(BinaryKind::Mul, g, y, y, 3, shape, gs, ys);
  }

  /// y[i] += r[i] over n values (binary()'s Add on a flat range).
  void addInPlace(float *y, const float *r, int64_t n) {
    const int64_t stride = 1;
    binary(BinaryKind::Add, y, r, y, 1, &n, &stride, &stride);
  }

  /// The FP8 form of weight w [N,K] (see Fp8Weight), made when the plan is
  /// bound, after the weights are in the backend's memory. The pointer
  /// owns its memory (the bound instruction holds it) and may not outlive
  /// the backend. Only where implements(OptionalKernel::Fp8Linear).
  virtual std::shared_ptr<const Fp8Weight>
  prepareFp8Weight(const float *w, int64_t N, int64_t K) {
    (void)w, (void)N, (void)K;
    fail("FP8 GEMMs are not implemented on the ", name(), " backend");
  }
  /// Room for the e4m3 activations of an FP8 linear of M x K, reserved at
  /// bind so that a run allocates nothing.
  virtual void reserveFp8Activations(int64_t M, int64_t K) { (void)M, (void)K; }
  /// y = act(x w^T + b) with x rounded to e4m3 per row (token) of x, its
  /// scale amax/448 made on each call, w prepared by prepareFp8Weight; the
  /// products accumulated in f32, scaled back by both rows' scales, the
  /// bias added and `act` (when not null) applied before the one rounding
  /// to the float storage.
  virtual void linearFp8(const float *x, const Fp8Weight &w, const float *b,
                         float *y, int64_t M, int64_t K, int64_t N,
                         const UnaryKind *act) {
    (void)x, (void)w, (void)b, (void)y, (void)M, (void)K, (void)N, (void)act;
    fail("FP8 GEMMs are not implemented on the ", name(), " backend");
  }

  /// NCHW input [N,C,H,W], OIHW weight [O,C,KH,KW], optional bias [O],
  /// output [N,O,OH,OW] with OH = (H + 2*padH - KH)/strideH + 1.
  virtual void conv2d(const float *x, const float *w, const float *b, float *y,
                      int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                      int64_t KH, int64_t KW, int64_t strideH, int64_t strideW,
                      int64_t padH, int64_t padW) = 0;

  /// Normalises each of `rows` rows of length `cols`; gamma/beta optional
  /// [cols].
  virtual void layerNorm(const float *x, const float *gamma, const float *beta,
                         float *y, int64_t rows, int64_t cols, float eps) = 0;

  /// RMS norm of each of `rows` rows of length `cols`: y = x *
  /// rsqrt(mean(x^2) + eps) (* gamma[cols] when non-null), as diffusers'
  /// RMSNorm. y may alias x.
  virtual void rmsNorm(const float *x, const float *gamma, float *y,
                       int64_t rows, int64_t cols, float eps) = 0;

  /// Group norm of x [N, C, S] (S = spatial positions): statistics over each
  /// group of C/groups channels and all S; gamma/beta optional [C].
  virtual void groupNorm(const float *x, const float *gamma, const float *beta,
                         float *y, int64_t N, int64_t C, int64_t S,
                         int64_t groups, float eps) = 0;

  /// groupNorm in two halves, for positions split across ranks
  /// (GroupNormAttrs.stats_members). groupNormStats: stats [N * groups * 2]
  /// = per (n, group) of this block x [N, C, S] its mean and M2 (the sum of
  /// squared deviations from that mean), f32 in every storage, over the
  /// first `valid` positions of each (n, c) plane (the rest are padding:
  /// GroupNormAttrs.valid_rows; S: every position; 0: mean and M2 are 0).
  /// groupNormApply: `partials` holds `parts` blocks' stats concatenated (in
  /// member order); their combination is the whole tensor's statistics, by
  /// which x (all S positions of each plane, padding too) is normalised as
  /// groupNorm does. `valid` (host memory, `parts` entries, or null: S each)
  /// gives each block's valid positions per plane, the counts its stats
  /// weigh with (a block of 0 weighs nothing).
  /// Only where implements(OptionalKernel::SplitGroupNorm).
  virtual void groupNormStats(const float *x, float *stats, int64_t N,
                              int64_t C, int64_t S, int64_t groups,
                              int64_t valid) {
    (void)x, (void)stats, (void)N, (void)C, (void)S, (void)groups, (void)valid;
    fail("groupNormStats (a group norm split across ranks) is not "
         "implemented on the ",
         name(), " backend");
  }
  virtual void groupNormApply(const float *x, const float *partials,
                              int64_t parts, const int64_t *valid,
                              const float *gamma, const float *beta, float *y,
                              int64_t N, int64_t C, int64_t S, int64_t groups,
                              float eps) {
    (void)x, (void)partials, (void)parts, (void)valid, (void)gamma, (void)beta,
        (void)y, (void)N, (void)C, (void)S, (void)groups, (void)eps;
    fail("groupNormApply (a group norm split across ranks) is not "
         "implemented on the ",
         name(), " backend");
  }

  /// Nearest-neighbour upsampling of x [N, C, H, W] by integer factors:
  /// y [N, C, H*sh, W*sw], y[n,c,i,j] = x[n,c,i/sh,j/sw].
  virtual void upsampleNearest(const float *x, float *y, int64_t N, int64_t C,
                               int64_t H, int64_t W, int64_t sh,
                               int64_t sw) = 0;

  /// adaLN modulation: y[b,t,:] = x[b,t,:] * (1 + scale[b,:]) + shift[b,:],
  /// x and y [B,T,D], shift and scale [B,D]. y may alias x.
  virtual void modulate(const float *x, const float *shift, const float *scale,
                        float *y, int64_t B, int64_t T, int64_t D) = 0;

  /// y = modulate(layerNorm(x, gamma, beta), shift, scale): a layer norm
  /// with a fused adaLN modulation (the plan's LayerNormAttrs.modulated).
  /// x and y [B,T,D], gamma/beta optional [D], shift and scale [B,D]; y may
  /// alias x. By default the norm, then the modulation in place; backends
  /// override it to modulate each row while it is still in registers or
  /// cache.
  virtual void layerNormModulate(const float *x, const float *gamma,
                                 const float *beta, const float *shift,
                                 const float *scale, float *y, int64_t B,
                                 int64_t T, int64_t D, float eps) {
    layerNorm(x, gamma, beta, y, B * T, D, eps);
    modulate(y, shift, scale, y, B, T, D);
  }

  /// Multi-head attention, softmax(q k^T * scale) v per head, no mask.
  /// q [B,Tq,H*Dh], k and v [B,Tk,H*Dh], o [B,Tq,H*Dh]; head h owns columns
  /// [h*Dh, (h+1)*Dh) as diffusers lays them out.
  virtual void attention(const float *q, const float *k, const float *v,
                         float *o, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                         int64_t Dh, float scale) = 0;

  /// Whether this backend has the optional kernel `k` (the default
  /// implementations below fail).
  virtual bool implements(OptionalKernel k) const {
    (void)k;
    return false;
  }
  /// attention() with an additive score bias and a causal mask: softmax(q
  /// k^T * scale + bias[h]) v, bias [H, Tq, Tk] shared by the batch (null:
  /// none); with `causal` (Tq == Tk), key j is masked for query i when
  /// j > i.
  virtual void attentionMasked(const float *q, const float *k, const float *v,
                               const float *bias, float *o, int64_t B,
                               int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
                               float scale, bool causal) {
    (void)q, (void)k, (void)v, (void)bias, (void)o, (void)B, (void)Tq, (void)Tk,
        (void)H, (void)Dh, (void)scale, (void)causal;
    fail("masked attention is not implemented on the ", name(), " backend yet");
  }
  /// T5's relative position bias: out[h, i, j] = table[bucket(j - i), h],
  /// table [numBuckets, H], out [H, Tq, Tk], the bucket as transformers'
  /// T5Attention._relative_position_bucket computes it (in f32).
  virtual void relativePositionBias(const float *table, float *out, int64_t H,
                                    int64_t Tq, int64_t Tk, int64_t numBuckets,
                                    int64_t maxDistance, bool bidirectional) {
    (void)table, (void)out, (void)H, (void)Tq, (void)Tk, (void)numBuckets,
        (void)maxDistance, (void)bidirectional;
    fail("relativePositionBias is not implemented on the ", name(),
         " backend yet");
  }
  /// out[b, :] = x[b, p, :], x [B, T, D], ids [B, T], p the first position
  /// whose id is tokenId (0 when none is), or with `argmax` the first
  /// position of the largest id.
  virtual void eosPool(const float *x, const int64_t *ids, float *out,
                       int64_t B, int64_t T, int64_t D, int64_t tokenId,
                       bool argmax) {
    (void)x, (void)ids, (void)out, (void)B, (void)T, (void)D, (void)tokenId,
        (void)argmax;
    fail("eosPool is not implemented on the ", name(), " backend yet");
  }
  /// One block of ring attention: the attention of q against one block of
  /// keys and values, merged into the running result o, which is f32
  /// whatever the storage (as lse is; storeFloats stores it at the end). lse
  /// [B, H, Tq] holds each query row's log-sum-exp of the scaled scores seen so
  /// far. With `first`, o and lse are overwritten by this block's own;
  /// otherwise o (normalised over the blocks seen so far) and lse are updated
  /// so that, after the last block, o equals attention() over all blocks taken
  /// together, whatever their order. Shapes as attention(), k and v holding
  /// Tk of the keys.
  virtual void attentionBlock(const float *q, const float *k, const float *v,
                              float *o, float *lse, int64_t B, int64_t Tq,
                              int64_t Tk, int64_t H, int64_t Dh, float scale,
                              bool first) {
    (void)q, (void)k, (void)v, (void)o, (void)lse, (void)B, (void)Tq, (void)Tk,
        (void)H, (void)Dh, (void)scale, (void)first;
    fail("the ", name(),
         " backend does not implement attentionBlock (ring "
         "attention)");
  }

  /// dst = src rounded to the float storage (n values; src f32 in this
  /// backend's memory, dst in its storage): how ring attention's f32
  /// running output becomes a stored tensor. By default, for f32 storage, a
  /// copy.
  virtual void storeFloats(const float *src, float *dst, int64_t n) {
    check(floatStorage() == DType::F32, "the ", name(),
          " backend does not implement storeFloats for ",
          dtypeName(floatStorage()), " storage");
    copyStrided(src, n, dst, n, 1, n, sizeof(float));
  }

  /// y = f(x) elementwise over n values. y may alias x.
  virtual void unary(UnaryKind kind, const float *x, float *y, int64_t n) = 0;

  /// out[i] = a[ia] op b[ib] over `rank` output dims `outShape`; aStrides and
  /// bStrides are element strides per output dim (0 where broadcast).
  virtual void binary(BinaryKind kind, const float *a, const float *b,
                      float *out, int rank, const int64_t *outShape,
                      const int64_t *aStrides, const int64_t *bStrides) = 0;

  /// out[i] = a[ia] * b[ib] + c[i]: binary()'s broadcasting for a and b, c
  /// contiguous with out's shape, one rounding under 2-byte storage. out may
  /// alias c, or a or b where that one is not broadcast (its strides are
  /// out's: each element is read before it is written).
  virtual void mulAdd(const float *a, const float *b, const float *c,
                      float *out, int rank, const int64_t *outShape,
                      const int64_t *aStrides, const int64_t *bStrides) = 0;

  /// Sinusoidal timestep embedding as diffusers' get_timestep_embedding:
  /// half = dim/2, freq_i = exp(-ln(maxPeriod) * i / (half - shift)),
  /// arg = (scale * t) * freq_i in f32, the scaled timestep rounded first
  /// as Flux's `timestep * 1000` is (scale 1, every other model, is
  /// exact), out = [sin | cos] (or [cos | sin] when flipSinToCos),
  /// zero-padded when dim is odd. Exactly one of tF32 / tI64 is non-null.
  /// out [B, dim].
  virtual void timestepEmbedding(const float *tF32, const int64_t *tI64,
                                 float *out, int64_t B, int64_t dim,
                                 bool flipSinToCos, float shift, float scale,
                                 float maxPeriod) = 0;

  /// Rotary table as diffusers' FluxPosEmbed: ids [T, nAxes] (positions,
  /// floats), out [T, Dh/2, 2] with Dh = sum(axesDim); for axis a's pair j
  /// (columns from the sum of the earlier axes' shares), angle =
  /// ids[t, a] * theta^(-2j / axesDim[a]) in double, out = (cos, sin) of it
  /// rounded once. axesDim is host memory.
  virtual void ropeTable(const float *ids, float *out, int64_t T, int64_t nAxes,
                         const int64_t *axesDim, double theta) = 0;

  /// Rotary embedding as diffusers' apply_rotary_emb (use_real, pairs
  /// interleaved): x and y [B, T, H*Dh], table [T, Dh/2, 2] from
  /// ropeTable; per head, pair (x0, x1) at columns (2j, 2j+1) becomes
  /// (x0*c - x1*s, x1*c + x0*s) with (c, s) = table[t, j]. y may alias x.
  /// With normWeight [Dh] (null: none), each head's row is first
  /// RMS-normalised as rmsNorm(rows of Dh, normWeight, eps) does, and the
  /// normalised values are rotated unrounded (no storage in between).
  virtual void rope(const float *x, const float *table, const float *normWeight,
                    float *y, int64_t B, int64_t T, int64_t H, int64_t Dh,
                    float eps) = 0;

  /// out[i,:] = table[ids[i],:]; table [V,D]. Throws when an id is outside
  /// [0, V).
  virtual void embedding(const float *table, const int64_t *ids, float *out,
                         int64_t n, int64_t V, int64_t D) = 0;

  /// General transpose: out = x.permute(perm), x of `rank` dims `shape`.
  /// Element size in bytes is `elemSize` (2, 4 or 8: a float tensor's is
  /// that of floatStorage()).
  virtual void transpose(const void *x, void *out, int rank,
                         const int64_t *shape, const int64_t *perm,
                         size_t elemSize) = 0;

  /// Copies a [outer, srcInner] row-major view's columns [start, start+n)
  /// into out [outer, n] (element size `elemSize`). Used for slice and as
  /// the building block of concat (dst side).
  virtual void copyStrided(const void *src, int64_t srcRowElems, void *dst,
                           int64_t dstRowElems, int64_t rows, int64_t rowElems,
                           size_t elemSize) = 0;

  /// Sets `bytes` bytes of backend memory at `dst` to zero, ordered with
  /// the kernels (Pad's padding).
  virtual void fillZero(void *dst, size_t bytes) = 0;

  /// 2-D sin-cos position embedding as diffusers' get_2d_sincos_pos_embed
  /// for the grid `g`: out [g.rows*g.cols, dim], the window's tokens.
  virtual void posEmbed2d(float *out, const PosGrid &g, int64_t dim,
                          double baseSize, double interpolationScale) = 0;
};

} // namespace fresco

#endif // FRESCO_RUNTIME_CORE_BACKEND_H
