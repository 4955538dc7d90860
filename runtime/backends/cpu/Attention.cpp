//===- Attention.cpp - Multi-head softmax attention -----------------------===//
//
// Per (batch, head, block of query rows): S = scale * Q K^T with one sgemm
// into a per-thread scratch block, an in-place max-subtracted exp (the
// vectorised fastExp: scalar expf cost as much as both GEMMs), then
// O = P V with a second sgemm and a final row scaling by 1/sum (cheaper than
// normalising the Tk-wide scores). Heads are column ranges of the [B, T,
// H*Dh] activations, addressed with ld = H*Dh, so nothing is copied.
//
// attentionBlock (one block of ring attention) is the same task with the
// rows' log-sum-exp written and, when merging, the running (o, lse) taken
// as the online softmax's starting state.
//
// The blocks are independent, so OpenMP runs them in parallel with
// OpenBLAS held single-threaded. Measured on 2 cores this is 2x faster than
// a serial loop over threaded sgemm calls, which gain little on such small
// per-head products.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/FastMath.h"
#include "runtime/backends/cpu/Parallel.h"

#include <algorithm>
#include <cmath>

namespace fresco {
namespace cpu {
namespace {

/// Query rows per block: bounds the scores scratch at 128 x Tk floats per
/// thread (2 MiB at 4K tokens). 64 to 512 measured the same on DiT shapes.
constexpr int64_t kQueryBlock = 128;

struct AttentionShape {
  int64_t B, Tq, Tk, H, Dh;
  int64_t qBlock, numBlocks; // query blocks per (batch, head)
  float scale;
  const float *bias = nullptr; // Plain only: [H, Tq, Tk] added to the scores
  bool causal = false;         // Plain only: keys after the query masked
};

/// What a block task does besides attention: plain attention(), or one
/// block of ring attention that writes the rows' log-sum-exp (First) or
/// continues from the running (o, lse) (Merge). A template parameter, so
/// plain attention() keeps its code exactly.
enum class Mode { Plain, First, Merge };

/// Computes one (batch, head, query block) task using `scores` [qBlock, Tk]
/// and `rowScale` [qBlock] as scratch. `lse` [B, H, Tq] is unused when
/// Plain.
template <Mode M>
void attendBlock(const AttentionShape &s, const float *q, const float *k,
                 const float *v, float *o, float *lse, int64_t task,
                 float *scores, float *rowScale) {
  const int64_t b = task / (s.H * s.numBlocks);
  const int64_t h = (task / s.numBlocks) % s.H;
  const int64_t q0 = (task % s.numBlocks) * s.qBlock;
  const int64_t m = std::min(s.qBlock, s.Tq - q0);
  const int64_t ld = s.H * s.Dh;

  const float *qp = q + (b * s.Tq + q0) * ld + h * s.Dh;
  const float *kp = k + b * s.Tk * ld + h * s.Dh;
  const float *vp = v + b * s.Tk * ld + h * s.Dh;
  float *op = o + (b * s.Tq + q0) * ld + h * s.Dh;
  float *lp = M == Mode::Plain ? nullptr : lse + (b * s.H + h) * s.Tq + q0;

  const blasint bm = blasint(m), bTk = blasint(s.Tk), bDh = blasint(s.Dh),
                bld = blasint(ld);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, bm, bTk, bDh, s.scale,
              qp, bld, kp, bld, 0.0f, scores, bTk);

  for (int64_t i = 0; i < m; ++i) {
    float *row = scores + i * s.Tk;
    if (s.bias) {
      const float *br = s.bias + (h * s.Tq + q0 + i) * s.Tk;
#pragma omp simd
      for (int64_t j = 0; j < s.Tk; ++j)
        row[j] += br[j];
    }
    // Causal: the softmax runs over keys [0, n) and the rest weigh 0 in
    // P V (the scores are overwritten in place, so no -inf is needed).
    const int64_t n = s.causal ? std::min(s.Tk, q0 + i + 1) : s.Tk;
    for (int64_t j = n; j < s.Tk; ++j)
      row[j] = 0.0f;
    float mx = row[0];
#pragma omp simd reduction(max : mx)
    for (int64_t j = 1; j < n; ++j)
      mx = row[j] > mx ? row[j] : mx;
    // Merging continues the online softmax from the running result: its
    // weight is exp(lse_old) in the frame of the shared max, and o is
    // rescaled into that frame before P V is accumulated onto it.
    float carry = 0.0f;
    if constexpr (M == Mode::Merge) {
      const float lseOld = lp[i];
      const float mxAll = lseOld > mx ? lseOld : mx;
      carry = std::exp(lseOld - mxAll); // 0 for the empty lse = -inf
      mx = mxAll;
      float *orow = op + i * ld;
      for (int64_t d = 0; d < s.Dh; ++d)
        orow[d] *= carry;
    }
    float sum = 0.0f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < n; ++j) {
      const float e = fastExp(row[j] - mx);
      row[j] = e;
      sum += e;
    }
    if constexpr (M == Mode::Merge)
      sum += carry;
    rowScale[i] = 1.0f / sum;
    if constexpr (M != Mode::Plain)
      lp[i] = mx + std::log(sum);
  }

  // Merging accumulates onto the rescaled o (beta = 1).
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, bm, bDh, bTk, 1.0f,
              scores, bTk, vp, bld, M == Mode::Merge ? 1.0f : 0.0f, op, bld);
  for (int64_t i = 0; i < m; ++i) {
    float *row = op + i * ld;
    const float r = rowScale[i];
    for (int64_t d = 0; d < s.Dh; ++d)
      row[d] *= r;
  }
}

/// Runs every (batch, head, query block) task of attention() or of one
/// ring attention block.
template <Mode M>
void run(const float *q, const float *k, const float *v, float *o, float *lse,
         int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh, float scale,
         Scratch &scratch, const float *bias = nullptr, bool causal = false) {
  // Validate every BLAS dimension up front: nothing may throw inside the
  // OpenMP region.
  toBlasInt(H * Dh, "H*Dh");
  toBlasInt(Tk, "Tk");

  const int64_t threads = omp_get_max_threads();
  const int64_t heads = B * H;
  int64_t qBlock = std::min(Tq, kQueryBlock);
  // With fewer (batch, head) pairs than threads, split the queries finer so
  // every thread gets a block.
  if (heads * ((Tq + qBlock - 1) / qBlock) < threads) {
    const int64_t wantBlocks = std::min(Tq, (threads + heads - 1) / heads);
    qBlock = (Tq + wantBlocks - 1) / wantBlocks;
  }
  AttentionShape s{B, Tq, Tk, H, Dh, qBlock, (Tq + qBlock - 1) / qBlock, scale};
  s.bias = bias;
  s.causal = causal;
  const int64_t tasks = heads * s.numBlocks;
  const int64_t workers = std::min(threads, tasks);

  // Per worker: scores [qBlock, Tk] then 1/sum [qBlock].
  const int64_t perWorker = qBlock * Tk + qBlock;
  float *base = scratch.get(static_cast<size_t>(workers * perWorker));

  // OpenBLAS stays single-threaded even for a lone task; see Gemm.cpp on
  // why only one thread pool may run.
  SerialBlasScope serialBlas;
  if (workers <= 1) {
    for (int64_t t = 0; t < tasks; ++t)
      attendBlock<M>(s, q, k, v, o, lse, t, base, base + qBlock * Tk);
    return;
  }
#pragma omp parallel num_threads(int(workers))
  {
    float *mine = base + omp_get_thread_num() * perWorker;
    // Static contiguous chunks: a thread's consecutive tasks share a head,
    // so its K and V stay in cache.
#pragma omp for schedule(static)
    for (int64_t t = 0; t < tasks; ++t)
      attendBlock<M>(s, q, k, v, o, lse, t, mine, mine + qBlock * Tk);
  }
}

} // namespace

void attention(const float *q, const float *k, const float *v, float *o,
               int64_t B, int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
               float scale, Scratch &scratch) {
  if (B == 0 || Tq == 0 || H == 0 || Dh == 0)
    return;
  check(Tk > 0, "attention: no keys to attend to (Tk = 0)");
  run<Mode::Plain>(q, k, v, o, nullptr, B, Tq, Tk, H, Dh, scale, scratch);
}

void attentionMasked(const float *q, const float *k, const float *v,
                     const float *bias, float *o, int64_t B, int64_t Tq,
                     int64_t Tk, int64_t H, int64_t Dh, float scale,
                     bool causal, Scratch &scratch) {
  if (B == 0 || Tq == 0 || H == 0 || Dh == 0)
    return;
  check(Tk > 0, "attention: no keys to attend to (Tk = 0)");
  check(!causal || Tq == Tk, "causal attention needs Tq == Tk, got ", Tq,
        " and ", Tk);
  run<Mode::Plain>(q, k, v, o, nullptr, B, Tq, Tk, H, Dh, scale, scratch, bias,
                   causal);
}

void attentionBlock(const float *q, const float *k, const float *v, float *o,
                    float *lse, int64_t B, int64_t Tq, int64_t Tk, int64_t H,
                    int64_t Dh, float scale, bool first, Scratch &scratch) {
  if (B == 0 || Tq == 0 || H == 0)
    return;
  if (Tk == 0) {
    // An empty block adds nothing; first, it leaves the empty state
    // (o = 0, lse = -inf) that the next block's merge starts from.
    if (first) {
      std::fill(o, o + B * Tq * H * Dh, 0.0f);
      std::fill(lse, lse + B * H * Tq, -INFINITY);
    }
    return;
  }
  if (Dh == 0) {
    // o has no columns and every score is 0, so only lse changes, by
    // log(Tk); BLAS would refuse the zero leading dimensions.
    const float blockLse = std::log(float(Tk));
    for (int64_t i = 0; i < B * H * Tq; ++i) {
      if (first) {
        lse[i] = blockLse;
        continue;
      }
      const float mx = std::max(lse[i], blockLse);
      lse[i] = mx + std::log(std::exp(lse[i] - mx) + std::exp(blockLse - mx));
    }
    return;
  }
  if (first)
    run<Mode::First>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, scratch);
  else
    run<Mode::Merge>(q, k, v, o, lse, B, Tq, Tk, H, Dh, scale, scratch);
}

} // namespace cpu
} // namespace fresco
