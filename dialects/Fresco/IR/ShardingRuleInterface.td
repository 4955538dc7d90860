//===- ShardingRuleInterface.td - Sharding rules per op ----*- tablegen -*-===//
#ifndef FRESCO_SHARDINGRULEINTERFACE_TD
#define FRESCO_SHARDINGRULEINTERFACE_TD

include "mlir/IR/OpBase.td"

def Fresco_ShardingRuleOpInterface : OpInterface<"ShardingRuleOpInterface"> {
  let description = [{
    How the op's dimensions relate, as data (ShardingRule.h): which
    dimensions are parallel (result dimension i is operand dimension j),
    which are contracted (a split leaves a partial sum), which must stay
    whole, and attention's key/value tokens (a split is resolved by ring
    attention or by all_to_alls onto the heads). Every fresco op implements
    it, in ShardingRules.cpp; `fresco-test-sharding-rules` prints them.
  }];
  let cppNamespace = "::mlir::fresco";
  let methods = [
    InterfaceMethod<"The op's sharding rule, for its current types.",
                    "::mlir::fresco::ShardingRule", "getShardingRule",
                    (ins)>
  ];
}

#endif // FRESCO_SHARDINGRULEINTERFACE_TD
