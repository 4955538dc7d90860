//===- RotaryConformanceTest.cpp - Rotary embedding on every backend ------===//
//
// ropeTable and rope against diffusers' FluxPosEmbed and apply_rotary_emb
// transcribed in double (Reference.h), on the Conformance fixture's
// backends (cpu, cpu-staged, cuda; CUDA skips without a device).
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
      be().rope(dx->f(), dt->f(), inPlace ? dx->f() : dy->f(), c.B, c.T, c.H,
                c.Dh);
      // Two products and a sum, each rounded once in f32.
      expectEachClose(want, (inPlace ? dx : dy)->read(), 4e-7 * 4.0);
    }
}

} // namespace
} // namespace fresco::conformance
