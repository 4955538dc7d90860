//===- TextEncoder.cpp - EosPool, RelativePositionBias: rules, binders ---===//
#include "runtime/core/ops/OpBind.h"

namespace fresco {

/// x [B, T, D] (float), ids [B, T] i64 -> [B, D].
void verifyEosPool(const OpCheck &c) {
  const ValueInfo &x = c.ops[0], &ids = c.ops[1], &y = c.res[0];
  c.need(x.dtype == c.storage && y.dtype == c.storage,
         "hidden states and "
         "result must be ",
         dtypeName(c.storage));
  c.need(ids.dtype == DType::I64, "ids must be i64");
  c.need(x.shape.size() == 3, "hidden states must be [B, T, D]");
  c.shape(ids, {x.shape[0], x.shape[1]}, "ids");
  c.need(x.shape[1] > 0, "no tokens to pool");
  c.shape(y, {x.shape[0], x.shape[2]}, "result");
}

Step bindEosPool(OpBind &b) {
  auto *a = b.attrs<plan::EosPoolAttrs>();
  Backend *be = &b.be;
  check(be->implements(OptionalKernel::EosPool), b.where,
        " (EosPool): not implemented on the ", be->name(), " backend yet");
  const Shape xs = b.ops[0].shape;
  const float *px = b.ops[0].f32();
  const auto *pi = static_cast<const int64_t *>(b.ops[1].ptr);
  float *py = b.res[0].f32();
  const int64_t token = a->token_id();
  const bool argmax = a->argmax();
  return [=] { be->eosPool(px, pi, py, xs[0], xs[1], xs[2], token, argmax); };
}

/// table [num_buckets, H] -> [H, Tq, Tk].
void verifyRelativePositionBias(const OpCheck &c) {
  auto *a = c.attrs<plan::RelativePositionBiasAttrs>();
  const ValueInfo &t = c.ops[0], &y = c.res[0];
  const int64_t nb = a->num_buckets();
  // Bidirectional buckets split in two halves, each with max_exact = half/2
  // exact buckets: at least 2 per half keeps the log's denominator finite.
  c.need(nb >= (a->bidirectional() ? 4 : 2) && nb <= (1 << 20), "num_buckets ",
         nb, " outside [", a->bidirectional() ? 4 : 2, ", 2^20]");
  const int64_t exact = (a->bidirectional() ? nb / 2 : nb) / 2;
  c.need(a->max_distance() > exact, "max_distance ", a->max_distance(),
         " must exceed the ", exact, " exact buckets");
  c.need(t.shape.size() == 2 && t.shape[0] == nb, "table must be [", nb,
         ", H], got ", shapeToString(t.shape));
  c.need(y.shape.size() == 3 && y.shape[0] == t.shape[1],
         "result must be [H, Tq, Tk] with H = ", t.shape[1], ", got ",
         shapeToString(y.shape));
}

Step bindRelativePositionBias(OpBind &b) {
  auto *a = b.attrs<plan::RelativePositionBiasAttrs>();
  Backend *be = &b.be;
  check(be->implements(OptionalKernel::RelativePositionBias), b.where,
        " (RelativePositionBias): not implemented on the ", be->name(),
        " backend yet");
  const Shape ys = b.res[0].shape;
  const float *pt = b.ops[0].f32();
  float *py = b.res[0].f32();
  const int64_t nb = a->num_buckets(), md = a->max_distance();
  const bool bi = a->bidirectional();
  return [=] {
    be->relativePositionBias(pt, py, ys[0], ys[1], ys[2], nb, md, bi);
  };
}

} // namespace fresco
