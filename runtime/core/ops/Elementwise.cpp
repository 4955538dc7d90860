//===- Elementwise.cpp - Pointwise ops and embeddings: rules, binders -----===//
#include "runtime/core/CheckedMath.h"
#include "runtime/core/ops/OpBind.h"

namespace fresco {
namespace {

/// Right-aligned NumPy broadcasting of `s` to `out`: strides, 0 on
/// broadcast dimensions.
std::vector<int64_t> broadcastStrides(const Shape &s, const Shape &out) {
  std::vector<int64_t> st(out.size(), 0);
  int64_t stride = 1;
  for (int i = int(out.size()) - 1, j = int(s.size()) - 1; j >= 0; --i, --j) {
    st[i] = s[j] == 1 ? 0 : stride;
    stride *= s[j];
  }
  return st;
}

/// Whether the Unary family has a kernel for `op` (bindUnary's cases).
bool isUnary(plan::OpCode op) {
  return op == plan::OpCode::Gelu || op == plan::OpCode::Silu ||
         op == plan::OpCode::QuickGelu;
}

/// Whether the Binary family has a kernel for `op` (bindBinary's cases).
bool isBinary(plan::OpCode op) {
  return op == plan::OpCode::Add || op == plan::OpCode::Sub ||
         op == plan::OpCode::Mul || op == plan::OpCode::Div ||
         op == plan::OpCode::MulAdd;
}

} // namespace

void verifyUnary(const OpCheck &c) {
  if (!isUnary(c.in.op()))
    c.notInFamily("Unary");
  c.shape(c.res[0], c.ops[0].shape, "result");
}

Step bindUnary(OpBind &b) {
  UnaryKind kind;
  switch (b.in.op()) {
  case plan::OpCode::Gelu:
    kind = b.attrs<plan::GeluAttrs>()->tanh() ? UnaryKind::GeluTanh
                                              : UnaryKind::GeluErf;
    break;
  case plan::OpCode::Silu:
    kind = UnaryKind::Silu;
    break;
  case plan::OpCode::QuickGelu:
    kind = UnaryKind::QuickGelu;
    break;
  default: // a new row naming this family: never a wrong kernel
    b.notInFamily("Unary");
  }
  const float *px = b.ops[0].f32();
  float *py = b.res[0].f32();
  const int64_t n = b.ops[0].numel();
  Backend *be = &b.be;
  return [=] { be->unary(kind, px, py, n); };
}

/// Add, Sub, Mul, Div with broadcasting; MulAdd (a * b + c) with c shaped
/// as the result.
void verifyBinary(const OpCheck &c) {
  if (!isBinary(c.in.op()))
    c.notInFamily("Binary");
  const Shape &y = c.res[0].shape;
  c.need(y.size() <= size_t(kMaxRank) && c.ops[0].shape.size() <= y.size() &&
             c.ops[1].shape.size() <= y.size(),
         "rank too large");
  for (int k = 0; k < 2; ++k) {
    const Shape &s = c.ops[k].shape;
    for (int i = int(y.size()) - 1, j = int(s.size()) - 1; j >= 0; --i, --j)
      c.need(s[j] == y[i] || s[j] == 1, k ? "rhs " : "lhs ", shapeToString(s),
             " does not broadcast to ", shapeToString(y));
  }
  if (c.in.op() == plan::OpCode::MulAdd)
    c.shape(c.ops[2], y, "addend");
}

Step bindBinary(OpBind &b) {
  const Ref &x = b.ops[0], &z = b.ops[1], &y = b.res[0];
  const int rank = int(y.shape.size());
  const std::vector<int64_t> as = broadcastStrides(x.shape, y.shape),
                             bs = broadcastStrides(z.shape, y.shape);
  const Shape out = y.shape;
  const float *pa = x.f32(), *pb = z.f32();
  float *py = y.f32();
  Backend *be = &b.be;
  BinaryKind kind;
  switch (b.in.op()) {
  case plan::OpCode::MulAdd: {
    const float *pc = b.ops[2].f32();
    return [=] {
      be->mulAdd(pa, pb, pc, py, rank, out.data(), as.data(), bs.data());
    };
  }
  case plan::OpCode::Add:
    kind = BinaryKind::Add;
    break;
  case plan::OpCode::Sub:
    kind = BinaryKind::Sub;
    break;
  case plan::OpCode::Mul:
    kind = BinaryKind::Mul;
    break;
  case plan::OpCode::Div:
    kind = BinaryKind::Div;
    break;
  default: // a new row naming this family: never a wrong kernel
    b.notInFamily("Binary");
  }
  return [=] {
    be->binary(kind, pa, pb, py, rank, out.data(), as.data(), bs.data());
  };
}

void verifyTimestepEmbedding(const OpCheck &c) {
  const ValueInfo &t = c.ops[0], &y = c.res[0];
  auto *a = c.attrs<plan::TimestepEmbeddingAttrs>();
  c.need(t.dtype == DType::F32 || t.dtype == DType::I64,
         "timesteps must be f32 or i64");
  c.need(t.shape.size() == 1, "timesteps must be [B]");
  c.need(y.dtype == c.storage, "result must be ", dtypeName(c.storage),
         ", got ", dtypeName(y.dtype));
  c.shape(y, {t.shape[0], a->dim()}, "result");
  c.need(float(a->dim() / 2) != a->downscale_freq_shift(),
         "dim too small for the frequency shift");
}

Step bindTimestepEmbedding(OpBind &b) {
  const Ref &t = b.ops[0];
  auto *a = b.attrs<plan::TimestepEmbeddingAttrs>();
  const float *tf = t.dtype == DType::F32 ? t.f32() : nullptr;
  const int64_t *ti =
      t.dtype == DType::I64 ? static_cast<const int64_t *>(t.ptr) : nullptr;
  float *py = b.res[0].f32();
  const int64_t B = t.shape[0], dim = a->dim();
  const bool flip = a->flip_sin_to_cos();
  const float shift = a->downscale_freq_shift(), sc = a->scale(),
              period = a->max_period();
  Backend *be = &b.be;
  return [=] {
    be->timestepEmbedding(tf, ti, py, B, dim, flip, shift, sc, period);
  };
}

void verifyEmbedding(const OpCheck &c) {
  const ValueInfo &table = c.ops[0], &ids = c.ops[1], &y = c.res[0];
  c.need(table.dtype == c.storage, "table must be ", dtypeName(c.storage));
  c.need(ids.dtype == DType::I64, "ids must be i64");
  c.need(y.dtype == c.storage, "result must be ", dtypeName(c.storage),
         ", got ", dtypeName(y.dtype));
  c.need(table.shape.size() == 2, "table must be [V, D]");
  Shape ys = ids.shape;
  ys.push_back(table.shape[1]);
  c.shape(y, ys, "result");
}

Step bindEmbedding(OpBind &b) {
  const Ref &table = b.ops[0], &ids = b.ops[1];
  const float *pt = table.f32();
  const int64_t *pi = static_cast<const int64_t *>(ids.ptr);
  float *py = b.res[0].f32();
  const int64_t n = ids.numel(), V = table.shape[0], D = table.shape[1];
  Backend *be = &b.be;
  return [=] { be->embedding(pt, pi, py, n, V, D); };
}

/// The attributes' window; rows or cols 0 reach the grid's end (version 10
/// plans have neither field: the whole grid).
static PosGrid posGridOf(const plan::PosEmbed2dAttrs *a) {
  PosGrid g{a->grid_h(),    a->grid_w(), a->row_start(),
            a->col_start(), a->rows(),   a->cols()};
  if (g.rows == 0 && g.rowStart >= 0)
    g.rows = g.gridH - g.rowStart;
  if (g.cols == 0 && g.colStart >= 0)
    g.cols = g.gridW - g.colStart;
  return g;
}

void verifyPosEmbed2d(const OpCheck &c) {
  auto *a = c.attrs<plan::PosEmbed2dAttrs>();
  c.need(a->grid_h() > 0 && a->grid_w() > 0 && a->dim() > 0 &&
             a->dim() % 4 == 0,
         "bad grid or dim");
  c.need(a->base_size() > 0 && a->interpolation_scale() > 0,
         "bad base_size or interpolation_scale");
  PosGrid g = posGridOf(a);
  c.need(g.valid() && g.rows > 0 && g.cols > 0, "window ", a->rows(), " x ",
         a->cols(), " at (", a->row_start(), ", ", a->col_start(),
         ") is not inside the grid ", a->grid_h(), " x ", a->grid_w());
  // The attributes are the file's: their product may overflow (found by
  // fuzzing); a valid window equals the result's token count, which is
  // bounded.
  std::optional<int64_t> tokens = checkedMul(g.rows, g.cols);
  c.need(tokens.has_value(), "window ", g.rows, " x ", g.cols, " overflows");
  c.shape(c.res[0], {1, *tokens, a->dim()}, "result");
}

Step bindPosEmbed2d(OpBind &b) {
  auto *a = b.attrs<plan::PosEmbed2dAttrs>();
  float *py = b.res[0].f32();
  const PosGrid g = posGridOf(a);
  const int64_t dim = a->dim();
  const double base = a->base_size(), interp = a->interpolation_scale();
  Backend *be = &b.be;
  return [=] { be->posEmbed2d(py, g, dim, base, interp); };
}

void verifyUpsampleNearest(const OpCheck &c) {
  const ValueInfo &x = c.ops[0];
  c.need(x.shape.size() == 4, "input must be NCHW");
  auto *a = c.attrs<plan::UpsampleAttrs>();
  const int64_t sh = a->scale_h(), sw = a->scale_w();
  c.need(sh > 0 && sw > 0 && sh < (1 << 16) && sw < (1 << 16),
         "bad scale factors");
  std::optional<int64_t> h = checkedMul(x.shape[2], sh),
                         w = checkedMul(x.shape[3], sw);
  c.need(h && w, "input ", shapeToString(x.shape), " scaled by ", sh, " x ", sw,
         " overflows");
  c.shape(c.res[0], {x.shape[0], x.shape[1], *h, *w}, "result");
}

Step bindUpsampleNearest(OpBind &b) {
  auto *a = b.attrs<plan::UpsampleAttrs>();
  const int64_t sh = a->scale_h(), sw = a->scale_w();
  const Shape xs = b.ops[0].shape;
  const float *px = b.ops[0].f32();
  float *py = b.res[0].f32();
  Backend *be = &b.be;
  return
      [=] { be->upsampleNearest(px, py, xs[0], xs[1], xs[2], xs[3], sh, sw); };
}

} // namespace fresco
