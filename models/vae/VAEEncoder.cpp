//===- VAEEncoder.cpp - Emit diffusers' AutoencoderKL encoder -------------===//
//
// Mirrors diffusers' Encoder: conv_in, DownEncoderBlock2D x N (resnets, then
// a Downsample2D on every block but the last), UNetMidBlock2D, GroupNorm,
// SiLU, conv_out to 2 x latent_channels (double_z), then quant_conv when the
// config uses one. The mean is the first latent_channels channels of those
// moments (DiagonalGaussianDistribution's chunk(2, dim=1)).
//
//===----------------------------------------------------------------------===//
#include "models/vae/VAEBuilder.h"
#include "models/vae/VAEEmitter.h"

using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {
namespace detail {

Value VAEEmitter::downsample(const Twine &prefix, Value x) {
  std::string p = prefix.str();
  Location l = loc(p);
  auto t = cast<RankedTensorType>(x.getType());
  // F.pad(x, (0, 1, 0, 1)): one zero column at the right, one zero row at
  // the bottom; the convolution itself pads nothing.
  for (int64_t axis : {2, 3})
    x = PadOp::create(b, l, x, b.getI64IntegerAttr(axis),
                      b.getI64IntegerAttr(0),
                      b.getI64IntegerAttr(t.getDimSize(axis) + 1));
  int64_t ch = t.getDimSize(1);
  Value w = param(p + ".conv.weight", {ch, ch, 3, 3});
  Value bias = param(p + ".conv.bias", {ch});
  return Conv2dOp::create(b, loc(p + ".conv"), x, w, bias,
                          b.getDenseI64ArrayAttr({2, 2}),
                          b.getDenseI64ArrayAttr({0, 0}), IntegerAttr());
}

Value VAEEmitter::encodeMoments(Value x) {
  ArrayRef<int64_t> blocks = c.blockOutChannels;
  Value h = conv("encoder.conv_in", x, blocks.front(), 3);
  for (size_t i = 0; i < blocks.size(); ++i) {
    std::string p = "encoder.down_blocks." + std::to_string(i);
    for (int64_t j = 0; j < c.layersPerBlock; ++j)
      h = resnet(p + ".resnets." + std::to_string(j), h, blocks[i]);
    if (i + 1 < blocks.size()) // every block but the last halves H and W
      h = downsample(p + ".downsamplers.0", h);
  }
  h = midBlock("encoder.mid_block", h);
  h = SiluOp::create(b, loc("encoder"), groupNorm("encoder.conv_norm_out", h));
  h = conv("encoder.conv_out", h, 2 * c.latentChannels, 3);
  if (c.useQuantConv)
    h = conv("quant_conv", h, 2 * c.latentChannels, 1);
  return h;
}

Value VAEEmitter::momentsHalf(Value moments, bool logVar) {
  return SliceOp::create(
      b, loc(logVar ? "latent_dist.logvar" : "latent_dist.mean"), moments,
      b.getI64IntegerAttr(1),
      b.getI64IntegerAttr(logVar ? c.latentChannels : 0),
      b.getI64IntegerAttr(c.latentChannels));
}

} // namespace detail

func::FuncOp buildVAEEncoder(ModuleOp module, const VAEConfig &config,
                             int64_t batch, int64_t height, int64_t width,
                             StringRef name, StringRef component, bool logVar) {
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  Type f32 = b.getF32Type();
  int64_t down = config.upscale();
  auto inTy =
      RankedTensorType::get({batch, config.inChannels, height, width}, f32);
  auto outTy = RankedTensorType::get(
      {batch, config.latentChannels, height / down, width / down}, f32);
  SmallVector<Type> results(logVar ? 2 : 1, outTy);
  auto fn =
      func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name,
                           FunctionType::get(b.getContext(), {inTy}, results));
  fn->setAttr(FrescoDialect::kComponentAttrName,
              b.getStringAttr(component.empty() ? name : component));
  fn.setArgAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("image"));
  fn.setResultAttr(0, FrescoDialect::kNameAttrName,
                   b.getStringAttr("latent_mean"));
  if (logVar)
    fn.setResultAttr(1, FrescoDialect::kNameAttrName,
                     b.getStringAttr("latent_logvar"));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  detail::VAEEmitter emitter(b, config, batch);
  Value moments = emitter.encodeMoments(entry->getArgument(0));
  SmallVector<Value> out = {emitter.momentsHalf(moments, /*logVar=*/false)};
  if (logVar)
    out.push_back(emitter.momentsHalf(moments, /*logVar=*/true));
  func::ReturnOp::create(b, fn.getLoc(), out);
  return fn;
}

} // namespace fresco::models
