//===- Partitioning.cpp - Shared pieces of the partitioning passes --------===//
#include "compiler/Transforms/Partitioning.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/Interfaces/InferTypeOpInterface.h"

namespace mlir::fresco {

std::optional<std::pair<int16_t, int64_t>>
GridInfo::axis(StringRef name) const {
  for (auto [i, n] : llvm::enumerate(axisNames))
    if (n == name && grid.getShape()[i] > 1)
      return std::make_pair(int16_t(i), grid.getShape()[i]);
  return std::nullopt;
}

std::optional<GridInfo> getGrid(ModuleOp module) {
  auto grid = module.lookupSymbol<shard::GridOp>(kGridName);
  auto names = module->getAttrOfType<ArrayAttr>("fresco.grid_axes");
  if (!grid || !names || names.size() != grid.getShape().size())
    return std::nullopt;
  GridInfo info{grid, {}};
  for (Attribute a : names)
    info.axisNames.push_back(cast<StringAttr>(a).str());
  return info;
}

SmallVector<func::FuncOp> denoiserFunctions(ModuleOp module) {
  SmallVector<func::FuncOp> fns;
  StringRef only;
  if (auto p = module->getAttrOfType<DictionaryAttr>("fresco.pipeline"))
    if (auto d = p.getAs<StringAttr>("denoiser"))
      only = d.getValue();
  for (auto fn : module.getOps<func::FuncOp>())
    if (!fn.isExternal() && !fn.isPrivate() &&
        (only.empty() || fn.getSymName() == only))
      fns.push_back(fn);
  return fns;
}

LogicalResult reinferTypes(func::FuncOp fn) {
  for (Operation &op : fn.getBody().front()) {
    SmallVector<Type> types;
    if (auto iface = dyn_cast<InferTypeOpInterface>(op)) {
      if (failed(iface.inferReturnTypes(
              op.getContext(), op.getLoc(), op.getOperands(),
              op.getRawDictionaryAttrs(), op.getPropertiesStorage(),
              op.getRegions(), types)))
        return failure();
    } else if (auto ar = dyn_cast<shard::AllReduceOp>(op)) {
      types.push_back(ar.getInput().getType());
    } else if (auto ag = dyn_cast<shard::AllGatherOp>(op)) {
      auto grid = SymbolTable::lookupNearestSymbolFrom<shard::GridOp>(
          ag, ag.getGridAttr());
      if (!grid)
        return ag.emitError("all_gather on an unknown grid");
      auto t = cast<RankedTensorType>(ag.getInput().getType());
      SmallVector<int64_t> shape(t.getShape());
      int64_t dim = ag.getGatherAxis().getSExtValue();
      for (int16_t a : ag.getGridAxes())
        shape[dim] *= grid.getShape()[a];
      types.push_back(RankedTensorType::get(shape, t.getElementType()));
    } else {
      continue;
    }
    for (auto [r, t] : llvm::zip(op.getResults(), types))
      r.setType(t);
  }
  auto ret = cast<func::ReturnOp>(fn.getBody().front().getTerminator());
  fn.setFunctionType(FunctionType::get(fn.getContext(), fn.getArgumentTypes(),
                                       ret.getOperandTypes()));
  return success();
}

Value createAllGather(OpBuilder &b, Location loc, Value local, int64_t dim,
                      int16_t axis, int64_t parts) {
  auto t = cast<RankedTensorType>(local.getType());
  SmallVector<int64_t> shape(t.getShape());
  shape[dim] *= parts;
  return shard::AllGatherOp::create(
      b, loc, RankedTensorType::get(shape, t.getElementType()),
      FlatSymbolRefAttr::get(b.getStringAttr(kGridName)),
      b.getDenseI16ArrayAttr({axis}), local, b.getIndexAttr(dim));
}

LogicalResult shardParam(Operation *op, int64_t dim, int16_t axis,
                         int64_t parts) {
  auto param = cast<ParamOp>(op);
  auto type = param.getType();
  if (dim >= type.getRank() || type.getDimSize(dim) % parts != 0)
    return param.emitError("parameter '")
           << param.getName() << "' of shape " << type << " cannot be split in "
           << parts << " along dimension " << dim;
  if (param->hasAttr(kSharding))
    return param.emitError("parameter '")
           << param.getName() << "' is already sharded";
  SmallVector<int64_t> shape(type.getShape());
  shape[dim] /= parts;
  param.getResult().setType(
      RankedTensorType::get(shape, type.getElementType()));
  param->setAttr(kSharding, ShardingAttr::getSplit(
                                op->getContext(), type.getRank(), dim, {axis}));
  return success();
}

} // namespace mlir::fresco
