//===- Reference.h - Double-precision kernel references ---------*- C++ -*-===//
//
// The independent double-precision references every backend test compares
// against (CpuKernelsTest, BackendConformanceTest, FloatStorageTest,
// PlanTest): naive loops over float inputs, accumulated in double, written
// from the op's definition (or diffusers' transcription) and never from a
// backend's code. Also the seeded random inputs and the closeness checks
// the tests share.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_TEST_UNIT_REFERENCE_H
#define FRESCO_TEST_UNIT_REFERENCE_H

#include "runtime/core/Backend.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace fresco {
namespace ref {

using Vec = std::vector<float>;
using RefVec = std::vector<double>;

/// `n` floats drawn uniformly from [lo, hi) by an mt19937 seeded with `seed`.
inline Vec randomVec(size_t n, uint32_t seed, float lo = -1.0f,
                     float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Vec v(n);
  for (float &x : v)
    x = dist(rng);
  return v;
}

//===----------------------------------------------------------------------===//
// Closeness checks
//===----------------------------------------------------------------------===//

/// Expects |got - ref| <= rel * max|ref| everywhere, for reductions whose
/// order differs from the reference (GEMMs, norms, softmax). A NaN in `got`
/// (an element a kernel failed to write) fails too.
inline void expectClose(const RefVec &ref, const float *got,
                        double rel = 1e-5) {
  double maxMag = 0.0;
  for (double r : ref)
    maxMag = std::max(maxMag, std::fabs(r));
  const double tol = rel * std::max(maxMag, 1e-30);
  size_t bad = 0, firstBad = 0;
  double worst = 0.0;
  for (size_t i = 0; i < ref.size(); ++i) {
    const double err = std::fabs(double(got[i]) - ref[i]);
    if (!(err <= tol) && bad++ == 0) // also catches NaN
      firstBad = i;
    if (err > worst || std::isnan(err))
      worst = err;
  }
  EXPECT_EQ(bad, 0u) << "first mismatch at " << firstBad << ": got "
                     << (ref.empty() ? 0.0 : got[firstBad]) << ", want "
                     << (ref.empty() ? 0.0 : ref[firstBad]) << "; worst error "
                     << worst << " vs tolerance " << tol;
}

inline void expectClose(const RefVec &ref, const Vec &got, double rel = 1e-5) {
  ASSERT_EQ(ref.size(), got.size());
  expectClose(ref, got.data(), rel);
}

/// Expects |got - ref| <= tol * (|ref| + 1) for each value.
inline void expectEachClose(const RefVec &ref, const Vec &got, double tol) {
  ASSERT_EQ(ref.size(), got.size());
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(got[i], ref[i], tol * (std::fabs(ref[i]) + 1.0)) << "at " << i;
}

//===----------------------------------------------------------------------===//
// linear, conv2d
//===----------------------------------------------------------------------===//

/// y[M, N] = x[M, K] w[N, K]^T (+ b[N]).
inline RefVec refLinear(const Vec &x, const Vec &w, const float *b, int64_t M,
                        int64_t K, int64_t N) {
  RefVec y(static_cast<size_t>(M * N));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double acc = b ? b[n] : 0.0;
      for (int64_t k = 0; k < K; ++k)
        acc += double(x[m * K + k]) * double(w[n * K + k]);
      y[m * N + n] = acc;
    }
  return y;
}

/// NCHW input, OIHW weight, strides sH/sW, zero padding pH/pW.
struct ConvShape {
  int64_t N, C, H, W, O, KH, KW, sH, sW, pH, pW;
  int64_t outH() const { return (H + 2 * pH - KH) / sH + 1; }
  int64_t outW() const { return (W + 2 * pW - KW) / sW + 1; }
};

/// 3x3 stride-1 convolutions with 16+ channels at awkward sizes (the CPU's
/// Winograd tiles): odd sizes leave partial 2x2 tiles at the right and
/// bottom; paddings 0 and 2; one output pixel (a single partial tile); a
/// single input row with different paddings per axis; more tiles than one
/// band holds (with C + O = 48 a band is 10922 tiles: 109 of the 111 rows of
/// 100 tiles), the second band partial. The CPU's conv2d takes Winograd
/// from 1024 output positions (the last case only); CpuKernelsTest runs the
/// Winograd path itself on all of them.
inline const std::vector<ConvShape> kOddTileConvShapes = {
    {2, 16, 7, 9, 24, 3, 3, 1, 1, 1, 1},
    {1, 20, 9, 6, 16, 3, 3, 1, 1, 0, 0},
    {1, 16, 5, 5, 17, 3, 3, 1, 1, 2, 2},
    {1, 32, 3, 70, 16, 3, 3, 1, 1, 1, 1},
    {1, 16, 3, 3, 16, 3, 3, 1, 1, 0, 0},
    {1, 16, 1, 8, 16, 3, 3, 1, 1, 1, 2},
    {1, 16, 6, 5, 16, 3, 3, 1, 1, 2, 0},
    {1, 16, 221, 200, 32, 3, 3, 1, 1, 1, 1},
};

inline RefVec refConv2d(const Vec &x, const Vec &w, const float *b,
                        const ConvShape &c) {
  const int64_t OH = c.outH(), OW = c.outW();
  RefVec y(static_cast<size_t>(c.N * c.O * OH * OW));
  for (int64_t n = 0; n < c.N; ++n)
    for (int64_t o = 0; o < c.O; ++o)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? b[o] : 0.0;
          for (int64_t ci = 0; ci < c.C; ++ci)
            for (int64_t kh = 0; kh < c.KH; ++kh)
              for (int64_t kw = 0; kw < c.KW; ++kw) {
                const int64_t ih = oh * c.sH - c.pH + kh;
                const int64_t iw = ow * c.sW - c.pW + kw;
                if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W)
                  continue;
                acc += double(x[((n * c.C + ci) * c.H + ih) * c.W + iw]) *
                       double(w[((o * c.C + ci) * c.KH + kh) * c.KW + kw]);
              }
          y[((n * c.O + o) * OH + oh) * OW + ow] = acc;
        }
  return y;
}

//===----------------------------------------------------------------------===//
// Norms and modulation
//===----------------------------------------------------------------------===//

/// Layer norm over the last `cols` of each row (two-pass variance), then
/// * gamma and + beta where given.
inline RefVec refLayerNorm(const Vec &x, const float *gamma, const float *beta,
                           int64_t rows, int64_t cols, float eps) {
  RefVec y(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0.0, var = 0.0;
    for (int64_t c = 0; c < cols; ++c)
      mean += x[r * cols + c];
    mean /= double(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const double d = x[r * cols + c] - mean;
      var += d * d;
    }
    var /= double(cols);
    for (int64_t c = 0; c < cols; ++c) {
      double v = (x[r * cols + c] - mean) / std::sqrt(var + double(eps));
      if (gamma)
        v *= gamma[c];
      if (beta)
        v += beta[c];
      y[r * cols + c] = v;
    }
  }
  return y;
}

/// diffusers' RMSNorm: x / sqrt(mean(x^2) + eps) (* gamma).
inline RefVec refRmsNorm(const Vec &x, const float *gamma, int64_t rows,
                         int64_t cols, float eps) {
  RefVec y(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    double sq = 0.0;
    for (int64_t c = 0; c < cols; ++c)
      sq += double(x[r * cols + c]) * x[r * cols + c];
    const double rstd = 1.0 / std::sqrt(sq / double(cols) + double(eps));
    for (int64_t c = 0; c < cols; ++c)
      y[r * cols + c] = x[r * cols + c] * rstd * (gamma ? gamma[c] : 1.0);
  }
  return y;
}

/// adaLN modulation of x [B, T, D] by shift and scale [B, D]:
/// x * (1 + scale) + shift.
inline RefVec refModulate(const Vec &x, const Vec &shift, const Vec &scale,
                          int64_t B, int64_t T, int64_t D) {
  RefVec y(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t d = 0; d < D; ++d)
        y[(b * T + t) * D + d] =
            double(x[(b * T + t) * D + d]) * (1.0 + double(scale[b * D + d])) +
            double(shift[b * D + d]);
  return y;
}

/// refLayerNorm over the rows of x [B, T, D], then modulated as by
/// refModulate (without rounding in between).
inline RefVec refLayerNormModulate(const Vec &x, const float *gamma,
                                   const float *beta, const Vec &shift,
                                   const Vec &scale, int64_t B, int64_t T,
                                   int64_t D, float eps) {
  RefVec y = refLayerNorm(x, gamma, beta, B * T, D, eps);
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t d = 0; d < D; ++d) {
      const size_t s = size_t((r / T) * D + d);
      double &v = y[size_t(r * D + d)];
      v = v * (1.0 + double(scale[s])) + double(shift[s]);
    }
  return y;
}

/// Group norm of x [N, C, S] over `groups` groups of C / groups channels,
/// then * gamma[C] and + beta[C] where given.
inline RefVec refGroupNorm(const Vec &x, const float *gamma, const float *beta,
                           int64_t N, int64_t C, int64_t S, int64_t groups,
                           float eps) {
  RefVec y(x.size());
  const int64_t cpg = C / groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t g = 0; g < groups; ++g) {
      double mean = 0.0, var = 0.0;
      for (int64_t c = g * cpg; c < (g + 1) * cpg; ++c)
        for (int64_t s = 0; s < S; ++s)
          mean += x[(n * C + c) * S + s];
      mean /= double(cpg * S);
      for (int64_t c = g * cpg; c < (g + 1) * cpg; ++c)
        for (int64_t s = 0; s < S; ++s) {
          const double d = x[(n * C + c) * S + s] - mean;
          var += d * d;
        }
      var /= double(cpg * S);
      for (int64_t c = g * cpg; c < (g + 1) * cpg; ++c)
        for (int64_t s = 0; s < S; ++s) {
          size_t i = size_t((n * C + c) * S + s);
          double v = (x[i] - mean) / std::sqrt(var + double(eps));
          y[i] = v * (gamma ? gamma[c] : 1.0) + (beta ? beta[c] : 0.0);
        }
    }
  return y;
}

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

/// The scaled scores q_i k_j * scale of query row i against every key of
/// batch b and head h into p [Tk]; returns their max.
inline double refScores(const Vec &q, const Vec &k, int64_t b, int64_t h,
                        int64_t i, int64_t Tq, int64_t Tk, int64_t H,
                        int64_t Dh, double scale, std::vector<double> &p) {
  const int64_t ld = H * Dh;
  double mx = -INFINITY;
  for (int64_t j = 0; j < Tk; ++j) {
    double s = 0.0;
    for (int64_t d = 0; d < Dh; ++d)
      s += double(q[(b * Tq + i) * ld + h * Dh + d]) *
           double(k[(b * Tk + j) * ld + h * Dh + d]);
    p[j] = s * scale;
    mx = std::max(mx, p[j]);
  }
  return mx;
}

/// softmax(q k^T * scale) v per batch and head; q [B, Tq, H*Dh],
/// k and v [B, Tk, H*Dh], the row max subtracted before exp.
inline RefVec refAttention(const Vec &q, const Vec &k, const Vec &v, int64_t B,
                           int64_t Tq, int64_t Tk, int64_t H, int64_t Dh,
                           double scale) {
  const int64_t ld = H * Dh;
  RefVec o(static_cast<size_t>(B * Tq * ld));
  std::vector<double> p(static_cast<size_t>(Tk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        double mx = refScores(q, k, b, h, i, Tq, Tk, H, Dh, scale, p);
        double sum = 0.0;
        for (int64_t j = 0; j < Tk; ++j)
          sum += (p[j] = std::exp(p[j] - mx));
        for (int64_t d = 0; d < Dh; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j < Tk; ++j)
            acc += p[j] * double(v[(b * Tk + j) * ld + h * Dh + d]);
          o[(b * Tq + i) * ld + h * Dh + d] = acc / sum;
        }
      }
  return o;
}

/// softmax(q k^T * scale + bias[h]) v with bias [H, Tq, Tk] (or null) and,
/// when causal, only keys j <= i for query i: every masked score left out.
inline RefVec refAttentionMasked(const Vec &q, const Vec &k, const Vec &v,
                                 const Vec *bias, int64_t B, int64_t Tq,
                                 int64_t Tk, int64_t H, int64_t Dh,
                                 double scale, bool causal) {
  const int64_t ld = H * Dh;
  RefVec o(static_cast<size_t>(B * Tq * ld));
  std::vector<double> p(static_cast<size_t>(Tk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        refScores(q, k, b, h, i, Tq, Tk, H, Dh, scale, p);
        const int64_t n = causal ? std::min(Tk, i + 1) : Tk;
        double mx = -INFINITY;
        for (int64_t j = 0; j < n; ++j) {
          if (bias)
            p[j] += double((*bias)[(h * Tq + i) * Tk + j]);
          mx = std::max(mx, p[j]);
        }
        double sum = 0.0;
        for (int64_t j = 0; j < n; ++j)
          sum += (p[j] = std::exp(p[j] - mx));
        for (int64_t d = 0; d < Dh; ++d) {
          double acc = 0.0;
          for (int64_t j = 0; j < n; ++j)
            acc += p[j] * double(v[(b * Tk + j) * ld + h * Dh + d]);
          o[(b * Tq + i) * ld + h * Dh + d] = acc / sum;
        }
      }
  return o;
}

/// The row log-sum-exp of the scaled scores, log sum_j exp(q_i k_j * scale),
/// per batch, head and query row: [B, H, Tq], as ring attention carries it.
inline RefVec refAttentionLse(const Vec &q, const Vec &k, int64_t B, int64_t Tq,
                              int64_t Tk, int64_t H, int64_t Dh, double scale) {
  RefVec lse(static_cast<size_t>(B * H * Tq));
  std::vector<double> p(static_cast<size_t>(Tk));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Tq; ++i) {
        double mx = refScores(q, k, b, h, i, Tq, Tk, H, Dh, scale, p);
        double sum = 0.0;
        for (int64_t j = 0; j < Tk; ++j)
          sum += std::exp(p[j] - mx);
        lse[(b * H + h) * Tq + i] = mx + std::log(sum);
      }
  return lse;
}

//===----------------------------------------------------------------------===//
// unary, binary
//===----------------------------------------------------------------------===//

/// The tanh GELU's derivative (bounds through a GELU epilogue).
inline double geluTanhSlope(double x) {
  const double k = std::sqrt(2.0 / M_PI), a = 0.044715;
  const double t = std::tanh(k * (x + a * x * x * x));
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * k * (1.0 + 3 * a * x * x);
}

inline double refUnary(UnaryKind kind, double x) {
  switch (kind) {
  case UnaryKind::GeluTanh:
    return 0.5 * x *
           (1.0 +
            std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
  case UnaryKind::GeluErf:
    return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
  case UnaryKind::Silu:
    return x / (1.0 + std::exp(-x));
  case UnaryKind::QuickGelu:
    return x / (1.0 + std::exp(-1.702 * x));
  }
  return NAN;
}

inline double refBinaryOp(BinaryKind kind, double a, double b) {
  switch (kind) {
  case BinaryKind::Add:
    return a + b;
  case BinaryKind::Sub:
    return a - b;
  case BinaryKind::Mul:
    return a * b;
  case BinaryKind::Div:
    return a / b;
  }
  return NAN;
}

/// Right-aligned NumPy broadcasting strides of an operand of shape `s` into
/// `out`, as the executor computes them (0 along broadcast dimensions).
inline std::vector<int64_t> broadcastStrides(const std::vector<int64_t> &s,
                                             const std::vector<int64_t> &out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  for (int i = int(out.size()) - 1, j = int(s.size()) - 1; j >= 0; --i, --j) {
    st[i] = s[j] == 1 ? 0 : stride;
    stride *= s[j];
  }
  return st;
}

/// out[i] = a[ia] op b[ib] over `shape`, with the operands read through
/// element strides `aStrides` and `bStrides`.
inline RefVec refBinary(BinaryKind kind, const Vec &a, const Vec &b,
                        const std::vector<int64_t> &shape,
                        const std::vector<int64_t> &aStrides,
                        const std::vector<int64_t> &bStrides) {
  int64_t total = 1;
  for (int64_t s : shape)
    total *= s;
  RefVec out(static_cast<size_t>(total));
  for (int64_t i = 0; i < total; ++i) {
    int64_t rem = i, ia = 0, ib = 0;
    for (int d = int(shape.size()) - 1; d >= 0; --d) {
      const int64_t idx = rem % shape[d];
      rem /= shape[d];
      ia += idx * aStrides[d];
      ib += idx * bStrides[d];
    }
    out[i] = refBinaryOp(kind, a[ia], b[ib]);
  }
  return out;
}

//===----------------------------------------------------------------------===//
// Embeddings
//===----------------------------------------------------------------------===//

/// diffusers' get_timestep_embedding transcribed with the same float32
/// roundings as torch; only exp, sin and cos are taken in double.
inline RefVec refTimestep(const Vec &t, int64_t dim, bool flip, float shift,
                          float scale, float maxPeriod) {
  const int64_t half = dim / 2;
  RefVec out(static_cast<size_t>(int64_t(t.size()) * dim), 0.0);
  const float negLog = float(-std::log(double(maxPeriod)));
  const float denom = float(double(half) - double(shift));
  for (size_t b = 0; b < t.size(); ++b)
    for (int64_t i = 0; i < half; ++i) {
      float exponent = negLog * float(i);
      exponent = exponent / denom;
      const float freq = float(std::exp(double(exponent)));
      // The scaled timestep first, as Flux's `timestep * 1000` (the
      // backends' definition; diffusers' own `scale`, applied after, agrees
      // exactly for the scale 1 of every other model).
      float arg = scale * t[b];
      arg = arg * freq;
      out[b * dim + (flip ? half + i : i)] = std::sin(double(arg));
      out[b * dim + (flip ? i : half + i)] = std::cos(double(arg));
    }
  return out;
}

/// diffusers' FluxPosEmbed as it writes it: per axis a, [T, axesDim[a]]
/// tables cos(pos * freq_j) and sin(...) with each column repeated twice
/// (repeat_interleave), freq_j = 1 / theta^(2j / d), all in double,
/// concatenated over the axes: {cos [T, Dh], sin [T, Dh]}.
inline std::pair<RefVec, RefVec> refRopeTables(const Vec &ids, int64_t T,
                                               const std::vector<int64_t> &axes,
                                               double theta) {
  int64_t dh = 0;
  for (int64_t d : axes)
    dh += d;
  RefVec cosT(size_t(T * dh)), sinT(size_t(T * dh));
  const int64_t nAxes = int64_t(axes.size());
  for (int64_t t = 0; t < T; ++t) {
    int64_t col = 0;
    for (int64_t a = 0; a < nAxes; ++a) {
      const double pos = ids[size_t(t * nAxes + a)];
      for (int64_t k = 0; k < axes[size_t(a)]; k += 2) {
        const double freq = 1.0 / std::pow(theta, double(k) / double(axes[a]));
        for (int r = 0; r < 2; ++r, ++col) {
          cosT[size_t(t * dh + col)] = std::cos(pos * freq);
          sinT[size_t(t * dh + col)] = std::sin(pos * freq);
        }
      }
    }
  }
  return {cosT, sinT};
}

/// diffusers' apply_rotary_emb (use_real, unbind dim -1) per head of x
/// [B, T, H*Dh]: x * cos + x_rotated * sin with x_rotated = (-x1, x0) per
/// pair, cos and sin [T, Dh] as refRopeTables lays them out. x is float
/// (Vec) or already double (a refRmsNorm result).
template <typename V>
inline RefVec refRope(const V &x, const std::vector<double> &cosT,
                      const std::vector<double> &sinT, int64_t B, int64_t T,
                      int64_t H, int64_t Dh) {
  RefVec out(x.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t d = 0; d < Dh; ++d) {
          const size_t i = size_t(((b * T + t) * H + h) * Dh + d);
          const double rotated =
              d % 2 == 0 ? -double(x[i + 1]) : double(x[i - 1]);
          out[i] = double(x[i]) * cosT[size_t(t * Dh + d)] +
                   rotated * sinT[size_t(t * Dh + d)];
        }
  return out;
}

/// Rows `ids` of table [V, D], concatenated.
inline RefVec refEmbedding(const Vec &table, const std::vector<int64_t> &ids,
                           int64_t D) {
  RefVec out(ids.size() * size_t(D));
  for (size_t i = 0; i < ids.size(); ++i)
    for (int64_t d = 0; d < D; ++d)
      out[i * D + d] = table[ids[i] * D + d];
  return out;
}

/// A direct transcription of diffusers' numpy get_2d_sincos_pos_embed:
/// positions in float32, omega and the outer product in float64.
inline RefVec refPosEmbed2d(int64_t gridH, int64_t gridW, int64_t dim,
                            double baseSize, double interpolationScale) {
  // grid_h = np.arange(gridH, dtype=float32) / (gridH / base) / interp
  auto axis = [&](int64_t n) {
    std::vector<float> g(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      float v = float(i) / float(double(n) / baseSize);
      g[size_t(i)] = v / float(interpolationScale);
    }
    return g;
  };
  std::vector<float> gridHv = axis(gridH), gridWv = axis(gridW);
  // grid = np.meshgrid(grid_w, grid_h): grid[0][i][j] = w_j,
  // grid[1][i][j] = h_i
  const int64_t M = gridH * gridW;
  std::vector<float> grid0(static_cast<size_t>(M)),
      grid1(static_cast<size_t>(M));
  for (int64_t i = 0; i < gridH; ++i)
    for (int64_t j = 0; j < gridW; ++j) {
      grid0[size_t(i * gridW + j)] = gridWv[size_t(j)];
      grid1[size_t(i * gridW + j)] = gridHv[size_t(i)];
    }
  // get_1d_sincos_pos_embed_from_grid(embed_dim = dim / 2, pos)
  auto emb1d = [&](const std::vector<float> &pos, int64_t embedDim) {
    std::vector<double> omega(static_cast<size_t>(embedDim / 2));
    for (size_t k = 0; k < omega.size(); ++k) {
      omega[k] = double(k) / (double(embedDim) / 2.0);
      omega[k] = 1.0 / std::pow(10000.0, omega[k]);
    }
    RefVec e(pos.size() * size_t(embedDim));
    for (size_t m = 0; m < pos.size(); ++m)
      for (size_t k = 0; k < omega.size(); ++k) {
        const double out = double(pos[m]) * omega[k];
        e[m * embedDim + k] = std::sin(out);
        e[m * embedDim + omega.size() + k] = std::cos(out);
      }
    return e;
  };
  RefVec embH = emb1d(grid0, dim / 2), embW = emb1d(grid1, dim / 2);
  // np.concatenate([emb_h, emb_w], axis=1), where "emb_h" encodes grid[0].
  RefVec out(static_cast<size_t>(M * dim));
  for (int64_t m = 0; m < M; ++m)
    for (int64_t c = 0; c < dim / 2; ++c) {
      out[m * dim + c] = embH[m * (dim / 2) + c];
      out[m * dim + dim / 2 + c] = embW[m * (dim / 2) + c];
    }
  return out;
}

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

/// x [shape] permuted: out dimension d is input dimension perm[d].
template <typename T>
std::vector<T> refTranspose(const std::vector<T> &x,
                            const std::vector<int64_t> &shape,
                            const std::vector<int64_t> &perm) {
  const int rank = int(shape.size());
  std::vector<int64_t> inStride(static_cast<size_t>(rank), 1),
      outShape(static_cast<size_t>(rank));
  for (int d = rank - 2; d >= 0; --d)
    inStride[d] = inStride[d + 1] * shape[d + 1];
  for (int d = 0; d < rank; ++d)
    outShape[d] = shape[perm[d]];
  std::vector<T> out(x.size());
  for (size_t i = 0; i < out.size(); ++i) {
    int64_t rem = int64_t(i), src = 0;
    for (int d = rank - 1; d >= 0; --d) {
      src += (rem % outShape[d]) * inStride[perm[d]];
      rem /= outShape[d];
    }
    out[i] = x[size_t(src)];
  }
  return out;
}

/// Nearest-neighbour upsampling of x [N, C, H, W] by sh x sw.
inline RefVec refUpsampleNearest(const Vec &x, int64_t N, int64_t C, int64_t H,
                                 int64_t W, int64_t sh, int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw;
  RefVec out(static_cast<size_t>(N * C * OH * OW));
  for (int64_t p = 0; p < N * C; ++p)
    for (int64_t i = 0; i < OH; ++i)
      for (int64_t j = 0; j < OW; ++j)
        out[size_t((p * OH + i) * OW + j)] =
            x[size_t((p * H + i / sh) * W + j / sw)];
  return out;
}

} // namespace ref
} // namespace fresco

#endif // FRESCO_TEST_UNIT_REFERENCE_H
