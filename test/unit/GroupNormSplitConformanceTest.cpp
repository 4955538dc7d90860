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
                              c.groups);
          Vec mine = stats.read();
          partials.insert(partials.end(), mine.begin(), mine.end());
        }
        Buffer all(be(), partials.size(), sizeof(float));
        all.upload(partials);
        for (int64_t p = 0; p < P; ++p) {
          SCOPED_TRACE(::testing::Message() << "block " << p);
          auto dy = out(size_t(NC * S));
          be().groupNormApply(
              blocks[size_t(p)]->f(), all.f(), P, affine ? dg->f() : nullptr,
              affine ? db->f() : nullptr, dy->f(), c.N, c.C, S, c.groups, eps);
          // The normalisation x * (rstd * gamma) + (beta - mean * rstd *
          // gamma) cancels values of about 100 / std: a few of their f32
          // ulps, relative to the result's magnitude of a few.
          conformance::expectClose(rowsOf(whole, NC, c.H, c.W, p * rows, rows),
                                   dy->read(), 5e-5);
        }
      }
}

} // namespace
} // namespace fresco
