//===- ModelEmitter.h - Shared helpers of the model builders ----*- C++ -*-===//
//
// The small op constructors every diffusers model builder needs: named
// locations, state_dict parameters, nn.Linear, reshape, slice and concat.
// Header-only: the builders derive their emitters from it.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_MODELS_MODELEMITTER_H
#define FRESCO_MODELS_MODELEMITTER_H

#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"

namespace fresco::models {

/// Net `k`'s share of an input several ControlNets read side by side:
/// `width` entries of `v` from k x width along `axis`, located at the net's
/// `folder`.
inline mlir::Value netShare(mlir::OpBuilder &b, llvm::StringRef folder,
                            mlir::Value v, int64_t axis, int64_t k,
                            int64_t width) {
  return mlir::fresco::SliceOp::create(
      b, mlir::NameLoc::get(b.getStringAttr(folder)), v,
      b.getI64IntegerAttr(axis), b.getI64IntegerAttr(k * width),
      b.getI64IntegerAttr(width));
}

class ModelEmitter {
protected:
  /// `component`: the checkpoint folder of the parameters when it is not
  /// the function's (a ControlNet's), also prefixing the op locations.
  explicit ModelEmitter(mlir::OpBuilder &b, llvm::StringRef component = "")
      : b(b), f32(b.getF32Type()), component(component.str()) {}

  /// A location naming the diffusers module (e.g. "transformer_blocks.3").
  mlir::Location loc(const llvm::Twine &scope) {
    if (component.empty())
      return mlir::NameLoc::get(b.getStringAttr(scope));
    return mlir::NameLoc::get(b.getStringAttr(component + "." + scope));
  }
  /// The f32 parameter named by its state_dict key.
  mlir::Value param(const llvm::Twine &name, llvm::ArrayRef<int64_t> shape) {
    std::string n = name.str();
    return mlir::fresco::ParamOp::create(
        b, loc(n), mlir::RankedTensorType::get(shape, f32), b.getStringAttr(n),
        mlir::DenseI64ArrayAttr(), mlir::DenseI64ArrayAttr(),
        component.empty() ? mlir::StringAttr() : b.getStringAttr(component));
  }
  /// nn.Linear at `prefix` (weight [out, in], optional bias [out]).
  mlir::Value linear(const llvm::Twine &prefix, mlir::Value x, int64_t in,
                     int64_t out, bool bias = true) {
    std::string p = prefix.str();
    mlir::Value w = param(p + ".weight", {out, in});
    mlir::Value bv = bias ? param(p + ".bias", {out}) : mlir::Value();
    return mlir::fresco::LinearOp::create(b, loc(p), x, w, bv);
  }
  mlir::Value reshape(mlir::Value x, llvm::ArrayRef<int64_t> shape,
                      mlir::Location l) {
    auto t = mlir::cast<mlir::RankedTensorType>(x.getType());
    return mlir::fresco::ReshapeOp::create(
        b, l, mlir::RankedTensorType::get(shape, t.getElementType()), x);
  }
  mlir::Value slice(mlir::Value x, int64_t axis, int64_t start, int64_t size,
                    mlir::Location l) {
    return mlir::fresco::SliceOp::create(b, l, x, b.getI64IntegerAttr(axis),
                                         b.getI64IntegerAttr(start),
                                         b.getI64IntegerAttr(size));
  }
  mlir::Value concat(mlir::ValueRange xs, int64_t axis, mlir::Location l) {
    return mlir::fresco::ConcatOp::create(b, l, xs, b.getI64IntegerAttr(axis));
  }

  mlir::OpBuilder &b;
  mlir::Type f32;
  std::string component;
};

} // namespace fresco::models

#endif // FRESCO_MODELS_MODELEMITTER_H
