//===- DiscardableAttributes.cpp - Checks of the lowering attributes ------===//
//
// The discardable attributes that the passes after partitioning and the
// model builders attach (names in FrescoBase.td): each is checked where it
// is attached for its kind, the ops it may sit on and its values, so that a
// pass that misplaces one fails at verification instead of the plan
// emitter reading it wrong.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoDialect.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/StringSet.h"

using namespace mlir;
using namespace mlir::fresco;

namespace {
/// Starts "'<name>' ..." on `op`.
InFlightDiagnostic error(Operation *op, StringRef name) {
  return op->emitError() << "'" << name << "' ";
}

LogicalResult checkUnit(Operation *op, NamedAttribute attr) {
  if (!isa<UnitAttr>(attr.getValue()))
    return error(op, attr.getName())
           << "is a unit mark, got " << attr.getValue();
  return success();
}

/// A non-negative i64 (ranks, byte counts, offsets).
LogicalResult checkNonNegativeI64(Operation *op, NamedAttribute attr) {
  auto i = dyn_cast<IntegerAttr>(attr.getValue());
  if (!i || !i.getType().isInteger(64) || i.getInt() < 0)
    return error(op, attr.getName())
           << "must be a non-negative i64, got " << attr.getValue();
  return success();
}

/// A non-empty list of distinct non-negative world ranks.
template <typename ArrayAttrT>
LogicalResult checkRanks(Operation *op, NamedAttribute attr, StringRef kind) {
  auto ranks = dyn_cast<ArrayAttrT>(attr.getValue());
  if (!ranks || ranks.empty())
    return error(op, attr.getName())
           << "must be a non-empty " << kind << " array of world ranks, got "
           << attr.getValue();
  llvm::SmallSet<int64_t, 16> seen;
  for (auto r : ranks.asArrayRef()) {
    if (r < 0)
      return error(op, attr.getName()) << "lists the negative rank " << r;
    if (!seen.insert(r).second)
      return error(op, attr.getName()) << "lists rank " << r << " twice";
  }
  return success();
}

LogicalResult checkString(Operation *op, NamedAttribute attr) {
  auto s = dyn_cast<StringAttr>(attr.getValue());
  if (!s || s.getValue().empty())
    return error(op, attr.getName())
           << "must be a non-empty string, got " << attr.getValue();
  return success();
}

/// `op` is one of `names` (by name: the dialect does not link the shard
/// dialect's library).
LogicalResult checkOn(Operation *op, NamedAttribute attr,
                      ArrayRef<StringRef> names) {
  if (llvm::is_contained(names, op->getName().getStringRef()))
    return success();
  InFlightDiagnostic d = error(op, attr.getName()) << "belongs on ";
  llvm::interleave(names, d, " or ");
  return d << ", not on '" << op->getName() << "'";
}

LogicalResult checkOnFunction(Operation *op, NamedAttribute attr) {
  if (!isa<FunctionOpInterface>(op))
    return error(op, attr.getName())
           << "belongs on a function, not on '" << op->getName() << "'";
  return success();
}

LogicalResult checkGridAxes(Operation *op, NamedAttribute attr) {
  auto names = dyn_cast<ArrayAttr>(attr.getValue());
  if (!names || names.empty())
    return error(op, attr.getName())
           << "must be a non-empty array of axis names, got "
           << attr.getValue();
  llvm::StringSet<> seen;
  for (Attribute a : names) {
    auto n = dyn_cast<StringAttr>(a);
    if (!n || !symbolizeGridAxisKind(n.getValue()))
      return error(op, attr.getName())
             << "must name each axis by its kind (cfg, tp, ulysses, ring, "
                "pipeline or replica), got "
             << a;
    if (!seen.insert(n.getValue()).second)
      return error(op, attr.getName())
             << "names axis \"" << n.getValue() << "\" twice";
  }
  return success();
}

LogicalResult checkFloatStorage(Operation *op, NamedAttribute attr) {
  auto s = dyn_cast<StringAttr>(attr.getValue());
  if (!s || !llvm::is_contained({"f32", "bf16", "f16"}, s.getValue()))
    return error(op, attr.getName())
           << "must be \"f32\", \"bf16\" or \"f16\", got " << attr.getValue();
  return success();
}
} // namespace

LogicalResult FrescoDialect::verifyLoweringAttribute(Operation *op,
                                                     NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kSequenceSeedAttrName)
    return failure(failed(checkUnit(op, attr)) ||
                   failed(checkOn(op, attr, {PadOp::getOperationName()})));
  if (name == kUnpadAttrName)
    return failure(failed(checkUnit(op, attr)) ||
                   failed(checkOn(op, attr, {SliceOp::getOperationName()})));
  if (name == kValidRowsAttrName) {
    auto n = dyn_cast<IntegerAttr>(attr.getValue());
    if (!n || n.getInt() <= 0)
      return error(op, attr.getName())
             << "must be a positive integer, got " << attr.getValue();
    return checkOn(op, attr, {"shard.update_halo"});
  }
  if (name == kAsyncAttrName)
    return failure(failed(checkUnit(op, attr)) ||
                   failed(checkOn(op, attr,
                                  {"shard.all_to_all", "shard.all_gather",
                                   "shard.all_reduce"})));
  if (name == kInPlaceAttrName)
    return failure(failed(checkUnit(op, attr)) ||
                   failed(checkOn(op, attr,
                                  {SliceOp::getOperationName(),
                                   ConcatOp::getOperationName()})));
  if (name == kKeepF32AttrName)
    return failure(
        failed(checkUnit(op, attr)) ||
        failed(checkOn(op, attr,
                       {SendOp::getOperationName(), RecvOp::getOperationName(),
                        BroadcastOp::getOperationName()})));
  if (name == kPartialSumAttrName) {
    auto d = dyn_cast<DictionaryAttr>(attr.getValue());
    auto axes = d ? d.getAs<DenseI16ArrayAttr>("axes") : nullptr;
    auto once = d ? d.getAs<ArrayAttr>("once") : nullptr;
    auto linear = dyn_cast<LinearOp>(op);
    if (!linear || !axes || axes.empty() || !once || d.size() != 2 ||
        once != ArrayAttr::get(op->getContext(),
                               {StringAttr::get(op->getContext(), "bias")}))
      return error(op, name) << "must be {axes = array<i16: ...>, once = "
                                "[\"bias\"]} on a fresco.linear, got "
                             << attr.getValue();
    if (!linear.getBias())
      return error(op, name) << "counts the bias once, but the linear has "
                                "no bias";
    llvm::SmallSet<int16_t, 8> seen;
    for (int16_t a : axes.asArrayRef())
      if (a < 0 || !seen.insert(a).second)
        return error(op, name)
               << "lists grid axis " << a << (a < 0 ? ", negative" : " twice");
    return success();
  }
  if (name == kMembersAttrName) {
    // A group norm's members: the ranks whose blocks its statistics span.
    auto norm = dyn_cast<GroupNormOp>(op);
    if (norm && !norm.getStatsAxesAttr())
      return error(op, name) << "belongs on a fresco.group_norm with "
                                "stats_axes";
    return failure(
        (!norm && failed(checkOn(op, attr,
                                 {"shard.all_reduce", "shard.reduce_scatter",
                                  "shard.all_gather", "shard.all_to_all",
                                  "shard.update_halo",
                                  StaleGatherOp::getOperationName()}))) ||
        failed(checkRanks<DenseI32ArrayAttr>(op, attr, "i32")));
  }
  if (name == kRingMembersAttrName) {
    auto att = dyn_cast<AttentionOp>(op);
    if (!att || !att.getRingAxesAttr())
      return error(op, name) << "belongs on a fresco.attention with ring_axes";
    return checkRanks<DenseI32ArrayAttr>(op, attr, "i32");
  }
  if (name == kRankAttrName) {
    // A module parsed at the top is nested in the parser's own module while
    // it is verified, so the check is that no other op holds it.
    auto module = dyn_cast<ModuleOp>(op);
    if (!module || (op->getParentOp() && !isa<ModuleOp>(op->getParentOp())))
      return error(op, name) << "belongs on a module nested in a module";
    return checkNonNegativeI64(op, attr);
  }
  if (name == kGridAxesAttrName || name == kFloatStorageAttrName) {
    if (!isa<ModuleOp>(op))
      return error(op, name)
             << "belongs on a module, not on '" << op->getName() << "'";
    return name == kGridAxesAttrName ? checkGridAxes(op, attr)
                                     : checkFloatStorage(op, attr);
  }
  if (name == kComponentAttrName)
    return failure(failed(checkOnFunction(op, attr)) ||
                   failed(checkString(op, attr)));
  if (name == kRanksAttrName)
    return failure(failed(checkOnFunction(op, attr)) ||
                   failed(checkRanks<DenseI64ArrayAttr>(op, attr, "i64")));
  if (name == kArenaBytesAttrName || name == kIntermediateBytesAttrName)
    return failure(failed(checkOnFunction(op, attr)) ||
                   failed(checkNonNegativeI64(op, attr)));
  if (name == "fresco.pipeline")
    return success(); // the sampling loop's description: the plan emitter's
  if (name == kOffsetAttrName) {
    if (op->getNumResults() != 1)
      return error(op, name) << "needs an op with exactly one result";
    return checkNonNegativeI64(op, attr);
  }
  return error(op, name) << "is not an attribute of the fresco dialect";
}

LogicalResult FrescoDialect::verifyLoweringArgAttribute(Operation *op,
                                                        unsigned arg,
                                                        NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name != kKeepF32AttrName && name != kNameAttrName &&
      name != kOffsetAttrName)
    return error(op, name) << "is not an attribute of a function argument";
  if (!isa<FunctionOpInterface>(op))
    return error(op, name) << "on an argument of a non-function op";
  if (name == kKeepF32AttrName)
    return checkUnit(op, attr);
  if (name == kNameAttrName)
    return checkString(op, attr);
  return checkNonNegativeI64(op, attr);
}

LogicalResult
FrescoDialect::verifyLoweringResultAttribute(Operation *op, unsigned result,
                                             NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name != kNameAttrName)
    return error(op, name) << "is not an attribute of a function result";
  if (!isa<FunctionOpInterface>(op))
    return error(op, name) << "on a result of a non-function op";
  return checkString(op, attr);
}
