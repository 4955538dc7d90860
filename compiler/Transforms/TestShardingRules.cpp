//===- TestShardingRules.cpp - Print every op's sharding rule -------------===//
//
// A test pass: each fresco op's sharding rule, checked against the op's
// types and printed as a remark, so one lit file can pin every rule.
//
//===----------------------------------------------------------------------===//
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#define DEBUG_TYPE "fresco-test-sharding-rules"

namespace mlir::fresco {
#define GEN_PASS_DEF_TESTSHARDINGRULES
#include "compiler/Transforms/Passes.h.inc"

namespace {

struct TestShardingRulesPass
    : impl::TestShardingRulesBase<TestShardingRulesPass> {
  void runOnOperation() override {
    getOperation()->walk([&](ShardingRuleOpInterface op) {
      ShardingRule rule = op.getShardingRule();
      if (failed(rule.verify(op)))
        return signalPassFailure();
      std::string text;
      llvm::raw_string_ostream os(text);
      os << rule;
      op->emitRemark("sharding rule ") << text;
    });
    markAllAnalysesPreserved();
  }
};

} // namespace
} // namespace mlir::fresco
