//===- CudaBackend.cpp - The Backend implementation for one GPU -----------===//
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
// libcublasLt (540 MB) is loaded with dlopen when the first CUDA backend is
// created, not linked: linked, it costs every fresco-run process about
// 0.1 s of loading (measured), CPU runs and every test included.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaBackend.h"
#include "runtime/backends/cuda/CudaKernels.h"
#include "runtime/backends/cuda/Cudnn.h"
#include "runtime/backends/cuda/CudnnAttention.h"
#include "runtime/core/DynamicLibrary.h"
#include "runtime/core/Error.h"

#include <cublasLt.h>
#include <cuda_runtime.h>
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <map>
#include <mutex>
#include <tuple>
#include <vector>

namespace fresco {
namespace cuda {

void checkCuda(cudaError_t e, const char *what) {
  if (e != cudaSuccess) {
    cudaGetLastError(); // clear a non-sticky error so the next call is clean
    fail("CUDA error in ", what, ": ", cudaGetErrorString(e));
  }
}

static bool syncEveryLaunch() {
  static const bool on = [] {
    const char *v = std::getenv("FRESCO_CUDA_SYNC");
    return v && *v && std::strcmp(v, "0") != 0;
  }();
  return on;
}

void checkLaunch(const char *kernel, cudaStream_t stream) {
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess && syncEveryLaunch())
    e = cudaStreamSynchronize(stream);
  if (e != cudaSuccess)
    fail("CUDA error in kernel '", kernel, "': ", cudaGetErrorString(e));
}

} // namespace cuda

namespace {

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
const LtApi &lt() {
  static std::string error;
  static const LtApi api = []() {
    LtApi a;
    // The library found at configure time first, then the loader's search
    // path (LD_LIBRARY_PATH, e.g. PyTorch's nvidia/cublas/lib).
    std::string tried;
    void *lib = openFirstLibrary(
        {
#ifdef FRESCO_CUBLASLT_PATH
            FRESCO_CUBLASLT_PATH,
#endif
#ifdef FRESCO_CUBLASLT_SONAME
            FRESCO_CUBLASLT_SONAME,
#endif
            "libcublasLt.so"},
        tried);
    if (!lib) {
      error = "cannot load cuBLASLt (" + tried + ")";
      return a;
    }
#define FRESCO_LT_LOAD(name)                                                   \
  a.name = reinterpret_cast<decltype(&::name)>(dlsym(lib, #name));             \
  if (!a.name && error.empty())                                                \
    error = "cuBLASLt has no symbol " #name;
    FRESCO_LT_FUNCTIONS(FRESCO_LT_LOAD)
#undef FRESCO_LT_LOAD
    return a;
  }();
  check(error.empty(), "CUDA backend: ", error);
  return api;
}

void checkLt(cublasStatus_t s, const char *what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail("cuBLASLt error in ", what, ": ", lt().cublasLtGetStatusString(s),
         " (status ", int(s), ")");
}

/// The largest power of two dividing `p`, capped at 256 (what cuBLASLt's
/// alignment preferences take).
uint32_t alignmentOf(const void *p) {
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
  auto tie() const {
    return std::tie(transA, transB, m, n, k, lda, ldb, ldc, bias, accumulate,
                    alignA, alignB, alignC, alignBias, gelu, type, outType);
  }
  bool operator<(const GemmKey &o) const { return tie() < o.tie(); }
};

struct GemmPlan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  bool biasEpilogue = false; // else: pre-fill C with the bias, beta = 1
  bool geluEpilogue = false; // else: GELU as a separate kernel after it
};

//===----------------------------------------------------------------------===//
// The backend
//===----------------------------------------------------------------------===//

class CudaBackend final : public Backend {
public:
  CudaBackend(int device, GemmPrecision precision)
      : device_(device), storage_(storageOf(precision)),
        elemSize_(dtypeSize(storage_)),
        gemmType_(storage_ == DType::BF16  ? CUDA_R_16BF
                  : storage_ == DType::F16 ? CUDA_R_16F
                                           : CUDA_R_32F) {
    using cuda::checkCuda;
    checkCuda(cudaSetDevice(device), "cudaSetDevice");
    checkCuda(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking),
              "cudaStreamCreate");
    const LtApi &api = lt();
    checkLt(api.cublasLtCreate(&lt_), "cublasLtCreate");
    checkCuda(cudaMalloc(&workspace_, kWorkspaceBytes),
              "cudaMalloc (GEMM workspace)");
    checkCuda(cudaMalloc(&fault_, sizeof(cuda::EmbeddingFault)),
              "cudaMalloc (embedding check)");
    // The stream is non-blocking: everything touching the flag goes on it.
    checkCuda(cudaMemsetAsync(fault_, 0, sizeof(cuda::EmbeddingFault), stream_),
              "cudaMemset (embedding check)");
    checkCuda(cudaStreamSynchronize(stream_), "cudaMemset (embedding check)");
    const char *tf32 = std::getenv("FRESCO_CUDA_TF32");
    computeType_ = tf32 && *tf32 && std::strcmp(tf32, "0") != 0
                       ? CUBLAS_COMPUTE_32F_FAST_TF32
                       : CUBLAS_COMPUTE_32F;
    // Read per backend (not once per process) so that tests can compare
    // the two conv2d paths; the library loads on the first conv2d.
    attentionChoice_ = cuda::attentionChoice(&attentionEnvError_);
    if (storage_ != DType::F32 &&
        attentionChoice_ == cuda::AttentionChoice::Cudnn)
      cudnnAttention_ =
          std::make_unique<cuda::CudnnAttention>(device, stream_, storage_);
    const char *cudnn = std::getenv("FRESCO_CUDNN");
    if (!cudnn || std::strcmp(cudnn, "0") != 0)
      cudnn_ = std::make_unique<cuda::CudnnConv>(
          device, stream_, storage_,
          computeType_ == CUBLAS_COMPUTE_32F_FAST_TF32);
  }

  ~CudaBackend() override {
    // Errors are ignored here: a destructor cannot report them, and after
    // a device fault every call fails anyway.
    cudaStreamSynchronize(stream_);
    cudnn_.reset();
    cudnnAttention_.reset();
    cudaFree(cudnnWorkspace_);
    for (void *p : retiredCudnnWorkspaces_)
      cudaFree(p);
    const LtApi &api = lt();
    for (auto &[key, p] : plans_) {
      api.cublasLtMatrixLayoutDestroy(p.a);
      api.cublasLtMatrixLayoutDestroy(p.b);
      api.cublasLtMatrixLayoutDestroy(p.c);
      api.cublasLtMatmulDescDestroy(p.desc);
    }
    if (lt_)
      api.cublasLtDestroy(lt_);
    cudaFree(scratch_);
    for (void *p : retired_)
      cudaFree(p);
    cudaFree(fault_);
    cudaFree(workspace_);
    cudaStreamDestroy(stream_);
    cudaGetLastError();
  }

  std::string name() const override { return "cuda"; }
  DType floatStorage() const override { return storage_; }
  cudaStream_t stream() const { return stream_; }
  int device() const { return device_; }
  CudnnConvCounts cudnnCounts() const {
    if (!cudnn_)
      return {};
    return {cudnn_->shapesOnCudnn(), cudnn_->shapesFallenBack()};
  }
  CudnnAttentionCounts cudnnAttentionCounts() const {
    if (!cudnnAttention_)
      return {};
    return {cudnnAttention_->shapesOnCudnn(),
            cudnnAttention_->shapesFallenBack(), blocksOnCudnn_};
  }

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

  static void warnCaptureFailed(const char *why) {
    static bool warned = false;
    if (!warned)
      std::fprintf(stderr,
                   "fresco: warning: CUDA graph capture failed (%s); "
                   "running kernel by kernel\n",
                   why);
    warned = true;
  }

  std::unique_ptr<Recording>
  record(const std::function<void()> &issue) override {
    // FRESCO_CUDA_SYNC synchronizes after each launch: not while capturing.
    if (cuda::syncEveryLaunch())
      return nullptr;
    if (cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal) !=
        cudaSuccess) {
      cudaGetLastError();
      return nullptr;
    }
    bool embeddingBefore = embeddingPending_;
    embeddingPending_ = false;
    cudaGraph_t graph = nullptr;
    try {
      issue();
    } catch (const std::exception &error) {
      // A call the capture refused (an allocation, a collective library
      // that cannot be captured): nothing ran, and the same steps already
      // ran once step by step (the warm-up), so step by step is still
      // right.
      cudaStreamEndCapture(stream_, &graph);
      if (graph)
        cudaGraphDestroy(graph);
      cudaGetLastError();
      embeddingPending_ = embeddingBefore;
      warnCaptureFailed(error.what());
      return nullptr;
    }
    bool embedding = embeddingPending_;
    embeddingPending_ = embeddingBefore;
    cudaError_t e = cudaStreamEndCapture(stream_, &graph);
    cudaGraphExec_t exec = nullptr;
    if (e == cudaSuccess && graph)
      e = cudaGraphInstantiate(&exec, graph, 0);
    if (graph)
      cudaGraphDestroy(graph);
    if (e != cudaSuccess || !exec) {
      // Something in the step cannot be captured (an allocation the warm-up
      // run did not make): say so once and run step by step.
      cudaGetLastError();
      warnCaptureFailed(cudaGetErrorString(e));
      return nullptr;
    }
    return std::make_unique<Graph>(*this, exec, embedding);
  }

  //===--------------------------------------------------------------------===//
  // Memory
  //===--------------------------------------------------------------------===//

  bool usesHostMemory() const override { return false; }

  void *allocate(size_t bytes) override {
    void *p = nullptr;
    cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
    if (e != cudaSuccess) {
      cudaGetLastError();
      size_t freeBytes = 0, total = 0;
      cudaMemGetInfo(&freeBytes, &total);
      fail("CUDA backend: cannot allocate ", bytes, " bytes on device ",
           device_, " (", freeBytes, " of ", total,
           " bytes free): ", cudaGetErrorString(e));
    }
    return p;
  }

  void release(void *p) override {
    if (!p)
      return;
    cudaFree(p); // frees are implicitly ordered after pending work
  }

  // Both copies wait for the stream: the host buffer is then free to reuse
  // or read whether or not it is pinned. Inputs are copied while the stream
  // is idle anyway (each run ends with synchronize()).
  void copyToDevice(void *dst, const void *host, size_t bytes) override {
    if (!bytes)
      return;
    cuda::checkCuda(
        cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_),
        "copy to device");
    cuda::checkCuda(cudaStreamSynchronize(stream_), "copy to device");
  }

  void copyToHost(void *host, const void *src, size_t bytes) override {
    if (!bytes)
      return;
    cuda::checkCuda(
        cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_),
        "copy to host");
    cuda::checkCuda(cudaStreamSynchronize(stream_), "copy to host");
  }

  void synchronize() override {
    cuda::checkCuda(cudaStreamSynchronize(stream_),
                    "a kernel (set FRESCO_CUDA_SYNC=1 to name it)");
    if (!embeddingPending_)
      return;
    embeddingPending_ = false;
    cuda::EmbeddingFault f{};
    cuda::checkCuda(
        cudaMemcpyAsync(&f, fault_, sizeof f, cudaMemcpyDeviceToHost, stream_),
        "embedding check");
    cuda::checkCuda(cudaStreamSynchronize(stream_), "embedding check");
    if (f.flag) {
      cuda::checkCuda(cudaMemsetAsync(fault_, 0, sizeof f, stream_),
                      "embedding check");
      cuda::checkCuda(cudaStreamSynchronize(stream_), "embedding check");
      fail("embedding: id ", f.id, " at position ", f.position,
           " is outside the table's [0, ", f.tableRows, ")");
    }
  }

  //===--------------------------------------------------------------------===//
  // GEMMs
  //===--------------------------------------------------------------------===//

  void linear(const float *x, const float *w, const float *b, float *y,
              int64_t M, int64_t K, int64_t N) override {
    linearImpl(x, w, b, y, M, K, N, /*gelu=*/false);
  }

  // cuBLASLt's GELU epilogue is the tanh approximation: only GeluTanh fuses.
  void linearActivation(const float *x, const float *w, const float *b,
                        float *y, int64_t M, int64_t K, int64_t N,
                        UnaryKind act) override {
    if (storage_ == DType::F32) {
      if (act == UnaryKind::GeluTanh)
        linearImpl(x, w, b, y, M, K, N, /*gelu=*/true);
      else
        Backend::linearActivation(x, w, b, y, M, K, N, act);
      return;
    }
    // bf16/f16: the activation is applied before the one rounding, so it
    // cannot run after a GEMM that stored y (that would round twice). The
    // fused GELU epilogue where cuBLASLt has one, else the GEMM in f32 and
    // the bias and activation in the rounding kernel (linearWide).
    if (M == 0 || N == 0)
      return;
    if (K == 0) { // the bias (exact in storage) or zeros, rounded once
      linearImpl(x, w, b, y, M, K, N, /*gelu=*/false);
      cuda::unary(act, y, y, M * N, storage_, stream_);
      return;
    }
    if (act == UnaryKind::GeluTanh &&
        planFor(linearKey(x, w, b, y, M, K, N, /*gelu=*/true), b, "linear")
            .geluEpilogue) {
      linearImpl(x, w, b, y, M, K, N, /*gelu=*/true);
      return;
    }
    linearWide(x, w, b, y, M, K, N, act);
  }

  void conv2d(const float *x, const float *w, const float *b, float *y,
              int64_t N, int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH,
              int64_t KW, int64_t strideH, int64_t strideW, int64_t padH,
              int64_t padW) override {
    const int64_t OH = (H + 2 * padH - KH) / strideH + 1;
    const int64_t OW = (W + 2 * padW - KW) / strideW + 1;
    const int64_t P = OH * OW, Q = C * KH * KW;
    if (N == 0 || O == 0 || P == 0)
      return;
    if (b)
      cuda::fillBias(y, b, N * O * P, P, O, storage_, stream_);
    else if (Q == 0) // zero bits are 0.0 in every storage type
      cuda::checkCuda(
          cudaMemsetAsync(y, 0, size_t(N * O * P) * elemSize_, stream_),
          "conv2d (empty reduction)");
    if (Q == 0)
      return;
    if (convOnCudnn({N, C, H, W, O, KH, KW, strideH, strideW, padH, padW}, x, w,
                    y, /*accumulate=*/b != nullptr))
      return;
    // A 1x1 stride-1 unpadded conv reads the image itself as its patches.
    const bool direct = KH == 1 && KW == 1 && strideH == 1 && strideW == 1 &&
                        padH == 0 && padW == 0;
    // Patches in bands of output positions so the scratch stays bounded.
    const int64_t band =
        direct ? P : std::max<int64_t>(1, std::min(P, kScratchElems / Q));
    void *col = direct ? nullptr : scratch(size_t(Q * band) * elemSize_);
    for (int64_t n = 0; n < N; ++n) {
      const void *xn = at(x, n * C * H * W);
      void *yn = at(y, n * O * P);
      for (int64_t p0 = 0; p0 < P; p0 += band) {
        const int64_t pb = std::min(band, P - p0);
        const void *patches = xn;
        if (!direct) {
          cuda::im2col(xn, col, C, H, W, KH, KW, strideH, strideW, padH, padW,
                       OH, OW, p0, pb, storage_, stream_);
          patches = col;
        }
        // Row-major y_n[O, P] = w[O,Q] col[Q,P] is column-major
        // y_n^T[P,O] = col^T[P,Q] w^T[Q,O]; a band is rows [p0, p0+pb).
        gemm(false, false, pb, O, Q, patches, direct ? P : pb, w, Q, at(yn, p0),
             P, nullptr, /*accumulate=*/b != nullptr, "conv2d");
      }
    }
  }

  //===--------------------------------------------------------------------===//
  // Other kernels
  //===--------------------------------------------------------------------===//

  void layerNorm(const float *x, const float *gamma, const float *beta,
                 float *y, int64_t rows, int64_t cols, float eps) override {
    cuda::layerNorm(x, gamma, beta, y, rows, cols, eps, storage_, stream_);
  }

  void rmsNorm(const float *x, const float *gamma, float *y, int64_t rows,
               int64_t cols, float eps) override {
    cuda::rmsNorm(x, gamma, y, rows, cols, eps, storage_, stream_);
  }

  void groupNorm(const float *x, const float *gamma, const float *beta,
                 float *y, int64_t N, int64_t C, int64_t S, int64_t groups,
                 float eps) override {
    check(groups > 0 && C % groups == 0, "groupNorm: ", C,
          " channels are not divisible into ", groups, " groups");
    cuda::groupNorm(x, gamma, beta, y, N, C, S, groups, eps, storage_, stream_);
  }

  void upsampleNearest(const float *x, float *y, int64_t N, int64_t C,
                       int64_t H, int64_t W, int64_t sh, int64_t sw) override {
    cuda::upsampleNearest(x, y, N, C, H, W, sh, sw, storage_, stream_);
  }

  void modulate(const float *x, const float *shift, const float *scale,
                float *y, int64_t B, int64_t T, int64_t D) override {
    cuda::modulate(x, shift, scale, y, B, T, D, storage_, stream_);
  }

  void layerNormModulate(const float *x, const float *gamma, const float *beta,
                         const float *shift, const float *scale, float *y,
                         int64_t B, int64_t T, int64_t D, float eps) override {
    cuda::layerNormModulate(x, gamma, beta, shift, scale, y, B, T, D, eps,
                            storage_, stream_);
  }

  void attention(const float *q, const float *k, const float *v, float *o,
                 int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
                 float scale) override {
    const cuda::AttentionDims d{B, Tq, Tk, H, Dh, scale, /*stats=*/false};
    if (aligned16({q, k, v, o}) && cudnnAttentionReady(d)) {
      cudnnAttention_->forward(d, q, k, v, o, nullptr, cudnnWorkspace_,
                               cudnnWorkspaceBytes_);
      cuda::checkLaunch("attention (cuDNN)", stream_);
      return;
    }
    if (tensorCoreAttention(Dh))
      cuda::attentionTensorCore(q, k, v, o, B, Tq, Tk, H, Dh, scale, storage_,
                                stream_);
    else
      cuda::attention(q, k, v, o, B, Tq, Tk, H, Dh, scale, storage_, stream_);
  }

  void attentionBlock(const float *q, const float *k, const float *v, float *o,
                      float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                      int64_t Dh, float scale, bool first) override {
    if (attentionBlockOnCudnn(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, first))
      return;
    if (tensorCoreAttention(Dh))
      cuda::attentionBlockTensorCore(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale,
                                     first, storage_, stream_);
    else
      cuda::attentionBlock(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, first,
                           storage_, stream_);
  }

  void storeFloats(const float *src, float *dst, int64_t n) override {
    cuda::storeFloats(src, dst, n, storage_, stream_);
  }

  /// bf16/f16 storage takes attention to cuDNN or to Fresco's tensor-core
  /// kernel in that type (FRESCO_CUDA_ATTENTION), unless the head is too
  /// wide or FRESCO_CUDA_ATTENTION=f32 (then the f32 kernel reads and
  /// writes the storage type).
  bool tensorCoreAttention(int64_t Dh) const {
    if (storage_ == DType::F32)
      return false;
    check(attentionEnvError_.empty(), attentionEnvError_);
    return attentionChoice_ != cuda::AttentionChoice::F32 &&
           cuda::attentionTensorCoreSupported(Dh);
  }

  void unary(UnaryKind kind, const float *x, float *y, int64_t n) override {
    cuda::unary(kind, x, y, n, storage_, stream_);
  }

  void binary(BinaryKind kind, const float *a, const float *b, float *out,
              int rank, const int64_t *outShape, const int64_t *aStrides,
              const int64_t *bStrides) override {
    cuda::binary(kind, a, b, out, rank, outShape, aStrides, bStrides, storage_,
                 stream_);
  }

  void mulAdd(const float *a, const float *b, const float *c, float *out,
              int rank, const int64_t *outShape, const int64_t *aStrides,
              const int64_t *bStrides) override {
    cuda::mulAdd(a, b, c, out, rank, outShape, aStrides, bStrides, storage_,
                 stream_);
  }

  void timestepEmbedding(const float *tF32, const int64_t *tI64, float *out,
                         int64_t B, int64_t dim, bool flipSinToCos, float shift,
                         float scale, float maxPeriod) override {
    check((tF32 == nullptr) != (tI64 == nullptr),
          "timestepEmbedding: exactly one of the f32 / i64 inputs must be set");
    check(dim >= 0, "timestepEmbedding: negative dim ", dim);
    // The float32 scalars of diffusers' expression, as the CPU computes them.
    const float negLogPeriod = float(-std::log(double(maxPeriod)));
    const float denom = float(double(dim / 2) - double(shift));
    cuda::timestepEmbedding(tF32, tI64, out, B, dim, flipSinToCos, negLogPeriod,
                            denom, scale, storage_, stream_);
  }

  void ropeTable(const float *ids, float *out, int64_t T, int64_t nAxes,
                 const int64_t *axesDim, double theta) override {
    check(nAxes >= 0 && nAxes <= cuda::RopeAxes::kMax, "ropeTable: ", nAxes,
          " axes, more than the ", cuda::RopeAxes::kMax, " supported");
    cuda::RopeAxes axes;
    axes.n = int(nAxes);
    for (int64_t a = 0; a < nAxes; ++a)
      axes.dim[a] = axesDim[a];
    cuda::ropeTable(ids, out, T, axes, theta, storage_, stream_);
  }

  void rope(const float *x, const float *table, float *y, int64_t B, int64_t T,
            int64_t H, int64_t Dh) override {
    cuda::rope(x, table, y, B, T, H, Dh, storage_, stream_);
  }

  bool implements(OptionalKernel) const override { return true; }

  void attentionMasked(const float *q, const float *k, const float *v,
                       const float *bias, float *o, int64_t B, int64_t Tq,
                       int64_t Tk, int64_t H, int64_t Dh, float scale,
                       bool causal) override {
    cuda::attentionMasked(q, k, v, bias, o, B, Tq, Tk, H, Dh, scale, causal,
                          storage_, stream_);
  }

  void relativePositionBias(const float *table, float *out, int64_t H,
                            int64_t Tq, int64_t Tk, int64_t numBuckets,
                            int64_t maxDistance, bool bidirectional) override {
    cuda::relativePositionBias(table, out, H, Tq, Tk, numBuckets, maxDistance,
                               bidirectional, storage_, stream_);
  }

  void eosPool(const float *x, const int64_t *ids, float *out, int64_t B,
               int64_t T, int64_t D, int64_t tokenId, bool argmax) override {
    cuda::eosPool(x, ids, out, B, T, D, tokenId, argmax, storage_, stream_);
  }

  void embedding(const float *table, const int64_t *ids, float *out, int64_t n,
                 int64_t V, int64_t D) override {
    cuda::embedding(table, ids, out, n, V, D, fault_, storage_, stream_);
    embeddingPending_ = true;
  }

  void transpose(const void *x, void *out, int rank, const int64_t *shape,
                 const int64_t *perm, size_t elemSize) override {
    cuda::transpose(x, out, rank, shape, perm, elemSize, stream_);
  }

  void copyStrided(const void *src, int64_t srcRowElems, void *dst,
                   int64_t dstRowElems, int64_t rows, int64_t rowElems,
                   size_t elemSize) override {
    if (rows == 0 || rowElems == 0)
      return;
    const size_t rowBytes = size_t(rowElems) * elemSize;
    if (srcRowElems == rowElems && dstRowElems == rowElems) {
      cuda::checkCuda(cudaMemcpyAsync(dst, src, size_t(rows) * rowBytes,
                                      cudaMemcpyDeviceToDevice, stream_),
                      "copy");
      return;
    }
    cuda::checkCuda(cudaMemcpy2DAsync(dst, size_t(dstRowElems) * elemSize, src,
                                      size_t(srcRowElems) * elemSize, rowBytes,
                                      size_t(rows), cudaMemcpyDeviceToDevice,
                                      stream_),
                    "strided copy");
  }

  void fillZero(void *dst, size_t bytes) override {
    if (bytes)
      cuda::checkCuda(cudaMemsetAsync(dst, 0, bytes, stream_), "zero fill");
  }

  void posEmbed2d(float *out, int64_t gridH, int64_t gridW, int64_t dim,
                  double baseSize, double interpolationScale) override {
    check(dim > 0 && dim % 4 == 0, "posEmbed2d: dim ", dim,
          " must be a positive multiple of 4");
    check(baseSize > 0 && interpolationScale > 0,
          "posEmbed2d: base size and interpolation scale must be positive");
    check(gridH >= 0 && gridW >= 0, "posEmbed2d: negative grid");
    cuda::posEmbed2d(out, gridH, gridW, dim, baseSize, interpolationScale,
                     storage_, stream_);
  }

private:
  static constexpr size_t kWorkspaceBytes = 32u << 20;
  /// im2col bands, and linearWide's f32 bands, hold at most this many
  /// elements (256 MiB in f32).
  static constexpr int64_t kScratchElems = int64_t(64) << 20;

  /// conv2d through cuDNN onto y (holding the bias when `accumulate`);
  /// false when this call takes im2col + GEMM instead.
  bool convOnCudnn(const cuda::ConvDims &d, const void *x, const void *w,
                   void *y, bool accumulate) {
    if (!cudnn_) // FRESCO_CUDNN=0
      return false;
    // cuDNN may refuse pointers below 16-byte alignment (a slice, say);
    // allocate()'s and the arena's are aligned.
    if (alignmentOf(x) < 16 || alignmentOf(w) < 16 || alignmentOf(y) < 16)
      return false;
    const cuda::ConvSetup *setup = cudnn_->find(d);
    if (!setup) {
      // Set-up (descriptors, heuristics, the workspace's cudaMalloc) cannot
      // be captured; the warm-up run before any capture makes it.
      if (capturing())
        return false;
      setup = &cudnn_->prepare(d);
    }
    if (!setup->ok)
      return false;
    if (!cudnnWorkspace(setup->workspaceBytes))
      return false;
    cudnn_->forward(d, x, w, y, accumulate, cudnnWorkspace_,
                    cudnnWorkspaceBytes_);
    cuda::checkLaunch("conv2d (cuDNN)", stream_);
    return true;
  }

  /// Grows the workspace cuDNN's convolutions and attention share (they run
  /// one at a time on the stream) to `bytes`; false when that would
  /// allocate inside a capture. Only a shape's first call grows it, and
  /// that call is outside capture (the warm-up run).
  bool cudnnWorkspace(size_t bytes) {
    if (bytes <= cudnnWorkspaceBytes_)
      return true;
    if (capturing())
      return false;
    // A recorded graph may still point at the old buffer: keep it until
    // the backend goes.
    if (cudnnWorkspace_)
      retiredCudnnWorkspaces_.push_back(cudnnWorkspace_);
    cudnnWorkspace_ = nullptr;
    cudnnWorkspaceBytes_ = 0;
    cudnnWorkspace_ = allocate(bytes);
    cudnnWorkspaceBytes_ = bytes;
    return true;
  }

  static bool aligned16(std::initializer_list<const void *> ptrs) {
    for (const void *p : ptrs)
      if (alignmentOf(p) < 16)
        return false;
    return true;
  }

  /// True when `d` runs on cuDNN now: FRESCO_CUDA_ATTENTION allows it, its
  /// graph is built (on its first call, outside capture) and the
  /// workspace is large enough. Otherwise Fresco's kernels take it.
  bool cudnnAttentionReady(const cuda::AttentionDims &d) {
    if (storage_ == DType::F32)
      return false;
    check(attentionEnvError_.empty(), attentionEnvError_);
    if (!cudnnAttention_ || d.B <= 0 || d.Tq <= 0 || d.Tk <= 0 || d.H <= 0 ||
        d.Dh <= 0)
      return false;
    const cuda::AttentionSetup *setup = cudnnAttention_->find(d);
    if (!setup) {
      if (capturing()) // building a graph is no stream work
        return false;
      setup = &cudnnAttention_->prepare(d);
    }
    return setup->ok && cudnnWorkspace(setup->workspaceBytes);
  }

  /// One ring block on cuDNN: its output (rounded to the storage once) and
  /// log-sum-exps into the scratch, then merged into the f32 running o and
  /// lse. False when Fresco's kernels take it.
  bool attentionBlockOnCudnn(const float *q, const float *k, const float *v,
                             float *o, float *lse, int64_t B, int64_t Tq,
                             int64_t Tk, int64_t H, int64_t Dh, float scale,
                             bool first) {
    const cuda::AttentionDims d{B, Tq, Tk, H, Dh, scale, /*stats=*/true};
    if (!aligned16({q, k, v}) || !cudnnAttentionReady(d))
      return false;
    const size_t obBytes = (size_t(B * Tq * H * Dh) * elemSize_ + 255) & ~255ul;
    const size_t bytes = obBytes + size_t(B * H * Tq) * sizeof(float);
    if (bytes > scratchBytes_ && capturing())
      return false;
    char *ob = static_cast<char *>(scratch(bytes));
    float *lseb = reinterpret_cast<float *>(ob + obBytes);
    cudnnAttention_->forward(d, q, k, v, ob, lseb, cudnnWorkspace_,
                             cudnnWorkspaceBytes_);
    cuda::checkLaunch("attentionBlock (cuDNN)", stream_);
    cuda::attentionMergeBlock(ob, lseb, o, lse, B, Tq, H, Dh, first, storage_,
                              stream_);
    ++blocksOnCudnn_;
    return true;
  }

  bool capturing() const {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    return cudaStreamIsCapturing(stream_, &status) == cudaSuccess &&
           status != cudaStreamCaptureStatusNone;
  }

  /// Room for `bytes` bytes of im2col patches or of linearWide's f32 GEMM
  /// output (never both at once: each is consumed in the call that fills
  /// it, in stream order).
  void *scratch(size_t bytes) {
    if (bytes > scratchBytes_) {
      // A recorded graph may still point at the old buffer: keep it until
      // the backend goes.
      if (scratch_)
        retired_.push_back(scratch_);
      scratch_ = nullptr;
      scratchBytes_ = 0;
      scratch_ = allocate(bytes);
      scratchBytes_ = bytes;
    }
    return scratch_;
  }

  /// `p` advanced by `elems` elements of the float storage type.
  const void *at(const void *p, int64_t elems) const {
    return static_cast<const char *>(p) + elems * int64_t(elemSize_);
  }
  void *at(void *p, int64_t elems) const {
    return static_cast<char *>(p) + elems * int64_t(elemSize_);
  }

  /// linear(), then the tanh GELU when `gelu`.
  void linearImpl(const float *x, const float *w, const float *b, float *y,
                  int64_t M, int64_t K, int64_t N, bool gelu) {
    if (M == 0 || N == 0)
      return;
    if (K == 0) { // an empty sum: the bias, or zeros
      if (b)
        cuda::fillBias(y, b, M * N, 1, N, storage_, stream_);
      else // zero bits are 0.0 in every storage type
        cuda::checkCuda(
            cudaMemsetAsync(y, 0, size_t(M * N) * elemSize_, stream_),
            "linear (empty reduction)");
      if (gelu)
        cuda::unary(UnaryKind::GeluTanh, y, y, M * N, storage_, stream_);
      return;
    }
    // Row-major y[M,N] = x[M,K] w[N,K]^T is column-major
    // y^T[N,M] = (w^T[K,N])^T x^T[K,M].
    gemm(/*transA=*/true, /*transB=*/false, N, M, K, w, K, x, K, y, N, b,
         /*accumulate=*/false, "linear", gelu);
  }

  /// The GEMM key linearImpl uses for these operands.
  GemmKey linearKey(const float *x, const float *w, const float *b, float *y,
                    int64_t M, int64_t K, int64_t N, bool gelu) const {
    return gemmKey(/*transA=*/true, /*transB=*/false, N, M, K, w, K, x, K, y, N,
                   b, /*accumulate=*/false, gelu, /*wideOut=*/false);
  }

  /// y = act(x w^T + b) for bf16/f16 storage (K > 0), rounded once: the
  /// GEMM stores f32 in the scratch buffer, in bands of rows that fit, and
  /// one kernel adds the bias, applies `act` and rounds into y.
  void linearWide(const float *x, const float *w, const float *b, float *y,
                  int64_t M, int64_t K, int64_t N, UnaryKind act) {
    const int64_t band = std::max<int64_t>(1, std::min(M, kScratchElems / N));
    auto *wide =
        static_cast<float *>(scratch(size_t(band * N) * sizeof(float)));
    for (int64_t r0 = 0; r0 < M; r0 += band) {
      const int64_t rows = std::min(band, M - r0);
      gemm(/*transA=*/true, /*transB=*/false, N, rows, K, w, K, at(x, r0 * K),
           K, wide, N, nullptr, /*accumulate=*/false, "linear",
           /*gelu=*/false, /*wideOut=*/true);
      cuda::biasActivation(act, wide, b, at(y, r0 * N), rows * N, N, storage_,
                           stream_);
    }
  }

  GemmKey gemmKey(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
                  const void *A, int64_t lda, const void *B, int64_t ldb,
                  const void *C, int64_t ldc, const void *bias, bool accumulate,
                  bool gelu, bool wideOut) const {
    return GemmKey{transA,
                   transB,
                   m,
                   n,
                   k,
                   lda,
                   ldb,
                   ldc,
                   bias != nullptr,
                   accumulate,
                   alignmentOf(A),
                   alignmentOf(B),
                   alignmentOf(C),
                   bias ? alignmentOf(bias) : 0u,
                   gelu,
                   int(gemmType_),
                   int(wideOut ? CUDA_R_32F : gemmType_)};
  }

  /// The plan of `key`, made (one heuristic query) on its first use.
  GemmPlan &planFor(const GemmKey &key, const void *bias, const char *what) {
    auto it = plans_.find(key);
    if (it == plans_.end())
      it = plans_.emplace(key, makePlan(key, bias, what)).first;
    return it->second;
  }

  /// Column-major C[m,n] = op(A) op(B) (+ C when accumulate) (+ bias[m]
  /// broadcast along columns when bias is non-null), then the tanh GELU
  /// when `gelu`. Every operand is in the storage type, except C with
  /// `wideOut` (f32; no bias or GELU then).
  void gemm(bool transA, bool transB, int64_t m, int64_t n, int64_t k,
            const void *A, int64_t lda, const void *B, int64_t ldb, void *C,
            int64_t ldc, const void *bias, bool accumulate, const char *what,
            bool gelu = false, bool wideOut = false) {
    const LtApi &api = lt();
    const GemmKey key = gemmKey(transA, transB, m, n, k, A, lda, B, ldb, C, ldc,
                                bias, accumulate, gelu, wideOut);
    GemmPlan &p = planFor(key, bias, what);
    float beta = accumulate ? 1.0f : 0.0f;
    if (bias && p.biasEpilogue) {
      checkLt(
          api.cublasLtMatmulDescSetAttribute(
              p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
          what);
    } else if (bias) {
      cuda::fillBias(C, bias, m * n, 1, m, storage_, stream_); // ldc == m
      beta = 1.0f;
    }
    // alpha and beta are f32 (the scale type) in every storage.
    const float alpha = 1.0f;
    checkLt(api.cublasLtMatmul(lt_, p.desc, &alpha, A, p.a, B, p.b, &beta, C,
                               p.c, C, p.c, &p.algo, workspace_,
                               kWorkspaceBytes, stream_),
            what);
    // ldc == m here (checked in makePlan). Only f32 storage gets here:
    // bf16/f16 take linearWide rather than round twice.
    if (gelu && !p.geluEpilogue)
      cuda::unary(UnaryKind::GeluTanh, C, C, m * n, storage_, stream_);
  }

  GemmPlan makePlan(const GemmKey &key, const void *bias, const char *what) {
    const LtApi &api = lt();
    check(!bias || key.ldc == key.m, what, ": bias needs a packed output");
    check(!key.gelu || key.ldc == key.m, what, ": GELU needs a packed output");
    GemmPlan p;
    const auto type = cudaDataType_t(key.type);
    const auto outType = cudaDataType_t(key.outType);
    // bf16/f16 operands: tensor cores, f32 accumulation and scale (TF32 is
    // an f32 operand mode only).
    checkLt(api.cublasLtMatmulDescCreate(
                &p.desc, type == CUDA_R_32F ? computeType_ : CUBLAS_COMPUTE_32F,
                CUDA_R_32F),
            what);
    if (type != CUDA_R_32F && outType == type) {
      // The epilogue's bias is in the storage type too; said explicitly
      // rather than left to cuBLASLt's default (D's type).
      const int32_t biasType = int32_t(type);
      checkLt(api.cublasLtMatmulDescSetAttribute(
                  p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &biasType,
                  sizeof biasType),
              what);
    }
    cublasOperation_t ta = key.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
    cublasOperation_t tb = key.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
    checkLt(api.cublasLtMatmulDescSetAttribute(
                p.desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta),
            what);
    checkLt(api.cublasLtMatmulDescSetAttribute(
                p.desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb),
            what);
    checkLt(api.cublasLtMatrixLayoutCreate(&p.a, type,
                                           key.transA ? key.k : key.m,
                                           key.transA ? key.m : key.k, key.lda),
            what);
    checkLt(api.cublasLtMatrixLayoutCreate(&p.b, type,
                                           key.transB ? key.n : key.k,
                                           key.transB ? key.k : key.n, key.ldb),
            what);
    checkLt(
        api.cublasLtMatrixLayoutCreate(&p.c, outType, key.m, key.n, key.ldc),
        what);

    cublasLtMatmulPreference_t pref = nullptr;
    checkLt(api.cublasLtMatmulPreferenceCreate(&pref), what);
    uint64_t ws = kWorkspaceBytes;
    api.cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws);
    const std::pair<cublasLtMatmulPreferenceAttributes_t, uint32_t> aligns[] = {
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, key.alignA},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, key.alignB},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, key.alignC},
        {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, key.alignC}};
    for (const auto &[attr, value] : aligns)
      api.cublasLtMatmulPreferenceSetAttribute(pref, attr, &value,
                                               sizeof value);
    if (outType != CUDA_R_32F) {
      // Split-K partial sums in f32 only: the INPLACE and OUTPUT_TYPE
      // schemes reduce in D's type, rounding to bf16/f16 more than once.
      const uint32_t schemes = CUBLASLT_REDUCTION_SCHEME_NONE |
                               CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
      api.cublasLtMatmulPreferenceSetAttribute(
          pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes,
          sizeof schemes);
    }

    auto ask = [&](cublasLtEpilogue_t epi) {
      const bool withBias =
          epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS;
      checkLt(api.cublasLtMatmulDescSetAttribute(
                  p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi),
              what);
      if (withBias)
        checkLt(
            api.cublasLtMatmulDescSetAttribute(
                p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
            what);
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      cublasStatus_t s = api.cublasLtMatmulAlgoGetHeuristic(
          lt_, p.desc, p.a, p.b, p.c, p.c, pref, 1, &result, &found);
      if (s != CUBLAS_STATUS_SUCCESS || found == 0)
        return false;
      p.algo = result.algo;
      return true;
    };
    // The fused GELU (with the bias) first, then the fused bias; what is
    // not fused runs around the GEMM (see gemm).
    // cuBLASLt's alignment preferences do not cover the bias, and its
    // epilogue kernels may assume 16 bytes: a less aligned bias (from the
    // arena or a slice) is pre-filled instead.
    const bool epilogueBias = bias && key.alignBias >= 16;
    if (key.gelu && (!bias || epilogueBias)) {
      p.geluEpilogue =
          ask(bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU);
      p.biasEpilogue = p.geluEpilogue && bias;
    }
    if (!p.geluEpilogue)
      p.biasEpilogue = epilogueBias && ask(CUBLASLT_EPILOGUE_BIAS);
    const bool ok =
        p.geluEpilogue || p.biasEpilogue || ask(CUBLASLT_EPILOGUE_DEFAULT);
    api.cublasLtMatmulPreferenceDestroy(pref);
    if (!ok) {
      api.cublasLtMatrixLayoutDestroy(p.a);
      api.cublasLtMatrixLayoutDestroy(p.b);
      api.cublasLtMatrixLayoutDestroy(p.c);
      api.cublasLtMatmulDescDestroy(p.desc);
      fail(what, ": cuBLASLt has no ",
           type == CUDA_R_32F    ? "f32"
           : type == CUDA_R_16BF ? "bf16"
                                 : "f16",
           " algorithm for m=", key.m, " n=", key.n, " k=", key.k,
           " (alignments ", key.alignA, "/", key.alignB, "/", key.alignC,
           " bytes)");
    }
    return p;
  }

  int device_;
  cudaStream_t stream_ = nullptr;
  cublasLtHandle_t lt_ = nullptr;
  cuda::AttentionChoice attentionChoice_ = cuda::AttentionChoice::Cudnn;
  std::string attentionEnvError_;          // its value, if not understood
  std::unique_ptr<cuda::CudnnConv> cudnn_; // null with FRESCO_CUDNN=0
  // bf16/f16 with FRESCO_CUDA_ATTENTION=cudnn (the default), else null.
  std::unique_ptr<cuda::CudnnAttention> cudnnAttention_;
  int blocksOnCudnn_ = 0;
  void *cudnnWorkspace_ = nullptr; // cuDNN's, the largest needed
  size_t cudnnWorkspaceBytes_ = 0;
  std::vector<void *> retiredCudnnWorkspaces_;
  cublasComputeType_t computeType_ = CUBLAS_COMPUTE_32F;
  void *workspace_ = nullptr;
  void *scratch_ = nullptr; // im2col patches
  size_t scratchBytes_ = 0;
  std::vector<void *> retired_; // earlier scratch buffers
  DType storage_;               // floatStorage(): storageOf(the precision)
  size_t elemSize_;             // its element size in bytes
  cudaDataType_t gemmType_;     // its cuBLASLt type
  cuda::EmbeddingFault *fault_ = nullptr;
  bool embeddingPending_ = false;
  std::map<GemmKey, GemmPlan> plans_;
};

} // namespace

int cudaDeviceCount() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return n;
}

void *cudaBackendStream(Backend &backend) {
  auto *cuda = dynamic_cast<CudaBackend *>(&backend);
  return cuda ? static_cast<void *>(cuda->stream()) : nullptr;
}

int cudaBackendDevice(Backend &backend) {
  auto *cuda = dynamic_cast<CudaBackend *>(&backend);
  return cuda ? cuda->device() : -1;
}

CudnnConvCounts cudnnConvCounts(Backend &backend) {
  auto *cuda = dynamic_cast<CudaBackend *>(&backend);
  return cuda ? cuda->cudnnCounts() : CudnnConvCounts{};
}

CudnnAttentionCounts cudnnAttentionCounts(Backend &backend) {
  auto *cuda = dynamic_cast<CudaBackend *>(&backend);
  return cuda ? cuda->cudnnAttentionCounts() : CudnnAttentionCounts{};
}

bool cudaDeviceUsable(std::string *reason) {
  static std::once_flag once;
  static bool usable = false;
  static std::string why;
  std::call_once(once, [] {
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
      cudaGetLastError();
      why = cudaGetErrorString(e);
    } else if (count == 0) {
      why = "no CUDA device found";
    } else {
      usable = true;
    }
  });
  if (reason)
    *reason = why;
  return usable;
}

std::unique_ptr<Backend> createCudaBackend(int device,
                                           GemmPrecision precision) {
  std::string reason;
  check(cudaDeviceUsable(&reason), "CUDA backend: ", reason);
  int count = 0;
  cuda::checkCuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  check(device >= 0 && device < count, "CUDA backend: no device ", device, " (",
        count, " device", count == 1 ? "" : "s", " present)");
  return std::make_unique<CudaBackend>(device, precision);
}

} // namespace fresco
