//===- Norm.cpp - Layer, group and RMS norm, modulation: rules, binders ---===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/ops/CommPaths.h"

#include <algorithm>
#include <vector>

namespace fresco {

/// A LayerNorm's operands read one way only under its `modulated` flag:
/// x, [weight, bias,] and, modulated, shift and scale [B, D].
void verifyLayerNorm(const OpCheck &c) {
  const bool mod = c.attrs<plan::LayerNormAttrs>()->modulated();
  const size_t n = c.ops.size();
  if (mod)
    c.need(n == 3 || n == 5,
           "a modulated LayerNorm takes x, [weight, bias,] shift, scale (3 "
           "or 5 operands), got ",
           n);
  else
    c.need(n == 1 || n == 3,
           "a LayerNorm takes x [, weight, bias] (1 or 3 operands), got ", n);
  const ValueInfo &x = c.ops[0];
  c.need(!x.shape.empty(), "input must have rank >= 1");
  c.shape(c.res[0], x.shape, "result");
  const int64_t cols = x.shape.back();
  const size_t affine = n - (mod ? 2 : 0); // x [, w, b]
  if (affine == 3) {
    c.shape(c.ops[1], {cols}, "weight");
    c.shape(c.ops[2], {cols}, "bias");
  }
  if (!mod)
    return;
  c.need(x.shape.size() == 3, "a modulated input must be [B, T, D], got ",
         shapeToString(x.shape));
  c.shape(c.ops[affine], {x.shape[0], x.shape[2]}, "shift");
  c.shape(c.ops[affine + 1], {x.shape[0], x.shape[2]}, "scale");
}

Step bindLayerNorm(OpBind &b) {
  const bool mod = b.attrs<plan::LayerNormAttrs>()->modulated();
  const float eps = b.attrs<plan::LayerNormAttrs>()->epsilon();
  const size_t affine = b.ops.size() - (mod ? 2 : 0);
  const Ref &x = b.ops[0];
  const int64_t cols = x.shape.back(), rows = cols ? x.numel() / cols : 0;
  const float *g = affine == 3 ? b.ops[1].f32() : nullptr;
  const float *bb = affine == 3 ? b.ops[2].f32() : nullptr;
  const float *px = x.f32();
  float *py = b.res[0].f32();
  Backend *be = &b.be;
  if (!mod)
    return [=] { be->layerNorm(px, g, bb, py, rows, cols, eps); };
  const int64_t B = x.shape[0], T = x.shape[1];
  const float *ps = b.ops[affine].f32(), *pc = b.ops[affine + 1].f32();
  return [=] { be->layerNormModulate(px, g, bb, ps, pc, py, B, T, cols, eps); };
}

void verifyGroupNorm(const OpCheck &c) {
  c.need(c.ops.size() == 1 || c.ops.size() == 3, "expected 1 or 3 operands");
  const ValueInfo &x = c.ops[0];
  c.need(x.shape.size() >= 2, "input must be [N, C, ...]");
  c.shape(c.res[0], x.shape, "result");
  const int64_t C = x.shape[1],
                groups = c.attrs<plan::GroupNormAttrs>()->num_groups();
  c.need(groups > 0 && C % groups == 0, "channels ", C, " not divisible by ",
         groups, " groups");
  if (c.ops.size() == 3) {
    c.shape(c.ops[1], {C}, "weight");
    c.shape(c.ops[2], {C}, "bias");
  }
  if (auto *m = c.attrs<plan::GroupNormAttrs>()->stats_members()) {
    c.members(m, "GroupNorm statistics group (stats_members)");
    c.need(m->size() >= 2,
           "stats_members needs at least 2 members to split over, got ",
           m->size());
  }
  const int64_t valid = c.attrs<plan::GroupNormAttrs>()->valid_rows();
  c.need(valid >= 0, "valid_rows must not be negative, got ", valid);
  c.need(valid == 0 || x.shape.size() == 4, "valid_rows (", valid,
         ") needs an input [N, C, H, W] whose rows "
         "are padded, got rank ",
         x.shape.size());
  if (valid > 0) { // the bands make the whole tensor
    auto *m = c.attrs<plan::GroupNormAttrs>()->stats_members();
    const int64_t bands = m ? int64_t(m->size()) : 1,
                  whole = bands * x.shape[2];
    c.need(valid <= whole, "valid_rows ", valid, " exceeds the ", whole,
           " rows of ", bands, " band(s) of ", x.shape[2]);
  }
}

namespace {

/// Each member's real positions per channel plane under valid_rows: member
/// p's band of H rows holds clamp(valid_rows - p H, 0, H) real rows, its
/// first, of W positions each. Empty where every row is real.
std::vector<int64_t> validPositions(int64_t validRows, int64_t parts, int64_t H,
                                    int64_t W) {
  std::vector<int64_t> valid;
  bool padded = false;
  for (int64_t p = 0; p < parts && validRows > 0; ++p) {
    const int64_t rows = std::clamp<int64_t>(validRows - p * H, 0, H);
    padded |= rows < H;
    valid.push_back(rows * W);
  }
  return padded ? valid : std::vector<int64_t>();
}

} // namespace

Step bindGroupNorm(OpBind &b) {
  auto *a = b.attrs<plan::GroupNormAttrs>();
  const Ref &x = b.ops[0];
  const int64_t N = x.shape[0], C = x.shape[1], groups = a->num_groups();
  const int64_t S = (N != 0 && C != 0) ? x.numel() / (N * C) : 0;
  const float *g = b.ops.size() == 3 ? b.ops[1].f32() : nullptr;
  const float *bb = b.ops.size() == 3 ? b.ops[2].f32() : nullptr;
  const float eps = a->epsilon();
  const float *px = x.f32();
  float *py = b.res[0].f32();
  Backend *be = &b.be;
  const int64_t parts =
      a->stats_members() ? int64_t(a->stats_members()->size()) : 1;
  // A rank-4 input when valid_rows > 0 (verifyGroupNorm).
  const std::vector<int64_t> valid = validPositions(
      a->valid_rows(), parts, a->valid_rows() > 0 ? x.shape[2] : 0,
      a->valid_rows() > 0 ? x.shape[3] : 0);
  if (!a->stats_members() && valid.empty())
    return [=] { be->groupNorm(px, g, bb, py, N, C, S, groups, eps); };
  // Positions split across the members, or padding rows left out of the
  // statistics: each block's statistics, gathered from every member,
  // combine into the whole tensor's. [mine | all] in the backend's scratch
  // memory, f32 whatever the float storage.
  check(be->implements(OptionalKernel::SplitGroupNorm), b.where,
        " (GroupNorm): ",
        a->stats_members() ? "a group norm split across ranks (stats_members)"
                           : "a group norm over padded rows (valid_rows)",
        " is not implemented on the ", be->name(), " backend");
  if (!valid.empty()) {
    // The backend's checks of the counts at load, not at the first run (the
    // CUDA kernel takes at most kMaxGroupParts blocks of unequal counts): a
    // call for N = 0 images checks its arguments and does nothing.
    try {
      be->groupNormApply(nullptr, nullptr, parts, valid.data(), nullptr,
                         nullptr, nullptr, 0, C, S, groups, eps);
    } catch (const Error &e) {
      fail(b.where, " (GroupNorm): ", e.what());
    }
  }
  const int64_t count = N * groups * 2;
  const size_t bytes = size_t(count) * sizeof(float);
  b.scratch->reserve(bytes * size_t(1 + parts));
  std::shared_ptr<ScratchArena> arena = b.scratch;
  if (!a->stats_members()) // one band: its stats are the whole tensor's
    return [=] {
      float *mine = static_cast<float *>(arena->get());
      be->groupNormStats(px, mine, N, C, S, groups, valid[0]);
      be->groupNormApply(px, mine, 1, valid.data(), g, bb, py, N, C, S, groups,
                         eps);
    };
  Communicator &comm = b.group(a->stats_members());
  check(comm.size() == parts, b.where,
        " (GroupNorm): the statistics group has ", comm.size(),
        " members, stats_members ", parts);
  const int64_t me = comm.rank(), mineValid = valid.empty() ? S : valid[me];
  GatherStep gather = gatherBlocks(b, comm, bytes);
  return [=] {
    float *mine = static_cast<float *>(arena->get()), *all = mine + count;
    be->groupNormStats(px, mine, N, C, S, groups, mineValid);
    gather(mine, all);
    be->groupNormApply(px, all, parts, valid.empty() ? nullptr : valid.data(),
                       g, bb, py, N, C, S, groups, eps);
  };
}

void verifyRmsNorm(const OpCheck &c) {
  const ValueInfo &x = c.ops[0];
  c.need(!x.shape.empty(), "input must have rank >= 1");
  c.shape(c.res[0], x.shape, "result");
  if (c.ops.size() == 2)
    c.shape(c.ops[1], {x.shape.back()}, "weight");
  c.need(c.attrs<plan::RmsNormAttrs>()->epsilon() > 0.0f,
         "epsilon must be positive");
}

Step bindRmsNorm(OpBind &b) {
  const Ref &x = b.ops[0];
  const int64_t cols = x.shape.back(), rows = cols ? x.numel() / cols : 0;
  const float *g = b.ops.size() == 2 ? b.ops[1].f32() : nullptr;
  const float eps = b.attrs<plan::RmsNormAttrs>()->epsilon();
  const float *px = x.f32();
  float *py = b.res[0].f32();
  Backend *be = &b.be;
  return [=] { be->rmsNorm(px, g, py, rows, cols, eps); };
}

void verifyModulate(const OpCheck &c) {
  const ValueInfo &x = c.ops[0];
  c.need(x.shape.size() == 3, "input must be [B, T, D]");
  c.shape(c.ops[1], {x.shape[0], x.shape[2]}, "shift");
  c.shape(c.ops[2], {x.shape[0], x.shape[2]}, "scale");
  c.shape(c.res[0], x.shape, "result");
}

Step bindModulate(OpBind &b) {
  const Ref &x = b.ops[0];
  const int64_t B = x.shape[0], T = x.shape[1], D = x.shape[2];
  const float *px = x.f32(), *ps = b.ops[1].f32(), *pc = b.ops[2].f32();
  float *py = b.res[0].f32();
  Backend *be = &b.be;
  return [=] { be->modulate(px, ps, pc, py, B, T, D); };
}

} // namespace fresco
