//===- CudaBackendGemm.cpp - CUDA GEMMs and conv2d ------------------------===//
//
// linear and conv2d: cuBLASLt GEMMs with their cached heuristic plans and
// fused epilogues, cuDNN's convolutions, and the im2col fallback.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaBackendImpl.h"

#include <algorithm>
#include <cstdio>
#include <utility>
#include <vector>

namespace fresco::cudabackend {

void CudaBackend::linear(const float *x, const float *w, const float *b,
                         float *y, int64_t M, int64_t K, int64_t N) {
  linearImpl(x, w, b, y, M, K, N, /*gelu=*/false);
}

void CudaBackend::linearResidual(const float *x, const float *w, const float *b,
                                 const float *r, float *y, int64_t M, int64_t K,
                                 int64_t N) {
  if (M == 0 || N == 0)
    return;
  // y^T = w x^T + r^T column-major: r is C, y is D, same layout. A bias
  // the epilogue cannot take would be pre-filled into C, which is r here:
  // then (and for an empty sum) the GEMM and the sum apart.
  if (K == 0 ||
      (b && !planFor(gemmKey(/*transA=*/true, /*transB=*/false, N, M, K, w, K,
                             x, K, y, N, b, /*accumulate=*/true,
                             /*gelu=*/false, /*wideOut=*/false, r),
                     b, "linear")
                 .biasEpilogue)) {
    Backend::linearResidual(x, w, b, r, y, M, K, N);
    return;
  }
  gemm(/*transA=*/true, /*transB=*/false, N, M, K, w, K, x, K, y, N, b,
       /*accumulate=*/true, "linear", /*gelu=*/false, /*wideOut=*/false, r);
}

void CudaBackend::linearGated(const float *x, const float *w, const float *b,
                              const float *g, int64_t G, const float *r,
                              float *y, int64_t M, int64_t K, int64_t N) {
  if (M == 0 || N == 0)
    return;
  if (K > 0 && gatedOnLt(x, w, b, g, G, r, y, M, K, N))
    return;
  // An empty sum, or no cuBLASLt algorithm: the GEMM, then the gated sum
  // (mulAdd), rounded twice under bf16/f16 as the unfused linear and
  // mul_add would be.
  Backend::linearGated(x, w, b, g, G, r, y, M, K, N);
}

namespace {
/// Says once per process that the gated GEMM runs as a GEMM and the fused
/// a * b + c (gpu-check's logs then tell whether cuBLASLt took the device
/// alpha vector).
void noteGatedFallback(const char *why, int64_t M, int64_t K, int64_t N,
                       int64_t G) {
  static bool said = false;
  if (said)
    return;
  said = true;
  std::fprintf(stderr,
               "fresco: cuBLASLt runs no gated GEMM (device alpha vector) for "
               "M=%lld K=%lld N=%lld over %lld sample(s): %s; gated linears "
               "use a GEMM and a * b + c (said once)\n",
               (long long)M, (long long)K, (long long)N, (long long)G, why);
}

/// The alignment every batch of a strided operand keeps: its base's, and
/// that of the stride in bytes (256, cuBLASLt's cap, for none).
uint32_t strideAlignment(int64_t bytes) {
  return bytes == 0 ? 256u
                    : alignmentOf(reinterpret_cast<const void *>(
                          static_cast<uintptr_t>(bytes)));
}
} // namespace

void destroyPlan(GemmPlan &p) {
  const LtApi &api = lt();
  for (cublasLtMatrixLayout_t l : {p.a, p.b, p.c})
    if (l)
      api.cublasLtMatrixLayoutDestroy(l);
  if (p.desc)
    api.cublasLtMatmulDescDestroy(p.desc);
  p = GemmPlan{};
}

// Never run in this repository's tests (no GPU there): written against
// cublasLt.h's contract. Per sample s of R = M / G rows, column-major
// y_s^T [N, R] = alpha_s .* (w x_s^T) + beta r_s^T + bias_s, where alpha_s
// = g_s is a device vector over D's N rows
// (CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST, batched by
// CUBLASLT_MATMUL_DESC_ALPHA_VECTOR_BATCH_STRIDE) and the epilogue's bias,
// which cuBLASLt adds after the alpha scaling, is g_s * b (per sample, by
// CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE). The weight is shared: batch
// stride 0. Under bf16/f16 the pre-scaled bias is rounded to the storage
// type; the sum is rounded once.
bool CudaBackend::gatedOnLt(const float *x, const float *w, const float *b,
                            const float *g, int64_t G, const float *r, float *y,
                            int64_t M, int64_t K, int64_t N) {
  const char *what = "linear (gated)";
  const int64_t R = M / G;
  // The vectors in the scratch: alpha (f32, the scale type), then the
  // scaled bias (the storage type), each 256-byte aligned.
  const size_t alphaBytes = (size_t(G * N) * sizeof(float) + 255) / 256 * 256;
  char *s = static_cast<char *>(
      scratch(alphaBytes + (b ? size_t(G * N) * elemSize_ : 0)));
  auto *alpha = reinterpret_cast<float *>(s);
  void *scaledBias = b ? s + alphaBytes : nullptr;
  GemmKey key = gemmKey(/*transA=*/true, /*transB=*/false, N, R, K, w, K, x, K,
                        y, N, scaledBias, /*accumulate=*/r != nullptr,
                        /*gelu=*/false, /*wideOut=*/false, r);
  key.batch = G;
  key.alphaVector = true;
  key.alignB = std::min(key.alignB, strideAlignment(R * K * elemSize_));
  key.alignC = std::min(key.alignC, strideAlignment(R * N * elemSize_));
  // Sample s's scaled bias starts s * N elements in: under 16 bytes the
  // epilogue cannot take it (chooseAlgo), and the caller falls back.
  if (scaledBias)
    key.alignBias = std::min(key.alignBias, strideAlignment(N * elemSize_));
  auto it = plans_.find(key);
  if (it == plans_.end()) {
    it = plans_.emplace(key, makeGatedPlan(key, scaledBias)).first;
    if (!it->second.desc)
      noteGatedFallback(b ? "no algorithm with the bias in its epilogue"
                          : "no algorithm",
                        M, K, N, G);
  }
  GemmPlan &p = it->second;
  if (!p.desc)
    return false;
  cuda::gateVectors(g, b, alpha, scaledBias, G * N, N, storage_, stream_);
  const LtApi &api = lt();
  if (scaledBias)
    checkLt(api.cublasLtMatmulDescSetAttribute(
                p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &scaledBias,
                sizeof(scaledBias)),
            what);
  const float beta = r ? 1.0f : 0.0f; // host, as the pointer mode says
  auto run = [&] {
    return api.cublasLtMatmul(lt_, p.desc, alpha, w, p.a, x, p.b, &beta,
                              r ? static_cast<const void *>(r) : y, p.c, y, p.c,
                              &p.algo, workspace_, kWorkspaceBytes, stream_);
  };
  // cuBLASLt documents the device alpha vector for its int8 kernels; for
  // bf16/f16/f32 a heuristic answer may still be refused at the call. The
  // first call (the warm-up run, outside any CUDA graph) tries the other
  // answers, then gives the plan up: the caller falls back, nothing
  // having been written to y.
  cublasStatus_t status = run();
  while (status != CUBLAS_STATUS_SUCCESS && !p.spareAlgos.empty()) {
    p.algo = p.spareAlgos.front();
    p.spareAlgos.erase(p.spareAlgos.begin());
    status = run();
  }
  if (status != CUBLAS_STATUS_SUCCESS) {
    if (p.verified)
      checkLt(status, what); // it ran before: a real failure
    destroyPlan(p);
    noteGatedFallback("the heuristic's algorithms refused at the call", M, K, N,
                      G);
    return false;
  }
  p.verified = true;
  p.spareAlgos.clear();
  return true;
}

GemmPlan CudaBackend::makeGatedPlan(const GemmKey &key, const void *bias) {
  const char *what = "linear (gated)";
  const LtApi &api = lt();
  GemmPlan p;
  const auto type = cudaDataType_t(key.type);
  checkLt(api.cublasLtMatmulDescCreate(
              &p.desc, type == CUDA_R_32F ? computeType_ : CUBLAS_COMPUTE_32F,
              CUDA_R_32F),
          what);
  auto set = [&](cublasLtMatmulDescAttributes_t attr, const auto &v) {
    checkLt(api.cublasLtMatmulDescSetAttribute(p.desc, attr, &v, sizeof v),
            what);
  };
  if (type != CUDA_R_32F) // the scaled bias is in the storage type
    set(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, int32_t(type));
  set(CUBLASLT_MATMUL_DESC_TRANSA, cublasOperation_t(CUBLAS_OP_T));
  set(CUBLASLT_MATMUL_DESC_TRANSB, cublasOperation_t(CUBLAS_OP_N));
  set(CUBLASLT_MATMUL_DESC_POINTER_MODE,
      int32_t(CUBLASLT_POINTER_MODE_ALPHA_DEVICE_VECTOR_BETA_HOST));
  // Each sample's alpha and bias are the next m (output features) values.
  set(CUBLASLT_MATMUL_DESC_ALPHA_VECTOR_BATCH_STRIDE, int64_t(key.m));
  if (bias)
    set(CUBLASLT_MATMUL_DESC_BIAS_BATCH_STRIDE, int64_t(key.m));
  checkLt(api.cublasLtMatrixLayoutCreate(&p.a, type, key.k, key.m, key.lda),
          what);
  checkLt(api.cublasLtMatrixLayoutCreate(&p.b, type, key.k, key.n, key.ldb),
          what);
  checkLt(api.cublasLtMatrixLayoutCreate(&p.c, type, key.m, key.n, key.ldc),
          what);
  auto batched = [&](cublasLtMatrixLayout_t l, int64_t stride) {
    const int32_t count = int32_t(key.batch);
    checkLt(api.cublasLtMatrixLayoutSetAttribute(
                l, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count),
            what);
    checkLt(api.cublasLtMatrixLayoutSetAttribute(
                l, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET, &stride,
                sizeof stride),
            what);
  };
  batched(p.a, 0); // the weight, shared by every sample
  batched(p.b, key.n * key.ldb);
  batched(p.c, key.n * key.ldc);
  // C is r (or unused): a bias cannot be pre-filled there, so it must be
  // the epilogue's. No algorithm: the caller falls back.
  if (!chooseAlgo(p, key, bias, /*epilogues=*/true, 4, what))
    return GemmPlan{};
  if (bias && !p.biasEpilogue) {
    destroyPlan(p);
    return GemmPlan{};
  }
  return p;
}

void CudaBackend::linearActivation(const float *x, const float *w,
                                   const float *b, float *y, int64_t M,
                                   int64_t K, int64_t N, UnaryKind act) {
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

void CudaBackend::conv2d(const float *x, const float *w, const float *b,
                         float *y, int64_t N, int64_t C, int64_t H, int64_t W,
                         int64_t O, int64_t KH, int64_t KW, int64_t strideH,
                         int64_t strideW, int64_t padH, int64_t padW) {
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
        cuda::im2col(xn, col, C, H, W, KH, KW, strideH, strideW, padH, padW, OH,
                     OW, p0, pb, storage_, stream_);
        patches = col;
      }
      // Row-major y_n[O, P] = w[O,Q] col[Q,P] is column-major
      // y_n^T[P,O] = col^T[P,Q] w^T[Q,O]; a band is rows [p0, p0+pb).
      gemm(false, false, pb, O, Q, patches, direct ? P : pb, w, Q, at(yn, p0),
           P, nullptr, /*accumulate=*/b != nullptr, "conv2d");
    }
  }
}

bool CudaBackend::convOnCudnn(const cuda::ConvDims &d, const void *x,
                              const void *w, void *y, bool accumulate) {
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

void CudaBackend::linearImpl(const float *x, const float *w, const float *b,
                             float *y, int64_t M, int64_t K, int64_t N,
                             bool gelu) {
  if (M == 0 || N == 0)
    return;
  if (K == 0) { // an empty sum: the bias, or zeros
    if (b)
      cuda::fillBias(y, b, M * N, 1, N, storage_, stream_);
    else // zero bits are 0.0 in every storage type
      cuda::checkCuda(cudaMemsetAsync(y, 0, size_t(M * N) * elemSize_, stream_),
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

GemmKey CudaBackend::linearKey(const float *x, const float *w, const float *b,
                               float *y, int64_t M, int64_t K, int64_t N,
                               bool gelu) const {
  return gemmKey(/*transA=*/true, /*transB=*/false, N, M, K, w, K, x, K, y, N,
                 b, /*accumulate=*/false, gelu, /*wideOut=*/false);
}

void CudaBackend::linearWide(const float *x, const float *w, const float *b,
                             float *y, int64_t M, int64_t K, int64_t N,
                             UnaryKind act) {
  const int64_t band = std::max<int64_t>(1, std::min(M, kScratchElems / N));
  auto *wide = static_cast<float *>(scratch(size_t(band * N) * sizeof(float)));
  for (int64_t r0 = 0; r0 < M; r0 += band) {
    const int64_t rows = std::min(band, M - r0);
    gemm(/*transA=*/true, /*transB=*/false, N, rows, K, w, K, at(x, r0 * K), K,
         wide, N, nullptr, /*accumulate=*/false, "linear",
         /*gelu=*/false, /*wideOut=*/true);
    cuda::biasActivation(act, wide, b, at(y, r0 * N), rows * N, N, storage_,
                         stream_);
  }
}

GemmKey CudaBackend::gemmKey(bool transA, bool transB, int64_t m, int64_t n,
                             int64_t k, const void *A, int64_t lda,
                             const void *B, int64_t ldb, const void *C,
                             int64_t ldc, const void *bias, bool accumulate,
                             bool gelu, bool wideOut, const void *cIn) const {
  // C and D are both C's layout; with cIn they are two buffers, and the
  // plan must suit the less aligned.
  const unsigned alignC =
      cIn ? std::min(alignmentOf(C), alignmentOf(cIn)) : alignmentOf(C);
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
                 alignC,
                 bias ? alignmentOf(bias) : 0u,
                 gelu,
                 int(gemmType_),
                 int(wideOut ? CUDA_R_32F : gemmType_)};
}

GemmPlan &CudaBackend::planFor(const GemmKey &key, const void *bias,
                               const char *what) {
  auto it = plans_.find(key);
  if (it == plans_.end())
    it = plans_.emplace(key, makePlan(key, bias, what)).first;
  return it->second;
}

void CudaBackend::gemm(bool transA, bool transB, int64_t m, int64_t n,
                       int64_t k, const void *A, int64_t lda, const void *B,
                       int64_t ldb, void *C, int64_t ldc, const void *bias,
                       bool accumulate, const char *what, bool gelu,
                       bool wideOut, const void *cIn) {
  const LtApi &api = lt();
  const GemmKey key = gemmKey(transA, transB, m, n, k, A, lda, B, ldb, C, ldc,
                              bias, accumulate, gelu, wideOut, cIn);
  GemmPlan &p = planFor(key, bias, what);
  float beta = accumulate ? 1.0f : 0.0f;
  check(!cIn || (accumulate && (!bias || p.biasEpilogue)), what,
        ": a separate C input needs accumulate, and a bias in the epilogue");
  const void *c = cIn ? cIn : C;
  if (bias && p.biasEpilogue) {
    checkLt(api.cublasLtMatmulDescSetAttribute(
                p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
            what);
  } else if (bias) {
    cuda::fillBias(C, bias, m * n, 1, m, storage_, stream_); // ldc == m
    beta = 1.0f;
  }
  // alpha and beta are f32 (the scale type) in every storage.
  const float alpha = 1.0f;
  checkLt(api.cublasLtMatmul(lt_, p.desc, &alpha, A, p.a, B, p.b, &beta, c, p.c,
                             C, p.c, &p.algo, workspace_, kWorkspaceBytes,
                             stream_),
          what);
  // ldc == m here (checked in makePlan). Only f32 storage gets here:
  // bf16/f16 take linearWide rather than round twice.
  if (gelu && !p.geluEpilogue)
    cuda::unary(UnaryKind::GeluTanh, C, C, m * n, storage_, stream_);
}

GemmPlan CudaBackend::makePlan(const GemmKey &key, const void *bias,
                               const char *what) {
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
  checkLt(api.cublasLtMatrixLayoutCreate(&p.a, type, key.transA ? key.k : key.m,
                                         key.transA ? key.m : key.k, key.lda),
          what);
  checkLt(api.cublasLtMatrixLayoutCreate(&p.b, type, key.transB ? key.n : key.k,
                                         key.transB ? key.k : key.n, key.ldb),
          what);
  checkLt(api.cublasLtMatrixLayoutCreate(&p.c, outType, key.m, key.n, key.ldc),
          what);

  if (!chooseAlgo(p, key, bias, /*epilogues=*/true, 4, what))
    fail(what, ": cuBLASLt has no ",
         type == CUDA_R_32F    ? "f32"
         : type == CUDA_R_16BF ? "bf16"
                               : "f16",
         " algorithm for m=", key.m, " n=", key.n, " k=", key.k,
         " (alignments ", key.alignA, "/", key.alignB, "/", key.alignC,
         " bytes)");
  return p;
}

bool CudaBackend::chooseAlgo(GemmPlan &p, const GemmKey &key, const void *bias,
                             bool epilogues, int algos, const char *what) {
  const LtApi &api = lt();
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
    api.cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof value);
  if (cudaDataType_t(key.outType) != CUDA_R_32F) {
    // Split-K partial sums in f32 only: the INPLACE and OUTPUT_TYPE
    // schemes reduce in D's type, rounding to bf16/f16 more than once.
    const uint32_t schemes =
        CUBLASLT_REDUCTION_SCHEME_NONE | CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE;
    api.cublasLtMatmulPreferenceSetAttribute(
        pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, &schemes,
        sizeof schemes);
  }
  std::vector<cublasLtMatmulHeuristicResult_t> results(
      static_cast<size_t>(algos));
  auto ask = [&](cublasLtEpilogue_t epi) {
    checkLt(api.cublasLtMatmulDescSetAttribute(
                p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi),
            what);
    if (epi == CUBLASLT_EPILOGUE_BIAS || epi == CUBLASLT_EPILOGUE_GELU_BIAS)
      checkLt(
          api.cublasLtMatmulDescSetAttribute(
              p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
          what);
    int found = 0;
    cublasStatus_t s = api.cublasLtMatmulAlgoGetHeuristic(
        lt_, p.desc, p.a, p.b, p.c, p.c, pref, algos, results.data(), &found);
    if (s != CUBLAS_STATUS_SUCCESS || found == 0)
      return false;
    p.algo = results[0].algo;
    p.spareAlgos.clear();
    for (int i = 1; i < found; ++i)
      p.spareAlgos.push_back(results[size_t(i)].algo);
    return true;
  };
  // The fused GELU (with the bias) first, then the fused bias; what is
  // not fused runs around the GEMM (see gemm).
  // cuBLASLt's alignment preferences do not cover the bias, and its
  // epilogue kernels may assume 16 bytes: a less aligned bias (from the
  // arena or a slice) is pre-filled instead.
  const bool epilogueBias = epilogues && bias && key.alignBias >= 16;
  if (epilogues && key.gelu && (!bias || epilogueBias)) {
    p.geluEpilogue =
        ask(bias ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_GELU);
    p.biasEpilogue = p.geluEpilogue && bias;
  }
  if (!p.geluEpilogue)
    p.biasEpilogue = epilogueBias && ask(CUBLASLT_EPILOGUE_BIAS);
  const bool ok =
      p.geluEpilogue || p.biasEpilogue || ask(CUBLASLT_EPILOGUE_DEFAULT);
  api.cublasLtMatmulPreferenceDestroy(pref);
  if (!ok)
    destroyPlan(p);
  return ok;
}

} // namespace fresco::cudabackend
