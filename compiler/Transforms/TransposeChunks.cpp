//===- TransposeChunks.cpp - Chunks of a row batch as windows -------------===//
//
// adaLN's projection [B, k*c] is cut into k chunks of c columns (DiT: shift,
// scale and gate twice per block). With B > 1 each chunk's rows are strided
// in the projection, so each slice is a copy: a kernel launch per chunk, 168
// per DiT-XL/2 forward, each moving a few KiB. One transpose of the whole
// projection to [k, B, c] instead puts every chunk's rows together, and
// fresco-assign-buffers then makes each chunk a window of it: one launch for
// all of them. Slices whose rows are already contiguous (B = 1) are left to
// become windows as they are, and large tensors (GEGLU's halves) to their
// copies: those run at bandwidth already, and the CUDA transpose is an
// untiled gather meant for small tensors.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/ApplyOnly.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FloatStorage.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/PatternMatch.h"
#include "llvm/Support/Debug.h"

#define DEBUG_TYPE "fresco-transpose-chunks"

namespace mlir::fresco {
#define GEN_PASS_DEF_TRANSPOSECHUNKS
#include "compiler/Transforms/Passes.h.inc"

namespace {

/// A slice of whole chunks of `c` columns along the last axis of a
/// multi-row float tensor: its chunk index, else nullopt.
std::optional<int64_t> chunkIndex(SliceOp s, int64_t c) {
  auto in = cast<RankedTensorType>(s.getInput().getType());
  const int64_t rank = in.getRank();
  int64_t axis = int64_t(s.getAxis());
  axis += axis < 0 ? rank : 0;
  const int64_t start = int64_t(s.getStart()), size = int64_t(s.getSize());
  if (rank < 2 || axis != rank - 1 || size != c || start % c != 0 ||
      in.getDimSize(axis) % c != 0 || !in.getElementType().isF32())
    return std::nullopt;
  return start / c;
}

/// Elements past which the slices stay copies (1 MiB of f32: adaLN's
/// projections are tens of KiB).
constexpr int64_t kMaxElements = int64_t(1) << 18;
/// fresco-assign-buffers' default alignment, which windows need.
constexpr int64_t kWindowAlignment = 64;

struct ChunksAsWindows : OpRewritePattern<SliceOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SliceOp first,
                                PatternRewriter &rewriter) const override {
    Value x = first.getInput();
    auto in = cast<RankedTensorType>(x.getType());
    const int64_t c = int64_t(first.getSize());
    if (!chunkIndex(first, c))
      return rewriter.notifyMatchFailure(first, "not a chunk of its rows");
    int64_t rows = 1;
    for (int64_t d : in.getShape().drop_back())
      rows *= d;
    if (rows <= 1)
      return rewriter.notifyMatchFailure(first, "rows already contiguous");
    if (rows * in.getShape().back() > kMaxElements)
      return rewriter.notifyMatchFailure(first, "large: copies at bandwidth");
    // Each chunk must start on fresco-assign-buffers' 64-byte grid to be a
    // window; otherwise the transpose would only add a launch.
    auto fn = first->getParentOfType<func::FuncOp>();
    if (!fn || rows * c * int64_t(floatStorageBytes(fn)) % kWindowAlignment)
      return rewriter.notifyMatchFailure(first, "chunks off the 64-byte grid");
    // Every chunk slice of x in this block, in order.
    SmallVector<SliceOp> group;
    llvm::SmallDenseSet<int64_t> chunks;
    for (Operation *user : x.getUsers()) {
      auto s = dyn_cast<SliceOp>(user);
      if (!s || s->getBlock() != first->getBlock())
        continue;
      if (std::optional<int64_t> j = chunkIndex(s, c)) {
        group.push_back(s);
        chunks.insert(*j);
      }
    }
    llvm::sort(group,
               [](SliceOp a, SliceOp b) { return a->isBeforeInBlock(b); });
    if (group.front() != first)
      return rewriter.notifyMatchFailure(first, "rewritten from its group's "
                                                "first slice");
    // One transpose for several launches, moving at most twice the bytes
    // the slices would.
    const int64_t k = in.getShape().back() / c;
    if (group.size() < 2 || 2 * int64_t(chunks.size()) < k)
      return rewriter.notifyMatchFailure(first, "too few chunks used");
    LLVM_DEBUG(llvm::dbgs()
               << "transposing " << group.size() << " chunks of " << x << "\n");
    rewriter.setInsertionPoint(first);
    Location loc = first.getLoc();
    Type f32 = in.getElementType();
    Value flat = ReshapeOp::create(rewriter, loc,
                                   RankedTensorType::get({rows, k, c}, f32), x);
    Value byChunk = TransposeOp::create(
        rewriter, loc, flat, rewriter.getDenseI64ArrayAttr({1, 0, 2}));
    for (SliceOp s : group) {
      Value window = SliceOp::create(
          rewriter, s.getLoc(), byChunk, rewriter.getI64IntegerAttr(0),
          rewriter.getI64IntegerAttr(*chunkIndex(s, c)),
          rewriter.getI64IntegerAttr(1));
      rewriter.replaceOpWithNewOp<ReshapeOp>(s, s.getType(), window);
    }
    return success();
  }
};

struct TransposeChunksPass : impl::TransposeChunksBase<TransposeChunksPass> {
  using TransposeChunksBase::TransposeChunksBase;

  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<ChunksAsWindows>(&getContext());
    if (failed(applyOnly(getOperation(), std::move(patterns))))
      return signalPassFailure();
  }
};

} // namespace
} // namespace mlir::fresco
