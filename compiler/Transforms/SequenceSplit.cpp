//===- SequenceSplit.cpp - Splitting a denoiser's tokens over a grid axis -===//
//
// See SequenceSplit.h.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/SequenceSplit.h"

namespace mlir::fresco {

SequenceSplit::SequenceSplit(func::FuncOp fn, const GridInfo &grid,
                             StringRef strategy, int16_t axis, int64_t parts)
    : fn(fn), strategy(strategy.str()), axis(axis), parts(parts),
      prop(fn, grid, strategy.str() + "=" + std::to_string(parts)) {}

int64_t SequenceSplit::splitDim(Value v) const {
  for (auto [d, axes] : llvm::enumerate(prop.splitOf(v)))
    if (llvm::is_contained(axes, axis))
      return int64_t(d);
  return -1;
}

/// The image's tokens padded by fresco-pad-uneven after its patch embedding
/// (down its chain of single uses); null when they are not.
static Value paddedImageTokens(Value image) {
  Value v = image;
  while (v.hasOneUse()) {
    Operation *user = *v.getUsers().begin();
    if (auto pad = dyn_cast<PadOp>(user); pad && pad->hasAttr(kSequenceSeed))
      return pad.getResult();
    if (user->getNumResults() != 1)
      break;
    v = user->getResult(0);
  }
  return Value();
}

/// The arguments marked as token sequences (fresco.sequence_dim), each
/// split along its tokens; false when there are none. An image marked on
/// its rows is split by rows (its patch embedding makes a band of rows a
/// block of tokens), or along its padded tokens.
FailureOr<bool> SequenceSplit::splitSequences() {
  bool any = false;
  for (BlockArgument arg : fn.getArguments()) {
    auto dim = fn.getArgAttrOfType<IntegerAttr>(
        arg.getArgNumber(), FrescoDialect::kSequenceDimAttrName);
    if (!dim)
      continue;
    any = true;
    int64_t d = dim.getInt();
    // After its padding (fresco-pad-uneven) and an earlier split's slice
    // (Ulysses before ring).
    Value tokens = arg;
    // An image marked on its rows whose patch rows the degree does not
    // divide: its tokens were padded after the patch embedding.
    if (d == 2 && cast<RankedTensorType>(arg.getType()).getRank() == 4)
      if (Value padded = paddedImageTokens(arg)) {
        tokens = padded;
        d = 1;
      }
    while (tokens.hasOneUse()) {
      Operation *user = *tokens.getUsers().begin();
      if (isa<shard::AllSliceOp>(user) ||
          (isa<PadOp>(user) && user->hasAttr(kSequenceSeed)))
        tokens = user->getResult(0);
      else
        break;
    }
    int64_t n = cast<RankedTensorType>(tokens.getType()).getDimSize(d);
    if (n % parts != 0)
      return fn.emitError("argument ")
             << arg.getArgNumber() << "'s " << n
             << " tokens (after padding and earlier splits) are not "
                "divisible by "
             << degree();
    if (failed(prop.seedValue(tokens, d, {axis})))
      return failure();
  }
  return any;
}

/// The latent image [B, C, H, W] is split by rows; with cfg (or Ulysses
/// before ring), its slice is (the all_slices those passes inserted).
/// Token sequences marked on the arguments are split instead.
LogicalResult SequenceSplit::splitImage() {
  Block &block = fn.getBody().front();
  if (FailureOr<bool> marked = splitSequences(); failed(marked) || *marked)
    return failure(failed(marked));
  // Tokens padded by fresco-pad-uneven: split where they are padded.
  for (Operation &op : block)
    if (auto pad = dyn_cast<PadOp>(op); pad && pad->hasAttr(kSequenceSeed)) {
      Value tokens = pad.getResult();
      while (tokens.hasOneUse())
        if (auto s = dyn_cast<shard::AllSliceOp>(*tokens.getUsers().begin()))
          tokens = s.getResult();
        else
          break;
      return prop.seedValue(tokens, 1, {axis});
    }
  Value image;
  for (BlockArgument arg : block.getArguments()) {
    if (cast<RankedTensorType>(arg.getType()).getRank() != 4)
      continue;
    if (image)
      return fn.emitError() << pass()
                            << " needs exactly one "
                               "[B, C, H, W] image argument";
    image = arg;
  }
  if (!image)
    return fn.emitError() << pass()
                          << " found no [B, C, H, W] image "
                             "argument in '"
                          << fn.getSymName() << "'";
  while (image.hasOneUse())
    if (auto s = dyn_cast<shard::AllSliceOp>(*image.getUsers().begin()))
      image = s.getResult();
    else
      break;
  int64_t rows = cast<RankedTensorType>(image.getType()).getDimSize(2);
  if (rows % parts != 0)
    return fn.emitError("latent height ")
           << rows << " is not divisible by " << degree()
           << " (fresco-pad-uneven pads the tokens after a patch embedding; "
              "it found none to pad here)";
  return prop.seedValue(image, 2, {axis});
}

LogicalResult SequenceSplit::run() {
  if (!fn.getBody().hasOneBlock())
    return fn.emitError() << pass()
                          << " needs a single-block "
                             "function";
  Block &block = fn.getBody().front();
  bool anyAttention =
      llvm::any_of(block, [](Operation &op) { return isa<AttentionOp>(op); });
  if (failed(splitImage()))
    return failure();
  if (failed(prop.propagate()))
    return failure();
  if (!anyAttention)
    return fn.emitError() << pass() << " found no attention in '"
                          << fn.getSymName() << "'";
  // Split results are marked for fresco-insert-collectives, which gathers
  // them before an earlier strategy's split (cfg's batch).
  auto ret = cast<func::ReturnOp>(block.getTerminator());
  for (OpOperand &use : ret->getOpOperands())
    if (int64_t d = splitDim(use.get());
        d >= 0 && prop.segmentsOf(use.get(), d).size() > 1)
      return ret.emitError()
             << pass() << ": result " << use.getOperandNumber()
             << " concatenates sequences split on their own; gathering "
                "it would interleave them";
  return prop.markResults();
}

} // namespace mlir::fresco
