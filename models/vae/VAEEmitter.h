//===- VAEEmitter.h - AutoencoderKL building blocks -------------*- C++ -*-===//
//
// The resnets, attention, group norms and convolutions diffusers'
// AutoencoderKL Encoder and Decoder share, emitted as fresco ops with the
// checkpoint's parameter names. Private to models/vae.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_MODELS_VAE_VAEEMITTER_H
#define FRESCO_MODELS_VAE_VAEEMITTER_H

#include "dialects/Fresco/IR/FrescoOps.h"
#include "models/ModelEmitter.h"
#include "models/vae/VAEConfig.h"

#include "mlir/IR/Builders.h"

namespace fresco::models::detail {

// Only the VAE builders' sources include this header.
using namespace mlir;
using namespace mlir::fresco;

class VAEEmitter : public ModelEmitter {
public:
  VAEEmitter(OpBuilder &b, const VAEConfig &c, int64_t batch)
      : ModelEmitter(b), c(c), batch(batch) {}

  Value decode(Value latents);
  /// The latent distribution's moments [B, 2 latent_channels, h, w] (mean,
  /// then log-variance) and their halves.
  Value encodeMoments(Value image);
  Value momentsHalf(Value moments, bool logVar);

private:
  int64_t channels(Value x) {
    return cast<RankedTensorType>(x.getType()).getDimSize(1);
  }
  /// nn.Conv2d at `prefix` with a square kernel and "same" padding.
  Value conv(const Twine &prefix, Value x, int64_t out, int64_t k) {
    std::string p = prefix.str();
    Value w = param(p + ".weight", {out, channels(x), k, k});
    Value bias = param(p + ".bias", {out});
    return Conv2dOp::create(
        b, loc(p), x, w, bias, b.getDenseI64ArrayAttr({1, 1}),
        b.getDenseI64ArrayAttr({k / 2, k / 2}), IntegerAttr());
  }
  Value groupNorm(const Twine &prefix, Value x) {
    std::string p = prefix.str();
    int64_t ch = channels(x);
    SmallVector<Value> affine = {param(p + ".weight", {ch}),
                                 param(p + ".bias", {ch})};
    return GroupNormOp::create(
        b, loc(p), x, affine, b.getI64IntegerAttr(c.normNumGroups),
        b.getF64FloatAttr(1e-6), GridAxesAttr(), IntegerAttr());
  }
  Value resnet(const Twine &prefix, Value x, int64_t out);
  Value attention(const Twine &prefix, Value x);
  /// UNetMidBlock2D: resnet, attention (unless disabled), resnet.
  Value midBlock(const Twine &prefix, Value x);
  /// Downsample2D(padding=0): zero-pad one row at the bottom and one column
  /// at the right, then a stride-2 3x3 convolution.
  Value downsample(const Twine &prefix, Value x);

  const VAEConfig &c;
  int64_t batch;
};

} // namespace fresco::models::detail

#endif // FRESCO_MODELS_VAE_VAEEMITTER_H
