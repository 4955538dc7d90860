//===- UNetBuilder.cpp - Emit diffusers' UNet2DConditionModel -------------===//
//
// Mirrors diffusers 0.31's UNet2DConditionModel for Stable Diffusion 1.x /
// 2.x and SDXL: the timestep MLP (plus, for SDXL, add_embedding over the
// pooled text embedding and the time ids' sinusoids), conv_in, down blocks
// (ResnetBlock2D with the timestep added after conv1, Transformer2DModel with
// self-attention, cross-attention on the text and a GEGLU feed-forward, a
// stride-2 conv), the mid block (resnet, transformer, resnet), up blocks that
// concatenate the down path's outputs, nearest 2x upsampling, the output head.
//
//===----------------------------------------------------------------------===//
#include "models/unet/UNetBuilder.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {
namespace {

class UNetEmitter {
public:
  UNetEmitter(OpBuilder &b, const UNetConfig &c, const UNetShape &s)
      : b(b), c(c), s(s), f32(b.getF32Type()) {}

  Value forward(Value sample, Value timestep, Value text, Value textEmbeds,
                Value timeIds);

private:
  Location loc(const Twine &scope) {
    return NameLoc::get(b.getStringAttr(scope));
  }
  Value param(const Twine &name, ArrayRef<int64_t> shape) {
    std::string n = name.str();
    return ParamOp::create(b, loc(n), RankedTensorType::get(shape, f32),
                           b.getStringAttr(n));
  }
  static ArrayRef<int64_t> shapeOf(Value x) {
    return cast<RankedTensorType>(x.getType()).getShape();
  }
  static int64_t channels(Value x) { return shapeOf(x)[1]; }
  Value linear(const Twine &prefix, Value x, int64_t out, bool bias = true) {
    std::string p = prefix.str();
    int64_t in = shapeOf(x).back();
    return LinearOp::create(b, loc(p), x, param(p + ".weight", {out, in}),
                            bias ? param(p + ".bias", {out}) : Value());
  }
  Value conv(const Twine &prefix, Value x, int64_t out, int64_t k,
             int64_t stride = 1) {
    std::string p = prefix.str();
    Value w = param(p + ".weight", {out, channels(x), k, k});
    return Conv2dOp::create(b, loc(p), x, w, param(p + ".bias", {out}),
                            b.getDenseI64ArrayAttr({stride, stride}),
                            b.getDenseI64ArrayAttr({k / 2, k / 2}), IntegerAttr());
  }
  Value groupNorm(const Twine &prefix, Value x, double eps) {
    std::string p = prefix.str();
    int64_t ch = channels(x);
    SmallVector<Value> affine = {param(p + ".weight", {ch}),
                                 param(p + ".bias", {ch})};
    return GroupNormOp::create(b, loc(p), x, affine,
                               b.getI64IntegerAttr(c.normNumGroups),
                               b.getF64FloatAttr(eps), GridAxesAttr(), IntegerAttr());
  }
  Value layerNorm(const Twine &prefix, Value x) {
    std::string p = prefix.str();
    int64_t d = shapeOf(x).back();
    SmallVector<Value> affine = {param(p + ".weight", {d}),
                                 param(p + ".bias", {d})};
    return LayerNormOp::create(b, loc(p), x, affine, b.getF64FloatAttr(1e-5));
  }
  Value reshape(Location l, Value x, ArrayRef<int64_t> shape) {
    return ReshapeOp::create(b, l, RankedTensorType::get(shape, f32), x);
  }

  Value resnet(const Twine &prefix, Value x, Value temb, int64_t out);
  Value transformer(const Twine &prefix, Value x, Value text, int64_t heads,
                    int64_t layers);
  Value block(const Twine &prefix, Value x, Value text, int64_t heads);
  Value attention(const Twine &prefix, Value x, Value context, int64_t heads);
  Value sinusoids(const Twine &scope, Value t, int64_t dim) {
    return TimestepEmbeddingOp::create(
        b, loc(scope), t, b.getI64IntegerAttr(dim),
        b.getBoolAttr(c.flipSinToCos), b.getF64FloatAttr(c.freqShift),
        b.getF64FloatAttr(1.0), b.getF64FloatAttr(10000.0));
  }
  /// diffusers' TimestepEmbedding: linear, SiLU, linear.
  Value mlp(const Twine &prefix, Value x) {
    std::string p = prefix.str();
    Value h = linear(p + ".linear_1", x, c.timeEmbedDim());
    h = SiluOp::create(b, loc(p), h);
    return linear(p + ".linear_2", h, c.timeEmbedDim());
  }

  OpBuilder &b;
  const UNetConfig &c;
  const UNetShape &s;
  Type f32;
};

/// ResnetBlock2D: the timestep's projection is added after conv1.
Value UNetEmitter::resnet(const Twine &prefix, Value x, Value temb,
                          int64_t out) {
  std::string p = prefix.str();
  Location l = loc(p);
  Value h = SiluOp::create(b, l, groupNorm(p + ".norm1", x, c.normEps));
  h = conv(p + ".conv1", h, out, 3);
  Value t = linear(p + ".time_emb_proj", SiluOp::create(b, l, temb), out);
  h = AddOp::create(b, l, h, reshape(l, t, {s.batch, out, 1, 1}));
  h = SiluOp::create(b, l, groupNorm(p + ".norm2", h, c.normEps));
  h = conv(p + ".conv2", h, out, 3);
  Value shortcut =
      channels(x) == out ? x : conv(p + ".conv_shortcut", x, out, 1);
  return AddOp::create(b, l, shortcut, h);
}

/// diffusers' Attention with heads of width C / heads; q, k and v without
/// bias, the output projection with one. `context` is x for self-attention.
Value UNetEmitter::attention(const Twine &prefix, Value x, Value context,
                             int64_t heads) {
  std::string p = prefix.str();
  int64_t inner = shapeOf(x).back();
  Value q = linear(p + ".to_q", x, inner, false);
  Value k = linear(p + ".to_k", context, inner, false);
  Value v = linear(p + ".to_v", context, inner, false);
  Value o = AttentionOp::create(
      b, loc(p), q, k, v, b.getI64IntegerAttr(heads),
      b.getF64FloatAttr(1.0 / std::sqrt(double(inner / heads))),
      /*ring_axes=*/nullptr);
  return linear(p + ".to_out.0", o, inner);
}

/// BasicTransformerBlock: self-attention, cross-attention on the text and a
/// GEGLU feed-forward, each after a layer norm and around a residual.
Value UNetEmitter::block(const Twine &prefix, Value x, Value text,
                         int64_t heads) {
  std::string p = prefix.str();
  Location l = loc(p);
  Value n = layerNorm(p + ".norm1", x);
  x = AddOp::create(b, l, attention(p + ".attn1", n, n, heads), x);
  n = layerNorm(p + ".norm2", x);
  x = AddOp::create(b, l, attention(p + ".attn2", n, text, heads), x);
  n = layerNorm(p + ".norm3", x);
  // GEGLU: the projection's first half times GELU (exact) of its second.
  int64_t d = shapeOf(x).back(), inner = 4 * d;
  std::string ff = p + ".ff.net";
  Value proj = linear(ff + ".0.proj", n, 2 * inner);
  Location fl = loc(ff + ".0");
  Value hidden =
      SliceOp::create(b, fl, proj, b.getI64IntegerAttr(2),
                      b.getI64IntegerAttr(0), b.getI64IntegerAttr(inner));
  Value gate =
      SliceOp::create(b, fl, proj, b.getI64IntegerAttr(2),
                      b.getI64IntegerAttr(inner), b.getI64IntegerAttr(inner));
  gate = GeluOp::create(b, fl, gate, b.getStringAttr("none"));
  Value f = linear(ff + ".2", MulOp::create(b, fl, hidden, gate), d);
  return AddOp::create(b, l, f, x);
}

/// Transformer2DModel on an image: group norm, a projection in (1x1 conv,
/// or linear with use_linear_projection), the blocks on [B, HW, C] tokens,
/// the projection out, the residual.
Value UNetEmitter::transformer(const Twine &prefix, Value x, Value text,
                               int64_t heads, int64_t layers) {
  std::string p = prefix.str();
  Location l = loc(p);
  ArrayRef<int64_t> shape = shapeOf(x);
  int64_t ch = shape[1], hw = shape[2] * shape[3];
  auto toTokens = [&](Value v) {
    v = reshape(l, v, {s.batch, ch, hw});
    return TransposeOp::create(b, l, v, b.getDenseI64ArrayAttr({0, 2, 1}));
  };
  auto toImage = [&](Value v) {
    v = TransposeOp::create(b, l, v, b.getDenseI64ArrayAttr({0, 2, 1}));
    return reshape(l, v, shape);
  };
  Value h = groupNorm(p + ".norm", x, 1e-6);
  if (c.useLinearProjection)
    h = linear(p + ".proj_in", toTokens(h), ch);
  else
    h = toTokens(conv(p + ".proj_in", h, ch, 1));
  for (int64_t i = 0; i < layers; ++i)
    h = block(p + ".transformer_blocks." + Twine(i), h, text, heads);
  if (c.useLinearProjection)
    h = toImage(linear(p + ".proj_out", h, ch));
  else
    h = conv(p + ".proj_out", toImage(h), ch, 1);
  return AddOp::create(b, l, h, x);
}

Value UNetEmitter::forward(Value sample, Value timestep, Value text,
                           Value textEmbeds, Value timeIds) {
  const int64_t n = c.numBlocks(), c0 = c.blockOutChannels[0];
  Value temb = mlp("time_embedding", sinusoids("time_proj", timestep, c0));
  if (c.hasTextTime()) {
    // SDXL: each time id's sinusoids, flattened per row after the pooled
    // text embedding, through add_embedding, added to the timestep's.
    const int64_t ids = c.timeIds, d = c.additionTimeEmbedDim;
    Location l = loc("add_time_proj");
    Value e =
        sinusoids("add_time_proj", reshape(l, timeIds, {s.batch * ids}), d);
    e = reshape(l, e, {s.batch, ids * d});
    Value in =
        ConcatOp::create(b, loc("add_embedding"), ValueRange{textEmbeds, e},
                         b.getI64IntegerAttr(1));
    temb =
        AddOp::create(b, loc("add_embedding"), temb, mlp("add_embedding", in));
  }

  Value h = conv("conv_in", sample, c0, 3);
  SmallVector<Value> skips = {h};
  for (int64_t i = 0; i < n; ++i) {
    std::string p = "down_blocks." + std::to_string(i);
    for (int64_t j = 0; j < c.layersPerBlock; ++j) {
      h = resnet(p + ".resnets." + std::to_string(j), h, temb,
                 c.blockOutChannels[i]);
      if (c.crossAttention[i])
        h = transformer(p + ".attentions." + std::to_string(j), h, text,
                        c.heads[i], c.transformerLayers[i]);
      skips.push_back(h);
    }
    if (i + 1 < n) {
      h = conv(p + ".downsamplers.0.conv", h, channels(h), 3, /*stride=*/2);
      skips.push_back(h);
    }
  }
  // The mid block uses the last block's heads and layers.
  h = resnet("mid_block.resnets.0", h, temb, channels(h));
  h = transformer("mid_block.attentions.0", h, text, c.heads[n - 1],
                  c.transformerLayers[n - 1]);
  h = resnet("mid_block.resnets.1", h, temb, channels(h));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t down = n - 1 - i; // the down block this one mirrors
    std::string p = "up_blocks." + std::to_string(i);
    for (int64_t j = 0; j <= c.layersPerBlock; ++j) {
      Value skip = skips.pop_back_val();
      Location l = loc(p + ".resnets." + std::to_string(j));
      h = ConcatOp::create(b, l, ValueRange{h, skip}, b.getI64IntegerAttr(1));
      h = resnet(p + ".resnets." + std::to_string(j), h, temb,
                 c.blockOutChannels[down]);
      if (c.crossAttention[down])
        h = transformer(p + ".attentions." + std::to_string(j), h, text,
                        c.heads[down], c.transformerLayers[down]);
    }
    if (i + 1 < n) {
      std::string u = p + ".upsamplers.0";
      h = UpsampleNearestOp::create(b, loc(u), h,
                                    b.getDenseI64ArrayAttr({2, 2}));
      h = conv(u + ".conv", h, channels(h), 3);
    }
  }
  h = SiluOp::create(b, loc("conv_norm_out"),
                     groupNorm("conv_norm_out", h, c.normEps));
  return conv("conv_out", h, c.outChannels, 3);
}

} // namespace

func::FuncOp buildUNet(ModuleOp module, const UNetConfig &config,
                       const UNetShape &shape, StringRef name) {
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  Type f32 = b.getF32Type();
  int64_t B = shape.batch;
  SmallVector<Type> inputs = {
      RankedTensorType::get({B, config.inChannels, shape.height, shape.width},
                            f32),
      RankedTensorType::get({B}, f32),
      RankedTensorType::get({B, shape.textTokens, config.crossAttentionDim},
                            f32)};
  SmallVector<StringRef> names = {"sample", "timestep",
                                  "encoder_hidden_states"};
  if (config.hasTextTime()) {
    inputs.push_back(RankedTensorType::get({B, config.textEmbedsDim()}, f32));
    inputs.push_back(RankedTensorType::get({B, config.timeIds}, f32));
    names.append({"text_embeds", "time_ids"});
  }
  auto outTy = RankedTensorType::get(
      {B, config.outChannels, shape.height, shape.width}, f32);
  auto fn =
      func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name,
                           FunctionType::get(b.getContext(), inputs, {outTy}));
  fn->setAttr(FrescoDialect::kComponentAttrName, b.getStringAttr(name));
  for (auto [i, n] : llvm::enumerate(names))
    fn.setArgAttr(unsigned(i), FrescoDialect::kNameAttrName,
                  b.getStringAttr(n));
  fn.setResultAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("sample"));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  UNetEmitter emitter(b, config, shape);
  const bool added = config.hasTextTime();
  Value out = emitter.forward(entry->getArgument(0), entry->getArgument(1),
                              entry->getArgument(2),
                              added ? entry->getArgument(3) : Value(),
                              added ? entry->getArgument(4) : Value());
  func::ReturnOp::create(b, fn.getLoc(), out);
  return fn;
}

} // namespace fresco::models
