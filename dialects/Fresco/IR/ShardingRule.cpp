//===- ShardingRule.cpp - How an op's dimensions relate -------------------===//
#include "dialects/Fresco/IR/ShardingRule.h"

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Diagnostics.h"
#include "llvm/ADT/STLExtras.h"

namespace mlir::fresco {

int64_t ShardingRule::addFactor(int64_t size, FactorKind kind) {
  factors.push_back({size, kind});
  return int64_t(factors.size()) - 1;
}

LogicalResult ShardingRule::verify(Operation *op) const {
  if (operands.size() != op->getNumOperands() ||
      results.size() != op->getNumResults())
    return op->emitError("sharding rule has ")
           << operands.size() << " operand and " << results.size()
           << " result entries for " << op->getNumOperands() << " and "
           << op->getNumResults();
  SmallVector<bool> used(factors.size(), false);
  auto check = [&](const TensorFactors &t, Type type,
                   StringRef what) -> LogicalResult {
    auto tt = cast<RankedTensorType>(type);
    if (int64_t(t.size()) != tt.getRank())
      return op->emitError("sharding rule gives ")
             << what << " " << t.size() << " dimension(s), its type is "
             << type;
    for (auto [d, fs] : llvm::enumerate(t)) {
      int64_t product = 1;
      for (int64_t f : fs) {
        if (f < 0 || f >= int64_t(factors.size()))
          return op->emitError("sharding rule names an unknown factor");
        used[f] = true;
        product *= factors[f].size;
      }
      if (product != tt.getDimSize(d))
        return op->emitError("sharding rule makes dimension ")
               << d << " of " << what << " " << product << ", its type is "
               << type;
    }
    return success();
  };
  for (auto [i, t] : llvm::enumerate(operands))
    if (failed(check(t, op->getOperand(i).getType(), "an operand")))
      return failure();
  for (auto [i, t] : llvm::enumerate(results))
    if (failed(check(t, op->getResult(i).getType(), "a result")))
      return failure();
  if (llvm::is_contained(used, false))
    return op->emitError("sharding rule has a factor no tensor uses");
  return success();
}

namespace {
std::string factorName(int64_t f) {
  // i..z, then a..h, then f<n>: Shardy's habit of starting at i.
  if (f < 18)
    return std::string(1, char('i' + f));
  if (f < 26)
    return std::string(1, char('a' + f - 18));
  return "f" + std::to_string(f);
}

void printTensors(raw_ostream &os, ArrayRef<TensorFactors> tensors) {
  os << '(';
  llvm::interleaveComma(tensors, os, [&](const TensorFactors &t) {
    os << '[';
    llvm::interleaveComma(t, os, [&](const SmallVector<int64_t, 2> &fs) {
      if (fs.empty()) {
        os << '1';
        return;
      }
      if (fs.size() > 1)
        os << '(';
      llvm::interleaveComma(fs, os, [&](int64_t f) { os << factorName(f); });
      if (fs.size() > 1)
        os << ')';
    });
    os << ']';
  });
  os << ')';
}
} // namespace

void ShardingRule::print(raw_ostream &os) const {
  printTensors(os, operands);
  os << " -> ";
  printTensors(os, results);
  os << " {";
  llvm::interleaveComma(
      llvm::seq<int64_t>(0, factors.size()), os,
      [&](int64_t f) { os << factorName(f) << '=' << factors[f].size; });
  os << '}';
  for (FactorKind kind : {FactorKind::Reduction, FactorKind::NeedReplication,
                          FactorKind::KeySequence}) {
    SmallVector<int64_t> of;
    for (auto [f, factor] : llvm::enumerate(factors))
      if (factor.kind == kind)
        of.push_back(f);
    if (of.empty())
      continue;
    os << ' ' << stringifyFactorKind(kind) << "={";
    llvm::interleaveComma(of, os, [&](int64_t f) { os << factorName(f); });
    os << '}';
  }
  if (headsFactor)
    os << " heads=" << factorName(*headsFactor);
}

} // namespace mlir::fresco
