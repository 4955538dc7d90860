//===- Seeds.cpp - A strategy's seeds, written and propagated -------------===//
//
// See Seeds.h.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Seeds.h"
#include "compiler/Transforms/ShardingPropagation.h"

#include "llvm/ADT/SetVector.h"

namespace mlir::fresco {

namespace {
constexpr llvm::StringLiteral kSeed = FrescoDialect::kSeedAttrName;
constexpr llvm::StringLiteral kGatherAfter =
    FrescoDialect::kGatherAfterAttrName;
constexpr llvm::StringLiteral kSeedOrder = FrescoDialect::kSeedOrderAttrName;

using Split = SmallVector<SmallVector<int16_t>>;

Split splitOf(ShardingAttr s) {
  Split split(s.getRank());
  for (int64_t d = 0; d < s.getRank(); ++d)
    split[d].assign(s.getDimAxes(d).begin(), s.getDimAxes(d).end());
  return split;
}

/// `s` with `axis` added to dimension `dim` (minor to what is there).
ShardingAttr withAxis(MLIRContext *ctx, ShardingAttr s, int64_t rank,
                      int64_t dim, int16_t axis) {
  Split split = s ? splitOf(s) : Split(rank);
  if (!llvm::is_contained(split[dim], axis)) // seeding twice is seeding once
    split[dim].push_back(axis);
  return ShardingAttr::get(ctx, split);
}

/// `s` split into the part on `group`'s axes and the rest (null when
/// replicated).
std::pair<ShardingAttr, ShardingAttr> partition(ShardingAttr s,
                                                ArrayRef<int16_t> group) {
  Split in(s.getRank()), out(s.getRank());
  bool anyIn = false, anyOut = false;
  for (int64_t d = 0; d < s.getRank(); ++d)
    for (int16_t a : s.getDimAxes(d)) {
      bool mine = llvm::is_contained(group, a);
      (mine ? in : out)[d].push_back(a);
      (mine ? anyIn : anyOut) = true;
    }
  MLIRContext *ctx = s.getContext();
  return {anyIn ? ShardingAttr::get(ctx, in) : ShardingAttr(),
          anyOut ? ShardingAttr::get(ctx, out) : ShardingAttr()};
}

/// `v` after the slices that earlier axes' seeds of it made.
Value current(Value v) {
  while (v.hasOneUse())
    if (auto s = dyn_cast<shard::AllSliceOp>(*v.getUsers().begin()))
      v = s.getResult();
    else
      break;
  return v;
}

ShardingAttr seedOf(Value v) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto fn = cast<func::FuncOp>(arg.getOwner()->getParentOp());
    return fn.getArgAttrOfType<ShardingAttr>(arg.getArgNumber(), kSeed);
  }
  return v.getDefiningOp()->getAttrOfType<ShardingAttr>(kSeed);
}

std::string degreeOf(const GridInfo &grid, ArrayRef<int16_t> axes) {
  std::string out;
  for (int16_t a : axes)
    out += (out.empty() ? "" : " x ") +
           axisDegree(grid.axisNames[a], grid.grid.getShape()[a]);
  return out;
}

/// Seeds one group of axes: the arguments as they enter, then the values
/// where they are (arguments, then ops in program order), then the gathers.
LogicalResult seedGroup(func::FuncOp fn, ShardingPropagation &prop,
                        ArrayRef<int16_t> group) {
  // The part of argument `arg`'s seed `name` on the group's axes, taken
  // off the argument (null: none).
  auto take = [&](BlockArgument arg, StringRef name) {
    unsigned i = arg.getArgNumber();
    auto s = fn.getArgAttrOfType<ShardingAttr>(i, name);
    if (!s)
      return ShardingAttr();
    auto [mine, rest] = partition(s, group);
    if (rest)
      fn.setArgAttr(i, name, rest);
    else
      fn.removeArgAttr(i, name);
    return mine;
  };
  for (BlockArgument arg : fn.getArguments()) {
    ShardingAttr mine = take(arg, kSharding);
    for (int64_t d = 0; mine && d < mine.getRank(); ++d)
      if (!mine.getDimAxes(d).empty() &&
          failed(prop.seedArgument(arg, d, mine.getDimAxes(d))))
        return failure();
  }
  for (BlockArgument arg : fn.getArguments()) {
    ShardingAttr mine = take(arg, kSeed);
    for (int64_t d = 0; mine && d < mine.getRank(); ++d)
      if (!mine.getDimAxes(d).empty() &&
          failed(prop.seedValue(current(arg), d, mine.getDimAxes(d))))
        return failure();
  }
  SmallVector<Operation *> seeded;
  for (Operation &op : fn.getBody().front())
    if (op.hasAttr(kSeed) || op.hasAttr(kGatherAfter))
      seeded.push_back(&op);
  for (Operation *op : seeded) {
    if (auto s = op->getAttrOfType<ShardingAttr>(kSeed)) {
      auto [mine, rest] = partition(s, group);
      if (rest)
        op->setAttr(kSeed, rest);
      else
        op->removeAttr(kSeed);
      for (int64_t d = 0; mine && d < mine.getRank(); ++d) {
        ArrayRef<int16_t> axes = mine.getDimAxes(d);
        if (axes.empty())
          continue;
        // A parameter: each use loads its own slice.
        if (isa<ParamOp>(op)) {
          SmallVector<OpOperand *> uses;
          for (OpOperand &use : op->getResult(0).getUses())
            uses.push_back(&use);
          for (OpOperand *use : uses)
            if (failed(prop.seedParam(*use, d, axes)))
              return failure();
        } else if (failed(prop.seedValue(current(op->getResult(0)), d, axes))) {
          return failure();
        }
      }
    }
    if (auto g = op->getAttrOfType<GridAxesAttr>(kGatherAfter)) {
      SmallVector<int16_t> rest;
      bool mine = false;
      for (int16_t a : g.getAxes()) {
        if (llvm::is_contained(group, a))
          mine = true;
        else
          rest.push_back(a);
      }
      if (rest.empty())
        op->removeAttr(kGatherAfter);
      else
        op->setAttr(kGatherAfter, GridAxesAttr::get(op->getContext(), rest));
      if (mine)
        prop.gatherAfter(op);
    }
  }
  return success();
}
} // namespace

bool hasSeeds(func::FuncOp fn) {
  for (BlockArgument arg : fn.getArguments())
    if (fn.getArgAttr(arg.getArgNumber(), kSharding) ||
        fn.getArgAttr(arg.getArgNumber(), kSeed))
      return true;
  for (Operation &op : fn.getBody().front())
    if (op.hasAttr(kSeed) || op.hasAttr(kGatherAfter))
      return true;
  return false;
}

void addSeedAxis(ModuleOp module, int16_t axis) {
  SmallVector<int16_t> order;
  if (auto o = module->getAttrOfType<DenseI16ArrayAttr>(kSeedOrder))
    order.assign(o.asArrayRef().begin(), o.asArrayRef().end());
  if (!llvm::is_contained(order, axis))
    order.push_back(axis);
  module->setAttr(kSeedOrder,
                  DenseI16ArrayAttr::get(module.getContext(), order));
}

void seedArgumentSplit(func::FuncOp fn, unsigned arg, int64_t dim,
                       int16_t axis) {
  auto rank = cast<RankedTensorType>(fn.getArgument(arg).getType()).getRank();
  fn.setArgAttr(arg, kSharding,
                withAxis(fn.getContext(),
                         fn.getArgAttrOfType<ShardingAttr>(arg, kSharding),
                         rank, dim, axis));
}

void seedSplit(Value v, int64_t dim, int16_t axis) {
  auto rank = cast<RankedTensorType>(v.getType()).getRank();
  ShardingAttr s = withAxis(v.getContext(), seedOf(v), rank, dim, axis);
  if (auto arg = dyn_cast<BlockArgument>(v))
    cast<func::FuncOp>(arg.getOwner()->getParentOp())
        .setArgAttr(arg.getArgNumber(), kSeed, s);
  else
    v.getDefiningOp()->setAttr(kSeed, s);
}

void seedGatherAfter(Operation *op, int16_t axis) {
  SmallVector<int16_t> axes;
  if (auto g = op->getAttrOfType<GridAxesAttr>(kGatherAfter))
    axes.assign(g.getAxes().begin(), g.getAxes().end());
  if (!llvm::is_contained(axes, axis))
    axes.push_back(axis);
  op->setAttr(kGatherAfter, GridAxesAttr::get(op->getContext(), axes));
}

std::pair<int64_t, std::string> seededDegree(Value v, int64_t dim,
                                             const GridInfo &grid) {
  ShardingAttr s = seedOf(v);
  if (!s)
    return {1, ""};
  int64_t n = 1;
  for (int16_t a : s.getDimAxes(dim))
    n *= grid.grid.getShape()[a];
  return {n, degreeOf(grid, s.getDimAxes(dim))};
}

LogicalResult propagateSeeds(func::FuncOp fn, const GridInfo &grid,
                             ArrayRef<int16_t> order) {
  // The axes seeded anywhere in the function.
  llvm::SetVector<int16_t> used;
  auto addAxes = [&](ShardingAttr s) {
    for (int64_t d = 0; s && d < s.getRank(); ++d)
      used.insert(s.getDimAxes(d).begin(), s.getDimAxes(d).end());
  };
  for (BlockArgument arg : fn.getArguments()) {
    addAxes(fn.getArgAttrOfType<ShardingAttr>(arg.getArgNumber(), kSharding));
    addAxes(fn.getArgAttrOfType<ShardingAttr>(arg.getArgNumber(), kSeed));
  }
  for (Operation &op : fn.getBody().front()) {
    addAxes(op.getAttrOfType<ShardingAttr>(kSeed));
    if (auto g = op.getAttrOfType<GridAxesAttr>(kGatherAfter))
      used.insert(g.getAxes().begin(), g.getAxes().end());
  }
  if (used.empty())
    return success();
  int64_t rank = grid.grid.getShape().size();
  for (int16_t a : used)
    if (a >= rank)
      return fn.emitError("a seed names grid axis ")
             << a << ", but the grid has " << rank << " axes";

  SmallVector<SmallVector<int16_t>> groups;
  SmallVector<int16_t> unordered;
  for (int16_t a : used)
    if (!llvm::is_contained(order, a))
      unordered.push_back(a);
  if (!unordered.empty()) {
    llvm::sort(unordered);
    groups.push_back(unordered);
  }
  for (int16_t a : order)
    if (used.contains(a))
      groups.push_back({a});

  for (ArrayRef<int16_t> group : groups) {
    ShardingPropagation prop(fn, grid, degreeOf(grid, group));
    if (failed(seedGroup(fn, prop, group)) || failed(prop.run()))
      return failure();
  }
  return success();
}

} // namespace mlir::fresco
