//===- CudaBackendFp8.cpp - FP8 GEMMs on cuBLASLt -------------------------===//
//
// A plan's FP8 linears (LinearAttrs.fp8): the weight rounded to e4m3 once,
// at bind, with one f32 scale per output channel; the input rounded to e4m3
// on each call with one scale per row (token), by Fp8.cu's quantizer; then
// one cuBLASLt FP8 matmul in the layout FP8 requires (TN: A transposed, B
// not), A = the weight's codes, B = the input's, f32 accumulation (fast
// accumulation off), both scale vectors applied by cuBLASLt's outer-vector
// scaling (CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F: cuBLAS 12.9 or later,
// compute capability 8.9 or later), D in the float storage. The bias and a
// tanh GELU run as epilogues where cuBLASLt offers them; another
// activation takes an f32 D in bands and Elementwise.cu's biasActivation,
// so the result is rounded once.
//
// Not yet run on a GPU (see docs/gpu.md): the conformance test compares it
// with the CPU emulation (runtime/backends/cpu/Fp8Gemm.cpp).
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cuda/CudaBackendImpl.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace fresco::cudabackend {

namespace {
constexpr int kFp8Algos = 8; // heuristic answers kept per FP8 GEMM shape
} // namespace

void CudaBackend::checkFp8Shape(int64_t N, int64_t K) const {
  check(storage_ != DType::F32,
        "FP8 GEMMs on CUDA write bf16 or f16: run the plan with --dtype bf16 "
        "or f16");
  int major = 0, minor = 0;
  cuda::checkCuda(cudaDeviceGetAttribute(
                      &major, cudaDevAttrComputeCapabilityMajor, device_),
                  "FP8 GEMM");
  cuda::checkCuda(cudaDeviceGetAttribute(
                      &minor, cudaDevAttrComputeCapabilityMinor, device_),
                  "FP8 GEMM");
  // cuBLASLt's outer-vector (per-channel, per-token) FP8 scaling runs on
  // sm_90 only (cuBLAS docs, "scaling factor layouts"; Ada has per-tensor
  // scales only, Blackwell block scales).
  check(major == 9,
        "FP8 GEMMs with per-channel and per-token scales need a Hopper GPU "
        "(compute capability 9.x: cuBLASLt's outer-vector scaling); this GPU "
        "has ",
        major, ".", minor);
  // cuBLASLt's FP8 kernels want 16-byte aligned rows of A and B (K) and of
  // the scale vectors' extents.
  check(K > 0 && N > 0 && K % 16 == 0 && N % 16 == 0,
        "FP8 GEMMs on CUDA need the in and out features to be positive "
        "multiples of 16, got in ",
        K, ", out ", N);
}

std::shared_ptr<const Fp8Weight>
CudaBackend::prepareFp8Weight(const float *w, int64_t N, int64_t K) {
  checkFp8Shape(N, K);
  // cudaFree waits for the work already issued: the deleter needs no
  // backend (allocate() is cudaMalloc).
  auto fw = std::shared_ptr<Fp8Weight>(new Fp8Weight{}, [](Fp8Weight *p) {
    cudaFree(const_cast<void *>(p->values));
    cudaFree(const_cast<float *>(p->scales));
    delete p;
  });
  fw->values = allocate(size_t(std::max<int64_t>(N * K, 1)));
  fw->scales = static_cast<float *>(
      allocate(size_t(std::max<int64_t>(N, 1)) * sizeof(float)));
  fw->N = N, fw->K = K;
  cuda::quantizeRowsE4M3(w, N, K, const_cast<void *>(fw->values),
                         const_cast<float *>(fw->scales), storage_, stream_);
  return fw;
}

void CudaBackend::reserveFp8Activations(int64_t M, int64_t K) {
  const size_t codes = size_t(std::max<int64_t>(M * K, 1));
  const size_t scales = size_t(std::max<int64_t>(M, 1)) * sizeof(float);
  // A graph recorded by an earlier executor on this backend may still
  // point at the old buffers: grow() keeps them until the backend goes.
  grow(fp8Act_, fp8ActBytes_, codes);
  grow(fp8ActScales_, fp8ActScaleBytes_, scales);
}

void CudaBackend::linearFp8(const float *x, const Fp8Weight &w, const float *b,
                            float *y, int64_t M, int64_t K, int64_t N,
                            const UnaryKind *act) {
  if (M == 0 || N == 0)
    return;
  check(w.N == N && w.K == K && size_t(M * K) <= fp8ActBytes_ &&
            size_t(M) * sizeof(float) <= fp8ActScaleBytes_,
        "FP8 linear: bound for another shape (", w.N, "x", w.K, ", ", M,
        " rows) than it is called with (", N, "x", K, ")");
  cuda::quantizeRowsE4M3(x, M, K, fp8Act_, actScales(), storage_, stream_);
  const bool gelu = act && *act == UnaryKind::GeluTanh;
  if (!act || gelu) {
    GemmPlan &p = fp8PlanFor(M, N, K, b, y, gelu, /*wideOut=*/false);
    if (!p.refused && (!gelu || p.geluEpilogue)) {
      if (fp8Matmul(p, w, fp8Act_, actScales(), b, y, M, N,
                    /*mayRefuse=*/true))
        return;
      // Refused (the scaling mode with this output or epilogue): the f32
      // bands below, which need neither, from now on.
      p.refused = true;
      std::fprintf(stderr,
                   "fresco: cuBLASLt refused the FP8 matmul m=%lld n=%lld "
                   "k=%lld with %s and %s output; it runs with f32 output "
                   "and the bias%s as a kernel\n",
                   (long long)N, (long long)M, (long long)K,
                   p.geluEpilogue   ? "the GELU epilogue"
                   : p.biasEpilogue ? "the bias epilogue"
                                    : "no epilogue",
                   dtypeName(storage_), gelu ? " and GELU" : "");
    }
  }
  // An activation no epilogue applies (or cuBLASLt refused the epilogue):
  // f32 bands, then bias, activation and the one rounding in one kernel.
  // Whole groups of 16 rows, so that each band's codes and per-row scales
  // start 16-byte aligned (K is a multiple of 16) as cuBLASLt may assume.
  const int64_t band =
      std::max<int64_t>(16, std::min(M, kScratchElems / N) / 16 * 16);
  auto *wide = static_cast<float *>(scratch(size_t(band * N) * sizeof(float)));
  for (int64_t r0 = 0; r0 < M; r0 += band) {
    const int64_t rows = std::min(band, M - r0);
    GemmPlan &p = fp8PlanFor(rows, N, K, nullptr, wide, false, true);
    fp8Matmul(p, w, static_cast<const char *>(fp8Act_) + r0 * K,
              actScales() + r0, nullptr, wide, rows, N, /*mayRefuse=*/false);
    if (act)
      cuda::biasActivation(*act, wide, b, at(y, r0 * N), rows * N, N, storage_,
                           stream_);
    else
      cuda::biasRound(wide, b, at(y, r0 * N), rows * N, N, storage_, stream_);
  }
}

bool CudaBackend::fp8Matmul(GemmPlan &p, const Fp8Weight &w, const void *xq,
                            const float *xScales, const void *bias, void *y,
                            int64_t M, int64_t N, bool mayRefuse) {
  const LtApi &api = lt();
  const char *what = "linear (fp8)";
  const void *aScale = w.scales, *bScale = xScales;
  checkLt(
      api.cublasLtMatmulDescSetAttribute(
          p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, &aScale, sizeof aScale),
      what);
  checkLt(
      api.cublasLtMatmulDescSetAttribute(
          p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, &bScale, sizeof bScale),
      what);
  float beta = 0.0f;
  if (bias && p.biasEpilogue) {
    checkLt(api.cublasLtMatmulDescSetAttribute(
                p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias),
            what);
  } else if (bias) { // exact in the storage; the GEMM adds onto it
    cuda::fillBias(y, bias, M * N, 1, N, storage_, stream_);
    beta = 1.0f;
  }
  const float alpha = 1.0f;
  auto run = [&] {
    return api.cublasLtMatmul(lt_, p.desc, &alpha, w.values, p.a, xq, p.b,
                              &beta, y, p.c, y, p.c, &p.algo, workspace_,
                              kWorkspaceBytes, stream_);
  };
  cublasStatus_t status = run();
  // cuBLASLt may refuse a scaling mode only when it runs (INVALID_VALUE,
  // NOT_SUPPORTED): the heuristic's next answers first, at the warm-up
  // call (a refused call launches nothing). The bias was pre-filled once.
  while ((status == CUBLAS_STATUS_INVALID_VALUE ||
          status == CUBLAS_STATUS_NOT_SUPPORTED) &&
         !p.spareAlgos.empty()) {
    p.algo = p.spareAlgos.front();
    p.spareAlgos.erase(p.spareAlgos.begin());
    status = run();
  }
  if (status != CUBLAS_STATUS_SUCCESS && mayRefuse &&
      (status == CUBLAS_STATUS_INVALID_VALUE ||
       status == CUBLAS_STATUS_NOT_SUPPORTED))
    return false;
  if (status != CUBLAS_STATUS_SUCCESS)
    fail(what, ": cuBLASLt refused the FP8 matmul (status ", int(status),
         ") with per-channel and per-token scales (outer-vector scaling) and ",
         p.geluEpilogue   ? "the GELU epilogue"
         : p.biasEpilogue ? "the bias epilogue"
                          : "no epilogue",
         ", m=", N, " n=", M,
         "; FRESCO_CUDA_FP8_EPILOGUES=0 runs the bias and GELU as kernels");
  p.spareAlgos.clear(); // this one runs: later calls need no other
  return true;
}

GemmPlan &CudaBackend::fp8PlanFor(int64_t M, int64_t N, int64_t K,
                                  const void *bias, const void *y, bool gelu,
                                  bool wideOut) {
  // transA/transB fixed (TN); type E4M3 marks the key as FP8's.
  GemmKey key{true,
              false,
              N,
              M,
              K,
              K,
              K,
              N,
              bias != nullptr,
              false,
              16,
              16,
              alignmentOf(y),
              bias ? alignmentOf(bias) : 0u,
              gelu,
              int(CUDA_R_8F_E4M3),
              int(wideOut ? CUDA_R_32F : gemmType_)};
  auto it = plans_.find(key);
  if (it == plans_.end())
    it = plans_.emplace(key, makeFp8Plan(key, bias)).first;
  return it->second;
}

GemmPlan CudaBackend::makeFp8Plan(const GemmKey &key, const void *bias) {
  const LtApi &api = lt();
  const char *what = "linear (fp8)";
  const auto outType = cudaDataType_t(key.outType);
  GemmPlan p;
  checkLt(api.cublasLtMatmulDescCreate(&p.desc, CUBLAS_COMPUTE_32F, CUDA_R_32F),
          what);
  auto set = [&](cublasLtMatmulDescAttributes_t attr, const auto &value) {
    checkLt(
        api.cublasLtMatmulDescSetAttribute(p.desc, attr, &value, sizeof value),
        what);
  };
  set(CUBLASLT_MATMUL_DESC_TRANSA, CUBLAS_OP_T);
  set(CUBLASLT_MATMUL_DESC_TRANSB, CUBLAS_OP_N);
  // Full-precision accumulation: Hopper's fast FP8 accumulation keeps
  // fewer bits than f32.
  set(CUBLASLT_MATMUL_DESC_FAST_ACCUM, int8_t(0));
  // A's scales run along D's rows (the output channels), B's along its
  // columns (the tokens).
  set(CUBLASLT_MATMUL_DESC_A_SCALE_MODE,
      int32_t(CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F));
  set(CUBLASLT_MATMUL_DESC_B_SCALE_MODE,
      int32_t(CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F));
  if (outType != CUDA_R_32F)
    set(CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, int32_t(outType));
  // Column-major D[N, M] = A^T B with A = w [K, N] (ld K), B = x [K, M].
  checkLt(api.cublasLtMatrixLayoutCreate(&p.a, CUDA_R_8F_E4M3, key.k, key.m,
                                         key.lda),
          what);
  checkLt(api.cublasLtMatrixLayoutCreate(&p.b, CUDA_R_8F_E4M3, key.k, key.n,
                                         key.ldb),
          what);
  checkLt(api.cublasLtMatrixLayoutCreate(&p.c, outType, key.m, key.n, key.ldc),
          what);

  // The scale pointers are set before asking, as cuBLASLt may judge the
  // scaling by them; each call sets its own.
  const void *scales = fp8ActScales_;
  set(CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, scales);
  set(CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, scales);
  // FRESCO_CUDA_FP8_EPILOGUES=0: bias and GELU as kernels, should cuBLASLt
  // refuse its epilogues with outer-vector scaling.
  const char *env = std::getenv("FRESCO_CUDA_FP8_EPILOGUES");
  const bool epilogues = !(env && std::string(env) == "0");
  if (!chooseAlgo(p, key, bias, epilogues, kFp8Algos, what)) {
    // cuBLASLt often refuses outer-vector scaling with a 2-byte output
    // when asked for an algorithm, not at the call: linearFp8 then runs
    // the f32-output bands, the bias and the rounding as a kernel.
    if (outType != CUDA_R_32F) {
      p.refused = true;
      std::fprintf(stderr,
                   "fresco: cuBLASLt has no FP8 algorithm m=%lld n=%lld "
                   "k=%lld with a 2-byte output; it runs with f32 output "
                   "and the bias as a kernel\n",
                   (long long)key.m, (long long)key.n, (long long)key.k);
      return p;
    }
    fail(what,
         ": cuBLASLt has no FP8 algorithm with per-channel and "
         "per-token scales (outer-vector scaling: cuBLAS 12.9 or later) "
         "for m=",
         key.m, " n=", key.n, " k=", key.k);
  }
  return p;
}

} // namespace fresco::cudabackend
