//===- Partitioning.cpp - Shared pieces of the partitioning passes --------===//
#include "compiler/Transforms/Partitioning.h"
#include "dialects/Fresco/IR/FrescoOps.h"

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

} // namespace mlir::fresco
