//===- FrescoOps.h - fresco dialect ops -------------------------*- C++ -*-===//
#ifndef FRESCO_DIALECT_FRESCOOPS_H
#define FRESCO_DIALECT_FRESCOOPS_H

#include "dialects/Fresco/IR/FrescoAttributes.h"
#include "dialects/Fresco/IR/FrescoDialect.h"
#include "dialects/Fresco/IR/ShardingRule.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/Fresco/IR/ShardingRuleInterface.h.inc"

#define GET_OP_CLASSES
#include "dialects/Fresco/IR/FrescoOps.h.inc"

#endif // FRESCO_DIALECT_FRESCOOPS_H
