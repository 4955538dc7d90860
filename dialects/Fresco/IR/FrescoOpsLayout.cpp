//===- FrescoOpsLayout.cpp - layout ops -----------------------------------===//
//
// Verifiers, folds and type inference of the layout ops (wait, reshape,
// upsample, transpose, slice, pad, concat).
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoOpsUtil.h"

#include "llvm/ADT/SmallSet.h"

using namespace mlir;
using namespace mlir::fresco;
using namespace mlir::fresco::detail;

//===----------------------------------------------------------------------===//
// Layout
//===----------------------------------------------------------------------===//

LogicalResult WaitOp::verify() {
  Operation *start = getInput().getDefiningOp();
  // By name: the dialect does not depend on the shard dialect's library.
  StringRef kind = start ? start->getName().getStringRef() : "";
  if ((kind != "shard.all_to_all" && kind != "shard.all_gather" &&
       kind != "shard.all_reduce") ||
      !start->hasAttr(FrescoDialect::kAsyncAttrName))
    return emitOpError("waits for the result of a shard.all_to_all, "
                       "shard.all_gather or shard.all_reduce marked "
                       "fresco.async");
  for (Operation *user : getInput().getUsers())
    if (user != getOperation())
      return emitOpError("must be the only reader of the collective's "
                         "result; its readers read the wait's result");
  return success();
}

/// `out` is blocks of `in` along `dim` (`parts` of them; 0: any whole
/// number), the rest alike: a stale gather's or a patch cache's result.
static LogicalResult verifyBlocks(Operation *op, RankedTensorType in,
                                  RankedTensorType out, int64_t d,
                                  int64_t parts) {
  if (in.getElementType() != out.getElementType())
    return op->emitOpError("cannot change the element type");
  if (in.getRank() != out.getRank())
    return op->emitOpError("result rank ")
           << out.getRank() << " differs from the input's " << in.getRank();
  if (d < 0 || d >= in.getRank())
    return op->emitOpError("dim ")
           << d << " is out of range for rank " << in.getRank();
  for (int64_t i = 0; i < in.getRank(); ++i) {
    int64_t a = in.getDimSize(i), b = out.getDimSize(i);
    bool blocks = parts ? b == a * parts : a > 0 && b % a == 0 && b >= a;
    if (i == d ? !blocks : a != b)
      return op->emitOpError("result ")
             << shapeStr(out.getShape()) << " is not "
             << (parts ? std::to_string(parts) + " " : std::string())
             << "blocks of " << shapeStr(in.getShape()) << " along dimension "
             << d;
  }
  return success();
}

LogicalResult StaleGatherOp::verify() {
  return verifyBlocks(*this, getInput().getType(), getResult().getType(),
                      getDim(), 0);
}

LogicalResult PatchCacheOp::verify() {
  // I64Attr reads back unsigned.
  int64_t parts = getParts(), index = getIndex(), cache = getCache();
  if (parts < 1 || index < 0 || index >= parts)
    return emitOpError("block ")
           << index << " of " << parts << " parts is out of range";
  if (cache < 0)
    return emitOpError("cache id ") << cache << " is negative";
  return verifyBlocks(*this, getInput().getType(), getResult().getType(),
                      getDim(), parts);
}

LogicalResult ReshapeOp::verify() {
  auto in = getInput().getType();
  auto out = getResult().getType();
  if (!in.hasStaticShape() || !out.hasStaticShape())
    return emitOpError("needs static shapes");
  if (in.getElementType() != out.getElementType())
    return emitOpError("cannot change the element type");
  std::optional<int64_t> inN = ::fresco::checkedProduct(in.getShape()),
                         outN = ::fresco::checkedProduct(out.getShape());
  if (!inN || !outN)
    return emitOpError("shape ") << shapeStr((inN ? out : in).getShape())
                                 << " has more elements than fit in 64 bits";
  if (*inN != *outN)
    return emitOpError("cannot reshape ")
           << shapeStr(in.getShape()) << " (" << *inN << " elements) to "
           << shapeStr(out.getShape()) << " (" << *outN << " elements)";
  return success();
}

OpFoldResult ReshapeOp::fold(FoldAdaptor) {
  if (getInput().getType() == getResult().getType())
    return getInput();
  // reshape(reshape(x)) -> reshape(x)
  if (auto inner = getInput().getDefiningOp<ReshapeOp>()) {
    getInputMutable().assign(inner.getInput());
    return getResult();
  }
  return {};
}

LogicalResult
UpsampleNearestOp::inferReturnTypes(MLIRContext *, std::optional<Location> loc,
                                    Adaptor adaptor,
                                    SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "upsample_nearest", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  if (x->getRank() != 4)
    return opError(loc, "upsample_nearest", "input must be NCHW, got ",
                   shapeStr(x->getShape()));
  ArrayRef<int64_t> scale = adaptor.getScale();
  if (scale.size() != 2 || scale[0] < 1 || scale[1] < 1)
    return opError(loc, "upsample_nearest",
                   "scale needs two positive integer factors");
  auto h =
      dimProduct(loc, "upsample_nearest", "height", x->getDimSize(2), scale[0]);
  auto w =
      dimProduct(loc, "upsample_nearest", "width", x->getDimSize(3), scale[1]);
  if (failed(h) || failed(w))
    return failure();
  results.push_back(like(*x, {x->getDimSize(0), x->getDimSize(1), *h, *w}));
  return success();
}

LogicalResult TransposeOp::inferReturnTypes(MLIRContext *,
                                            std::optional<Location> loc,
                                            Adaptor adaptor,
                                            SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "transpose", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  ArrayRef<int64_t> perm = adaptor.getPermutation();
  if ((int64_t)perm.size() != x->getRank())
    return opError(loc, "transpose", "permutation has ", perm.size(),
                   " entries for an input of rank ", x->getRank());
  llvm::SmallSet<int64_t, 8> seen;
  SmallVector<int64_t> shape;
  for (int64_t p : perm) {
    if (p < 0 || p >= x->getRank() || !seen.insert(p).second)
      return opError(loc, "transpose", "permutation ", shapeStr(perm),
                     " is not a permutation of 0..", x->getRank() - 1);
    shape.push_back(x->getDimSize(p));
  }
  results.push_back(like(*x, shape));
  return success();
}

LogicalResult SliceOp::inferReturnTypes(MLIRContext *,
                                        std::optional<Location> loc,
                                        Adaptor adaptor,
                                        SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "slice", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  auto axis = normAxis(loc, "slice", adaptor.getAxis(), x->getRank());
  if (failed(axis))
    return failure();
  int64_t start = adaptor.getStart(), size = adaptor.getSize();
  int64_t dim = x->getDimSize(*axis);
  if (start < 0 || size < 1 || start > dim || size > dim - start)
    return opError(loc, "slice", "range [", start, ", ", start + size,
                   ") is outside axis ", *axis, " of size ", dim);
  SmallVector<int64_t> shape(x->getShape());
  shape[*axis] = size;
  results.push_back(like(*x, shape));
  return success();
}

LogicalResult PadOp::inferReturnTypes(MLIRContext *,
                                      std::optional<Location> loc,
                                      Adaptor adaptor,
                                      SmallVectorImpl<Type> &results) {
  auto x = staticType(loc, "pad", "input", adaptor.getInput());
  if (failed(x))
    return failure();
  auto axis = normAxis(loc, "pad", adaptor.getAxis(), x->getRank());
  if (failed(axis))
    return failure();
  int64_t start = adaptor.getStart(), size = adaptor.getSize();
  int64_t dim = x->getDimSize(*axis);
  if (start < 0 || size < dim || start > size - dim)
    return opError(loc, "pad", "input of ", dim, " elements at ", start,
                   " does not fit in ", size, " along axis ", *axis);
  SmallVector<int64_t> shape(x->getShape());
  shape[*axis] = size;
  results.push_back(like(*x, shape));
  return success();
}

LogicalResult ConcatOp::inferReturnTypes(MLIRContext *,
                                         std::optional<Location> loc,
                                         Adaptor adaptor,
                                         SmallVectorImpl<Type> &results) {
  ValueRange inputs = adaptor.getInputs();
  if (inputs.empty())
    return opError(loc, "concat", "needs at least one input");
  auto first = staticType(loc, "concat", "input", inputs.front());
  if (failed(first))
    return failure();
  auto axis = normAxis(loc, "concat", adaptor.getAxis(), first->getRank());
  if (failed(axis))
    return failure();
  SmallVector<int64_t> shape(first->getShape());
  for (Value v : inputs.drop_front()) {
    auto t = staticType(loc, "concat", "input", v);
    if (failed(t))
      return failure();
    bool ok = t->getRank() == first->getRank() &&
              t->getElementType() == first->getElementType();
    for (int64_t i = 0; ok && i < t->getRank(); ++i)
      ok = i == *axis || t->getDimSize(i) == first->getDimSize(i);
    if (!ok)
      return opError(loc, "concat", "input ", shapeStr(t->getShape()),
                     " does not match ", shapeStr(first->getShape()),
                     " outside axis ", *axis);
    shape[*axis] += t->getDimSize(*axis);
  }
  results.push_back(like(*first, shape));
  return success();
}
