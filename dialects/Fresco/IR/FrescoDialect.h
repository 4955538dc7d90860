//===- FrescoDialect.h - The fresco dialect ---------------------*- C++ -*-===//
#ifndef FRESCO_DIALECT_FRESCODIALECT_H
#define FRESCO_DIALECT_FRESCODIALECT_H

#include "mlir/IR/Dialect.h"

#include "dialects/Fresco/IR/FrescoDialect.h.inc"

#endif // FRESCO_DIALECT_FRESCODIALECT_H
