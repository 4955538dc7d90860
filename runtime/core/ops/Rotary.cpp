//===- Rotary.cpp - Rotary position embedding: rules, binders -------------===//
#include "runtime/core/ops/OpBind.h"

#include <cmath>

namespace fresco {

/// RopeTable: ids [T, A] -> [T, sum(axes_dim) / 2, 2].
void verifyRopeTable(const OpCheck &c) {
  auto *a = c.attrs<plan::RopeTableAttrs>();
  const ValueInfo &ids = c.ops[0];
  c.need(a->axes_dim() && a->axes_dim()->size() > 0 &&
             a->axes_dim()->size() <= 64,
         "axes_dim must hold 1 to 64 entries");
  int64_t dh = 0;
  for (int64_t d : *a->axes_dim()) {
    c.need(d > 0 && d % 2 == 0 && d <= (int64_t(1) << 20),
           "axes_dim entries must be positive and even, got ", d);
    dh += d;
  }
  c.need(std::isfinite(a->theta()) && a->theta() > 0.0,
         "theta must be positive");
  c.shape(
      ids,
      {ids.shape.empty() ? 0 : ids.shape[0], int64_t(a->axes_dim()->size())},
      "ids");
  c.shape(c.res[0], {ids.shape[0], dh / 2, 2}, "result");
}

Step bindRopeTable(OpBind &b) {
  auto *a = b.attrs<plan::RopeTableAttrs>();
  const std::vector<int64_t> axes(a->axes_dim()->begin(), a->axes_dim()->end());
  const double theta = a->theta();
  const float *ids = b.ops[0].f32();
  float *py = b.res[0].f32();
  const int64_t T = b.ops[0].shape[0];
  Backend *be = &b.be;
  return [=] {
    be->ropeTable(ids, py, T, int64_t(axes.size()), axes.data(), theta);
  };
}

/// Rope: x [B, T, H*Dh] and table [T, Dh/2, 2] [, norm weight [Dh]] ->
/// [B, T, H*Dh]; with the weight, each head's row is RMS-normalised with
/// RopeAttrs.epsilon first.
void verifyRope(const OpCheck &c) {
  const ValueInfo &x = c.ops[0];
  auto *a = c.attrs<plan::RopeAttrs>();
  const int64_t heads = a->num_heads();
  c.need(x.shape.size() == 3, "input must be [B, T, heads*head_dim]");
  c.need(heads > 0 && x.shape[2] % heads == 0 && (x.shape[2] / heads) % 2 == 0,
         "width ", x.shape[2], " is not num_heads = ", heads,
         " heads of an even head_dim");
  const int64_t dh = x.shape[2] / heads;
  c.shape(c.ops[1], {x.shape[1], dh / 2, 2}, "table");
  if (c.ops.size() == 3) {
    c.shape(c.ops[2], {dh}, "norm weight");
    c.need(std::isfinite(a->epsilon()) && a->epsilon() > 0.0f,
           "epsilon of the fused RMS norm must be positive and finite, got ",
           a->epsilon());
  } else {
    c.need(a->epsilon() == 0.0f, "epsilon ", a->epsilon(),
           " without a norm weight operand");
  }
  c.shape(c.res[0], x.shape, "result");
}

Step bindRope(OpBind &b) {
  const Ref &x = b.ops[0];
  auto *a = b.attrs<plan::RopeAttrs>();
  const int64_t H = a->num_heads();
  const int64_t B = x.shape[0], T = x.shape[1], Dh = x.shape[2] / H;
  const float *px = x.f32(), *pt = b.ops[1].f32();
  const float *pw = b.ops.size() == 3 ? b.ops[2].f32() : nullptr;
  const float eps = a->epsilon();
  float *py = b.res[0].f32();
  Backend *be = &b.be;
  return [=] { be->rope(px, pt, pw, py, B, T, H, Dh, eps); };
}

} // namespace fresco
