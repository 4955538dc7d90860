//===- FrescoOpsPositional.cpp - timestep, positional and rotary ops ------===//
//
// Type inference of the timestep and 2-D positional embeddings and of the
// rotary (RoPE) table and its application.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOpsUtil.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fresco;
using namespace mlir::fresco::detail;

//===----------------------------------------------------------------------===//
// Timestep and positional embeddings
//===----------------------------------------------------------------------===//

LogicalResult TimestepEmbeddingOp::inferReturnTypes(
    MLIRContext *ctx, std::optional<Location> loc, Adaptor adaptor,
    SmallVectorImpl<Type> &results) {
  auto t = staticType(loc, "timestep_embedding", "timesteps",
                      adaptor.getTimesteps());
  if (failed(t))
    return failure();
  if (t->getRank() != 1)
    return opError(loc, "timestep_embedding", "timesteps must be [B], got ",
                   shapeStr(t->getShape()));
  int64_t half = adaptor.getDim() / 2;
  if (half == 0 ||
      half - adaptor.getDownscaleFreqShift().convertToDouble() == 0.0)
    return opError(loc, "timestep_embedding", "dim ", adaptor.getDim(),
                   " is too small for downscale_freq_shift ",
                   adaptor.getDownscaleFreqShift().convertToDouble());
  results.push_back(RankedTensorType::get({t->getDimSize(0), adaptor.getDim()},
                                          Float32Type::get(ctx)));
  return success();
}

LogicalResult PosEmbed2dOp::inferReturnTypes(MLIRContext *ctx,
                                             std::optional<Location> loc,
                                             Adaptor adaptor,
                                             SmallVectorImpl<Type> &results) {
  // diffusers splits dim in halves for rows and columns, each [sin | cos].
  if (adaptor.getDim() % 4 != 0)
    return opError(loc, "pos_embed_2d", "dim must be divisible by 4, got ",
                   adaptor.getDim());
  if (adaptor.getBaseSize().convertToDouble() <= 0.0 ||
      adaptor.getInterpolationScale().convertToDouble() <= 0.0)
    return opError(loc, "pos_embed_2d",
                   "base_size and interpolation_scale must be positive");
  // The attributes' own constraints have not run yet: read them signed.
  const int64_t gh = int64_t(adaptor.getGridH()),
                gw = int64_t(adaptor.getGridW()),
                dim = int64_t(adaptor.getDim());
  if (gh < 1 || gw < 1 || dim < 1)
    return opError(loc, "pos_embed_2d", "grid and dim must be positive");
  // A builder given no window attributes leaves them null: the defaults.
  auto orZero = [](IntegerAttr a) { return a ? a.getInt() : int64_t(0); };
  const int64_t r0 = orZero(adaptor.getRowStartAttr()),
                c0 = orZero(adaptor.getColStartAttr()),
                r = orZero(adaptor.getRowsAttr()),
                c = orZero(adaptor.getColsAttr());
  if (r0 < 0 || r0 >= gh || c0 < 0 || c0 >= gw)
    return opError(loc, "pos_embed_2d", "window start (", r0, ", ", c0,
                   ") is not inside the ", gh, " x ", gw, " grid");
  const int64_t rows = r ? r : gh - r0, cols = c ? c : gw - c0;
  if (rows < 0 || cols < 0 || rows > gh - r0 || cols > gw - c0)
    return opError(loc, "pos_embed_2d", "window of ", rows, " x ", cols,
                   " from (", r0, ", ", c0, ") passes the ", gh, " x ", gw,
                   " grid");
  auto tokens = dimProduct(loc, "pos_embed_2d", "window", rows, cols);
  if (failed(tokens))
    return failure();
  results.push_back(
      RankedTensorType::get({1, *tokens, dim}, Float32Type::get(ctx)));
  return success();
}

LogicalResult RopeTableOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto ids = staticType(loc, "rope_table", "ids", adaptor.getIds());
  if (failed(ids))
    return failure();
  ArrayRef<int64_t> axes = adaptor.getAxesDim();
  if (ids->getRank() != 2 || ids->getDimSize(1) != int64_t(axes.size()))
    return opError(loc, "rope_table", "ids must be [T, ", axes.size(),
                   "] (one column per axes_dim entry), got ",
                   shapeStr(ids->getShape()));
  if (axes.empty())
    return opError(loc, "rope_table", "axes_dim must not be empty");
  int64_t dh = 0;
  for (int64_t d : axes) {
    if (d <= 0 || d % 2 != 0 || d > (int64_t(1) << 20))
      return opError(loc, "rope_table",
                     "axes_dim entries must be positive and even, got ",
                     shapeStr(axes));
    dh += d;
  }
  if (adaptor.getTheta().convertToDouble() <= 0.0)
    return opError(loc, "rope_table", "theta must be positive");
  results.push_back(like(*ids, {ids->getDimSize(0), dh / 2, 2}));
  return success();
}

LogicalResult RopeOp::inferReturnTypes(MLIRContext *,
                                       std::optional<Location> loc,
                                       Adaptor adaptor,
                                       SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "rope", "input", adaptor.getInput());
  auto t = staticType(loc, "rope", "table", adaptor.getTable());
  if (failed(x) || failed(t))
    return failure();
  if (x->getRank() != 3)
    return opError(loc, "rope", "input must be [B, T, heads*head_dim], got ",
                   shapeStr(x->getShape()));
  int64_t heads = adaptor.getNumHeads();
  if (heads <= 0 || x->getDimSize(2) % heads != 0)
    return opError(loc, "rope", "width ", x->getDimSize(2),
                   " is not divisible by num_heads = ", heads);
  int64_t dh = x->getDimSize(2) / heads;
  if (dh % 2 != 0)
    return opError(loc, "rope", "head_dim ", dh,
                   " is odd: the rotation turns pairs of columns");
  SmallVector<int64_t> want = {x->getDimSize(1), dh / 2, 2};
  if (t->getShape() != ArrayRef<int64_t>(want))
    return opError(loc, "rope", "table must be ", shapeStr(want),
                   " for an input ", shapeStr(x->getShape()), " with ", heads,
                   " heads, got ", shapeStr(t->getShape()));
  if (t->getElementType() != x->getElementType())
    return opError(loc, "rope", "table and input element types differ");
  // The fused per-head RMS norm: its weight and epsilon come together.
  Value w = adaptor.getNormWeight();
  FloatAttr eps = adaptor.getEpsilonAttr();
  if (bool(w) != bool(eps))
    return opError(loc, "rope",
                   "norm weight and epsilon must be given together (the "
                   "fused RMS norm)");
  if (w) {
    auto wt = staticType(loc, "rope", "norm weight", w);
    if (failed(wt))
      return failure();
    if (wt->getShape() != ArrayRef<int64_t>{dh})
      return opError(loc, "rope", "norm weight must be [", dh,
                     "] (head_dim of ", heads, " heads), got ",
                     shapeStr(wt->getShape()));
    if (wt->getElementType() != x->getElementType())
      return opError(loc, "rope", "norm weight and input element types differ");
    if (failed(checkEpsilon(loc, "rope", eps.getValueAsDouble())))
      return failure();
  }
  results.push_back(*x);
  return success();
}
