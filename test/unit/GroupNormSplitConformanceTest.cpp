//===- GroupNormSplitConformanceTest.cpp - Group norm over row blocks -----===//
//
// Backend::groupNormStats and groupNormApply, the two halves of a group norm
// whose positions are split across ranks (GroupNormAttrs.stats_members): a
// tensor [N, C, H, W] is cut into P blocks of H/P rows, each block's
// statistics are taken, concatenated in block order (what the all_gather
// gives every member) and applied to every block. Put back together, the
// blocks must equal the float64 group norm of the whole tensor. The values
// sit far from 0 (+100) and each block has its own offset, so that the
// blocks' means differ and the combination's correction term matters.
//
// Padded rows (GroupNormAttrs.valid_rows): a tensor of Hreal rows padded
// at the bottom with garbage rows (about 1e3) to P bands of equal rows,
// one of them partly padding and one (where the case has it) all padding;
// each band's statistics count its real rows only and the blocks of
// unequal counts combine by their counts. The real rows must equal the
// float64 group norm of the unpadded tensor, the padding rows be finite;
// in f32, bf16 and f16 storage (the reference takes the stored inputs).
//
//===----------------------------------------------------------------------===//
#include "test/unit/ConformanceFixture.h"

namespace fresco {
namespace {

using namespace ref;
using conformance::Buffer;
using conformance::Conformance;

/// Rows [r0, r0 + rows) of every (n, c) plane of x [N, C, H, W].
Vec rowsOf(const Vec &x, int64_t NC, int64_t H, int64_t W, int64_t r0,
           int64_t rows) {
  Vec out;
  for (int64_t p = 0; p < NC; ++p)
    out.insert(out.end(), x.begin() + (p * H + r0) * W,
               x.begin() + (p * H + r0 + rows) * W);
  return out;
}
RefVec rowsOf(const RefVec &x, int64_t NC, int64_t H, int64_t W, int64_t r0,
              int64_t rows) {
  RefVec out;
  for (int64_t p = 0; p < NC; ++p)
    out.insert(out.end(), x.begin() + (p * H + r0) * W,
               x.begin() + (p * H + r0 + rows) * W);
  return out;
}

TEST_P(Conformance, GroupNormSplitAcrossRowBlocks) {
  struct Case {
    int64_t N, C, H, W, groups;
  } cases[] = {{1, 4, 6, 5, 2}, {2, 6, 6, 3, 3}, {2, 64, 12, 8, 32}};
  uint32_t seed = 4100;
  for (const Case &c : cases)
    for (int64_t P : {2, 3})
      for (bool affine : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "N=" << c.N << " C=" << c.C << " H=" << c.H
                     << " W=" << c.W << " groups=" << c.groups << " P=" << P
                     << " affine=" << affine);
        const int64_t NC = c.N * c.C, rows = c.H / P, S = rows * c.W;
        Vec x = randomVec(size_t(NC * c.H * c.W), seed++, -1.0f, 1.0f);
        // +100, and a different shift per row block.
        for (int64_t p = 0; p < NC; ++p)
          for (int64_t h = 0; h < c.H; ++h)
            for (int64_t w = 0; w < c.W; ++w)
              x[size_t((p * c.H + h) * c.W + w)] +=
                  100.0f + 0.25f * float(h / rows);
        Vec g = randomVec(size_t(c.C), seed++, 0.5f, 1.5f);
        Vec b = randomVec(size_t(c.C), seed++);
        const float eps = 1e-6f;
        const float *gp = affine ? g.data() : nullptr;
        const float *bp = affine ? b.data() : nullptr;
        const RefVec whole =
            refGroupNorm(x, gp, bp, c.N, c.C, c.H * c.W, c.groups, eps);
        auto dg = in(g), db = in(b);
        // Every block's statistics, concatenated in block order.
        const int64_t count = c.N * c.groups * 2;
        std::vector<std::unique_ptr<Buffer>> blocks;
        Vec partials;
        for (int64_t p = 0; p < P; ++p) {
          blocks.push_back(in(rowsOf(x, NC, c.H, c.W, p * rows, rows)));
          Buffer stats(be(), size_t(count), sizeof(float));
          be().groupNormStats(blocks.back()->f(), stats.f(), c.N, c.C, S,
                              c.groups, S);
          Vec mine = stats.read();
          partials.insert(partials.end(), mine.begin(), mine.end());
        }
        Buffer all(be(), partials.size(), sizeof(float));
        all.upload(partials);
        for (int64_t p = 0; p < P; ++p) {
          SCOPED_TRACE(::testing::Message() << "block " << p);
          auto dy = out(size_t(NC * S));
          be().groupNormApply(blocks[size_t(p)]->f(), all.f(), P, nullptr,
                              affine ? dg->f() : nullptr,
                              affine ? db->f() : nullptr, dy->f(), c.N, c.C, S,
                              c.groups, eps);
          // The normalisation x * (rstd * gamma) + (beta - mean * rstd *
          // gamma) cancels values of about 100 / std: a few of their f32
          // ulps, relative to the result's magnitude of a few.
          conformance::expectClose(rowsOf(whole, NC, c.H, c.W, p * rows, rows),
                                   dy->read(), 5e-5);
        }
      }
}

TEST_P(Conformance, GroupNormSplitPaddedRows) {
  struct Case {
    int64_t N, C, Hreal, W, groups, P, band;
  } cases[] = {{1, 4, 5, 3, 2, 3, 2},   // bands of 2, 2, 1 real rows
               {2, 6, 3, 4, 3, 3, 2},   // 2, 1, 0: the last band is all padding
               {2, 64, 7, 8, 32, 4, 3}, // 3, 3, 1, 0
               {1, 4, 1, 5, 2, 2, 1},   // 1, 0
               {1, 4, 3, 3, 2, 1, 5},   // one band (no stats_members): 3 of 5
               {2, 32, 9, 16, 8, 3, 4}}; // 4, 4, 1
  uint32_t seed = 4300;
  for (GemmPrecision prec :
       {GemmPrecision::F32, GemmPrecision::BF16, GemmPrecision::F16}) {
    std::unique_ptr<Backend> lp = backendWith(prec);
    if (lp->floatStorage() != storageOf(prec))
      continue; // the plain CPU backend stores f32 only
    Backend &b = *lp;
    // f32: as above; bf16/f16: one rounding of the output on top.
    const double tol = prec == GemmPrecision::F32    ? 5e-5
                       : prec == GemmPrecision::BF16 ? 1.0 / 256 + 5e-5
                                                     : 1.0 / 2048 + 5e-5;
    for (const Case &c : cases)
      for (bool affine : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << "storage=" << dtypeName(storageOf(prec)) << " N=" << c.N
                     << " C=" << c.C << " Hreal=" << c.Hreal << " W=" << c.W
                     << " groups=" << c.groups << " P=" << c.P
                     << " band=" << c.band << " affine=" << affine);
        const int64_t NC = c.N * c.C, H = c.P * c.band, S = c.band * c.W;
        // The padded tensor: real rows near 100 with a shift per band,
        // garbage below.
        Vec x = randomVec(size_t(NC * H * c.W), seed++, -1.0f, 1.0f);
        const Vec junk = randomVec(x.size(), seed++, -1000.0f, 1000.0f);
        for (int64_t p = 0; p < NC; ++p)
          for (int64_t h = 0; h < H; ++h)
            for (int64_t w = 0; w < c.W; ++w) {
              float &v = x[size_t((p * H + h) * c.W + w)];
              v = h < c.Hreal ? v + 100.0f + 0.25f * float(h / c.band)
                              : junk[size_t((p * H + h) * c.W + w)];
            }
        const Vec g = randomVec(size_t(c.C), seed++, 0.5f, 1.5f);
        const Vec bias = randomVec(size_t(c.C), seed++);
        Buffer dg(b, g.size()), db(b, bias.size());
        dg.upload(g), db.upload(bias);
        const Vec gs = dg.read(), bs = db.read(); // as stored
        // Every band's statistics over its real rows, in band order, and
        // the band's inputs as stored (the reference's).
        const int64_t count = c.N * c.groups * 2;
        std::vector<std::unique_ptr<Buffer>> bands;
        std::vector<int64_t> valid;
        Vec partials, stored(size_t(NC * H * c.W));
        for (int64_t p = 0; p < c.P; ++p) {
          const int64_t real =
              std::clamp<int64_t>(c.Hreal - p * c.band, 0, c.band);
          valid.push_back(real * c.W);
          bands.push_back(std::make_unique<Buffer>(b, size_t(NC * S)));
          bands.back()->upload(rowsOf(x, NC, H, c.W, p * c.band, c.band));
          const Vec back = bands.back()->read();
          for (int64_t q = 0; q < NC; ++q)
            std::copy(back.begin() + q * S, back.begin() + (q + 1) * S,
                      stored.begin() + (q * H + p * c.band) * c.W);
          Buffer stats(b, size_t(count), sizeof(float));
          b.groupNormStats(bands.back()->f(), stats.f(), c.N, c.C, S, c.groups,
                           valid.back());
          Vec mine = stats.read();
          partials.insert(partials.end(), mine.begin(), mine.end());
        }
        const RefVec whole = refGroupNorm(
            rowsOf(stored, NC, H, c.W, 0, c.Hreal),
            affine ? gs.data() : nullptr, affine ? bs.data() : nullptr, c.N,
            c.C, c.Hreal * c.W, c.groups, 1e-6f);
        Buffer all(b, partials.size(), sizeof(float));
        all.upload(partials);
        for (int64_t p = 0; p < c.P; ++p) {
          SCOPED_TRACE(::testing::Message() << "band " << p);
          const int64_t real = valid[size_t(p)] / c.W;
          Buffer dy(b, size_t(NC * S));
          dy.upload(Vec(size_t(NC * S), std::nanf("")));
          b.groupNormApply(bands[size_t(p)]->f(), all.f(), c.P, valid.data(),
                           affine ? dg.f() : nullptr, affine ? db.f() : nullptr,
                           dy.f(), c.N, c.C, S, c.groups, 1e-6f);
          const Vec y = dy.read();
          for (size_t i = 0; i < y.size(); ++i)
            ASSERT_TRUE(std::isfinite(y[i])) << "at " << i << ": " << y[i];
          if (real > 0)
            conformance::expectClose(
                rowsOf(whole, NC, c.Hreal, c.W, p * c.band, real),
                rowsOf(y, NC, c.band, c.W, 0, real), tol);
        }
      }
  }
}

} // namespace
} // namespace fresco
