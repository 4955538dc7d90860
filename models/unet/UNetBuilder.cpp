//===- UNetBuilder.cpp - Emit diffusers' UNet2DConditionModel -------------===//
//
// Mirrors diffusers 0.31's UNet2DConditionModel for Stable Diffusion 1.x /
// 2.x and SDXL: the timestep MLP (plus, for SDXL, add_embedding over the
// pooled text embedding and the time ids' sinusoids), conv_in, down blocks
// (ResnetBlock2D with the timestep added after conv1, Transformer2DModel with
// self-attention, cross-attention on the text and a GEGLU feed-forward, a
// stride-2 conv), the mid block (resnet, transformer, resnet), up blocks that
// concatenate the down path's outputs, nearest 2x upsampling, the output head.
// With a ControlNetModel the same function runs it first: its copy of the
// down half on the latents plus the control image's embedding, whose
// residuals (through zero 1x1 convolutions, times the conditioning scale)
// the UNet adds to its skips and to its mid block's output.
//
//===----------------------------------------------------------------------===//
#include "models/unet/UNetBuilder.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "models/ModelEmitter.h"

#include "mlir/IR/Builders.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {
namespace {

/// A ControlNet's residuals for the UNet: one per skip, and the mid block's.
struct ControlResiduals {
  SmallVector<Value> down;
  Value mid;
};

class UNetEmitter {
public:
  /// `component`: the checkpoint folder of the parameters when it is not
  /// the function's (a ControlNet's), also prefixing the op locations.
  UNetEmitter(OpBuilder &b, const UNetConfig &c, const UNetShape &s,
              StringRef component = "")
      : b(b), c(c), s(s), f32(b.getF32Type()), component(component.str()) {}

  Value forward(Value sample, Value timestep, Value text, Value textEmbeds,
                Value timeIds, const ControlResiduals *control);
  /// ControlNetModel.forward: the residuals times `scale` ([B, 1, R]: per
  /// sample and residual, the down residuals' then the mid block's; the
  /// run gives guess mode's factors there).
  ControlResiduals controlnet(const ControlNetConfig &cn, Value sample,
                              Value timestep, Value text, Value textEmbeds,
                              Value timeIds, Value cond, Value scale);

private:
  Location loc(const Twine &scope) {
    if (component.empty())
      return NameLoc::get(b.getStringAttr(scope));
    return NameLoc::get(b.getStringAttr(component + "." + scope));
  }
  Value param(const Twine &name, ArrayRef<int64_t> shape) {
    std::string n = name.str();
    return ParamOp::create(
        b, loc(n), RankedTensorType::get(shape, f32), b.getStringAttr(n),
        DenseI64ArrayAttr(), DenseI64ArrayAttr(),
        component.empty() ? StringAttr() : b.getStringAttr(component));
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
                            b.getDenseI64ArrayAttr({k / 2, k / 2}),
                            IntegerAttr());
  }
  Value groupNorm(const Twine &prefix, Value x, double eps) {
    std::string p = prefix.str();
    int64_t ch = channels(x);
    SmallVector<Value> affine = {param(p + ".weight", {ch}),
                                 param(p + ".bias", {ch})};
    return GroupNormOp::create(
        b, loc(p), x, affine, b.getI64IntegerAttr(c.normNumGroups),
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

  Value timeEmbedding(Value timestep, Value textEmbeds, Value timeIds);
  /// The down blocks from conv_in's output `h`, pushing each skip.
  Value down(Value h, Value temb, Value text, SmallVectorImpl<Value> &skips);
  Value mid(Value h, Value temb, Value text);
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
  std::string component;
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

Value UNetEmitter::timeEmbedding(Value timestep, Value textEmbeds,
                                 Value timeIds) {
  const int64_t c0 = c.blockOutChannels[0];
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
  return temb;
}

Value UNetEmitter::down(Value h, Value temb, Value text,
                        SmallVectorImpl<Value> &skips) {
  const int64_t n = c.numBlocks();
  skips.push_back(h);
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
  return h;
}

Value UNetEmitter::mid(Value h, Value temb, Value text) {
  // The mid block uses the last block's heads and layers.
  const int64_t n = c.numBlocks();
  h = resnet("mid_block.resnets.0", h, temb, channels(h));
  h = transformer("mid_block.attentions.0", h, text, c.heads[n - 1],
                  c.transformerLayers[n - 1]);
  return resnet("mid_block.resnets.1", h, temb, channels(h));
}

ControlResiduals UNetEmitter::controlnet(const ControlNetConfig &cn,
                                         Value sample, Value timestep,
                                         Value text, Value textEmbeds,
                                         Value timeIds, Value cond,
                                         Value scale) {
  Value temb = timeEmbedding(timestep, textEmbeds, timeIds);
  Value h = conv("conv_in", sample, c.blockOutChannels[0], 3);
  // ControlNetConditioningEmbedding: conv_in, then per later width a 3x3
  // convolution and a stride-2 one to that width, each after SiLU; conv_out
  // to the UNet's first width.
  const std::string e = "controlnet_cond_embedding";
  Value x = SiluOp::create(
      b, loc(e), conv(e + ".conv_in", cond, cn.embeddingChannels[0], 3));
  for (size_t i = 0; i + 1 < cn.embeddingChannels.size(); ++i) {
    const std::string same = e + ".blocks." + std::to_string(2 * i);
    x = SiluOp::create(b, loc(same), conv(same, x, channels(x), 3));
    const std::string half = e + ".blocks." + std::to_string(2 * i + 1);
    x = SiluOp::create(b, loc(half),
                       conv(half, x, cn.embeddingChannels[i + 1], 3, 2));
  }
  x = conv(e + ".conv_out", x, c.blockOutChannels[0], 3);
  h = AddOp::create(b, loc(e), h, x);
  SmallVector<Value> skips;
  h = mid(down(h, temb, text, skips), temb, text);
  // Zero convolutions, scaled per sample and residual.
  assert(int64_t(skips.size()) + 1 == c.controlResiduals() &&
         "controlResiduals() counts the down blocks' residuals");
  Location l = loc("conditioning_scale");
  auto scaleOf = [&](int64_t i) {
    Value si = SliceOp::create(b, l, scale, b.getI64IntegerAttr(2),
                               b.getI64IntegerAttr(i), b.getI64IntegerAttr(1));
    return reshape(l, si, {s.batch, 1, 1, 1});
  };
  ControlResiduals out;
  for (auto [i, skip] : llvm::enumerate(skips)) {
    std::string p = "controlnet_down_blocks." + std::to_string(i);
    out.down.push_back(MulOp::create(
        b, loc(p), conv(p, skip, channels(skip), 1), scaleOf(int64_t(i))));
  }
  out.mid = MulOp::create(b, loc("controlnet_mid_block"),
                          conv("controlnet_mid_block", h, channels(h), 1),
                          scaleOf(int64_t(skips.size())));
  return out;
}

Value UNetEmitter::forward(Value sample, Value timestep, Value text,
                           Value textEmbeds, Value timeIds,
                           const ControlResiduals *control) {
  const int64_t n = c.numBlocks(), c0 = c.blockOutChannels[0];
  Value temb = timeEmbedding(timestep, textEmbeds, timeIds);
  SmallVector<Value> skips;
  Value h = down(conv("conv_in", sample, c0, 3), temb, text, skips);
  h = mid(h, temb, text);
  if (control) {
    // UNet2DConditionModel's down_block_additional_residuals and
    // mid_block_additional_residual.
    for (auto [skip, r] : llvm::zip_equal(skips, control->down))
      skip = AddOp::create(b, loc("down_block_additional_residuals"), skip, r);
    h = AddOp::create(b, loc("mid_block_additional_residual"), h, control->mid);
  }
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
                       const UNetShape &shape, StringRef name,
                       ArrayRef<ControlNetConfig> controlnets) {
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
  const int64_t nets = int64_t(controlnets.size());
  if (nets) {
    // One control image size for all (the pipelines check each against
    // the VAE).
    const int64_t up = controlnets.front().embeddingDownscale();
    assert(llvm::all_of(controlnets,
                        [&](const ControlNetConfig &c) {
                          return c.embeddingDownscale() == up;
                        }) &&
           "ControlNets embedding the control image at different scales");
    inputs.push_back(RankedTensorType::get(
        {B, 3 * nets, shape.height * up, shape.width * up}, f32));
    // The nets share the UNet's down blocks, so their residual counts.
    inputs.push_back(
        RankedTensorType::get({B, nets, config.controlResiduals()}, f32));
    names.append({"controlnet_cond", "conditioning_scale"});
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
  // Two images (latents and control image): the sequence strategies split
  // both by rows (SequenceSplit.cpp reads these marks).
  if (nets)
    for (unsigned i : {0u, unsigned(names.size() - 2)})
      fn.setArgAttr(i, FrescoDialect::kSequenceDimAttrName,
                    b.getI64IntegerAttr(2));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  UNetEmitter emitter(b, config, shape);
  const bool added = config.hasTextTime();
  auto arg = [&](unsigned i) { return entry->getArgument(i); };
  Value textEmbeds = added ? arg(3) : Value(),
        timeIds = added ? arg(4) : Value();
  std::optional<ControlResiduals> control;
  const unsigned in = unsigned(names.size() - 2); // the ControlNets' inputs
  for (auto [k, net] : llvm::enumerate(controlnets)) {
    Value cond = arg(in), scale = arg(in + 1);
    const std::string folder = controlNetFolder(k);
    if (nets > 1) {
      // Net k's image (channels 3k..3k+2) and scale (column k).
      cond = netShare(b, folder, cond, 1, int64_t(k), 3);
      scale = netShare(b, folder, scale, 1, int64_t(k), 1);
    }
    UNetEmitter cn(b, net.unet, shape, folder);
    // An inpainting UNet's input carries the mask and the masked image's
    // latents after the latents: the ControlNet reads the latents alone
    // (StableDiffusionControlNetInpaintPipeline concatenates after it).
    Value sample = arg(0);
    if (net.unet.inChannels != config.inChannels)
      sample = SliceOp::create(b, NameLoc::get(b.getStringAttr(folder)), sample,
                               b.getI64IntegerAttr(1), b.getI64IntegerAttr(0),
                               b.getI64IntegerAttr(net.unet.inChannels));
    ControlResiduals r = cn.controlnet(net, sample, arg(1), arg(2), textEmbeds,
                                       timeIds, cond, scale);
    if (!control) {
      control = std::move(r);
      continue;
    }
    // MultiControlNetModel sums the nets' residuals.
    Location l = NameLoc::get(b.getStringAttr("multi_controlnet"));
    for (auto [sum, d] : llvm::zip_equal(control->down, r.down))
      sum = AddOp::create(b, l, sum, d);
    control->mid = AddOp::create(b, l, control->mid, r.mid);
  }
  Value out = emitter.forward(arg(0), arg(1), arg(2), textEmbeds, timeIds,
                              control ? &*control : nullptr);
  func::ReturnOp::create(b, fn.getLoc(), out);
  return fn;
}

} // namespace fresco::models
