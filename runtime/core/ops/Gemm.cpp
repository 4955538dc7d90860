//===- Gemm.cpp - Linear and Conv2d: rules and binders --------------------===//
#include "runtime/core/ops/OpBind.h"

namespace fresco {

void verifyLinear(const OpCheck &c) {
  const ValueInfo &x = c.ops[0], &w = c.ops[1], &y = c.res[0];
  c.need(w.shape.size() == 2 && !x.shape.empty(), "weight must be [out, in]");
  const int64_t K = w.shape[1], N = w.shape[0];
  c.need(x.shape.back() == K, "input ", shapeToString(x.shape),
         " does not match weight ", shapeToString(w.shape));
  Shape ys = x.shape;
  ys.back() = N;
  c.shape(y, ys, "result");
  auto *a = c.attrs<plan::LinearAttrs>();
  const bool residual = a && a->residual(), gate = a && a->gate();
  // The operands: input, weight, [bias], [gate], [residual].
  const size_t extra = size_t(residual) + size_t(gate);
  c.need(c.ops.size() <= 3 + extra && c.ops.size() >= 2 + extra, c.ops.size(),
         " operands",
         gate && residual ? " with a gate and a residual"
         : gate           ? " with a gate"
         : residual       ? " with a residual"
                          : "");
  const size_t biasOps = c.ops.size() - 2 - extra;
  if (biasOps == 1)
    c.shape(c.ops[2], {N}, "bias");
  if (gate) {
    // [G, 1, ..., N]: one gate per sample (G = the result's first
    // dimension) or for all (G = 1), broadcast over the rows between.
    const Shape &gs = c.ops[2 + biasOps].shape;
    bool ok = gs.size() == ys.size() && gs.back() == N &&
              (gs.size() == 1 || gs.front() == ys.front() || gs.front() == 1);
    for (size_t i = 1; ok && i + 1 < gs.size(); ++i)
      ok = gs[i] == 1;
    c.need(ok, "gate ", shapeToString(gs),
           " must be [first dimension or 1, 1..., ", N, "] for the result ",
           shapeToString(ys));
  }
  if (residual)
    c.shape(c.ops.back(), ys, "residual");
  // A misread epilogue would silently change every result.
  if (a) {
    c.need(a->activation() >= plan::Activation::MIN &&
               a->activation() <= plan::Activation::MAX,
           "unknown activation ", int(a->activation()));
    c.need(!residual || a->activation() == plan::Activation::None,
           "a linear cannot take both an activation and a residual");
    c.need(!gate || a->activation() == plan::Activation::None,
           "a linear cannot take both an activation and a gate");
    if (a->fp8()) {
      // The weight is quantized once at bind: it must be a checkpoint
      // weight, not an arena value written later; and FP8 GEMMs are a
      // 2-byte-storage path.
      c.need(c.storage != DType::F32,
             "fp8 needs a plan compiled for bf16 or f16 storage");
      const plan::Value *wv = c.f.values()->Get(c.in.operands()->Get(1));
      c.need(wv->kind() == plan::ValueKind::Weight,
             "an fp8 linear's weight (operand 1) must be a plan weight");
    }
  }
}

Step bindLinear(OpBind &b) {
  const Ref &x = b.ops[0], &w = b.ops[1], &y = b.res[0];
  // Rows from the leading dimensions: with K = 0 the result is the bias
  // (or zeros), not left unwritten.
  const int64_t K = w.shape[1], N = w.shape[0],
                M = numElements(Shape(x.shape.begin(), x.shape.end() - 1));
  plan::Activation act = plan::Activation::None;
  bool fp8 = false, residual = false, gated = false;
  if (auto *a = b.attrs<plan::LinearAttrs>()) {
    act = a->activation();
    fp8 = a->fp8();
    residual = a->residual();
    gated = a->gate();
  }
  const size_t biasOps = b.ops.size() - 2 - size_t(residual) - size_t(gated);
  const float *bias = biasOps == 1 ? b.ops[2].f32() : nullptr;
  const float *res = residual ? b.ops.back().f32() : nullptr;
  const float *gate = gated ? b.ops[2 + biasOps].f32() : nullptr;
  // Gate rows: one per sample (the result's first dimension) or one.
  const int64_t G =
      gated && y.shape.size() > 1 ? b.ops[2 + biasOps].shape.front() : 1;
  const float *px = x.f32(), *pw = w.f32();
  float *py = y.f32();
  Backend *be = &b.be;
  UnaryKind kind = UnaryKind::Silu;
  switch (act) {
  case plan::Activation::None:
    break;
  case plan::Activation::GeluTanh:
    kind = UnaryKind::GeluTanh;
    break;
  case plan::Activation::GeluErf:
    kind = UnaryKind::GeluErf;
    break;
  case plan::Activation::Silu:
    kind = UnaryKind::Silu;
    break;
  }
  const bool hasAct = act != plan::Activation::None;
  if (fp8) {
    check(be->implements(OptionalKernel::Fp8Linear), b.where,
          " (Linear, fp8): FP8 GEMMs are not implemented on the ", be->name(),
          " backend");
    // The weight is quantized once, at load; the activations on each call.
    std::shared_ptr<const Fp8Weight> fw =
        b.fp8Weight ? b.fp8Weight : be->prepareFp8Weight(pw, N, K);
    be->reserveFp8Activations(M, K);
    if (gate) {
      // Nor a gate: the gated sum after it (rounded twice, as above).
      return [=] {
        be->linearFp8(px, *fw, bias, py, M, K, N, nullptr);
        be->gatedSumInPlace(gate, G, res, py, M, N);
      };
    }
    if (res) {
      // The quantized GEMM's epilogue has no residual: the sum after it
      // (rounded twice under 2-byte storage, as FP8's own rounding dwarfs).
      return [=] {
        be->linearFp8(px, *fw, bias, py, M, K, N, nullptr);
        be->addInPlace(py, res, M * N);
      };
    }
    return [=] {
      be->linearFp8(px, *fw, bias, py, M, K, N, hasAct ? &kind : nullptr);
    };
  }
  if (gate)
    return [=] { be->linearGated(px, pw, bias, gate, G, res, py, M, K, N); };
  if (res)
    return [=] { be->linearResidual(px, pw, bias, res, py, M, K, N); };
  if (!hasAct)
    return [=] { be->linear(px, pw, bias, py, M, K, N); };
  return [=] { be->linearActivation(px, pw, bias, py, M, K, N, kind); };
}

void verifyConv2d(const OpCheck &c) {
  const ValueInfo &x = c.ops[0], &w = c.ops[1], &y = c.res[0];
  auto *a = c.attrs<plan::Conv2dAttrs>();
  c.need(x.shape.size() == 4 && w.shape.size() == 4 && w.shape[1] == x.shape[1],
         "input ", shapeToString(x.shape), " and weight ",
         shapeToString(w.shape), " are not NCHW/OIHW with matching channels");
  const int64_t sh = a->stride_h(), sw = a->stride_w(), ph = a->pad_h(),
                pw = a->pad_w();
  c.need(sh > 0 && sw > 0 && ph >= 0 && pw >= 0 && ph < (1 << 20) &&
             pw < (1 << 20),
         "bad strides or padding");
  const int64_t H = x.shape[2], W = x.shape[3], KH = w.shape[2],
                KW = w.shape[3];
  c.need(H + 2 * ph >= KH && W + 2 * pw >= KW, "kernel larger than input");
  c.shape(y,
          {x.shape[0], w.shape[0], (H + 2 * ph - KH) / sh + 1,
           (W + 2 * pw - KW) / sw + 1},
          "result");
  if (c.ops.size() == 3)
    c.shape(c.ops[2], {w.shape[0]}, "bias");
}

Step bindConv2d(OpBind &b) {
  const Ref &x = b.ops[0], &w = b.ops[1], &y = b.res[0];
  auto *a = b.attrs<plan::Conv2dAttrs>();
  const int64_t sh = a->stride_h(), sw = a->stride_w(), ph = a->pad_h(),
                pw = a->pad_w();
  const float *bias = b.ops.size() == 3 ? b.ops[2].f32() : nullptr;
  const Shape xs = x.shape;
  const int64_t O = w.shape[0], KH = w.shape[2], KW = w.shape[3];
  const float *px = x.f32(), *pwt = w.f32();
  float *py = y.f32();
  Backend *be = &b.be;
  return [=] {
    be->conv2d(px, pwt, bias, py, xs[0], xs[1], xs[2], xs[3], O, KH, KW, sh, sw,
               ph, pw);
  };
}

} // namespace fresco
