//===- SequenceSplit.cpp - Seeding a split of a denoiser's tokens ---------===//
//
// See SequenceSplit.h.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/SequenceSplit.h"
#include "compiler/Transforms/Seeds.h"

#include <string>

namespace mlir::fresco {

namespace {

struct SequenceSeeder {
  func::FuncOp fn;
  const GridInfo &grid;
  std::string strategy;
  int16_t axis;
  int64_t parts;

  /// "fresco-ulysses-parallel": the pass, for messages.
  std::string pass() const { return "fresco-" + strategy + "-parallel"; }
  /// "ulysses=4", after the degrees already seeded on `v`'s `dim`
  /// ("ulysses=2 x ring=2"), and their number of ranks.
  std::pair<int64_t, std::string> degree(Value v, int64_t dim) const {
    auto [n, earlier] = seededDegree(v, dim, grid);
    std::string own = axisDegree(strategy, parts);
    return {n * parts, earlier.empty() ? own : earlier + " x " + own};
  }

  FailureOr<bool> seedMarked();
  LogicalResult seedImage();
};

/// The image's tokens padded by fresco-pad-uneven after its patch
/// embeddings (down each use's chain of single uses: SD3 with a ControlNet
/// embeds its latents twice); empty when they are not.
SmallVector<Value> paddedImageTokens(Value image) {
  SmallVector<Value> out;
  for (Operation *user : image.getUsers())
    while (true) {
      if (auto pad = dyn_cast<PadOp>(user);
          pad && pad->hasAttr(kSequenceSeed)) {
        out.push_back(pad.getResult());
        break;
      }
      if (user->getNumResults() != 1 || !user->getResult(0).hasOneUse())
        break;
      user = *user->getResult(0).getUsers().begin();
    }
  return out;
}

/// The arguments marked as token sequences (fresco.sequence_dim), each
/// split along its tokens (after fresco-pad-uneven's padding); false when
/// there are none. An image marked on its rows is split by rows (its patch
/// embedding makes a band of rows a block of tokens, or a UNet's
/// convolutions keep them: its padded rows too), or along its padded
/// tokens.
FailureOr<bool> SequenceSeeder::seedMarked() {
  bool any = false;
  // Images marked on their rows: two (a ControlNet's control image beside
  // the latents) are padded by rows together or not at all.
  const int64_t images =
      llvm::count_if(fn.getArguments(), [&](BlockArgument a) {
        auto d = fn.getArgAttrOfType<IntegerAttr>(
            a.getArgNumber(), FrescoDialect::kSequenceDimAttrName);
        return d && d.getInt() == 2 &&
               cast<RankedTensorType>(a.getType()).getRank() == 4;
      });
  for (BlockArgument arg : fn.getArguments()) {
    auto dim = fn.getArgAttrOfType<IntegerAttr>(
        arg.getArgNumber(), FrescoDialect::kSequenceDimAttrName);
    if (!dim)
      continue;
    any = true;
    int64_t d = dim.getInt();
    SmallVector<Value> seeds = {arg};
    // An image marked on its rows whose patch rows the degree does not
    // divide: its tokens were padded after the patch embedding (each
    // embedding's, SD3 beside a ControlNet). (Padded along its rows
    // instead: a UNet's images beside a ControlNet's, split by rows as
    // they are.)
    if (d == 2 && cast<RankedTensorType>(arg.getType()).getRank() == 4)
      if (SmallVector<Value> padded = paddedImageTokens(arg); !padded.empty()) {
        seeds = padded;
        if (padded.front().getDefiningOp<PadOp>().getAxis() != 2)
          d = 1;
      }
    for (Value tokens : seeds) {
      if (tokens.hasOneUse())
        if (auto pad = dyn_cast<PadOp>(*tokens.getUsers().begin());
            pad && pad->hasAttr(kSequenceSeed))
          tokens = pad.getResult();
      int64_t n = cast<RankedTensorType>(tokens.getType()).getDimSize(d);
      auto [ranks, name] = degree(tokens, d);
      if (n % ranks != 0 && images > 1)
        return fn.emitError("argument ")
               << arg.getArgNumber() << " (an image of " << n
               << " rows) is not divisible by " << name
               << ", and fresco-pad-uneven found no padding of the rows that "
                  "splits every level evenly";
      if (n % ranks != 0)
        return fn.emitError("argument ")
               << arg.getArgNumber() << "'s " << n
               << " tokens (after padding) are not divisible by " << name;
      seedSplit(tokens, d, axis);
    }
  }
  return any;
}

/// The latent image [B, C, H, W] is split by rows, or its tokens where
/// fresco-pad-uneven padded them; token sequences marked on the arguments
/// are split instead.
LogicalResult SequenceSeeder::seedImage() {
  Block &block = fn.getBody().front();
  if (FailureOr<bool> marked = seedMarked(); failed(marked) || *marked)
    return failure(failed(marked));
  for (Operation &op : block)
    if (auto pad = dyn_cast<PadOp>(op); pad && pad->hasAttr(kSequenceSeed)) {
      // Padded tokens (dimension 1), or a UNet's padded rows (2).
      seedSplit(pad.getResult(), int64_t(pad.getAxis()), axis);
      return success();
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
  int64_t rows = cast<RankedTensorType>(image.getType()).getDimSize(2);
  auto [ranks, name] = degree(image, 2);
  if (rows % ranks != 0)
    return fn.emitError("latent height ")
           << rows << " is not divisible by " << name
           << " (fresco-pad-uneven pads the tokens after a patch embedding; "
              "it found none to pad here)";
  seedSplit(image, 2, axis);
  return success();
}

} // namespace

LogicalResult seedSequenceSplit(func::FuncOp fn, const GridInfo &grid,
                                StringRef strategy, int16_t axis,
                                int64_t parts) {
  SequenceSeeder seeder{fn, grid, strategy.str(), axis, parts};
  if (!fn.getBody().hasOneBlock())
    return fn.emitError() << seeder.pass()
                          << " needs a single-block "
                             "function";
  // A Flux ControlNet-Union's mode token joins its text tokens: one token
  // that belongs to no rank's share (not built).
  for (unsigned i = 0; i < fn.getNumArguments(); ++i)
    if (auto n =
            fn.getArgAttrOfType<StringAttr>(i, FrescoDialect::kNameAttrName);
        n && n.getValue() == "controlnet_mode")
      return fn.emitError()
             << axisDegree(strategy, parts)
             << " with a ControlNet-Union is not implemented: its mode token "
                "joins the text tokens that the split cuts (use tp, "
                "pipeline or placement)";
  return seeder.seedImage();
}

} // namespace mlir::fresco
