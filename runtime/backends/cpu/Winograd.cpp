//===- Winograd.cpp - 3x3 stride-1 convolution as Winograd F(2x2, 3x3) ----===//
//
// The VAE decoder is almost all 3x3 stride-1 convolutions, and im2col +
// sgemm already runs them near this machine's sgemm peak: only fewer
// multiplications can make them faster. F(2x2, 3x3) computes each 2x2
// output tile from a 4x4 input tile with 16 instead of 36 multiplications
// per (input, output) channel pair:
//
//   Y = A^T [ (G g G^T) .* (B^T d B) ] A
//
// summed over input channels, which is 16 independent GEMMs: for each of
// the 16 positions xi of the 4x4 transformed tile, M_xi [O, tiles] =
// U_xi [O, C] * V_xi [C, tiles]. The weights are transformed on every call
// (O * C * 4x4, cheap next to the GEMMs for the VAE's feature maps), so no
// second copy of them is kept; small feature maps (a UNet's low
// resolutions) take im2col + sgemm instead (winogradApplies). Tiles go in bands
// so the transformed input and the products stay within a bounded scratch
// buffer.
//
// F(2x2, 3x3)'s transforms only add, subtract and halve, so its error stays
// within a few float roundings of the direct sum (the conformance tests
// hold it to the same tolerance as im2col).
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/cpu/CpuKernels.h"
#include "runtime/backends/cpu/Parallel.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace fresco {
namespace cpu {
namespace {

constexpr int kTile = 16; // 4x4 transformed positions

/// Tiles per band: bounds the scratch of V [16, C, band] and M [16, O, band].
int64_t bandTiles(int64_t C, int64_t O) {
  constexpr int64_t kMaxBandFloats = int64_t(8) << 20; // 32 MiB
  return std::max<int64_t>(16, kMaxBandFloats / (kTile * (C + O)));
}

/// U [16, O, C] = G g G^T for every 3x3 kernel g = w[o, c].
void transformWeights(const float *w, float *u, int64_t O, int64_t C) {
  const int64_t OC = O * C;
#pragma omp parallel for schedule(static)
  for (int64_t oc = 0; oc < OC; ++oc) {
    const float *g = w + oc * 9;
    // t = G g: [4, 3].
    float t[4][3];
    for (int j = 0; j < 3; ++j) {
      float g0 = g[0 * 3 + j], g1 = g[1 * 3 + j], g2 = g[2 * 3 + j];
      t[0][j] = g0;
      t[1][j] = 0.5f * (g0 + g1 + g2);
      t[2][j] = 0.5f * (g0 - g1 + g2);
      t[3][j] = g2;
    }
    // (G g) G^T: [4, 4].
    for (int i = 0; i < 4; ++i) {
      float a = t[i][0], b = t[i][1], c = t[i][2];
      float r[4] = {a, 0.5f * (a + b + c), 0.5f * (a - b + c), c};
      for (int j = 0; j < 4; ++j)
        u[(i * 4 + j) * OC + oc] = r[j];
    }
  }
}

} // namespace

bool winogradApplies(int64_t N, int64_t C, int64_t O, int64_t KH, int64_t KW,
                     int64_t strideH, int64_t strideW, int64_t padH,
                     int64_t padW, int64_t OH, int64_t OW) {
  static const bool enabled = [] {
    const char *env = std::getenv("FRESCO_CPU_WINOGRAD");
    return !(env && std::strcmp(env, "0") == 0);
  }();
  // Few channels make GEMMs too thin to gain (e.g. the VAE's conv_out).
  // The weights' transform (16 * O * C floats written per call) saves
  // multiplications in proportion to the output positions: measured on SD
  // 1.5's UNet (2 threads), im2col + sgemm takes 11.6 ms at [2, 1280, 4, 4]
  // where Winograd takes 52.6, they tie near 512 positions (2 x 16 x 16)
  // and Winograd wins 1.7x at 2048 (2 x 32 x 32); the threshold sits
  // between (docs/benchmarks.md).
  constexpr int64_t kMinPositions = 1024;
  return enabled && KH == 3 && KW == 3 && strideH == 1 && strideW == 1 &&
         padH <= 2 && padW <= 2 && C >= 16 && O >= 16 &&
         N * OH * OW >= kMinPositions;
}

void conv2dWinograd(const float *x, const float *w, const float *b, float *y,
                    int64_t N, int64_t C, int64_t H, int64_t W, int64_t O,
                    int64_t padH, int64_t padW, Scratch &scratch) {
  const int64_t OH = H + 2 * padH - 2, OW = W + 2 * padW - 2;
  if (N == 0 || O == 0 || OH <= 0 || OW <= 0)
    return;
  toBlasInt(O, "O");
  toBlasInt(C, "C");
  const int64_t tilesH = (OH + 1) / 2, tilesW = (OW + 1) / 2;
  // Bands of whole tile rows, so the input transform walks rows.
  const int64_t bandRows =
      std::max<int64_t>(1, std::min(tilesH, bandTiles(C, O) / tilesW));
  const int64_t band = bandRows * tilesW;
  toBlasInt(band, "tiles per band");
  const int64_t uSize = kTile * O * C, vSize = kTile * C * band,
                mSize = kTile * O * band;
  float *u = scratch.get(size_t(uSize + vSize + mSize));
  float *v = u + uSize, *m = v + vSize;
  transformWeights(w, u, O, C);
  // Each input row, zero-padded on both sides, so tiles read it unchecked.
  const int64_t padded = 2 * tilesW + 2;

  SerialBlasScope serial;
  for (int64_t n = 0; n < N; ++n) {
    const float *xn = x + n * C * H * W;
    float *yn = y + n * O * OH * OW;
    for (int64_t th0 = 0; th0 < tilesH; th0 += bandRows) {
      const int64_t rows = std::min(bandRows, tilesH - th0);
      const int64_t count = rows * tilesW;
      // V [16, C, count] = B^T d B for every input tile d of every channel.
#pragma omp parallel
      {
        std::vector<float> rowBuf(size_t(4 * padded));
#pragma omp for schedule(static)
        for (int64_t c = 0; c < C; ++c) {
          const float *xc = xn + c * H * W;
          for (int64_t tr = 0; tr < rows; ++tr) {
            const int64_t r0 = 2 * (th0 + tr) - padH;
            float *rb[4];
            for (int i = 0; i < 4; ++i) {
              rb[i] = rowBuf.data() + i * padded;
              std::fill(rb[i], rb[i] + padded, 0.0f);
              const int64_t r = r0 + i;
              if (r < 0 || r >= H)
                continue;
              // Buffer index k holds input column k - padW.
              const int64_t hi = std::min<int64_t>(padded, W + padW);
              if (hi > padW)
                std::memcpy(rb[i] + padW, xc + r * W,
                            size_t(hi - padW) * sizeof(float));
            }
            float *vt = v + c * count + tr * tilesW;
            const int64_t stride = C * count; // between positions xi
            const float *b0 = rb[0], *b1 = rb[1], *b2 = rb[2], *b3 = rb[3];
            // Vectorised over tiles: the rows' stride-2 windows in, 16
            // contiguous output streams out.
#pragma omp simd
            for (int64_t tw = 0; tw < tilesW; ++tw) {
              const int64_t c0 = 2 * tw;
              const float *rbv[4] = {b0, b1, b2, b3};
              float d[4][4];
              for (int i = 0; i < 4; ++i)
                for (int j = 0; j < 4; ++j)
                  d[i][j] = rbv[i][c0 + j];
              // B^T d: rows (d0 - d2, d1 + d2, d2 - d1, d1 - d3).
              float e[4][4];
              for (int j = 0; j < 4; ++j) {
                e[0][j] = d[0][j] - d[2][j];
                e[1][j] = d[1][j] + d[2][j];
                e[2][j] = d[2][j] - d[1][j];
                e[3][j] = d[1][j] - d[3][j];
              }
              // (B^T d) B: the same combination of columns.
              for (int i = 0; i < 4; ++i) {
                float *vi = vt + (i * 4) * stride + tw;
                vi[0] = e[i][0] - e[i][2];
                vi[stride] = e[i][1] + e[i][2];
                vi[2 * stride] = e[i][2] - e[i][1];
                vi[3 * stride] = e[i][1] - e[i][3];
              }
            }
          }
        }
      }
      // M_xi [O, count] = U_xi [O, C] * V_xi [C, count], one GEMM each.
#pragma omp parallel for schedule(static)
      for (int xi = 0; xi < kTile; ++xi)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, blasint(O),
                    blasint(count), blasint(C), 1.0f, u + xi * O * C,
                    blasint(C), v + xi * C * count, blasint(count), 0.0f,
                    m + xi * O * count, blasint(count));
        // Y = A^T M A per output channel and tile, plus the bias: a row
        // of tiles at a time into two full-width rows (vectorised over
        // tiles), whose columns and rows inside the output are kept.
#pragma omp parallel
      {
        std::vector<float> outRows(size_t(4 * tilesW));
#pragma omp for schedule(static)
        for (int64_t o = 0; o < O; ++o) {
          const float bias = b ? b[o] : 0.0f;
          float *yo = yn + o * OH * OW;
          float *top = outRows.data(), *bottom = top + 2 * tilesW;
          for (int64_t tr = 0; tr < rows; ++tr) {
            const float *mt = m + o * count + tr * tilesW;
            const int64_t stride = O * count; // between positions xi
#pragma omp simd
            for (int64_t tw = 0; tw < tilesW; ++tw) {
              float q[4][4];
              for (int xi = 0; xi < kTile; ++xi)
                q[xi / 4][xi % 4] = mt[xi * stride + tw];
              // A^T q: rows (q0 + q1 + q2, q1 - q2 - q3); then the same
              // combination of columns.
              float s0[4], s1[4];
              for (int j = 0; j < 4; ++j) {
                s0[j] = q[0][j] + q[1][j] + q[2][j];
                s1[j] = q[1][j] - q[2][j] - q[3][j];
              }
              top[2 * tw] = s0[0] + s0[1] + s0[2] + bias;
              top[2 * tw + 1] = s0[1] - s0[2] - s0[3] + bias;
              bottom[2 * tw] = s1[0] + s1[1] + s1[2] + bias;
              bottom[2 * tw + 1] = s1[1] - s1[2] - s1[3] + bias;
            }
            const int64_t r = 2 * (th0 + tr);
            std::memcpy(yo + r * OW, top, size_t(OW) * sizeof(float));
            if (r + 1 < OH)
              std::memcpy(yo + (r + 1) * OW, bottom,
                          size_t(OW) * sizeof(float));
          }
        }
      }
    }
  }
}

} // namespace cpu
} // namespace fresco
