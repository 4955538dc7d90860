//===- Gemm.cpp - linear and conv2d on cblas_sgemm ------------------------===//
//
// Both kernels are OpenBLAS sgemm calls; the bias is written into the output
// first and the GEMM accumulates onto it (beta = 1), which saves a pass over
// the result. conv2d lowers to im2col + sgemm in bands of output rows, so
// the column buffer stays bounded; 3x3 stride-1 convolutions with enough
// channels go to Winograd.cpp instead.
//
// Threading: OpenMP threads each run a single-threaded sgemm on a disjoint
// block of the output, instead of letting OpenBLAS thread internally. The
// pthread build of OpenBLAS keeps its workers spinning after a call, and so
// does libgomp after a parallel region; alternating the two pools made both
// the GEMMs and the elementwise kernels around them several times slower
// (measured on 2 cores: a layer norm after a GEMM took 10x its standalone
// time). With one pool that interference is gone.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/Parallel.h"

#include <algorithm>
#include <cstring>

namespace fresco {
namespace cpu {
namespace {

/// Multiply-adds below which a GEMM runs on the calling thread alone.
constexpr int64_t kParallelGemmMinWork = int64_t(1) << 20;

/// Row blocks handed to threads are multiples of this, to match the
/// register-blocking of OpenBLAS's sgemm kernels.
constexpr int64_t kBlockAlign = 16;

/// Upper bound on all threads' im2col buffers together, in floats (64 MiB).
constexpr int64_t kMaxColumnElems = int64_t(16) << 20;

/// Writes the bias row `bias` [cols] (zeros when null) into each of the
/// `rows` rows of y [rows, cols]: linear's bias runs along the columns.
void fillRowsWithVector(float *y, const float *bias, int64_t rows,
                        int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    if (bias)
      std::memcpy(y + r * cols, bias, size_t(cols) * sizeof(float));
    else
      std::fill(y + r * cols, y + (r + 1) * cols, 0.0f);
  }
}

/// Row-major C[M,N] = A[M,K] * op(B) + beta * C, op(B) = B[K,N], or B[N,K]
/// transposed when `transB`. Large products are split over OpenMP threads by
/// rows of C (or by columns when there are too few rows to share), each
/// block a single-threaded sgemm. Leading dimensions must fit blasint.
void gemm(bool transB, int64_t M, int64_t N, int64_t K, const float *A,
          int64_t lda, const float *B, int64_t ldb, float beta, float *C,
          int64_t ldc) {
  const CBLAS_TRANSPOSE tb = transB ? CblasTrans : CblasNoTrans;
  auto block = [&](int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
    const float *b = transB ? B + n0 * ldb : B + n0;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, tb, blasint(m1 - m0),
                blasint(n1 - n0), blasint(K), 1.0f, A + m0 * lda, blasint(lda),
                b, blasint(ldb), beta, C + m0 * ldc + n0, blasint(ldc));
  };
  const int64_t threads = omp_get_max_threads();
  if (threads == 1 || M * N * K < kParallelGemmMinWork) {
    // Small products stay on the calling thread; OpenBLAS's own threads
    // are never used (see the file comment).
    SerialBlasScope serial;
    block(0, M, 0, N);
    return;
  }
  const bool splitRows = M >= kBlockAlign * threads || M >= N;
  const int64_t extent = splitRows ? M : N;
  SerialBlasScope serial;
#pragma omp parallel
  {
    const int64_t nth = omp_get_num_threads();
    int64_t chunk = (extent + nth - 1) / nth;
    chunk = (chunk + kBlockAlign - 1) / kBlockAlign * kBlockAlign;
    const int64_t begin = std::min(extent, omp_get_thread_num() * chunk);
    const int64_t end = std::min(extent, begin + chunk);
    if (begin < end) {
      if (splitRows)
        block(begin, end, 0, N);
      else
        block(0, M, begin, end);
    }
  }
}

/// Unfolds output rows [oh0, oh0 + nRows) of one image into `col`, a
/// [C*KH*KW, nRows*OW] matrix, zero where the window covers padding.
void im2col(const float *x, float *col, int64_t C, int64_t H, int64_t W,
            int64_t KH, int64_t KW, int64_t strideH, int64_t strideW,
            int64_t padH, int64_t padW, int64_t OW, int64_t oh0,
            int64_t nRows) {
  const int64_t colCols = nRows * OW;
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t kh = 0; kh < KH; ++kh) {
      for (int64_t kw = 0; kw < KW; ++kw) {
        float *dst = col + ((c * KH + kh) * KW + kw) * colCols;
        // Output columns whose tap lands inside [0, W): ow in [owLo, owHi).
        int64_t owLo = 0;
        if (padW > kw)
          owLo = std::min(OW, (padW - kw + strideW - 1) / strideW);
        int64_t owHi = OW;
        if (W + padW - kw <= 0)
          owHi = 0;
        else
          owHi = std::min(OW, (W + padW - kw - 1) / strideW + 1);
        owHi = std::max(owHi, owLo);
        for (int64_t r = 0; r < nRows; ++r, dst += OW) {
          int64_t ih = (oh0 + r) * strideH - padH + kh;
          if (ih < 0 || ih >= H) {
            std::fill(dst, dst + OW, 0.0f);
            continue;
          }
          const float *src = x + (c * H + ih) * W;
          const int64_t shift = kw - padW; // iw = ow * strideW + shift
          std::fill(dst, dst + owLo, 0.0f);
          if (strideW == 1) {
            if (owHi > owLo)
              std::memcpy(dst + owLo, src + owLo + shift,
                          size_t(owHi - owLo) * sizeof(float));
          } else {
            for (int64_t ow = owLo; ow < owHi; ++ow)
              dst[ow] = src[ow * strideW + shift];
          }
          std::fill(dst + owHi, dst + OW, 0.0f);
        }
      }
    }
  }
}

} // namespace

void linear(const float *x, const float *w, const float *b, const float *r,
            float *y, int64_t M, int64_t K, int64_t N) {
  if (M == 0 || N == 0)
    return;
  toBlasInt(M, "M");
  toBlasInt(N, "N");
  toBlasInt(K, "K");
  if (r) {
    // The residual (plus the bias) written first, in the pass that would
    // otherwise write the bias alone; the GEMM accumulates onto it.
#pragma omp parallel for if (worthParallel(M * N))
    for (int64_t i = 0; i < M; ++i) {
      const float *ri = r + i * N;
      float *yi = y + i * N;
      if (b)
        for (int64_t j = 0; j < N; ++j)
          yi[j] = ri[j] + b[j];
      else
        std::memcpy(yi, ri, size_t(N) * sizeof(float));
    }
  } else if (b || K == 0) {
    fillRowsWithVector(y, b, M, N);
  }
  if (K == 0)
    return;
  // y[M,N] = x[M,K] * w[N,K]^T: w is the row-major [out, in] weight.
  gemm(/*transB=*/true, M, N, K, x, K, w, K, b || r ? 1.0f : 0.0f, y, N);
}

void linearGated(const float *x, const float *w, const float *b, const float *g,
                 int64_t G, const float *r, float *y, int64_t M, int64_t K,
                 int64_t N) {
  if (M == 0 || N == 0)
    return;
  linear(x, w, b, nullptr, y, M, K, N);
  // The rows are still warm from the GEMM's last panel at best; one pass.
  const int64_t rows = M / G;
#pragma omp parallel for if (worthParallel(M * N))
  for (int64_t i = 0; i < M; ++i) {
    const float *gi = g + (i / rows) * N;
    float *yi = y + i * N;
    if (r) {
      const float *ri = r + i * N;
      for (int64_t j = 0; j < N; ++j)
        yi[j] = ri[j] + gi[j] * yi[j];
    } else {
      for (int64_t j = 0; j < N; ++j)
        yi[j] *= gi[j];
    }
  }
}

void conv2d(const float *x, const float *w, const float *b, float *y, int64_t N,
            int64_t C, int64_t H, int64_t W, int64_t O, int64_t KH, int64_t KW,
            int64_t strideH, int64_t strideW, int64_t padH, int64_t padW,
            Scratch &scratch) {
  check(strideH > 0 && strideW > 0 && padH >= 0 && padW >= 0 && KH > 0 &&
            KW > 0,
        "conv2d: bad kernel/stride/padding");
  check(H + 2 * padH >= KH && W + 2 * padW >= KW,
        "conv2d: kernel larger than the padded input");
  const int64_t OH = (H + 2 * padH - KH) / strideH + 1;
  const int64_t OW = (W + 2 * padW - KW) / strideW + 1;
  const int64_t P = OH * OW;
  const int64_t CKK = C * KH * KW;
  if (N == 0 || O == 0 || P == 0)
    return;
  if (winogradApplies(N, C, O, KH, KW, strideH, strideW, padH, padW, OH, OW))
    return conv2dWinograd(x, w, b, y, N, C, H, W, O, padH, padW, scratch);
  toBlasInt(P, "OH*OW");
  toBlasInt(CKK, "C*KH*KW");
  toBlasInt(O, "O");

  // A 1x1 unpadded unit-stride convolution is already a GEMM on x.
  const bool pointwise = KH == 1 && KW == 1 && strideH == 1 && strideW == 1 &&
                         padH == 0 && padW == 0;
  const int64_t threads = omp_get_max_threads();
  const bool parallel = threads > 1 && N * O * P * std::max<int64_t>(CKK, 1) >=
                                           kParallelGemmMinWork;
  // Tasks are (image, band of output rows). Bands bound each thread's
  // column buffer, and are cut so that the task count is a multiple of the
  // thread count where possible: 3 equal bands on 2 threads would leave one
  // thread idle for a third of the time.
  const int64_t workersWanted = parallel ? threads : 1;
  int64_t maxBandRows = OH;
  if (!pointwise && CKK > 0)
    maxBandRows = std::max<int64_t>(
        1, std::min(OH, kMaxColumnElems / workersWanted / (CKK * OW)));
  int64_t bandsPerImage = std::max((OH + maxBandRows - 1) / maxBandRows,
                                   (workersWanted + N - 1) / N);
  while (bandsPerImage < OH && (N * bandsPerImage) % workersWanted != 0)
    ++bandsPerImage;
  bandsPerImage = std::min(bandsPerImage, OH);
  const int64_t bandRows = (OH + bandsPerImage - 1) / bandsPerImage;
  bandsPerImage = (OH + bandRows - 1) / bandRows;
  const int64_t tasks = N * bandsPerImage;
  const int64_t workers = std::min(workersWanted, tasks);
  const int64_t colElems = pointwise ? 0 : CKK * bandRows * OW;
  float *colBase =
      colElems ? scratch.get(static_cast<size_t>(workers * colElems)) : nullptr;

  auto runTask = [&](int64_t task, float *col) {
    const int64_t n = task / bandsPerImage;
    const int64_t oh0 = (task % bandsPerImage) * bandRows;
    const int64_t cols = std::min(bandRows, OH - oh0) * OW;
    const float *xn = x + n * C * H * W;
    // The band is the column range [oh0*OW, oh0*OW + cols) of y[n] [O, P].
    float *yBand = y + n * O * P + oh0 * OW;
    for (int64_t o = 0; o < O; ++o)
      std::fill(yBand + o * P, yBand + o * P + cols, b ? b[o] : 0.0f);
    if (CKK == 0)
      return;
    const float *colBand = xn + oh0 * OW; // pointwise: x[n] is [C, P]
    int64_t ldCol = P;
    if (!pointwise) {
      im2col(xn, col, C, H, W, KH, KW, strideH, strideW, padH, padW, OW, oh0,
             cols / OW);
      colBand = col;
      ldCol = cols;
    }
    // y[n][:, band] += w[O, CKK] * col[CKK, band].
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(O),
                blasint(cols), blasint(CKK), 1.0f, w, blasint(CKK), colBand,
                blasint(ldCol), 1.0f, yBand, blasint(P));
  };

  SerialBlasScope serial;
  if (workers <= 1) {
    for (int64_t t = 0; t < tasks; ++t)
      runTask(t, colBase);
    return;
  }
#pragma omp parallel num_threads(int(workers))
  {
    float *col = colBase ? colBase + omp_get_thread_num() * colElems : nullptr;
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t)
      runTask(t, col);
  }
}

} // namespace cpu
} // namespace fresco
