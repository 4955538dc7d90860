//===- FrescoAttributes.h - fresco dialect attributes -----------*- C++ -*-===//
#ifndef FRESCO_DIALECT_FRESCOATTRIBUTES_H
#define FRESCO_DIALECT_FRESCOATTRIBUTES_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"

#include "dialects/Fresco/IR/FrescoEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Fresco/IR/FrescoAttributes.h.inc"

#endif // FRESCO_DIALECT_FRESCOATTRIBUTES_H
