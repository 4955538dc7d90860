//===- FrescoDialect.cpp - The fresco dialect -----------------------------===//
#include "dialects/Fresco/IR/FrescoDialect.h"
#include "dialects/Fresco/IR/FrescoAttributes.h"
#include "dialects/Fresco/IR/FrescoOps.h"

using namespace mlir;
using namespace mlir::fresco;

#include "dialects/Fresco/IR/FrescoDialect.cpp.inc"

void FrescoDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "dialects/Fresco/IR/FrescoOps.cpp.inc"
      >();
}
