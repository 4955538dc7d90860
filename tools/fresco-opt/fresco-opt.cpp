//===- fresco-opt.cpp - Run fresco passes on .mlir files ------------------===//
#include "compiler/Pipelines/Pipelines.h"
#include "compiler/Transforms/Passes.h"
#include "dialects/Fresco/IR/FrescoDialect.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Shard/IR/ShardDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::fresco::registerFrescoPasses();
  mlir::fresco::registerFrescoPipelines();
  mlir::DialectRegistry registry;
  registry.insert<mlir::fresco::FrescoDialect, mlir::func::FuncDialect,
                  mlir::shard::ShardDialect>();
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "Fresco optimizer driver: runs fresco passes on .mlir\n",
      registry));
}
