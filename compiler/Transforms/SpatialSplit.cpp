//===- SpatialSplit.cpp - A split of an image's rows at convolutions ------===//
//
// Part of ShardingPropagation (see its header): a sequence split (ulysses,
// ring) of a UNet cuts its NCHW activations into bands of rows. Two kinds
// of op look across a band's edge, and each is resolved here instead of
// being refused by its rule:
//   - a convolution whose windows overlap or are padded reads rows of the
//     neighbouring bands: this rank's band is padded with zero rows and a
//     halo exchange (shard.update_halo) fills them with the neighbours'
//     edge rows, the first and last ranks keeping zeros where the whole
//     image has its padding; the convolution then runs unpadded along the
//     split dimension. Only a "same" convolution splits so (input rows =
//     output rows x stride: a 3x3 convolution with padding 1, or the
//     stride-2 downsampler), which keeps every band's output rows the
//     global ones;
//   - a group norm takes its statistics over every position: it keeps the
//     split and gets `stats_axes`, over which the runtime combines each
//     band's mean and squared deviations.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ShardingPropagation.h"

#include "mlir/Dialect/Shard/IR/ShardOps.h"
#include "mlir/IR/Builders.h"

namespace mlir::fresco {

namespace {

/// The spatial dimension (2 or 3) of an NCHW value that `split` cuts; -1
/// when neither, -2 when both.
int64_t spatialDim(const ShardingPropagation::Split &split) {
  int64_t dim = -1;
  for (int64_t d = 2; d < int64_t(split.size()); ++d)
    if (!split[d].empty())
      dim = dim == -1 ? d : -2;
  return dim;
}

} // namespace

bool ShardingPropagation::splitsSpatially(Operation *op,
                                          const ShardingRule &rule) const {
  if (!isa<Conv2dOp, GroupNormOp>(op))
    return false;
  // A spatial dimension the rule needs whole (an overlapping or padded
  // window, a group norm's statistics); a window that tiles its input (a
  // 1x1 convolution, a patch embedding) splits by the rule itself.
  Split split = splitOf(op->getOperand(0));
  for (int64_t d = 2; d < int64_t(split.size()); ++d)
    if (!split[d].empty() && !rule.operands[0][d].empty() &&
        rule.factors[rule.operands[0][d].front()].kind ==
            FactorKind::NeedReplication)
      return true;
  return false;
}

LogicalResult ShardingPropagation::haloConvolution(Conv2dOp c,
                                                   const ShardingRule &rule) {
  Value x = c.getInput();
  Split split = splitOf(x);
  int64_t dim = spatialDim(split);
  if (dim == -2)
    return c.emitError() << strategy
                         << " splits both the rows and the columns of this "
                            "convolution's input; a split of one of them is "
                            "supported";
  if (segments.count(x))
    return c.emitError() << strategy
                         << " cannot split a convolution's input made of "
                            "concatenated sequences";
  // (Its channels may split too, tensor parallelism's: the generic step
  // below takes them; a split of the kernel's rows or columns cannot be.)
  Split wsplit = splitOf(c.getWeight());
  if (!wsplit[2].empty() || !wsplit[3].empty())
    return c.emitError() << strategy
                         << " splits a convolution's kernel window and its "
                            "rows";
  const int s = int(dim - 2);
  SmallVector<int16_t> axes = split[dim];
  const int64_t ranks = parts(axes);
  const int64_t k = c.getWeight().getType().getDimSize(dim);
  const int64_t stride = c.getStrides()[s], pad = c.getPadding()[s];
  const int64_t rowsIn = globalSize(x, dim);
  auto globalOut = cast<RankedTensorType>(c.getType());
  const int64_t rowsOut = globalOut.getDimSize(dim);
  const char *what = dim == 2 ? "rows" : "columns";
  // Row o reads input rows [o * stride - pad, o * stride - pad + k): a band
  // [a, b) of output rows reads this rank's input band [a * stride,
  // b * stride) and `lo` rows above, `hi` below it.
  const int64_t lo = pad, hi = k - stride - pad;
  if (hi < 0)
    return c.emitError() << strategy << " splits the " << what
                         << " of a convolution whose stride (" << stride
                         << ") exceeds its kernel (" << k
                         << ") less its padding: not supported";
  if (rowsOut * stride != rowsIn)
    return c.emitError() << strategy << " splits the " << what
                         << " of a convolution (kernel " << k << ", stride "
                         << stride << ", padding " << pad << ", " << rowsIn
                         << " " << what << " in, " << rowsOut
                         << " out) whose output " << what
                         << " do not map onto its input's; only a "
                            "convolution with input size = output size x "
                            "stride splits with halos";
  if (rowsOut % ranks != 0)
    return c.emitError() << strategy << " cannot split the " << rowsOut
                         << " output " << what << " of this convolution over "
                         << ranks << " ranks: a UNet's " << what
                         << " split evenly only (choose a size whose " << what
                         << " divide at every resolution)";
  const int64_t band = rowsIn / ranks;
  if (band < std::max(lo, hi))
    return c.emitError() << strategy << " leaves each rank " << band << " "
                         << what << ", fewer than the convolution's halo ("
                         << std::max(lo, hi) << ")";
  OpBuilder b(c);
  Location loc = c.getLoc();
  // (lo + hi > 0: a window with neither is one that tiles, split by the
  // rule.)
  auto local = cast<RankedTensorType>(x.getType());
  SmallVector<int64_t> paddedShape(local.getShape());
  paddedShape[dim] = band + lo + hi;
  auto padded = RankedTensorType::get(paddedShape, local.getElementType());
  Value zeros = PadOp::create(b, loc, padded, x, b.getI64IntegerAttr(dim),
                              b.getI64IntegerAttr(lo),
                              b.getI64IntegerAttr(band + lo + hi));
  SmallVector<shard::GridAxesAttr> haloAxes(local.getRank(),
                                            b.getDenseI16ArrayAttr({}));
  haloAxes[dim] = b.getDenseI16ArrayAttr(axes);
  Value input = shard::UpdateHaloOp::create(
      b, loc, padded, zeros, FlatSymbolRefAttr::get(b.getStringAttr(kGridName)),
      shard::GridAxesArrayAttr::get(b.getContext(), haloAxes), ValueRange(),
      b.getDenseI64ArrayAttr({lo, hi}));
  // Rows that fresco-pad-uneven added: the exchange zeroes them, so that
  // the convolution reads them as its padding.
  if (IntegerAttr valid = c.getValidRowsAttr()) {
    if (dim != 2)
      return c.emitError() << strategy
                           << " splits the columns of a convolution whose "
                              "rows are padded; only a split of the rows "
                              "takes padded rows";
    input.getDefiningOp()->setAttr(FrescoDialect::kValidRowsAttrName, valid);
    c.removeValidRowsAttr();
  }
  c.getInputMutable().set(input);
  SmallVector<int64_t> padding(c.getPadding());
  padding[s] = 0;
  c.setPaddingAttr(b.getDenseI64ArrayAttr(padding));
  // The other splits (cfg's batch) go the generic way, the band's rows
  // being whole to it: the result's type already has the band's rows.
  Split rest = split;
  rest[dim].clear();
  setSplit(input, rest);
  SmallVector<int64_t> shape(globalOut.getShape());
  shape[dim] = rowsOut / ranks;
  c.getResult().setType(
      RankedTensorType::get(shape, globalOut.getElementType()));
  if (failed(visit(c, rule)))
    return failure();
  if (failed(checkInferredTypes(c, strategy + " expected the local type")))
    return failure();
  Split out = splitOf(c.getResult());
  out[dim] = axes;
  setSplit(c.getResult(), out);
  return success();
}

LogicalResult ShardingPropagation::statsGroupNorm(GroupNormOp n) {
  Value x = n.getInput();
  Split split = splitOf(x);
  if (segments.count(x))
    return n.emitError() << strategy
                         << " cannot split a group norm's input made of "
                            "concatenated sequences";
  for (Value v : n.getAffine())
    if (isSplit(v))
      return n.emitError() << strategy << " splits a group norm's weight";
  // Channels split in whole groups (tensor parallelism over a ResNet): each
  // rank normalises its groups, with its slice of the weight and bias.
  if (!split[1].empty()) {
    const int64_t p = parts(split[1]), groups = n.getNumGroups();
    if (groups % p != 0)
      return n.emitError() << strategy << " splits the channels of a group "
                           << "norm of " << groups << " groups over " << p
                           << " ranks; it splits whole groups only";
    n.setNumGroups(groups / p);
    for (OpOperand &use : n.getAffineMutable())
      use.set(slice(use.get(), 0, split[1], n));
  }
  SmallVector<int16_t> axes;
  // (Every rank's block has the local type's positions: the runtime
  // combines the blocks' statistics as equal counts, or by their real rows
  // under valid_rows.)
  for (const auto &a : llvm::drop_begin(split, 2))
    axes.append(a.begin(), a.end());
  llvm::sort(axes);
  n.setStatsAxesAttr(GridAxesAttr::get(n.getContext(), axes));
  n.getResult().setType(cast<RankedTensorType>(x.getType()));
  if (failed(checkInferredTypes(n, strategy + " expected the local type")))
    return failure();
  setSplit(n.getResult(), split);
  return success();
}

} // namespace mlir::fresco
