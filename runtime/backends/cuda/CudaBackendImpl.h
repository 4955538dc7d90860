//===- CudaBackendImpl.h - the CUDA backend's class -------------*- C++ -*-===//
//
// The CudaBackend class, shared by the files that implement it:
// CudaBackend.cpp (cuBLASLt loading, set-up, the public entry points),
// CudaBackendMemory.cpp (memory, copies, scratch, CUDA graphs),
// CudaTimeline.cpp (profiling's CUDA events),
// CudaBackendGemm.cpp (GEMMs and conv2d on cuBLASLt and cuDNN),
// CudaBackendAttention.cpp (attention on Fresco's kernels and cuDNN) and
// CudaBackendKernels.cpp (every other kernel). It needs the CUDA headers,
// so only the backend includes it; everyone else includes CudaBackend.h.
//
// Memory is cudaMalloc'd device memory; every kernel, copy and GEMM goes on
// one stream in program order, so only copies to the host and
// synchronize() wait.
//
// Every float tensor is stored in floatStorage(): f32, or bf16/f16 for a
// backend made with that precision (Backend.h's "Float storage"). Kernels
// take the storage type as a parameter; pointer arithmetic on float
// tensors here goes through at(), in elements of that type.
//
// GEMMs go through cuBLASLt, A, B, C and D in the storage type with f32
// accumulation and scale: strict f32 for f32 storage (FRESCO_CUDA_TF32=1
// allows tf32), tensor cores for bf16/f16. The linear bias is fused as the
// BIAS epilogue and a fused tanh GELU as GELU / GELU_BIAS. In bf16/f16 an
// activation that no epilogue fuses runs on the GEMM's f32 output (a
// scratch band) before the one rounding, not on a stored y (linearWide).
// One heuristic query per distinct problem (shape, transposes, pointer
// alignments, bias, GELU, types), cached: a plan binds fixed shapes, so
// after the first run no GEMM asks again.
// conv2d runs on cuDNN (Cudnn.h; FRESCO_CUDNN=0 turns it off) and falls
// back to im2col into a scratch band + one GEMM per image and band. Its
// bias runs along the GEMM's columns (NCHW puts channels there), which the
// epilogue cannot broadcast, so the output is pre-filled with the bias and
// the GEMM or cuDNN accumulates onto it (beta = 1).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_BACKENDS_CUDA_CUDABACKENDIMPL_H
#define FRESCO_RUNTIME_BACKENDS_CUDA_CUDABACKENDIMPL_H

#include "runtime/backends/cuda/CudaBackend.h"
#include "runtime/backends/cuda/CudaKernels.h"
#include "runtime/backends/cuda/Cudnn.h"
#include "runtime/backends/cuda/CudnnAttention.h"
#include "runtime/core/Error.h"

#include <cublasLt.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

namespace fresco {
namespace cuda {
/// True with FRESCO_CUDA_SYNC set (not 0): synchronize after each launch.
bool syncEveryLaunch();
} // namespace cuda

namespace cudabackend {

//===----------------------------------------------------------------------===//
// cuBLASLt, loaded at run time
//===----------------------------------------------------------------------===//

#define FRESCO_LT_FUNCTIONS(X)                                                 \
  X(cublasLtCreate)                                                            \
  X(cublasLtDestroy)                                                           \
  X(cublasLtGetStatusString)                                                   \
  X(cublasLtMatmul)                                                            \
  X(cublasLtMatmulDescCreate)                                                  \
  X(cublasLtMatmulDescDestroy)                                                 \
  X(cublasLtMatmulDescSetAttribute)                                            \
  X(cublasLtMatrixLayoutCreate)                                                \
  X(cublasLtMatrixLayoutDestroy)                                               \
  X(cublasLtMatrixLayoutSetAttribute)                                          \
  X(cublasLtMatmulPreferenceCreate)                                            \
  X(cublasLtMatmulPreferenceDestroy)                                           \
  X(cublasLtMatmulPreferenceSetAttribute)                                      \
  X(cublasLtMatmulAlgoGetHeuristic)

struct LtApi {
#define FRESCO_LT_MEMBER(name) decltype(&::name) name = nullptr;
  FRESCO_LT_FUNCTIONS(FRESCO_LT_MEMBER)
#undef FRESCO_LT_MEMBER
};

/// The process-wide table; throws when the library cannot be loaded.
const LtApi &lt();

void checkLt(cublasStatus_t s, const char *what);

/// The largest power of two dividing `p`, capped at 256 (what cuBLASLt's
/// alignment preferences take).
inline uint32_t alignmentOf(const void *p) {
  uintptr_t v = reinterpret_cast<uintptr_t>(p);
  uint32_t a = 256;
  while (a > 1 && v % a != 0)
    a /= 2;
  return a;
}

/// One column-major GEMM problem as cuBLASLt sees it; the cache key.
struct GemmKey {
  bool transA, transB;
  int64_t m, n, k, lda, ldb, ldc;
  bool bias, accumulate;
  uint32_t alignA, alignB, alignC, alignBias;
  bool gelu;   // tanh GELU after the bias: a plan's epilogue differs
  int type;    // cudaDataType_t of A and B, and of the bias (scale: f32)
  int outType; // cudaDataType_t of C and D: `type`, or f32 (linearWide)
  // linearGated: `batch` samples of n columns (A shared), alpha a device
  // vector per row of D and sample.
  int64_t batch = 1;
  bool alphaVector = false;
  auto tie() const {
    return std::tie(transA, transB, m, n, k, lda, ldb, ldc, bias, accumulate,
                    alignA, alignB, alignC, alignBias, gelu, type, outType,
                    batch, alphaVector);
  }
  bool operator<(const GemmKey &o) const { return tie() < o.tie(); }
};

struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool biasEpilogue = false; // else: pre-fill C with the bias, beta = 1
  bool geluEpilogue = false; // else: GELU as a separate kernel after it
  // FP8: the heuristic's other answers, tried in order should cuBLASLt
  // refuse `algo` at the first call (scaling modes it cannot run).
  std::vector<cublasLtMatmulAlgo_t> spareAlgos;
  // The gated GEMM: a call succeeded with this plan (a later refusal is
  // an error, not a reason to fall back).
  bool verified = false;
  // FP8: cuBLASLt refused this plan at its first call; the f32-output
  // bands run instead.
  bool refused = false;
};

/// Releases p's descriptor and layouts (those made) and leaves p empty.
void destroyPlan(GemmPlan &p);

//===----------------------------------------------------------------------===//
// The backend
//===----------------------------------------------------------------------===//

class CudaBackend final : public Backend {
public:
  CudaBackend(int device, GemmPrecision precision);

  ~CudaBackend() override;

  std::string name() const override { return "cuda"; }
  std::string libraries() const override;
  DType floatStorage() const override { return storage_; }
  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }
  CudnnConvCounts cudnnCounts() const;
  CudnnAttentionCounts cudnnAttentionCounts() const;

  /// A CUDA graph captured from the stream. Replays leave the embedding
  /// check pending as the recorded calls did.
  class Graph final : public Recording {
  public:
    Graph(CudaBackend &be, cudaGraphExec_t exec, bool embedding)
        : be_(be), exec_(exec), embedding_(embedding) {}
    ~Graph() override { cudaGraphExecDestroy(exec_); }
    void replay() override {
      cuda::checkCuda(cudaGraphLaunch(exec_, be_.stream_), "cudaGraphLaunch");
      be_.embeddingPending_ |= embedding_;
    }

  private:
    CudaBackend &be_;
    cudaGraphExec_t exec_;
    bool embedding_;
  };

  static void warnCaptureFailed(const char *why);

  std::unique_ptr<Recording>
  record(const std::function<void()> &issue) override;

  /// CUDA events on the stream (CudaTimeline.cpp).
  std::unique_ptr<Timeline> timeline() override;

  //===--------------------------------------------------------------------===//
  // Memory
  //===--------------------------------------------------------------------===//

  bool usesHostMemory() const override { return false; }
  uint64_t memoryCapacity() const override;

  void *allocate(size_t bytes) override;

  void release(void *p) override;

  // Both copies wait for the stream: the host buffer is then free to reuse
  // or read whether or not it is pinned. Inputs are copied while the stream
  // is idle anyway (each run ends with synchronize()).
  void copyToDevice(void *dst, const void *host, size_t bytes) override;

  void copyToHost(void *host, const void *src, size_t bytes) override;

  void synchronize() override;

  //===--------------------------------------------------------------------===//
  // GEMMs
  //===--------------------------------------------------------------------===//

  void linear(const float *x, const float *w, const float *b, float *y,
              int64_t M, int64_t K, int64_t N) override;

  // cuBLASLt reads the residual as its C (beta = 1) and writes y as D.
  void linearResidual(const float *x, const float *w, const float *b,
                      const float *r, float *y, int64_t M, int64_t K,
                      int64_t N) override;

  // cuBLASLt scales by the gate as a device alpha vector per output row
  // and sample (batched), reads r as C (beta = 1), and adds the bias
  // pre-scaled by the gate; else the GEMM, then the gated sum.
  void linearGated(const float *x, const float *w, const float *b,
                   const float *g, int64_t G, const float *r, float *y,
                   int64_t M, int64_t K, int64_t N) override;

  // cuBLASLt's GELU epilogue is the tanh approximation: only GeluTanh fuses.
  void linearActivation(const float *x, const float *w, const float *b,
                        float *y, int64_t M, int64_t K, int64_t N,
                        UnaryKind act) override;

  void conv2d(const float *x, const float *w, const float *b, float *y,
              int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
              int64_t KW, int64_t strideH, int64_t strideW, int64_t padH,
              int64_t padW) override;

  // FP8 GEMMs (CudaBackendFp8.cpp).
  std::shared_ptr<const Fp8Weight> prepareFp8Weight(const float *w, int64_t N,
                                                    int64_t K) override;
  void reserveFp8Activations(int64_t M, int64_t K) override;
  void linearFp8(const float *x, const Fp8Weight &w, const float *b, float *y,
                 int64_t M, int64_t K, int64_t N,
                 const UnaryKind *act) override;

  //===--------------------------------------------------------------------===//
  // Other kernels
  //===--------------------------------------------------------------------===//

  void layerNorm(const float *x, const float *gamma, const float *beta,
                 float *y, int64_t rows, int64_t cols, float eps) override;

  void rmsNorm(const float *x, const float *gamma, float *y, int64_t rows,
               int64_t cols, float eps) override;

  void groupNorm(const float *x, const float *gamma, const float *beta,
                 float *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                 float eps) override;

  void groupNormStats(const float *x, float *stats, int64_t N, int64_t C,
                      int64_t S, int64_t groups, int64_t valid) override;

  void groupNormApply(const float *x, const float *partials, int64_t parts,
                      const int64_t *valid, const float *gamma,
                      const float *beta, float *y, int64_t N, int64_t C,
                      int64_t S, int64_t groups, float eps) override;

  void upsampleNearest(const float *x, float *y, int64_t N, int64_t C,
                       int64_t H, int64_t W, int64_t sh, int64_t sw) override;

  void modulate(const float *x, const float *shift, const float *scale,
                float *y, int64_t B, int64_t T, int64_t D) override;

  void layerNormModulate(const float *x, const float *gamma, const float *beta,
                         const float *shift, const float *scale, float *y,
                         int64_t B, int64_t T, int64_t D, float eps) override;

  void attention(const float *q, const float *k, const float *v, float *o,
                 int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
                 float scale) override;

  void attentionBlock(const float *q, const float *k, const float *v, float *o,
                      float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                      int64_t Dh, float scale, bool first) override;

  void storeFloats(const float *src, float *dst, int64_t n) override;

  /// bf16/f16 storage takes attention to cuDNN or to Fresco's tensor-core
  /// kernel in that type (FRESCO_CUDA_ATTENTION), unless the head is too
  /// wide or FRESCO_CUDA_ATTENTION=f32 (then the f32 kernel reads and
  /// writes the storage type).
  bool tensorCoreAttention(int64_t Dh) const;

  void unary(UnaryKind kind, const float *x, float *y, int64_t n) override;

  void binary(BinaryKind kind, const float *a, const float *b, float *out,
              int rank, const int64_t *outShape, const int64_t *aStrides,
              const int64_t *bStrides) override;

  void mulAdd(const float *a, const float *b, const float *c, float *out,
              int rank, const int64_t *outShape, const int64_t *aStrides,
              const int64_t *bStrides) override;

  void timestepEmbedding(const float *tF32, const int64_t *tI64, float *out,
                         int64_t B, int64_t dim, bool flipSinToCos, float shift,
                         float scale, float maxPeriod) override;

  void ropeTable(const float *ids, float *out, int64_t T, int64_t nAxes,
                 const int64_t *axesDim, double theta) override;

  void rope(const float *x, const float *table, const float *normWeight,
            float *y, int64_t B, int64_t T, int64_t H, int64_t Dh,
            float eps) override;

  bool implements(OptionalKernel) const override { return true; }

  void attentionMasked(const float *q, const float *k, const float *v,
                       const float *bias, float *o, int64_t B, int64_t Tq,
                       int64_t Tk, int64_t H, int64_t Dh, float scale,
                       bool causal) override;

  void relativePositionBias(const float *table, float *out, int64_t H,
                            int64_t Tq, int64_t Tk, int64_t numBuckets,
                            int64_t maxDistance, bool bidirectional) override;

  void eosPool(const float *x, const int64_t *ids, float *out, int64_t B,
               int64_t T, int64_t D, int64_t tokenId, bool argmax) override;

  void embedding(const float *table, const int64_t *ids, float *out, int64_t n,
                 int64_t V, int64_t D) override;

  void transpose(const void *x, void *out, int rank, const int64_t *shape,
                 const int64_t *perm, size_t elemSize) override;

  void copyStrided(const void *src, int64_t srcRowElems, void *dst,
                   int64_t dstRowElems, int64_t rows, int64_t rowElems,
                   size_t elemSize) override;

  void fillZero(void *dst, size_t bytes) override;

  void posEmbed2d(float *out, const PosGrid &g, int64_t dim, double baseSize,
                  double interpolationScale) override;

private:
  static constexpr size_t kWorkspaceBytes = 32u << 20;
  /// im2col bands, and linearWide's f32 bands, hold at most this many
  /// elements (256 MiB in f32).
  static constexpr int64_t kScratchElems = int64_t(64) << 20;

  /// conv2d through cuDNN onto y (holding the bias when `accumulate`);
  /// false when this call takes im2col + GEMM instead.
  bool convOnCudnn(const cuda::ConvDims &d, const void *x, const void *w,
                   void *y, bool accumulate);

  /// Grows the workspace cuDNN's convolutions and attention share (they run
  /// one at a time on the stream) to `bytes`; false when that would
  /// allocate inside a capture. Only a shape's first call grows it, and
  /// that call is outside capture (the warm-up run).
  bool cudnnWorkspace(size_t bytes);

  static bool aligned16(std::initializer_list<const void *> ptrs);

  /// True when `d` runs on cuDNN now: FRESCO_CUDA_ATTENTION allows it, its
  /// graph is built (on its first call, outside capture) and the
  /// workspace is large enough. Otherwise Fresco's kernels take it, except
  /// that with FRESCO_CUDA_ATTENTION=cudnn a refusal of a shape in cuDNN's
  /// range throws.
  bool cudnnAttentionReady(const cuda::AttentionDims &d);

  /// One ring block on cuDNN: its output (rounded to the storage once) and
  /// log-sum-exps into the scratch, then merged into the f32 running o and
  /// lse. False when Fresco's kernels take it.
  bool attentionBlockOnCudnn(const float *q, const float *k, const float *v,
                             float *o, float *lse, int64_t B, int64_t Tq,
                             int64_t Tk, int64_t H, int64_t Dh, float scale,
                             bool first);

  bool capturing() const;

  /// Room for `bytes` bytes of im2col patches, of linearWide's f32 GEMM
  /// output or of a gated GEMM's vectors (never two at once: each is
  /// consumed in the call that fills it, in stream order).
  void *scratch(size_t bytes);

  /// `p` advanced by `elems` elements of the float storage type.
  const void *at(const void *p, int64_t elems) const {
    return static_cast<const char *>(p) + elems * int64_t(elemSize_);
  }
  void *at(void *p, int64_t elems) const {
    return static_cast<char *>(p) + elems * int64_t(elemSize_);
  }

  /// linear(), then the tanh GELU when `gelu`.
  void linearImpl(const float *x, const float *w, const float *b, float *y,
                  int64_t M, int64_t K, int64_t N, bool gelu);

  /// The GEMM key linearImpl uses for these operands.
  GemmKey linearKey(const float *x, const float *w, const float *b, float *y,
                    int64_t M, int64_t K, int64_t N, bool gelu) const;

  /// y = act(x w^T + b) for bf16/f16 storage (K > 0), rounded once: the
  /// GEMM stores f32 in the scratch buffer, in bands of rows that fit, and
  /// one kernel adds the bias, applies `act` and rounds into y.
  void linearWide(const float *x, const float *w, const float *b, float *y,
                  int64_t M, int64_t K, int64_t N, UnaryKind act);

  GemmKey gemmKey(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                  const void *A, int64_t lda, const void *B, int64_t ldb,
                  const void *C, int64_t ldc, const void *bias, bool accumulate,
                  bool gelu, bool wideOut, const void *cIn = nullptr) const;

  /// The plan of `key`, made (one heuristic query) on its first use.
  GemmPlan &planFor(const GemmKey &key, const void *bias, const char *what);

  /// Column-major C[m,n] = op(A) op(B) (+ C when accumulate) (+ bias[m]
  /// broadcast along columns when bias is non-null), then the tanh GELU
  /// when `gelu`. Every operand is in the storage type, except C with
  /// `wideOut` (f32; no bias or GELU then). With `cIn` (and accumulate),
  /// the sum reads cIn (C's layout) in place of C; a bias then needs the
  /// plan's bias epilogue (the caller checks).
  void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
            const void *A, int64_t lda, const void *B, int64_t ldb, void *C,
            int64_t ldc, const void *bias, bool accumulate, const char *what,
            bool gelu = false, bool wideOut = false, const void *cIn = nullptr);

  /// `buffer` (of `have` bytes) grown to at least `bytes`; an outgrown one
  /// is kept until the backend goes (a recorded graph may point at it).
  void *grow(void *&buffer, size_t &have, size_t bytes);

  GemmPlan makePlan(const GemmKey &key, const void *bias, const char *what);
  /// linearGated on one cuBLASLt call (K > 0); false when cuBLASLt has no
  /// algorithm for it (remembered per shape), and then nothing was issued.
  bool gatedOnLt(const float *x, const float *w, const float *b, const float *g,
                 int64_t G, const float *r, float *y, int64_t M, int64_t K,
                 int64_t N);
  /// The batched alpha-vector plan of `key` (linearGated); a plan with a
  /// null descriptor when cuBLASLt has no algorithm for it.
  GemmPlan makeGatedPlan(const GemmKey &key, const void *bias);
  /// Asks cuBLASLt for p's algorithm (p's descriptor and layouts made):
  /// the fused GELU (with the bias) first, then the fused bias, then none;
  /// `epilogues` false asks for none. The first `algos` answers are kept
  /// (p.algo, then p.spareAlgos). False, with p destroyed, when cuBLASLt
  /// has none.
  bool chooseAlgo(GemmPlan &p, const GemmKey &key, const void *bias,
                  bool epilogues, int algos, const char *what);

  /// Refuses, naming the reason, an FP8 linear this backend cannot run:
  /// f32 storage, a GPU other than Hopper, features not a multiple of 16.
  void checkFp8Shape(int64_t N, int64_t K) const;
  /// The cached FP8 plan of D[N, M] = w[N, K] x[M, K]^T (column-major),
  /// D in the storage or, with `wideOut`, f32.
  GemmPlan &fp8PlanFor(int64_t M, int64_t N, int64_t K, const void *bias,
                       const void *y, bool gelu, bool wideOut);
  GemmPlan makeFp8Plan(const GemmKey &key, const void *bias);
  /// One FP8 matmul of plan p: xq [M, K] e4m3 codes with per-row scales.
  /// If cuBLASLt refuses every algorithm for it: false where `mayRefuse`
  /// (nothing but the bias pre-fill was queued), else an error.
  bool fp8Matmul(GemmPlan &p, const Fp8Weight &w, const void *xq,
                 const float *xScales, const void *bias, void *y, int64_t M,
                 int64_t N, bool mayRefuse);

  int device_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  cuda::AttentionChoice attentionChoice_ = cuda::AttentionChoice::Auto;
  std::string attentionEnvError_;          // its value, if not understood
  std::unique_ptr<cuda::CudnnConv> cudnn_; // null with FRESCO_CUDNN=0
  // bf16/f16 with FRESCO_CUDA_ATTENTION unset, auto or cudnn, else null.
  std::unique_ptr<cuda::CudnnAttention> cudnnAttention_;
  int blocksOnCudnn_ = 0;
  void *cudnnWorkspace_ = nullptr; // cuDNN's, the largest needed
  size_t cudnnWorkspaceBytes_ = 0;
  cublasComputeType_t computeType_ = CUBLAS_COMPUTE_32F;
  void *workspace_ = nullptr;
  void *scratch_ = nullptr; // im2col patches
  size_t scratchBytes_ = 0;
  std::vector<void *> retired_; // outgrown buffers (grow)
  DType storage_;               // floatStorage(): storageOf(the precision)
  size_t elemSize_;             // its element size in bytes
  cudaDataType_t gemmType_;     // its cuBLASLt type
  cuda::EmbeddingFault *fault_ = nullptr;
  bool embeddingPending_ = false;
  std::map<GemmKey, GemmPlan> plans_;
  // FP8: the one buffer of quantized activations (with its row scales)
  // every FP8 linear shares, sized at bind.
  void *fp8Act_ = nullptr;
  size_t fp8ActBytes_ = 0;
  void *fp8ActScales_ = nullptr; // f32, one per row
  size_t fp8ActScaleBytes_ = 0;
  float *actScales() const { return static_cast<float *>(fp8ActScales_); }
};

} // namespace cudabackend
} // namespace fresco

#endif // FRESCO_RUNTIME_BACKENDS_CUDA_CUDABACKENDIMPL_H
