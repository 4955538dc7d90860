//===- GemmPrecision.cpp - Which linears take FP8 GEMMs -------------------===//
#include "compiler/Target/Plan/GemmPrecision.h"

#include "mlir/IR/Location.h"

using namespace mlir;

namespace {

/// True when the dotted module path `name` has a component
/// `transformer_blocks` or `single_transformer_blocks` followed by more.
bool insideTransformerBlock(StringRef name) {
  for (StringRef block :
       {"transformer_blocks.", "single_transformer_blocks."}) {
    size_t at = name.find(block);
    while (at != StringRef::npos) {
      // A whole component: at the start or after a dot.
      if (at == 0 || name[at - 1] == '.')
        return true;
      at = name.find(block, at + 1);
    }
  }
  return false;
}

/// True when any name in `loc` (fused locations after CSE and fusions
/// hold several) is inside a transformer block.
bool locatedInBlock(Location loc) {
  bool found = false;
  loc->walk([&](Location l) {
    if (auto named = dyn_cast<NameLoc>(l))
      found |= insideTransformerBlock(named.getName().getValue());
    return found ? WalkResult::interrupt() : WalkResult::advance();
  });
  return found;
}

} // namespace

bool mlir::fresco::takesFp8(LinearOp op) {
  auto input = dyn_cast<RankedTensorType>(op->getOperand(0).getType());
  // The weight is quantized once at load: only a checkpoint weight.
  return input && input.getRank() >= 3 &&
         isa_and_nonnull<ParamOp>(op.getWeight().getDefiningOp()) &&
         locatedInBlock(op.getLoc());
}
