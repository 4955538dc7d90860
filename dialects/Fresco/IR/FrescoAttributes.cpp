//===- FrescoAttributes.cpp - fresco dialect attributes -------------------===//
//
// The attributes, and the dialect hooks that verify the discardable
// partitioning attributes wherever a pass attaches them.
//
//===----------------------------------------------------------------------===//
#include "dialects/Fresco/IR/FrescoAttributes.h"
#include "dialects/Fresco/IR/FrescoDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/FunctionInterfaces.h"
#include "llvm/ADT/SmallSet.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::fresco;

#include "dialects/Fresco/IR/FrescoEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Fresco/IR/FrescoAttributes.cpp.inc"

void FrescoDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "dialects/Fresco/IR/FrescoAttributes.cpp.inc"
      >();
}

namespace {
/// Grid axes are indices; each may appear once in a set.
LogicalResult checkAxes(function_ref<InFlightDiagnostic()> emitError,
                        ArrayRef<int16_t> axes,
                        llvm::SmallSet<int16_t, 8> &seen) {
  for (int16_t a : axes) {
    if (a < 0)
      return emitError() << "grid axis " << a << " is negative";
    if (!seen.insert(a).second)
      return emitError() << "grid axis " << a << " appears twice";
  }
  return success();
}

/// `{0, 1}`: braces, so that no `[[` appears (FileCheck's substitutions).
LogicalResult parseAxisList(AsmParser &p, SmallVectorImpl<int16_t> &axes) {
  return p.parseCommaSeparatedList(AsmParser::Delimiter::Braces, [&] {
    int16_t a;
    if (p.parseInteger(a))
      return failure();
    axes.push_back(a);
    return success();
  });
}

void printAxisList(AsmPrinter &p, ArrayRef<int16_t> axes) {
  p << '{';
  llvm::interleaveComma(axes, p);
  p << '}';
}
} // namespace

//===----------------------------------------------------------------------===//
// GridAxesAttr
//===----------------------------------------------------------------------===//

LogicalResult GridAxesAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   ArrayRef<int16_t> axes) {
  if (axes.empty())
    return emitError() << "#fresco.axes needs at least one grid axis";
  llvm::SmallSet<int16_t, 8> seen;
  return checkAxes(emitError, axes, seen);
}

// #fresco.axes<[0, 1]>; an empty list parses so that the verifier names it.
Attribute GridAxesAttr::parse(AsmParser &p, Type) {
  SmallVector<int16_t> axes;
  if (p.parseLess() ||
      p.parseCommaSeparatedList(AsmParser::Delimiter::Square,
                                [&] {
                                  int16_t a;
                                  if (p.parseInteger(a))
                                    return failure();
                                  axes.push_back(a);
                                  return success();
                                }) ||
      p.parseGreater())
    return {};
  return getChecked([&] { return p.emitError(p.getNameLoc()); }, p.getContext(),
                    axes);
}

void GridAxesAttr::print(AsmPrinter &p) const {
  p << "<[";
  llvm::interleaveComma(getAxes(), p);
  p << "]>";
}

//===----------------------------------------------------------------------===//
// ShardingAttr
//===----------------------------------------------------------------------===//

ShardingAttr ShardingAttr::get(MLIRContext *ctx,
                               ArrayRef<SmallVector<int16_t>> dims,
                               ArrayRef<int16_t> partial) {
  SmallVector<Attribute> attrs;
  for (const SmallVector<int16_t> &d : dims)
    attrs.push_back(DenseI16ArrayAttr::get(ctx, d));
  return get(ctx, ArrayAttr::get(ctx, attrs),
             DenseI16ArrayAttr::get(ctx, partial));
}

ShardingAttr ShardingAttr::getSplit(MLIRContext *ctx, int64_t rank, int64_t dim,
                                    ArrayRef<int16_t> axes) {
  SmallVector<SmallVector<int16_t>> dims(rank);
  dims[dim].assign(axes.begin(), axes.end());
  return get(ctx, dims);
}

ShardingAttr ShardingAttr::getPartial(MLIRContext *ctx, int64_t rank,
                                      ArrayRef<int16_t> axes) {
  return get(ctx, SmallVector<SmallVector<int16_t>>(rank), axes);
}

ArrayRef<int16_t> ShardingAttr::getDimAxes(int64_t dim) const {
  return cast<DenseI16ArrayAttr>(getDims()[dim]).asArrayRef();
}

ShardingAttr ShardingAttr::withoutPartial() const {
  return get(getContext(), getDims(), DenseI16ArrayAttr::get(getContext(), {}));
}

bool ShardingAttr::isReplicated() const {
  for (int64_t d = 0; d < getRank(); ++d)
    if (!getDimAxes(d).empty())
      return false;
  return getPartial().empty();
}

LogicalResult ShardingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   ArrayAttr dims, DenseI16ArrayAttr partial) {
  llvm::SmallSet<int16_t, 8> seen;
  for (Attribute d : dims) {
    auto axes = dyn_cast<DenseI16ArrayAttr>(d);
    if (!axes)
      return emitError() << "#fresco.sharding dimension entries must be "
                            "arrays of grid axes";
    if (failed(checkAxes(emitError, axes.asArrayRef(), seen)))
      return failure();
  }
  return checkAxes(emitError, partial.asArrayRef(), seen);
}

// #fresco.sharding<[{0}, {}], partial = {1}>
Attribute ShardingAttr::parse(AsmParser &p, Type) {
  SmallVector<SmallVector<int16_t>> dims;
  SmallVector<int16_t> partial;
  if (p.parseLess() ||
      p.parseCommaSeparatedList(AsmParser::Delimiter::Square, [&] {
        return parseAxisList(p, dims.emplace_back());
      }))
    return {};
  if (succeeded(p.parseOptionalComma()) &&
      (p.parseKeyword("partial") || p.parseEqual() ||
       failed(parseAxisList(p, partial))))
    return {};
  if (p.parseGreater())
    return {};
  MLIRContext *ctx = p.getContext();
  SmallVector<Attribute> attrs;
  for (const SmallVector<int16_t> &d : dims)
    attrs.push_back(DenseI16ArrayAttr::get(ctx, d));
  return getChecked([&] { return p.emitError(p.getNameLoc()); }, ctx,
                    ArrayAttr::get(ctx, attrs),
                    DenseI16ArrayAttr::get(ctx, partial));
}

void ShardingAttr::print(AsmPrinter &p) const {
  p << "<[";
  for (int64_t d = 0; d < getRank(); ++d) {
    if (d)
      p << ", ";
    printAxisList(p, getDimAxes(d));
  }
  p << ']';
  if (!getPartial().empty()) {
    p << ", partial = ";
    printAxisList(p, getPartial().asArrayRef());
  }
  p << '>';
}

//===----------------------------------------------------------------------===//
// StageAttr
//===----------------------------------------------------------------------===//

LogicalResult StageAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                int64_t index) {
  if (index < 0)
    return emitError() << "pipeline stage " << index << " is negative";
  return success();
}

//===----------------------------------------------------------------------===//
// Where the discardable attributes may go
//===----------------------------------------------------------------------===//

namespace {
/// A sharding must describe a ranked tensor of its rank.
LogicalResult checkShardingFits(Operation *op, Attribute attr, Type type,
                                StringRef what) {
  auto sharding = dyn_cast<ShardingAttr>(attr);
  if (!sharding)
    return op->emitError() << "'" << FrescoDialect::kShardingAttrName
                           << "' must be a #fresco.sharding, got " << attr;
  auto t = dyn_cast<RankedTensorType>(type);
  if (!t || t.getRank() != sharding.getRank())
    return op->emitError() << "'" << FrescoDialect::kShardingAttrName
                           << "' has " << sharding.getRank()
                           << " dimension(s) but " << what << " is " << type;
  return success();
}

/// A seed is a split (no partial sum) of a tensor of its rank.
LogicalResult checkSeed(Operation *op, Attribute attr, Type type,
                        StringRef what) {
  auto seed = dyn_cast<ShardingAttr>(attr);
  auto t = dyn_cast<RankedTensorType>(type);
  if (!seed || !t || t.getRank() != seed.getRank() ||
      !seed.getPartial().empty())
    return op->emitError() << "'" << FrescoDialect::kSeedAttrName
                           << "' must be a #fresco.sharding without partial "
                              "axes of the rank of "
                           << what << " (" << type << "), got " << attr;
  return success();
}
} // namespace

LogicalResult FrescoDialect::verifyOperationAttribute(Operation *op,
                                                      NamedAttribute attr) {
  StringRef name = attr.getName().getValue();
  if (name == kShardingAttrName) {
    if (op->getNumResults() != 1)
      return op->emitError()
             << "'" << name << "' needs an op with exactly one result";
    if (failed(checkShardingFits(op, attr.getValue(),
                                 op->getResult(0).getType(), "the result")))
      return failure();
    if (op->getName().getStringRef() == "fresco.param" &&
        !cast<ShardingAttr>(attr.getValue()).getPartial().empty())
      return op->emitError() << "a parameter cannot be a partial sum";
    return success();
  }
  if (name == kStageAttrName) {
    if (!isa<StageAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a #fresco.stage, got "
                             << attr.getValue();
    return success();
  }
  if (name == kSeedAttrName) {
    if (op->getNumResults() != 1)
      return op->emitError()
             << "'" << name << "' needs an op with exactly one result";
    if (failed(checkSeed(op, attr.getValue(), op->getResult(0).getType(),
                         "the result")))
      return failure();
    return success();
  }
  if (name == kGatherAfterAttrName) {
    if (!isa<GridAxesAttr>(attr.getValue()))
      return op->emitError() << "'" << name << "' must be a #fresco.axes, got "
                             << attr.getValue();
    return success();
  }
  if (name == kSeedOrderAttrName) {
    auto order = dyn_cast<DenseI16ArrayAttr>(attr.getValue());
    if (!order)
      return op->emitError()
             << "'" << name << "' must be an i16 array of grid axes, got "
             << attr.getValue();
    llvm::SmallSet<int16_t, 8> seen;
    return checkAxes([&] { return op->emitError() << "'" << name << "': "; },
                     order.asArrayRef(), seen);
  }
  if (name == kMicrobatchesAttrName) {
    auto m = dyn_cast<IntegerAttr>(attr.getValue());
    if (!isa<FunctionOpInterface>(op) || !m || !m.getType().isInteger(64) ||
        m.getInt() < 2)
      return op->emitError()
             << "'" << name << "' must be an i64 of at least 2 on a function";
    return success();
  }
  if (name == kChunkedSumsAttrName) {
    auto c = dyn_cast<DenseI64ArrayAttr>(attr.getValue());
    if (!isa<FunctionOpInterface>(op) || !c || c.size() != 2 || c[0] < 1 ||
        c[1] < 2)
      return op->emitError() << "'" << name
                             << "' must be array<i64: sums, chunks> with "
                                "sums >= 1 and chunks >= 2 on a function";
    return success();
  }
  if (name == kPaddedRowsAttrName) {
    auto rows = dyn_cast<DenseI64ArrayAttr>(attr.getValue());
    if (!isa<FunctionOpInterface>(op) || !rows || rows.size() != 2 ||
        rows[0] <= 0 || rows[1] <= rows[0])
      return op->emitError() << "'" << name
                             << "' must be array<i64: real, padded> with "
                                "0 < real < padded on a function";
    return success();
  }
  if (name == kPipelineAxisAttrName) {
    auto axis = dyn_cast<IntegerAttr>(attr.getValue());
    if (!axis || !axis.getType().isInteger(16) || axis.getInt() < 0)
      return op->emitError()
             << "'" << name << "' must be a non-negative i16 grid axis";
    return success();
  }
  return verifyLoweringAttribute(op, attr);
}

LogicalResult FrescoDialect::verifyRegionResultAttribute(Operation *op,
                                                         unsigned region,
                                                         unsigned result,
                                                         NamedAttribute attr) {
  if (attr.getName().getValue() != kShardingAttrName)
    return verifyLoweringResultAttribute(op, result, attr);
  auto fn = dyn_cast<FunctionOpInterface>(op);
  if (!fn)
    return op->emitError() << "'" << kShardingAttrName
                           << "' on a result of a non-function op";
  return checkShardingFits(op, attr.getValue(), fn.getResultTypes()[result],
                           "result " + std::to_string(result));
}

LogicalResult FrescoDialect::verifyRegionArgAttribute(Operation *op,
                                                      unsigned region,
                                                      unsigned arg,
                                                      NamedAttribute attr) {
  auto fn = dyn_cast<FunctionOpInterface>(op);
  if (attr.getName().getValue() == kSequenceDimAttrName) {
    auto dim = dyn_cast<IntegerAttr>(attr.getValue());
    int64_t rank =
        fn ? cast<ShapedType>(fn.getArgumentTypes()[arg]).getRank() : 0;
    if (!fn || !dim || dim.getInt() < 0 || dim.getInt() >= rank)
      return op->emitError()
             << "'" << kSequenceDimAttrName << "' on argument " << arg
             << " must be a dimension of the function argument, got "
             << attr.getValue();
    return success();
  }
  if (attr.getName().getValue() == kSeedAttrName) {
    if (!fn)
      return op->emitError()
             << "'" << kSeedAttrName << "' on an argument of a non-function op";
    return checkSeed(op, attr.getValue(), fn.getArgumentTypes()[arg],
                     "argument " + std::to_string(arg));
  }
  if (attr.getName().getValue() != kShardingAttrName)
    return verifyLoweringArgAttribute(op, arg, attr);
  if (!fn)
    return op->emitError() << "'" << kShardingAttrName
                           << "' on an argument of a non-function op";
  if (failed(checkShardingFits(op, attr.getValue(), fn.getArgumentTypes()[arg],
                               "argument " + std::to_string(arg))))
    return failure();
  if (!cast<ShardingAttr>(attr.getValue()).getPartial().empty())
    return op->emitError() << "an argument cannot be a partial sum";
  return success();
}
