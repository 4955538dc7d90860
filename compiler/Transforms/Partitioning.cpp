//===- Partitioning.cpp - Shared pieces of the partitioning passes --------===//
#include "compiler/Transforms/Partitioning.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/IR/Builders.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"

namespace mlir::fresco {

std::optional<std::pair<int16_t, int64_t>>
GridInfo::axis(StringRef name) const {
  for (auto [i, n] : llvm::enumerate(axisNames))
    if (n == name && grid.getShape()[i] > 1)
      return std::make_pair(int16_t(i), grid.getShape()[i]);
  return std::nullopt;
}

int64_t GridInfo::ranks() const {
  int64_t n = 1;
  for (auto [i, name] : llvm::enumerate(axisNames))
    if (!isVirtualAxis(name))
      n *= grid.getShape()[i];
  return n;
}

std::optional<GridInfo> getGrid(ModuleOp module) {
  auto grid = module.lookupSymbol<shard::GridOp>(kGridName);
  auto names =
      module->getAttrOfType<ArrayAttr>(FrescoDialect::kGridAxesAttrName);
  if (!grid || !names || names.size() != grid.getShape().size())
    return std::nullopt;
  GridInfo info{grid, {}};
  for (Attribute a : names)
    info.axisNames.push_back(cast<StringAttr>(a).str());
  return info;
}

SmallVector<func::FuncOp> denoiserFunctions(ModuleOp module) {
  SmallVector<func::FuncOp> fns;
  StringRef only, twin;
  if (auto p = module->getAttrOfType<DictionaryAttr>("fresco.pipeline")) {
    if (auto d = p.getAs<StringAttr>("denoiser"))
      only = d.getValue();
    if (auto w = p.getAs<StringAttr>(kWarmupEntry))
      twin = w.getValue();
  }
  for (auto fn : module.getOps<func::FuncOp>())
    if (!fn.isExternal() && !fn.isPrivate() &&
        (only.empty() || fn.getSymName() == only ||
         (!twin.empty() && fn.getSymName() == twin)))
      fns.push_back(fn);
  return fns;
}

func::FuncOp warmupFunction(ModuleOp module) {
  auto p = module->getAttrOfType<DictionaryAttr>("fresco.pipeline");
  auto w = p ? p.getAs<StringAttr>(kWarmupEntry) : StringAttr();
  return w ? module.lookupSymbol<func::FuncOp>(w) : func::FuncOp();
}

void setHeadCount(Operation *op, int64_t heads) {
  if (auto a = dyn_cast<AttentionOp>(op))
    a.setNumHeads(heads);
  else if (auto r = dyn_cast<RopeOp>(op))
    r.setNumHeads(heads);
  else if (auto n = dyn_cast<GroupNormOp>(op))
    n.setNumGroups(heads);
}

int64_t headCount(Operation *op) {
  if (auto a = dyn_cast<AttentionOp>(op))
    return a.getNumHeads();
  if (auto r = dyn_cast<RopeOp>(op))
    return r.getNumHeads();
  if (auto n = dyn_cast<GroupNormOp>(op))
    return n.getNumGroups();
  return 0;
}

LogicalResult checkInferredTypes(Operation *op, const Twine &what) {
  auto iface = dyn_cast<InferTypeOpInterface>(op);
  if (!iface)
    return success();
  SmallVector<Type> inferred;
  if (failed(iface.inferReturnTypes(
          op->getContext(), op->getLoc(), op->getOperands(),
          op->getRawDictionaryAttrs(), op->getPropertiesStorage(),
          op->getRegions(), inferred)))
    return failure();
  if (TypeRange(inferred) != op->getResultTypes())
    return op->emitError() << what << " " << op->getResult(0).getType()
                           << " but the op infers " << inferred[0];
  return success();
}

bool isParamLinear(Operation *op) {
  auto l = dyn_cast_or_null<LinearOp>(op);
  return l && l.getWeight().getDefiningOp<ParamOp>() &&
         (!l.getBias() || l.getBias().getDefiningOp<ParamOp>());
}

SmallVector<LinearOp> projectionsOf(Value v) {
  while (v.hasOneUse()) {
    Operation *def = v.getDefiningOp();
    if (!def)
      return {};
    if (isParamLinear(def))
      return {cast<LinearOp>(def)};
    if (auto concat = dyn_cast<ConcatOp>(def);
        concat && concat.getType().getRank() == 3 &&
        (int64_t(concat.getAxis()) == 1 || int64_t(concat.getAxis()) == -2)) {
      SmallVector<LinearOp> all;
      for (Value in : concat.getInputs()) {
        SmallVector<LinearOp> part = projectionsOf(in);
        if (part.empty())
          return {};
        all.append(part);
      }
      return all;
    }
    if (def->getNumOperands() == 0)
      return {};
    v = def->getOperand(0);
  }
  return {};
}

SmallVector<LinearOp> tokenMlpInputs(func::FuncOp fn) {
  SmallVector<LinearOp> fc1s;
  fn.walk([&](Operation *op) {
    if (!isa<GeluOp, SiluOp>(op))
      return;
    Value in = op->getOperand(0), out = op->getResult(0);
    if (cast<RankedTensorType>(in.getType()).getRank() < 3 ||
        !isParamLinear(in.getDefiningOp()) || !in.hasOneUse() ||
        !out.hasOneUse())
      return;
    Operation *user = *out.getUsers().begin();
    if (isParamLinear(user)) {
      fc1s.push_back(in.getDefiningOp<LinearOp>());
      return;
    }
    // Gated (GEGLU, SwiGLU): linear_h(x) * act(linear_g(x)) -> linear.
    auto mul = dyn_cast<MulOp>(user);
    if (!mul || !mul.getResult().hasOneUse() ||
        !isParamLinear(*mul.getResult().getUsers().begin()))
      return;
    Value other = mul.getLhs() == out ? mul.getRhs() : mul.getLhs();
    if (other.getType() != out.getType() ||
        !isParamLinear(other.getDefiningOp()) || !other.hasOneUse())
      return;
    fc1s.push_back(in.getDefiningOp<LinearOp>());
    fc1s.push_back(other.getDefiningOp<LinearOp>());
  });
  return fc1s;
}

void rewriteLinearsUnderTp(ModuleOp module,
                           llvm::function_ref<void(LinearOp)> rewrite) {
  std::optional<GridInfo> grid = getGrid(module);
  if (grid && grid->axis("tp"))
    rewriteDenoiserLinears(module, rewrite);
}

void rewriteDenoiserLinears(ModuleOp module,
                            llvm::function_ref<void(LinearOp)> rewrite) {
  for (func::FuncOp fn : denoiserFunctions(module)) {
    SmallVector<LinearOp> linears;
    fn.walk([&](LinearOp l) { linears.push_back(l); });
    for (LinearOp l : linears)
      rewrite(l);
  }
}

SliceOp sliceBlock(OpBuilder &b, shard::AllSliceOp sl, Value input,
                   int64_t index) {
  int64_t dim = sl.getSliceAxis().getSExtValue();
  int64_t size = sl.getResult().getType().getDimSize(dim);
  auto s = SliceOp::create(
      b, sl.getLoc(), sl.getType(), input, b.getI64IntegerAttr(dim),
      b.getI64IntegerAttr(size * index), b.getI64IntegerAttr(size));
  for (NamedAttribute a : sl->getDiscardableAttrs())
    s->setAttr(a.getName(), a.getValue());
  return s;
}

bool communicates(Operation *op) {
  if (isa<shard::ShardDialect>(op->getDialect()) &&
      !isa<shard::AllSliceOp, shard::GridOp>(op))
    return true;
  if (isa<StageTransferOp, StageBroadcastOp, StaleGatherOp>(op))
    return true;
  if (auto att = dyn_cast<AttentionOp>(op))
    return bool(att.getRingAxesAttr());
  if (auto norm = dyn_cast<GroupNormOp>(op))
    return bool(norm.getStatsAxesAttr());
  return false;
}

} // namespace mlir::fresco
