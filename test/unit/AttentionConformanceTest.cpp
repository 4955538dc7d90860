//===- AttentionConformanceTest.cpp - Attention on every backend ----------===//
//
// The Conformance suite's f32 attention cases (BackendConformanceTest.cpp
// has the other kernels): plain and ring-block attention at small and
// DiT-sized shapes. AttentionLowPrecisionTest.cpp has the bf16/f16 cases
// and the bound's proof of strength, AttentionCudaTest.cpp cuDNN's flash
// attention and the (disabled) speed case gpu-check times.
//
//===----------------------------------------------------------------------===//
#include "test/unit/AttentionConformance.h"

namespace fresco {
namespace {

using namespace ref;
using conformance::Buffer;
using conformance::Conformance;
using conformance::cudaSkipReason;
using conformance::expectClose;
using conformance::expectEachClose;
using conformance::kF32;
using namespace attentiontest;

//===----------------------------------------------------------------------===//
// attention
//===----------------------------------------------------------------------===//

TEST_P(Conformance, Attention) {
  const AttentionCase cases[] = {
      {1, 1, 1, 1, 1},    {1, 1, 50, 1, 8},    {2, 5, 7, 3, 4},
      {1, 17, 33, 2, 8},  {2, 40, 31, 2, 72},  {1, 33, 65, 2, 64},
      {1, 9, 40, 1, 130}, {1, 20, 70, 2, 200},
  };
  uint32_t seed = 600;
  for (const AttentionCase &c : cases)
    runAttention(be(), c, seed += 3);
}

TEST_P(Conformance, AttentionWideHead) {
  // The VAE mid-block: one 512-wide head.
  runAttention(be(), {1, 70, 70, 1, 512}, 650);
}

TEST_P(Conformance, AttentionLargeLogitsStayFinite) {
  // exp() of these logits overflows unless the running max is subtracted.
  runAttention(be(), {1, 9, 40, 2, 4, 20.0f, 30.0f}, 660);
}

TEST_P(Conformance, AttentionDiTBlock) {
  // DiT-XL/2 at 256 px, batch 2: 256 tokens, 16 heads of 72.
  runAttention(be(), {2, 256, 256, 16, 72}, 670);
}

//===----------------------------------------------------------------------===//
// attentionBlock (ring attention)
//===----------------------------------------------------------------------===//

// Keys split unevenly and fed out of order, over odd shapes: Tq != Tk,
// blocks of one key, DiT's head widths (72, 64), several heads, B = 2, a
// head wider than 128.
TEST_P(Conformance, AttentionBlockMergesShuffledBlocks) {
  struct Case {
    AttentionCase shape;
    std::vector<int64_t> sizes;
    std::vector<int> order;
  } cases[] = {
      {{2, 5, 7, 3, 4}, {3, 1, 3}, {2, 0, 1}},
      {{1, 3, 3, 1, 1}, {1, 1, 1}, {1, 2, 0}},
      {{2, 40, 31, 2, 72}, {5, 19, 7}, {1, 2, 0}},
      {{1, 33, 65, 2, 64}, {40, 25}, {1, 0}},
      {{2, 17, 50, 3, 72}, {9, 30, 11}, {2, 1, 0}},
      {{2, 64, 20, 4, 64}, {12, 8}, {1, 0}},
      {{1, 9, 40, 1, 130}, {13, 27}, {1, 0}},
  };
  uint32_t seed = 1400;
  for (const Case &c : cases)
    runAttentionBlocks(be(), c.shape, c.sizes, c.order, seed += 3);
}

// One block holding every key, with first = true, is attention() itself.
TEST_P(Conformance, AttentionBlockSingleBlockIsAttention) {
  const AttentionCase cases[] = {
      {1, 1, 1, 1, 1}, {2, 5, 7, 3, 4}, {2, 40, 31, 2, 72}, {1, 33, 65, 2, 64}};
  uint32_t seed = 1450;
  for (const AttentionCase &c : cases)
    runAttentionBlocks(be(), c, {c.Tk}, {0}, seed += 3);
}

TEST_P(Conformance, AttentionBlockLargeLogitsStayFinite) {
  // q in [2, 2.2] (row sums 8 to 8.8), scale 1/2: keys 18-39 in [-0.5, 0.5]
  // score -2.2 to 2.2, key 17 in [-26, -25] at most -100, keys 0-16 in
  // [25, 26] at least 100. Fed in the order 18-39, 17, 0-16, each merge
  // meets a gap of over 89 between the running lse and the block's scores,
  // one way and then the other, where exp() of the gap overflows unless the
  // merge rescales by the larger side. Larger scores would leave f32 too
  // little precision for the tolerance.
  const AttentionCase c{1, 9, 40, 2, 4, 2.0f, 2.2f};
  const int64_t ld = c.H * c.Dh;
  runAttentionBlocks(be(), c, {17, 1, 22}, {2, 1, 0}, 1470, [&](Vec &k) {
    for (int64_t i = 0; i < 40 * ld; ++i)
      k[size_t(i)] = (k[size_t(i)] - 2.1f) * 5.0f + (i < 17 * ld   ? 25.5f
                                                     : i < 18 * ld ? -25.5f
                                                                   : 0.0f);
  });
}

TEST_P(Conformance, AttentionBlockWideHead) {
  // The VAE's 512-wide head (the CUDA kernel's widest instantiation).
  runAttentionBlocks(be(), {1, 70, 70, 1, 512}, {30, 40}, {1, 0}, 1480);
}

TEST_P(Conformance, AttentionBlockDiTBlock) {
  // DiT-XL/2 at 256 px, batch 2, its 256 tokens over three ranks' blocks.
  runAttentionBlocks(be(), {2, 256, 256, 16, 72}, {100, 60, 96}, {2, 0, 1},
                     1490);
}

TEST_P(Conformance, AttentionBlockZeroHeadWidth) {
  // o has no columns, yet lse still counts the keys (every score is 0):
  // log(3), then log(3 + 5).
  auto none = out(0), lse = out(2 * 2 * 3);
  be().attentionBlock(none->f(), none->f(), none->f(), none->f(), lse->f(), 2,
                      3, 3, 2, 0, 1.0f, /*first=*/true);
  expectEachClose(RefVec(12, std::log(3.0)), lse->read());
  be().attentionBlock(none->f(), none->f(), none->f(), none->f(), lse->f(), 2,
                      3, 5, 2, 0, 1.0f, /*first=*/false);
  expectEachClose(RefVec(12, std::log(8.0)), lse->read());
}

TEST_P(Conformance, AttentionBlockEmptyBlocks) {
  // A block without keys merges nothing; fed first, it leaves the empty
  // state (o = 0, lse = -inf) that the next block starts from.
  runAttentionBlocks(be(), {2, 6, 9, 2, 8}, {0, 4, 5}, {0, 2, 1}, 1500);
  runAttentionBlocks(be(), {2, 6, 9, 2, 8}, {4, 0, 5}, {2, 1, 0}, 1503);
}

} // namespace
} // namespace fresco
