//===- FluxBuilder.cpp - Emit a diffusers Flux transformer ----------------===//
//
// Mirrors diffusers 0.31's FluxTransformer2DModel.forward: the embedders,
// FluxTransformerBlock (two streams, joint attention over [text; image]),
// FluxSingleTransformerBlock (one stream, attention and MLP in parallel),
// AdaLayerNormContinuous and proj_out. Locations name the diffusers module
// of each op (e.g. "transformer_blocks.3.attn"). With FluxControlNetModels
// the same function runs them first (their own embedders and blocks on the
// latents plus the VAE-encoded control image), and the transformer adds
// their scaled per-block outputs after its blocks.
//
//===----------------------------------------------------------------------===//
#include "models/flux/FluxBuilder.h"
#include "models/ModelEmitter.h"
#include "models/unet/ControlNetConfig.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {
namespace {

/// A FluxControlNetModel's outputs: one per double block and per single
/// block (the image tokens), already times the conditioning scale.
struct FluxControl {
  SmallVector<Value> blocks, singles;
};

class FluxEmitter : ModelEmitter {
public:
  FluxEmitter(OpBuilder &b, const FluxConfig &c, const FluxShape &s,
              StringRef component = "")
      : ModelEmitter(b, component), c(c), s(s), d(c.innerDim()) {}

  Value forward(ValueRange args, const FluxControl *control);
  /// FluxControlNetModel.forward: `cond` the packed control latents [B, Ti,
  /// in_channels], `scale` [B] (per sample); ControlNet-Union's `mode` [B,
  /// 1] (i64) of `numMode` (the emitter's shape then counts its token among
  /// the text tokens).
  FluxControl controlnet(ValueRange args, Value cond, Value scale,
                         Value mode = Value(), int64_t numMode = 0);

private:
  /// The embedders: returns the image tokens (x_embedder) and sets `txt`
  /// (context_embedder), siluTemb and the rotary tables.
  Value embed(ValueRange args, Value &txt);
  /// Chunk `index` of `e` [B, n*D] split in D-wide chunks, as [B, D].
  Value chunk(Value e, int64_t index, Location l) {
    return slice(e, 1, index * d, d, l);
  }
  /// LayerNorm(elementwise_affine=False, eps=1e-6) * (1 + scale) + shift.
  Value normModulate(Value x, Value shift, Value scale, Location l) {
    Value n =
        LayerNormOp::create(b, l, x, ValueRange(), b.getF64FloatAttr(1e-6));
    return ModulateOp::create(b, l, n, shift, scale);
  }
  /// x + gate[:, None] * y, gate [B, D].
  Value gated(Value x, Value gate, Value y, Location l) {
    Value g = reshape(gate, {s.batch, 1, d}, l);
    return AddOp::create(b, l, x, MulOp::create(b, l, g, y));
  }
  /// Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=0) of t *
  /// 1000: the scale is the embedding's own, so no op computes on the
  /// timesteps and they stay f32 under 2-byte float storage.
  Value timeProj(Value t) {
    return TimestepEmbeddingOp::create(
        b, loc("time_text_embed.time_proj"), t, b.getI64IntegerAttr(256),
        b.getBoolAttr(true), b.getF64FloatAttr(0.0), b.getF64FloatAttr(1000.0),
        b.getF64FloatAttr(10000.0));
  }
  /// TimestepEmbedding / PixArtAlphaTextProjection: linear, SiLU, linear.
  Value mlp2(const Twine &prefix, Value x, int64_t in) {
    std::string p = prefix.str();
    Value h = linear(p + ".linear_1", x, in, d);
    h = SiluOp::create(b, loc(p), h);
    return linear(p + ".linear_2", h, d, d);
  }
  /// RMSNorm over each head's Dh columns of x [B, T, D] (attn.norm_q etc.).
  Value headNorm(const Twine &name, Value x, int64_t tokens) {
    std::string n = name.str();
    Location l = loc(n);
    int64_t heads = c.numAttentionHeads, dh = c.attentionHeadDim;
    Value h = reshape(x, {s.batch, tokens, heads, dh}, l);
    h = RmsNormOp::create(b, l, h, param(n + ".weight", {dh}),
                          b.getF64FloatAttr(1e-6));
    return reshape(h, {s.batch, tokens, d}, l);
  }
  /// Projection `proj` of x followed by the head norm `norm`.
  Value projNorm(const std::string &attn, StringRef proj, StringRef norm,
                 Value x, int64_t tokens) {
    Value y = linear(attn + "." + proj, x, d, d);
    return headNorm(attn + "." + norm, y, tokens);
  }
  /// x rotated by the rows of `rows` (a rotary table of x's tokens).
  Value rotate(const std::string &attn, Value x, Value rows) {
    return RopeOp::create(b, loc(attn), x, rows,
                          b.getI64IntegerAttr(c.numAttentionHeads));
  }
  /// Scaled dot-product attention over every token (q and k rotated).
  Value attend(const std::string &attn, Value q, Value k, Value v) {
    Location l = loc(attn);
    IntegerAttr heads = b.getI64IntegerAttr(c.numAttentionHeads);
    return AttentionOp::create(
        b, l, q, k, v, heads,
        b.getF64FloatAttr(1.0 / std::sqrt(double(c.attentionHeadDim))),
        /*ring_axes=*/nullptr);
  }
  /// FeedForward(dim, activation_fn="gelu-approximate") at `prefix`.
  Value feedForward(const Twine &prefix, Value x) {
    std::string p = prefix.str();
    Value h = linear(p + ".net.0.proj", x, d, 4 * d);
    h = GeluOp::create(b, loc(p + ".net.0"), h, b.getStringAttr("tanh"));
    return linear(p + ".net.2", h, 4 * d, d);
  }
  void doubleBlock(int64_t i, Value &img, Value &txt);
  Value singleBlock(int64_t i, Value x);

  const FluxConfig &c;
  const FluxShape &s;
  int64_t d;
  Value siluTemb; // silu(temb): every adaLN's input
  // The rotary tables of the text and image tokens, and of [text; image]
  // (their concatenation: the table is row-wise).
  Value txtTable, imgTable, table;
};

void FluxEmitter::doubleBlock(int64_t i, Value &img, Value &txt) {
  std::string p = "transformer_blocks." + std::to_string(i);
  int64_t ti = s.imageTokens, tt = s.textTokens;
  // AdaLayerNormZero for each stream: shift, scale, gate (msa), then mlp.
  Location ln1 = loc(p + ".norm1"), ln1c = loc(p + ".norm1_context");
  Value e = linear(p + ".norm1.linear", siluTemb, d, 6 * d);
  Value ec = linear(p + ".norm1_context.linear", siluTemb, d, 6 * d);
  Value n = normModulate(img, chunk(e, 0, ln1), chunk(e, 1, ln1), ln1);
  Value nc = normModulate(txt, chunk(ec, 0, ln1c), chunk(ec, 1, ln1c), ln1c);

  // Joint attention over [text; image], as FluxAttnProcessor2_0. Each
  // stream's q and k are rotated by their own rows of the table before
  // they are joined (rotation is token-wise, so the values are those of
  // rotating the joined q and k): every rope then follows its head norm,
  // which fresco-fuse-rope-norm folds into it.
  std::string a = p + ".attn";
  Location la = loc(a);
  Value q = rotate(a, projNorm(a, "to_q", "norm_q", n, ti), imgTable);
  Value k = rotate(a, projNorm(a, "to_k", "norm_k", n, ti), imgTable);
  Value v = linear(a + ".to_v", n, d, d);
  Value cq =
      rotate(a, projNorm(a, "add_q_proj", "norm_added_q", nc, tt), txtTable);
  Value ck =
      rotate(a, projNorm(a, "add_k_proj", "norm_added_k", nc, tt), txtTable);
  Value cv = linear(a + ".add_v_proj", nc, d, d);
  Value o = attend(a, concat({cq, q}, 1, la), concat({ck, k}, 1, la),
                   concat({cv, v}, 1, la));
  Value co = linear(a + ".to_add_out", slice(o, 1, 0, tt, la), d, d);
  Value io = linear(a + ".to_out.0", slice(o, 1, tt, ti, la), d, d);

  Location l = loc(p);
  img = gated(img, chunk(e, 2, ln1), io, l);
  Location ln2 = loc(p + ".norm2");
  n = normModulate(img, chunk(e, 3, ln1), chunk(e, 4, ln1), ln2);
  img = gated(img, chunk(e, 5, ln1), feedForward(p + ".ff", n), l);

  txt = gated(txt, chunk(ec, 2, ln1c), co, l);
  Location ln2c = loc(p + ".norm2_context");
  nc = normModulate(txt, chunk(ec, 3, ln1c), chunk(ec, 4, ln1c), ln2c);
  txt = gated(txt, chunk(ec, 5, ln1c), feedForward(p + ".ff_context", nc), l);
}

Value FluxEmitter::singleBlock(int64_t i, Value x) {
  std::string p = "single_transformer_blocks." + std::to_string(i);
  int64_t tokens = s.textTokens + s.imageTokens;
  // AdaLayerNormZeroSingle: shift, scale, gate.
  Location ln = loc(p + ".norm");
  Value e = linear(p + ".norm.linear", siluTemb, d, 3 * d);
  Value n = normModulate(x, chunk(e, 0, ln), chunk(e, 1, ln), ln);
  // The MLP and the attention both read the normed input (mlp_ratio 4).
  Value mlp = linear(p + ".proj_mlp", n, d, 4 * d);
  mlp = GeluOp::create(b, loc(p + ".act_mlp"), mlp, b.getStringAttr("tanh"));
  std::string a = p + ".attn";
  Value o =
      attend(a, rotate(a, projNorm(a, "to_q", "norm_q", n, tokens), table),
             rotate(a, projNorm(a, "to_k", "norm_k", n, tokens), table),
             linear(a + ".to_v", n, d, d));
  Location l = loc(p);
  Value y = linear(p + ".proj_out", concat({o, mlp}, 2, l), 5 * d, d);
  return gated(x, chunk(e, 2, ln), y, l);
}

Value FluxEmitter::embed(ValueRange args, Value &txt) {
  Value hidden = args[0], context = args[1], pooled = args[2],
        timestep = args[3], imgIds = args[4], txtIds = args[5];
  Value img = linear("x_embedder", hidden, c.inChannels, d);

  // time_text_embed: timestep (+ guidance) + pooled text projection.
  Value temb =
      mlp2("time_text_embed.timestep_embedder", timeProj(timestep), 256);
  if (c.guidanceEmbeds)
    temb = AddOp::create(
        b, loc("time_text_embed"), temb,
        mlp2("time_text_embed.guidance_embedder", timeProj(args[6]), 256));
  Value text =
      mlp2("time_text_embed.text_embedder", pooled, c.pooledProjectionDim);
  temb = AddOp::create(b, loc("time_text_embed"), temb, text);
  siluTemb = SiluOp::create(b, loc("time_text_embed"), temb);

  txt = linear("context_embedder", context, c.jointAttentionDim, d);

  // FluxPosEmbed(theta=10000) over cat(txt_ids, img_ids): each row is its
  // token's, so the table of the joined ids is the join of the streams'.
  Location pe = loc("pos_embed");
  auto rows = [&](Value ids) {
    return RopeTableOp::create(b, pe, ids, b.getF64FloatAttr(10000.0),
                               b.getDenseI64ArrayAttr(c.axesDimsRope));
  };
  txtTable = rows(txtIds);
  imgTable = rows(imgIds);
  table = concat({txtTable, imgTable}, 0, pe);
  return img;
}

FluxControl FluxEmitter::controlnet(ValueRange args, Value cond, Value scale,
                                    Value mode, int64_t numMode) {
  Value txt;
  Value img = embed(args, txt);
  if (mode) {
    // The mode's embedding joins the text tokens first, its rotary row a
    // copy of the first text token's (txt_ids[:1]).
    Location l = loc("controlnet_mode_embedder");
    Value e = EmbeddingOp::create(
        b, l, param("controlnet_mode_embedder.weight", {numMode, d}), mode);
    txt = concat({e, txt}, 1, l);
    txtTable = concat({slice(txtTable, 0, 0, 1, l), txtTable}, 0, l);
    table = concat({txtTable, imgTable}, 0, loc("pos_embed"));
  }
  img = AddOp::create(b, loc("controlnet_x_embedder"), img,
                      linear("controlnet_x_embedder", cond, c.inChannels, d));
  FluxControl out;
  SmallVector<Value> blocks;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    doubleBlock(i, img, txt);
    blocks.push_back(img);
  }
  Location cat = loc("single_transformer_blocks");
  Value x = concat({txt, img}, 1, cat);
  SmallVector<Value> singles;
  for (int64_t i = 0; i < c.numSingleLayers; ++i) {
    x = singleBlock(i, x);
    singles.push_back(slice(x, 1, s.textTokens, s.imageTokens, cat));
  }
  // Zero linears, scaled per sample.
  Location l = loc("conditioning_scale");
  Value s3 = reshape(scale, {s.batch, 1, 1}, l);
  auto project = [&](StringRef prefix, ArrayRef<Value> in,
                     SmallVectorImpl<Value> &to) {
    for (auto [i, h] : llvm::enumerate(in)) {
      std::string p = (prefix + "." + Twine(i)).str();
      to.push_back(MulOp::create(b, loc(p), linear(p, h, d, d), s3));
    }
  };
  project("controlnet_blocks", blocks, out.blocks);
  project("controlnet_single_blocks", singles, out.singles);
  return out;
}

Value FluxEmitter::forward(ValueRange args, const FluxControl *control) {
  Value txt;
  Value img = embed(args, txt);
  // FluxTransformer2DModel's controlnet residuals: sample i / interval
  // after block i, interval = ceil(blocks / samples).
  auto interval = [](int64_t blocks, size_t samples) {
    return (blocks + int64_t(samples) - 1) / int64_t(samples);
  };
  const bool doubles = control && !control->blocks.empty(),
             singles = control && !control->singles.empty();
  for (int64_t i = 0; i < c.numLayers; ++i) {
    doubleBlock(i, img, txt);
    if (doubles)
      img = AddOp::create(
          b, loc("controlnet_block_samples"), img,
          control->blocks[size_t(
              i / interval(c.numLayers, control->blocks.size()))]);
  }
  Location cat = loc("single_transformer_blocks");
  Value x = concat({txt, img}, 1, cat);
  for (int64_t i = 0; i < c.numSingleLayers; ++i) {
    x = singleBlock(i, x);
    if (!singles)
      continue;
    // Added to the image tokens only.
    Location l = loc("controlnet_single_block_samples");
    Value r = control->singles[size_t(
        i / interval(c.numSingleLayers, control->singles.size()))];
    Value image = slice(x, 1, s.textTokens, s.imageTokens, l);
    x = concat({slice(x, 1, 0, s.textTokens, l), AddOp::create(b, l, image, r)},
               1, l);
  }
  x = slice(x, 1, s.textTokens, s.imageTokens, cat);

  // AdaLayerNormContinuous: its linear gives scale, then shift.
  Location no = loc("norm_out");
  Value e = linear("norm_out.linear", siluTemb, d, 2 * d);
  x = normModulate(x, chunk(e, 1, no), chunk(e, 0, no), no);
  return linear("proj_out", x, d, c.outChannels());
}

} // namespace

func::FuncOp buildFlux(ModuleOp module, const FluxConfig &config,
                       const FluxShape &shape, StringRef name,
                       ArrayRef<FluxControlNetConfig> controlnets) {
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  MLIRContext *ctx = module.getContext();
  Type f32 = b.getF32Type();
  int64_t B = shape.batch, ti = shape.imageTokens, tt = shape.textTokens;
  int64_t axes = int64_t(config.axesDimsRope.size());
  SmallVector<Type> inputs = {
      RankedTensorType::get({B, ti, config.inChannels}, f32),
      RankedTensorType::get({B, tt, config.jointAttentionDim}, f32),
      RankedTensorType::get({B, config.pooledProjectionDim}, f32),
      RankedTensorType::get({B}, f32),
      RankedTensorType::get({ti, axes}, f32),
      RankedTensorType::get({tt, axes}, f32)};
  SmallVector<StringRef> names = {"hidden_states",
                                  "encoder_hidden_states",
                                  "pooled_projections",
                                  "timestep",
                                  "img_ids",
                                  "txt_ids"};
  if (config.guidanceEmbeds) {
    inputs.push_back(RankedTensorType::get({B}, f32));
    names.push_back("guidance");
  }
  // The nets' packed control latents side by side per token, and their
  // scales (the pipeline checks every net's in_channels and guidance
  // against the transformer's).
  const int64_t nets = int64_t(controlnets.size());
  const unsigned in = unsigned(names.size()); // the ControlNets' inputs
  if (nets) {
    inputs.push_back(
        RankedTensorType::get({B, ti, nets * config.inChannels}, f32));
    inputs.push_back(RankedTensorType::get({B, nets}, f32));
    names.append({"controlnet_cond", "conditioning_scale"});
  }
  // ControlNet-Union: each net's mode (read by the union nets only).
  const bool modes = llvm::any_of(
      controlnets, [](const FluxControlNetConfig &n) { return n.numMode > 0; });
  if (modes) {
    inputs.push_back(RankedTensorType::get({B, nets}, b.getI64Type()));
    names.push_back("controlnet_mode");
  }
  auto outTy = RankedTensorType::get({B, ti, config.outChannels()}, f32);
  auto fn = func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name,
                                 FunctionType::get(ctx, inputs, {outTy}));
  fn->setAttr(FrescoDialect::kComponentAttrName, b.getStringAttr(name));
  for (auto [i, n] : llvm::enumerate(names))
    fn.setArgAttr(unsigned(i), FrescoDialect::kNameAttrName,
                  b.getStringAttr(n));
  // The tokens a sequence split cuts: the image and the text tokens (every
  // attention joins both) and their position ids, whose table rows go with
  // them.
  for (auto [i, dim] :
       {std::pair<unsigned, int64_t>{0, 1}, {1, 1}, {4, 0}, {5, 0}})
    fn.setArgAttr(i, FrescoDialect::kSequenceDimAttrName,
                  b.getI64IntegerAttr(dim));
  if (nets) // the control latents' tokens go with the image tokens
    fn.setArgAttr(in, FrescoDialect::kSequenceDimAttrName,
                  b.getI64IntegerAttr(1));
  fn.setResultAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("sample"));

  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  ValueRange args = entry->getArguments();
  // The pipeline checks these (readFluxControlNet): the nets read the
  // transformer's inputs and their samples add to its blocks and each other.
  for (const FluxControlNetConfig &net : controlnets) {
    (void)net;
    assert(net.flux.inChannels == config.inChannels &&
           net.flux.innerDim() == config.innerDim() &&
           net.flux.guidanceEmbeds == config.guidanceEmbeds &&
           net.flux.jointAttentionDim == config.jointAttentionDim &&
           net.flux.pooledProjectionDim == config.pooledProjectionDim &&
           net.flux.numLayers == controlnets.front().flux.numLayers &&
           net.flux.numSingleLayers ==
               controlnets.front().flux.numSingleLayers &&
           "a FluxControlNetModel that does not fit the transformer");
  }
  std::optional<FluxControl> control;
  for (auto [k, net] : llvm::enumerate(controlnets)) {
    Value cond = args[in], scale = args[in + 1];
    Value mode = net.numMode ? args[in + 2] : Value();
    const std::string folder =
        net.folder.empty() ? controlNetFolder(k) : net.folder;
    if (nets > 1) {
      // Net k's latents (channels k C .. (k + 1) C), scale and mode (column
      // k).
      cond = netShare(b, folder, cond, 2, int64_t(k), config.inChannels);
      scale = netShare(b, folder, scale, 1, int64_t(k), 1);
      if (mode)
        mode = netShare(b, folder, mode, 1, int64_t(k), 1);
    }
    // A union net's text stream holds its mode token too.
    FluxShape netShape = shape;
    netShape.textTokens += net.numMode ? 1 : 0;
    FluxEmitter cn(b, net.flux, netShape, folder);
    FluxControl r = cn.controlnet(args, cond, scale, mode, net.numMode);
    if (!control) {
      control = std::move(r);
      continue;
    }
    // FluxMultiControlNetModel sums the nets' samples.
    Location l = NameLoc::get(b.getStringAttr("multi_controlnet"));
    for (auto [sum, x] : llvm::zip_equal(control->blocks, r.blocks))
      sum = AddOp::create(b, l, sum, x);
    for (auto [sum, x] : llvm::zip_equal(control->singles, r.singles))
      sum = AddOp::create(b, l, sum, x);
  }
  FluxEmitter emitter(b, config, shape);
  Value out = emitter.forward(args, control ? &*control : nullptr);
  func::ReturnOp::create(b, fn.getLoc(), out);
  return fn;
}

} // namespace fresco::models
