//===- CudnnAttention.h - Flash attention through cuDNN ---------*- C++ -*-===//
//
// bf16/f16 attention on cuDNN's fused flash attention (its SDPA forward,
// built through the cuDNN frontend's graph API), the fastest attention
// measured on Hopper (sdpa.txt of the 2026-12-04 H200 run: 603 TFLOP/s at
// Flux width, Fresco's own wmma kernel about 100).
//
// Fresco's q, k, v and o are [B, T, H*Dh] row-major; cuDNN takes them as
// [B, H, T, Dh] through strides {T*H*Dh, Dh, H*Dh, 1}, without copies. The
// optional softmax statistics (the log-sum-exp of each query row's scaled
// scores, f32 [B, H, Tq]) are what ring attention's merges need.
//
// One graph per shape (built on the shape's first call, i.e. in the
// executor's warm-up run, before any CUDA graph capture); inside a capture
// only its execution runs. The frontend's headers come from the PyPI wheel
// nvidia-cudnn-frontend, found at configure time; libcudnn is loaded at run
// time, as for conv2d (Cudnn.h). Without the headers this compiles to stubs
// that report cuDNN attention as unavailable.
//
// This header needs no CUDA or cuDNN header.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_CUDNNATTENTION_H
#define FRESCO_RUNTIME_BACKENDS_CUDA_CUDNNATTENTION_H

#include "runtime/core/Backend.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>

struct CUstream_st; // cudaStream_t is CUstream_st *

namespace fresco {
namespace cuda {

/// FRESCO_CUDA_ATTENTION, read when a backend is made: which kernel bf16/f16
/// attention runs on. Auto (unset or "auto"): cuDNN where it loads and takes
/// the shape, else Fresco's tensor-core kernel, else the f32 one (a refusal
/// is logged once); Cudnn ("cudnn"): the same, except that cuDNN refusing a
/// shape it should take (no frontend in the build, no libcudnn, a graph
/// that does not build) is an error, so that a run asking for cuDNN never
/// measures another kernel; shapes outside cuDNN's range (head widths not
/// a multiple of 8 or over 256, empty blocks, unaligned views) still take
/// Fresco's kernels. "fresco": Fresco's tensor-core kernel (heads up to
/// 128) else f32; "f32": the f32 kernel. f32 storage always runs the f32
/// kernel.
enum class AttentionChoice { Auto, Cudnn, Fresco, F32 };
/// The choice, or Auto with `error` set for a value not understood.
AttentionChoice attentionChoice(std::string *error);

/// True when this build has the frontend and libcudnn loads (major 9);
/// otherwise false with the reason in `why` (when non-null).
bool cudnnAttentionAvailable(std::string *why = nullptr);

/// The cuDNN attention loaded, for logs: "cuDNN 9.10.2 (/path/libcudnn.so.9),
/// frontend 1.32.0"; empty before it was loaded (cudnnAttentionAvailable()
/// or the first shape's set-up loads it) and in builds without it.
std::string cudnnAttentionLibrary();

/// One attention problem; the graph cache's key. `stats`: with the
/// log-sum-exp output (attentionBlock).
struct AttentionDims {
  int64_t B, Tq, Tk, H, Dh;
  float scale;
  bool stats;
  auto tie() const { return std::tie(B, Tq, Tk, H, Dh, scale, stats); }
  bool operator<(const AttentionDims &o) const { return tie() < o.tie(); }
};

/// What set-up decided for one shape.
struct AttentionSetup {
  bool ok = false;           // cuDNN runs it
  size_t workspaceBytes = 0; // what its plan needs (when ok)
  std::string why;           // why not (when !ok)
  /// !ok by Fresco's own rule (head width, empty shape, f32 storage), not
  /// asked of cuDNN: never an error, even with FRESCO_CUDA_ATTENTION=cudnn.
  bool outOfRange = false;
};

/// cuDNN attention queued on one stream: a handle (made on the first
/// set-up) and a graph per shape.
class CudnnAttention {
public:
  /// `storage`: BF16 or F16, the type of q, k, v and o. `required`
  /// (FRESCO_CUDA_ATTENTION=cudnn): the caller fails on a refusal, so
  /// prepare() does not log it as a fallback.
  CudnnAttention(int device, CUstream_st *stream, DType storage,
                 bool required = false);
  ~CudnnAttention();
  CudnnAttention(const CudnnAttention &) = delete;
  CudnnAttention &operator=(const CudnnAttention &) = delete;

  /// The cached set-up of `d`, or null before prepare(d).
  const AttentionSetup *find(const AttentionDims &d) const;
  /// Sets `d` up once, caching failures too (the first one cuDNN was asked
  /// about is reported once on stderr unless `required`). Outside graph
  /// capture only.
  const AttentionSetup &prepare(const AttentionDims &d);
  /// o = attention(q, k, v) and, for d.stats, lse [B, H, Tq] (f32), for a
  /// shape prepare() accepted, with at least its workspaceBytes at
  /// `workspace`. Throws fresco::Error naming cuDNN's error.
  void forward(const AttentionDims &d, const void *q, const void *k,
               const void *v, void *o, float *lse, void *workspace,
               size_t workspaceBytes);

  /// Shapes set up so far that run on cuDNN / were refused (for tests).
  int shapesOnCudnn() const;
  int shapesFallenBack() const;

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

} // namespace cuda

/// For a CUDA backend: attention shapes set up on cuDNN and refused by it,
/// and attentionBlock calls that ran on cuDNN ({0, 0, 0} for other
/// backends). Defined in CudaBackend.cpp; tests use it to know which kernel
/// ran (cuDNN rounds each ring block's output once before merging it).
struct CudnnAttentionCounts {
  int onCudnn = 0, fallenBack = 0, blocksOnCudnn = 0;
};
CudnnAttentionCounts cudnnAttentionCounts(Backend &backend);

} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_CUDNNATTENTION_H
