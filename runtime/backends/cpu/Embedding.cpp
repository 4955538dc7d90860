//===- Embedding.cpp - Table lookups and sinusoidal embeddings ------------===//
//
// The sinusoidal embeddings reproduce diffusers' arithmetic step by step,
// including where it rounds to float32, so that plans match PyTorch runs to
// float precision rather than merely to the formula.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/Parallel.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace fresco {
namespace cpu {

void timestepEmbedding(const float *tF32, const int64_t *tI64, float *out,
                       int64_t B, int64_t dim, bool flipSinToCos, float shift,
                       float scale, float maxPeriod) {
  check((tF32 == nullptr) != (tI64 == nullptr),
        "timestepEmbedding: exactly one of the f32 / i64 inputs must be set");
  check(dim >= 0, "timestepEmbedding: negative dim ", dim);
  const int64_t half = dim / 2;
  // torch evaluates `-math.log(max_period) * arange(half, float32)` and the
  // division by the Python float (half - shift) in float32, scalars rounded
  // to float32 first.
  const float negLogPeriod = float(-std::log(double(maxPeriod)));
  const float denom = float(double(half) - double(shift));
  const int64_t sinAt = flipSinToCos ? half : 0;
  const int64_t cosAt = flipSinToCos ? 0 : half;
  for (int64_t b = 0; b < B; ++b) {
    const float t = tF32 ? tF32[b] : float(tI64[b]); // timesteps.float()
    float *row = out + b * dim;
    for (int64_t i = 0; i < half; ++i) {
      const float exponent = negLogPeriod * float(i) / denom;
      // diffusers applies `scale` after the product; Flux scales the
      // timestep itself (timestep * 1000) before: with scale 1 the two agree
      // exactly, and Flux's is the one with scale != 1.
      const float arg = (scale * t) * std::exp(exponent);
      row[sinAt + i] = std::sin(arg);
      row[cosAt + i] = std::cos(arg);
    }
    if (dim % 2 == 1)
      row[dim - 1] = 0.0f;
  }
}

void embedding(const float *table, const int64_t *ids, float *out, int64_t n,
               int64_t V, int64_t D) {
  // Validate first: throwing from inside the OpenMP loop would terminate.
  for (int64_t i = 0; i < n; ++i)
    check(ids[i] >= 0 && ids[i] < V, "embedding: id ", ids[i], " at position ",
          i, " is outside the table's [0, ", V, ")");
#pragma omp parallel for schedule(static) if (worthParallel(n * D))
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * D, table + ids[i] * D, size_t(D) * sizeof(float));
}

namespace {

/// diffusers' get_1d_sincos_pos_embed_from_grid for one position: `half`
/// sines then `half` cosines of pos * omega, in double.
void sinCos1d(float *dst, float pos, const std::vector<double> &omega) {
  const size_t half = omega.size();
  for (size_t k = 0; k < half; ++k) {
    const double arg = double(pos) * omega[k];
    dst[k] = float(std::sin(arg));
    dst[half + k] = float(std::cos(arg));
  }
}

/// np.arange(n, dtype=float32) / (n / baseSize) / interpolationScale: numpy
/// divides the float32 array by each Python float rounded to float32.
float gridPosition(int64_t i, int64_t n, double baseSize,
                   double interpolationScale) {
  const float step = float(double(n) / baseSize);
  return float(i) / step / float(interpolationScale);
}

} // namespace

void posEmbed2d(float *out, const PosGrid &g, int64_t dim, double baseSize,
                double interpolationScale) {
  check(dim > 0 && dim % 4 == 0, "posEmbed2d: dim ", dim,
        " must be a positive multiple of 4");
  check(baseSize > 0 && interpolationScale > 0,
        "posEmbed2d: base size and interpolation scale must be positive");
  check(g.valid(), "posEmbed2d: window ", g.rows, " x ", g.cols, " at (",
        g.rowStart, ", ", g.colStart, ") is not inside the ", g.gridH, " x ",
        g.gridW, " grid");
  const int64_t quarter = dim / 4;
  // omega = 1 / 10000 ** (arange(D/4, float64) / (D/4)), D/2 being the
  // per-axis embedding size.
  std::vector<double> omega(static_cast<size_t>(quarter));
  for (int64_t k = 0; k < quarter; ++k)
    omega[size_t(k)] = 1.0 / std::pow(10000.0, double(k) / double(quarter));

  // meshgrid(grid_w, grid_h) puts the column (w) coordinate first: token
  // i*cols + j is [emb(w_{colStart+j}) | emb(h_{rowStart+i})]. Tabulate
  // each axis of the window once.
  const int64_t halfDim = dim / 2, rows = g.rows, cols = g.cols;
  std::vector<float> rowsW(static_cast<size_t>(cols * halfDim));
  std::vector<float> rowsH(static_cast<size_t>(rows * halfDim));
  for (int64_t j = 0; j < cols; ++j)
    sinCos1d(
        rowsW.data() + j * halfDim,
        gridPosition(g.colStart + j, g.gridW, baseSize, interpolationScale),
        omega);
  for (int64_t i = 0; i < rows; ++i)
    sinCos1d(
        rowsH.data() + i * halfDim,
        gridPosition(g.rowStart + i, g.gridH, baseSize, interpolationScale),
        omega);

  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      float *row = out + (i * cols + j) * dim;
      std::memcpy(row, rowsW.data() + j * halfDim,
                  size_t(halfDim) * sizeof(float));
      std::memcpy(row + halfDim, rowsH.data() + i * halfDim,
                  size_t(halfDim) * sizeof(float));
    }
  }
}

} // namespace cpu
} // namespace fresco
