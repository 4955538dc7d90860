//===- VAEBuilder.cpp - Emit diffusers' AutoencoderKL decoder -------------===//
//
// Mirrors diffusers' Decoder: conv_in, UNetMidBlock2D (resnet, attention,
// resnet), UpDecoderBlock2D x N (resnets, nearest 2x upsample + conv),
// GroupNorm, SiLU, conv_out. Every norm has eps 1e-6, as diffusers sets.
//
//===----------------------------------------------------------------------===//
#include "models/vae/VAEBuilder.h"
#include "models/vae/VAEEmitter.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {
namespace detail {

Value VAEEmitter::resnet(const Twine &prefix, Value x, int64_t out) {
  std::string p = prefix.str();
  Value h = SiluOp::create(b, loc(p), groupNorm(p + ".norm1", x));
  h = conv(p + ".conv1", h, out, 3);
  h = SiluOp::create(b, loc(p), groupNorm(p + ".norm2", h));
  h = conv(p + ".conv2", h, out, 3);
  Value shortcut =
      channels(x) == out ? x : conv(p + ".conv_shortcut", x, out, 1);
  return AddOp::create(b, loc(p), shortcut, h);
}

/// diffusers' Attention on a spatial input: group norm, tokens = pixels,
/// one head of width C, output projection, residual.
Value VAEEmitter::attention(const Twine &prefix, Value x) {
  std::string p = prefix.str();
  Location l = loc(p);
  auto t = cast<RankedTensorType>(x.getType());
  int64_t ch = t.getDimSize(1), hw = t.getDimSize(2) * t.getDimSize(3);
  Value h = groupNorm(p + ".group_norm", x);
  h = ReshapeOp::create(b, l, RankedTensorType::get({batch, ch, hw}, f32), h);
  h = TransposeOp::create(b, l, h, b.getDenseI64ArrayAttr({0, 2, 1}));
  auto proj = [&](StringRef name, Value in) {
    std::string q = p + "." + name.str();
    return LinearOp::create(b, loc(q), in, param(q + ".weight", {ch, ch}),
                            param(q + ".bias", {ch}));
  };
  Value q = proj("to_q", h), k = proj("to_k", h), v = proj("to_v", h);
  Value o = AttentionOp::create(b, l, q, k, v, b.getI64IntegerAttr(1),
                                b.getF64FloatAttr(1.0 / std::sqrt(double(ch))),
                                /*ring_axes=*/nullptr);
  o = proj("to_out.0", o);
  o = TransposeOp::create(b, l, o, b.getDenseI64ArrayAttr({0, 2, 1}));
  o = ReshapeOp::create(b, l, t, o);
  return AddOp::create(b, l, o, x);
}

Value VAEEmitter::midBlock(const Twine &prefix, Value x) {
  std::string p = prefix.str();
  int64_t ch = channels(x);
  Value h = resnet(p + ".resnets.0", x, ch);
  if (c.midBlockAddAttention)
    h = attention(p + ".attentions.0", h);
  return resnet(p + ".resnets.1", h, ch);
}

Value VAEEmitter::decode(Value z) {
  if (c.usePostQuantConv)
    z = conv("post_quant_conv", z, c.latentChannels, 1);
  ArrayRef<int64_t> blocks = c.blockOutChannels;
  Value h = conv("decoder.conv_in", z, blocks.back(), 3);

  h = midBlock("decoder.mid_block", h);

  for (size_t i = 0; i < blocks.size(); ++i) {
    std::string p = "decoder.up_blocks." + std::to_string(i);
    int64_t out = blocks[blocks.size() - 1 - i];
    for (int64_t j = 0; j <= c.layersPerBlock; ++j)
      h = resnet(p + ".resnets." + std::to_string(j), h, out);
    if (i + 1 < blocks.size()) { // every block but the last doubles H and W
      h = UpsampleNearestOp::create(b, loc(p + ".upsamplers.0"), h,
                                    b.getDenseI64ArrayAttr({2, 2}));
      h = conv(p + ".upsamplers.0.conv", h, out, 3);
    }
  }
  h = SiluOp::create(b, loc("decoder"), groupNorm("decoder.conv_norm_out", h));
  return conv("decoder.conv_out", h, c.outChannels, 3);
}

} // namespace detail

func::FuncOp buildVAEDecoder(ModuleOp module, const VAEConfig &config,
                             int64_t batch, int64_t latentHeight,
                             int64_t latentWidth, StringRef name) {
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  Type f32 = b.getF32Type();
  int64_t h = latentHeight, w = latentWidth, up = config.upscale();
  auto inTy = RankedTensorType::get({batch, config.latentChannels, h, w}, f32);
  auto outTy =
      RankedTensorType::get({batch, config.outChannels, h * up, w * up}, f32);
  auto fn =
      func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name,
                           FunctionType::get(b.getContext(), {inTy}, {outTy}));
  fn->setAttr(FrescoDialect::kComponentAttrName, b.getStringAttr(name));
  fn.setArgAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("latents"));
  fn.setResultAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("sample"));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  detail::VAEEmitter emitter(b, config, batch);
  func::ReturnOp::create(b, fn.getLoc(), emitter.decode(entry->getArgument(0)));
  return fn;
}

} // namespace fresco::models
