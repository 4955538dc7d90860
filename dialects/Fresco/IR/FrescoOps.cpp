//===- FrescoOps.cpp - fresco dialect ops: verifiers, type inference ------===//
//
// Every op requires static shapes: plans are statically memory-planned, so a
// dynamic dimension is rejected where it appears, with the op's location.
//
// This file holds param and the transfer ops and instantiates the op classes;
// the other families live in FrescoOps<Family>.cpp next to it.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOpsUtil.h"

#include "llvm/ADT/DenseSet.h"

using namespace mlir;
using namespace mlir::fresco;
using namespace mlir::fresco::detail;

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("needs a non-empty checkpoint tensor name");
  // A subfolder of a pipeline folder.
  if (std::optional<StringRef> c = getComponent();
      c && (c->empty() || *c == "." || *c == ".." ||
            c->find_first_of("/\\") != StringRef::npos))
    return emitOpError("parameter '") << getName() << "': component '" << *c
                                      << "' must be a plain folder name";
  if (!getType().hasStaticShape())
    return emitOpError("parameter '")
           << getName() << "' must have a static shape";
  if (std::optional<ArrayRef<int64_t>> ckpt = getCheckpointShape()) {
    ArrayRef<int64_t> shape = getType().getShape();
    if (ckpt->size() != shape.size() ||
        llvm::any_of(*ckpt, [](int64_t d) { return d < 1; }))
      return emitOpError("parameter '")
             << getName() << "': checkpoint_shape " << shapeStr(*ckpt)
             << " must be positive sizes, one per dimension of "
             << shapeStr(shape);
    // A split parameter's type is its local slice; only a whole one can be
    // compared with the checkpoint.
    if (!(*this)->hasAttr(FrescoDialect::kShardingAttrName) && !getOffsets())
      for (auto [c, d] : llvm::zip(*ckpt, shape))
        if (c > d)
          return emitOpError("parameter '")
                 << getName() << "': checkpoint_shape " << shapeStr(*ckpt)
                 << " is larger than its padded shape " << shapeStr(shape);
  }
  return success();
}

//===----------------------------------------------------------------------===//
// One rank's transfers
//===----------------------------------------------------------------------===//

namespace {
/// `members` distinct non-negative world ranks, `index` one of them.
LogicalResult checkGroup(Operation *op, ArrayRef<int32_t> members,
                         int64_t index, StringRef what) {
  if (members.empty() || llvm::any_of(members, [](int32_t m) { return m < 0; }))
    return op->emitOpError("members must be world ranks >= 0, at least one");
  llvm::SmallDenseSet<int32_t> seen(members.begin(), members.end());
  if (seen.size() != members.size())
    return op->emitOpError("members must be distinct");
  if (index < 0 || index >= int64_t(members.size()))
    return op->emitOpError()
           << what << " " << index << " is not a member index (of "
           << members.size() << ")";
  return success();
}
} // namespace

LogicalResult SendOp::verify() {
  return checkGroup(*this, getMembers(), getPeer(), "peer");
}
LogicalResult RecvOp::verify() {
  return checkGroup(*this, getMembers(), getPeer(), "peer");
}
LogicalResult BroadcastOp::verify() {
  if (getInput() && getInput().getType() != getType())
    return emitOpError("input and result types differ");
  return checkGroup(*this, getMembers(), getRoot(), "root");
}

#define GET_OP_CLASSES
#include "dialects/Fresco/IR/FrescoOps.cpp.inc"
