//===- RotaryConformanceTest.cpp - Rotary embedding on every backend ------===//
//
// ropeTable and rope against diffusers' FluxPosEmbed and apply_rotary_emb
// transcribed in double (Reference.h), on the Conformance fixture's
// backends (cpu, cpu-staged, cuda; CUDA skips without a device). The rope
// with a fused q/k norm against RMSNorm then apply_rotary_emb, both in
// double (its bf16/f16 storage cases are FloatStorageTest's).
//
//===----------------------------------------------------------------------===//
#include "test/unit/ConformanceFixture.h"

namespace fresco::conformance {
namespace {

/// Flux's ids: text tokens at 0, image tokens (0, row, column) of an h x w
/// grid, as FluxPipeline._prepare_latent_image_ids makes them.
Vec fluxIds(int64_t text, int64_t h, int64_t w) {
  Vec ids(size_t((text + h * w) * 3), 0.0f);
  for (int64_t r = 0; r < h; ++r)
    for (int64_t c = 0; c < w; ++c) {
      float *row = ids.data() + (text + r * w + c) * 3;
      row[1] = float(r);
      row[2] = float(c);
    }
  return ids;
}

/// The reference table in the op's [T, Dh/2, 2] layout: each pair's
/// (cos, sin), read from diffusers' repeated columns (which must agree).
RefVec pairsOf(const std::pair<RefVec, RefVec> &tables, int64_t T, int64_t dh) {
  RefVec out(size_t(T * dh));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t j = 0; j < dh / 2; ++j) {
      const size_t at = size_t(t * dh + 2 * j);
      EXPECT_EQ(tables.first[at], tables.first[at + 1]);
      out[at] = tables.first[at];
      out[at + 1] = tables.second[at];
    }
  return out;
}

TEST_P(Conformance, RopeTable) {
  struct Case {
    const char *name;
    Vec ids;
    int64_t T;
    std::vector<int64_t> axes;
    double theta;
  } cases[] = {
      {"flux-tiny", fluxIds(5, 4, 6), 29, {4, 6, 6}, 10000.0},
      // FLUX.1's axes and a 1024 px grid's largest positions.
      {"flux-axes", fluxIds(3, 2, 64), 131, {16, 56, 56}, 10000.0},
      {"one axis, odd positions",
       randomVec(7, 11, -50.0f, 50.0f),
       7,
       {8},
       500.0},
  };
  for (const Case &c : cases) {
    SCOPED_TRACE(c.name);
    int64_t dh = 0;
    for (int64_t d : c.axes)
      dh += d;
    // The ids go through the float storage: integers (and cpu-staged's
    // default f32 storage) stay exact, the random positions are rounded
    // first so that the reference sees what the kernel reads.
    Vec ids = c.ids;
    auto dids = in(ids);
    ids = dids->read();
    auto dy = out(size_t(c.T * dh));
    be().ropeTable(dids->f(), dy->f(), c.T, int64_t(c.axes.size()),
                   c.axes.data(), c.theta);
    RefVec want = pairsOf(refRopeTables(ids, c.T, c.axes, c.theta), c.T, dh);
    // cos and sin of double angles rounded once: half an f32 ulp of 1.
    expectEachClose(want, dy->read(), 1e-7);
  }
  be().ropeTable(nullptr, nullptr, 0, 3, std::vector<int64_t>{4, 6, 6}.data(),
                 10000.0); // no tokens: nothing to do
  be().synchronize();
}

TEST_P(Conformance, Rope) {
  struct Case {
    int64_t B, T, H, Dh;
  } cases[] = {{1, 1, 1, 2},   {2, 29, 2, 16}, {1, 37, 3, 128},
               {3, 8, 24, 64}, {2, 5, 3, 6}, // heads of 6: no 16-byte path
               {2, 9, 24, 128}};             // Flux's heads
  uint32_t seed = 1100;
  for (const Case &c : cases)
    for (bool inPlace : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "B=" << c.B << " T=" << c.T << " H=" << c.H
                   << " Dh=" << c.Dh << " inPlace=" << inPlace);
      Vec x = randomVec(size_t(c.B * c.T * c.H * c.Dh), seed++, -4.0f, 4.0f);
      // A real table: cos and sin of arbitrary angles, as stored floats.
      Vec angles = randomVec(size_t(c.T * c.Dh / 2), seed++, -60.0f, 60.0f);
      Vec table(size_t(c.T * c.Dh));
      for (size_t j = 0; j < angles.size(); ++j) {
        table[2 * j] = float(std::cos(double(angles[j])));
        table[2 * j + 1] = float(std::sin(double(angles[j])));
      }
      auto dx = in(x), dt = in(table);
      x = dx->read(), table = dt->read(); // as stored
      RefVec cosT(table.size()), sinT(table.size());
      for (size_t j = 0; j < table.size() / 2; ++j) {
        cosT[2 * j] = cosT[2 * j + 1] = table[2 * j];
        sinT[2 * j] = sinT[2 * j + 1] = table[2 * j + 1];
      }
      RefVec want = refRope(x, cosT, sinT, c.B, c.T, c.H, c.Dh);
      auto dy = inPlace ? nullptr : out(x.size());
      be().rope(dx->f(), dt->f(), nullptr, inPlace ? dx->f() : dy->f(), c.B,
                c.T, c.H, c.Dh, 0.0f);
      // Two products and a sum, each rounded once in f32.
      expectEachClose(want, (inPlace ? dx : dy)->read(), 4e-7 * 4.0);
    }
}

/// A table of cos and sin of arbitrary angles as stored floats, and the
/// reference's [T, Dh] cos and sin columns read from it.
struct RotaryTable {
  Vec pairs;
  RefVec cosT, sinT;
};
RotaryTable randomTable(int64_t T, int64_t Dh, uint32_t seed) {
  Vec angles = randomVec(size_t(T * Dh / 2), seed, -60.0f, 60.0f);
  RotaryTable t{Vec(size_t(T * Dh)), RefVec(size_t(T * Dh)),
                RefVec(size_t(T * Dh))};
  for (size_t j = 0; j < angles.size(); ++j) {
    t.pairs[2 * j] = float(std::cos(double(angles[j])));
    t.pairs[2 * j + 1] = float(std::sin(double(angles[j])));
  }
  return t;
}
void readColumns(RotaryTable &t) {
  for (size_t j = 0; j < t.pairs.size() / 2; ++j) {
    t.cosT[2 * j] = t.cosT[2 * j + 1] = t.pairs[2 * j];
    t.sinT[2 * j] = t.sinT[2 * j + 1] = t.pairs[2 * j + 1];
  }
}

// Flux's q/k RMS norm fused into the rotation: per (token, head) row of Dh,
// x * rsqrt(mean(x^2) + eps) * w, then rotated. Covers the CUDA vector path
// (a row per lane group, Dh = 128 x 24 heads as FLUX.1), rows too long to
// hold in registers, heads that are no whole vectors, an operand off the
// 16-byte grid (the scalar kernel) and y aliasing x.
TEST_P(Conformance, RopeNorm) {
  struct Case {
    int64_t B, T, H, Dh;
    float scale; // of x: the norm must undo it
    int offset;  // elements x starts past a 16-byte boundary
  } cases[] = {{1, 1, 1, 2, 1.0f, 0},      {2, 9, 24, 128, 1.0f, 0},
               {1, 37, 3, 128, 300.0f, 0}, {3, 8, 5, 64, 1e-3f, 0},
               {2, 5, 3, 6, 1.0f, 0},      {1, 7, 2, 24, 1.0f, 0},
               {1, 3, 2, 1024, 1.0f, 0},   {2, 9, 24, 128, 1.0f, 1},
               {2, 4, 3, 10, 1.0f, 3}};
  const float eps = 1e-6f;
  uint32_t seed = 1300;
  for (const Case &c : cases)
    for (bool inPlace : {false, true}) {
      SCOPED_TRACE(::testing::Message()
                   << "B=" << c.B << " T=" << c.T << " H=" << c.H
                   << " Dh=" << c.Dh << " scale=" << c.scale
                   << " offset=" << c.offset << " inPlace=" << inPlace);
      const size_t n = size_t(c.B * c.T * c.H * c.Dh);
      Vec x = randomVec(n, seed++, -4.0f, 4.0f);
      for (float &v : x)
        v *= c.scale;
      Vec w = randomVec(size_t(c.Dh), seed++, -2.0f, 2.0f);
      RotaryTable table = randomTable(c.T, c.Dh, seed++);
      // x (and y) `offset` elements into their buffers.
      Vec padded(n + size_t(c.offset), 0.0f);
      std::copy(x.begin(), x.end(), padded.begin() + c.offset);
      auto dx = in(padded), dw = in(w), dt = in(table.pairs);
      auto dy = out(n + size_t(c.offset));
      { // as stored
        Vec got = dx->read();
        x.assign(got.begin() + c.offset, got.end());
        w = dw->read(), table.pairs = dt->read();
      }
      readColumns(table);
      RefVec normed = refRmsNorm(x, w.data(), c.B * c.T * c.H, c.Dh, eps);
      RefVec want =
          refRope(normed, table.cosT, table.sinT, c.B, c.T, c.H, c.Dh);
      Buffer &dst = inPlace ? *dx : *dy;
      be().rope(dx->at(size_t(c.offset)), dt->f(), dw->f(),
                dst.at(size_t(c.offset)), c.B, c.T, c.H, c.Dh, eps);
      Vec got = dst.read();
      got.erase(got.begin(), got.begin() + c.offset);
      // The normalised value (|x / rms| * |w| < 4 here) and the rotation's
      // two products and sum, each rounded once in f32: a few ulps of 4.
      expectEachClose(want, got, 2e-6);
    }
}

} // namespace
} // namespace fresco::conformance
