//===- Norm.cpp - Layer, group and RMS norm, modulation: rules, binders ---===//
#include "runtime/comm/Communicator.h"
#include "runtime/core/ops/CommPaths.h"

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
}

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
  if (!a->stats_members())
    return [=] { be->groupNorm(px, g, bb, py, N, C, S, groups, eps); };
  // Positions split across the members: each block's statistics, gathered
  // from every member, combine into the whole tensor's. [mine | all] in
  // the backend's scratch memory, f32 whatever the float storage.
  check(be->implements(OptionalKernel::SplitGroupNorm), b.where,
        " (GroupNorm): a group norm split across ranks (stats_members) is not "
        "implemented on the ",
        be->name(), " backend");
  Communicator &comm = b.group(a->stats_members());
  const int64_t parts = comm.size(), count = N * groups * 2;
  const size_t bytes = size_t(count) * sizeof(float);
  b.scratch->reserve(bytes * size_t(1 + parts));
  std::shared_ptr<ScratchArena> arena = b.scratch;
  GatherStep gather = gatherBlocks(b, comm, bytes);
  return [=] {
    float *mine = static_cast<float *>(arena->get()), *all = mine + count;
    be->groupNormStats(px, mine, N, C, S, groups);
    gather(mine, all);
    be->groupNormApply(px, all, parts, g, bb, py, N, C, S, groups, eps);
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
