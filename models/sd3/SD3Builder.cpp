//===- SD3Builder.cpp - Emit a diffusers SD3 transformer ------------------===//
//
// Mirrors diffusers 0.31's SD3Transformer2DModel.forward: PatchEmbed with
// its cropped sin-cos table, CombinedTimestepTextProjEmbeddings, the
// context embedder, JointTransformerBlock (two streams, joint attention over
// [image; context], SD3.5's optional qk RMS norms and second image
// self-attention), AdaLayerNormContinuous, proj_out and unpatchify.
// Locations name the diffusers module of each op. With SD3ControlNetModels
// the same function runs them first (their own patch embedding plus
// pos_embed_input of the VAE-encoded control image, their joint blocks),
// and the transformer adds their scaled per-block samples.
//
//===----------------------------------------------------------------------===//
#include "models/sd3/SD3Builder.h"
#include "models/ModelEmitter.h"
#include "models/unet/ControlNetConfig.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {
namespace {

class SD3Emitter : ModelEmitter {
public:
  /// `component`: a ControlNet's folder; `contextPreOnlyLast`: the last
  /// block drops its context stream (a transformer's, not a ControlNet's).
  SD3Emitter(OpBuilder &b, const SD3Config &c, const SD3Shape &s,
             StringRef component = "", bool contextPreOnlyLast = true)
      : ModelEmitter(b, component), c(c), s(s), d(c.innerDim()),
        gridH((s.height ? s.height : c.sampleSize) / c.patchSize),
        gridW((s.width ? s.width : c.sampleSize) / c.patchSize),
        contextPreOnlyLast(contextPreOnlyLast) {}

  /// With `samples`, sample i / (blocks / samples) is added after each
  /// block but the context_pre_only last (SD3Transformer2DModel's
  /// block_controlnet_hidden_states).
  Value forward(ValueRange args, ArrayRef<Value> samples);
  /// SD3ControlNetModel.forward: `cond` the control latents [B, C, H, W],
  /// `scale` [B]; the pooled projections it reads are zeros, as
  /// StableDiffusion3ControlNetPipeline passes them.
  SmallVector<Value> controlnet(ValueRange args, Value cond, Value scale);

private:
  /// Chunk `index` of `e` [B, n*D] split in D-wide chunks, as [B, D].
  Value chunk(Value e, int64_t index, Location l) {
    return slice(e, 1, index * d, d, l);
  }
  /// LayerNorm(elementwise_affine=False, eps=1e-6) of x.
  Value norm(Value x, Location l) {
    return LayerNormOp::create(b, l, x, ValueRange(), b.getF64FloatAttr(1e-6));
  }
  /// x + gate[:, None] * y, gate [B, D].
  Value gated(Value x, Value gate, Value y, Location l) {
    Value g = reshape(gate, {s.batch, 1, d}, l);
    return AddOp::create(b, l, x, MulOp::create(b, l, g, y));
  }
  /// TimestepEmbedding / PixArtAlphaTextProjection: linear, SiLU, linear.
  Value mlp2(const Twine &prefix, Value x, int64_t in) {
    std::string p = prefix.str();
    Value h = linear(p + ".linear_1", x, in, d);
    h = SiluOp::create(b, loc(p), h);
    return linear(p + ".linear_2", h, d, d);
  }
  /// Linear `proj` of x, then (qk_norm rms_norm) RMSNorm(head_dim, 1e-6)
  /// `norm` over each head.
  Value project(const std::string &attn, StringRef proj, StringRef norm,
                Value x, int64_t tokens) {
    Value y = linear(attn + "." + proj, x, d, d);
    if (!c.qkRmsNorm || norm.empty())
      return y;
    std::string n = attn + "." + norm.str();
    Location l = loc(n);
    int64_t heads = c.numAttentionHeads, dh = c.attentionHeadDim;
    y = reshape(y, {s.batch, tokens, heads, dh}, l);
    y = RmsNormOp::create(b, l, y, param(n + ".weight", {dh}),
                          b.getF64FloatAttr(1e-6));
    return reshape(y, {s.batch, tokens, d}, l);
  }
  Value attend(const std::string &attn, Value q, Value k, Value v) {
    return AttentionOp::create(
        b, loc(attn), q, k, v, b.getI64IntegerAttr(c.numAttentionHeads),
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
  Value patchEmbed(Value latents);
  /// PatchEmbed's projection at `prefix` of x [B, C, H, W]: the patch
  /// tokens [B, h w, D], before any position table.
  Value patchTokens(const std::string &prefix, Value x);
  /// The embedders: the image tokens; sets `txt` and siluTemb (from
  /// `pooled`).
  Value embed(ValueRange args, Value pooled, Value &txt);
  void block(int64_t i, Value &img, Value &txt);

  const SD3Config &c;
  const SD3Shape &s;
  int64_t d, gridH, gridW; // patches
  bool contextPreOnlyLast;
  Value siluTemb; // silu(temb): every adaLN's input
};

Value SD3Emitter::patchTokens(const std::string &prefix, Value x) {
  int64_t p = c.patchSize;
  int64_t ch = cast<RankedTensorType>(x.getType()).getDimSize(1);
  Location l = loc(prefix);
  Value h = Conv2dOp::create(b, loc(prefix + ".proj"), x,
                             param(prefix + ".proj.weight", {d, ch, p, p}),
                             param(prefix + ".proj.bias", {d}),
                             b.getDenseI64ArrayAttr({p, p}),
                             b.getDenseI64ArrayAttr({0, 0}), IntegerAttr());
  h = reshape(h, {s.batch, d, gridH * gridW}, l);
  return TransposeOp::create(b, l, h, b.getDenseI64ArrayAttr({0, 2, 1}));
}

Value SD3Emitter::patchEmbed(Value latents) {
  int64_t p = c.patchSize, max = c.posEmbedMaxSize;
  Location pe = loc("pos_embed");
  Value h = patchTokens("pos_embed", latents);
  // The table is max x max patches at base_size = sample_size / patch_size;
  // cropped_pos_embed keeps its centre gridH x gridW (top = (max - gridH)
  // // 2, left = (max - gridW) // 2). diffusers stores it as the buffer
  // pos_embed.pos_embed; it is the same function of the config, so only
  // the window is computed (the whole table is 226 MB at SD3 medium's
  // 192 x 192 x 1536).
  Value table = PosEmbed2dOp::create(
      b, pe, b.getI64IntegerAttr(max), b.getI64IntegerAttr(max),
      b.getI64IntegerAttr(d), b.getF64FloatAttr(double(c.sampleSize / p)),
      b.getF64FloatAttr(1.0), b.getI64IntegerAttr((max - gridH) / 2),
      b.getI64IntegerAttr((max - gridW) / 2), b.getI64IntegerAttr(gridH),
      b.getI64IntegerAttr(gridW));
  return AddOp::create(b, pe, h, table);
}

void SD3Emitter::block(int64_t i, Value &img, Value &txt) {
  std::string p = "transformer_blocks." + std::to_string(i);
  int64_t ti = gridH * gridW, tt = s.textTokens;
  bool dual = c.dualAttention(i);
  bool last = contextPreOnlyLast && i == c.numLayers - 1; // context_pre_only

  // norm1: AdaLayerNormZero (shift, scale, gate for attention and MLP) or
  // SD35AdaLayerNormZeroX (three more for the second attention).
  Location ln1 = loc(p + ".norm1");
  Value e = linear(p + ".norm1.linear", siluTemb, d, (dual ? 9 : 6) * d);
  Value imgNorm = norm(img, ln1);
  Value n =
      ModulateOp::create(b, ln1, imgNorm, chunk(e, 0, ln1), chunk(e, 1, ln1));
  // norm1_context: AdaLayerNormZero, or AdaLayerNormContinuous (scale,
  // shift) in the last block, whose context output is dropped.
  Location ln1c = loc(p + ".norm1_context");
  Value ec =
      linear(p + ".norm1_context.linear", siluTemb, d, (last ? 2 : 6) * d);
  Value nc = last ? ModulateOp::create(b, ln1c, norm(txt, ln1c),
                                       chunk(ec, 1, ln1c), chunk(ec, 0, ln1c))
                  : ModulateOp::create(b, ln1c, norm(txt, ln1c),
                                       chunk(ec, 0, ln1c), chunk(ec, 1, ln1c));

  // Joint attention over [image; context] (JointAttnProcessor2_0).
  std::string a = p + ".attn";
  Location la = loc(a);
  Value q = concat({project(a, "to_q", "norm_q", n, ti),
                    project(a, "add_q_proj", "norm_added_q", nc, tt)},
                   1, la);
  Value k = concat({project(a, "to_k", "norm_k", n, ti),
                    project(a, "add_k_proj", "norm_added_k", nc, tt)},
                   1, la);
  Value v = concat(
      {linear(a + ".to_v", n, d, d), linear(a + ".add_v_proj", nc, d, d)}, 1,
      la);
  Value o = attend(a, q, k, v);
  Value io = linear(a + ".to_out.0", slice(o, 1, 0, ti, la), d, d);

  Location l = loc(p);
  img = gated(img, chunk(e, 2, ln1), io, l);
  if (dual) {
    // attn2: self-attention of the image on its own modulation of norm1.
    std::string a2 = p + ".attn2";
    Value n2 =
        ModulateOp::create(b, ln1, imgNorm, chunk(e, 6, ln1), chunk(e, 7, ln1));
    Value q2 = project(a2, "to_q", "norm_q", n2, ti);
    Value k2 = project(a2, "to_k", "norm_k", n2, ti);
    Value v2 = linear(a2 + ".to_v", n2, d, d);
    Value o2 = linear(a2 + ".to_out.0", attend(a2, q2, k2, v2), d, d);
    img = gated(img, chunk(e, 8, ln1), o2, l);
  }
  Location ln2 = loc(p + ".norm2");
  n = ModulateOp::create(b, ln2, norm(img, ln2), chunk(e, 3, ln1),
                         chunk(e, 4, ln1));
  img = gated(img, chunk(e, 5, ln1), feedForward(p + ".ff", n), l);

  if (last) {
    txt = Value();
    return;
  }
  Value co = linear(a + ".to_add_out", slice(o, 1, ti, tt, la), d, d);
  txt = gated(txt, chunk(ec, 2, ln1c), co, l);
  Location ln2c = loc(p + ".norm2_context");
  nc = ModulateOp::create(b, ln2c, norm(txt, ln2c), chunk(ec, 3, ln1c),
                          chunk(ec, 4, ln1c));
  txt = gated(txt, chunk(ec, 5, ln1c), feedForward(p + ".ff_context", nc), l);
}

Value SD3Emitter::embed(ValueRange args, Value pooled, Value &txt) {
  Value latents = args[0], context = args[1], timestep = args[3];
  Value img = patchEmbed(latents);

  // time_text_embed: Timesteps(256, flip_sin_to_cos=True,
  // downscale_freq_shift=0) -> MLP, plus the pooled text MLP.
  Value tProj = TimestepEmbeddingOp::create(
      b, loc("time_text_embed.time_proj"), timestep, b.getI64IntegerAttr(256),
      b.getBoolAttr(true), b.getF64FloatAttr(0.0), b.getF64FloatAttr(1.0),
      b.getF64FloatAttr(10000.0));
  Value temb = mlp2("time_text_embed.timestep_embedder", tProj, 256);
  Value text =
      mlp2("time_text_embed.text_embedder", pooled, c.pooledProjectionDim);
  temb = AddOp::create(b, loc("time_text_embed"), temb, text);
  siluTemb = SiluOp::create(b, loc("time_text_embed"), temb);

  txt = linear("context_embedder", context, c.jointAttentionDim, d);
  return img;
}

SmallVector<Value> SD3Emitter::controlnet(ValueRange args, Value cond,
                                          Value scale) {
  // Zeros of the pooled projections' shape (x - x: the dialect has no
  // constants; exact for the finite values a text encoder gives).
  Location z = loc("controlnet_pooled_projections");
  Value zeros = SubOp::create(b, z, args[2], args[2]);
  Value txt;
  Value img = embed(args, zeros, txt);
  img = AddOp::create(b, loc("pos_embed_input"), img,
                      patchTokens("pos_embed_input", cond));
  Location l = loc("conditioning_scale");
  Value s3 = reshape(scale, {s.batch, 1, 1}, l);
  SmallVector<Value> samples;
  for (int64_t i = 0; i < c.numLayers; ++i) {
    block(i, img, txt);
    std::string p = "controlnet_blocks." + std::to_string(i);
    samples.push_back(MulOp::create(b, loc(p), linear(p, img, d, d), s3));
  }
  return samples;
}

Value SD3Emitter::forward(ValueRange args, ArrayRef<Value> samples) {
  Value txt;
  Value img = embed(args, args[2], txt);
  // interval_control = blocks // samples (the pipeline checks it is at
  // least 1 and every index falls in range).
  const int64_t interval =
      samples.empty() ? 1 : c.numLayers / int64_t(samples.size());
  for (int64_t i = 0; i < c.numLayers; ++i) {
    block(i, img, txt);
    if (!samples.empty() && i + 1 < c.numLayers)
      img = AddOp::create(b, loc("block_controlnet_hidden_states"), img,
                          samples[size_t(i / interval)]);
  }

  // AdaLayerNormContinuous: its linear gives scale, then shift.
  Location no = loc("norm_out");
  Value e = linear("norm_out.linear", siluTemb, d, 2 * d);
  img = ModulateOp::create(b, no, norm(img, no), chunk(e, 1, no),
                           chunk(e, 0, no));
  int64_t p = c.patchSize, outC = c.outChannels;
  img = linear("proj_out", img, d, p * p * outC);

  // Unpatchify: [B, h, w, p, p, C] -> einsum nhwpqc->nchpwq -> [B, C, H, W].
  Location up = loc("unpatchify");
  img = reshape(img, {s.batch, gridH, gridW, p, p, outC}, up);
  img = TransposeOp::create(b, up, img,
                            b.getDenseI64ArrayAttr({0, 5, 1, 3, 2, 4}));
  return reshape(img, {s.batch, outC, gridH * p, gridW * p}, up);
}

} // namespace

func::FuncOp buildSD3(ModuleOp module, const SD3Config &config,
                      const SD3Shape &shape, StringRef name,
                      ArrayRef<SD3ControlNetConfig> controlnets) {
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  MLIRContext *ctx = module.getContext();
  Type f32 = b.getF32Type();
  int64_t B = shape.batch;
  int64_t H = shape.height ? shape.height : config.sampleSize;
  int64_t W = shape.width ? shape.width : config.sampleSize;
  SmallVector<Type> inputs = {
      RankedTensorType::get({B, config.inChannels, H, W}, f32),
      RankedTensorType::get({B, shape.textTokens, config.jointAttentionDim},
                            f32),
      RankedTensorType::get({B, config.pooledProjectionDim}, f32),
      RankedTensorType::get({B}, f32)};
  SmallVector<StringRef> names = {"hidden_states", "encoder_hidden_states",
                                  "pooled_projections", "timestep"};
  // The nets' control latents side by side in the channels, and their
  // scales (the pipeline checks that the nets fit).
  const int64_t nets = int64_t(controlnets.size());
  const unsigned in = unsigned(names.size());
  // Each net's latents and (an inpainting net) its extra channels.
  const int64_t perNet =
      config.inChannels + (nets ? controlnets.front().extraChannels : 0);
  if (nets) {
    inputs.push_back(RankedTensorType::get({B, nets * perNet, H, W}, f32));
    inputs.push_back(RankedTensorType::get({B, nets}, f32));
    names.append({"controlnet_cond", "conditioning_scale"});
  }
  auto outTy = RankedTensorType::get({B, config.outChannels, H, W}, f32);
  auto fn = func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name,
                                 FunctionType::get(ctx, inputs, {outTy}));
  fn->setAttr(FrescoDialect::kComponentAttrName, b.getStringAttr(name));
  for (auto [i, n] : llvm::enumerate(names))
    fn.setArgAttr(unsigned(i), FrescoDialect::kNameAttrName,
                  b.getStringAttr(n));
  // The tokens a sequence split cuts: the latent's rows (its patch
  // embedding makes them blocks of image tokens) and the context tokens
  // (every joint attention joins both).
  fn.setArgAttr(0, FrescoDialect::kSequenceDimAttrName, b.getI64IntegerAttr(2));
  fn.setArgAttr(1, FrescoDialect::kSequenceDimAttrName, b.getI64IntegerAttr(1));
  if (nets) // the control latents' rows go with the latents'
    fn.setArgAttr(in, FrescoDialect::kSequenceDimAttrName,
                  b.getI64IntegerAttr(2));
  fn.setResultAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("sample"));

  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  ValueRange args = entry->getArguments();
  SmallVector<Value> samples;
  for (auto [k, net] : llvm::enumerate(controlnets)) {
    assert(net.sd3.inChannels == config.inChannels &&
           net.sd3.innerDim() == config.innerDim() &&
           net.sd3.patchSize == config.patchSize &&
           net.sd3.numLayers == controlnets.front().sd3.numLayers &&
           net.extraChannels == controlnets.front().extraChannels &&
           "an SD3ControlNetModel that does not fit the transformer");
    Value cond = args[in], scale = args[in + 1];
    const std::string folder = controlNetFolder(k);
    if (nets > 1) {
      // Net k's channels (k P .. (k + 1) P) and scale (column k).
      cond = netShare(b, folder, cond, 1, int64_t(k), perNet);
      scale = netShare(b, folder, scale, 1, int64_t(k), 1);
    }
    SD3Emitter cn(b, net.sd3, shape, folder, /*contextPreOnlyLast=*/false);
    SmallVector<Value> r = cn.controlnet(args, cond, scale);
    if (samples.empty()) {
      samples = std::move(r);
      continue;
    }
    // SD3MultiControlNetModel sums the nets' samples.
    Location l = NameLoc::get(b.getStringAttr("multi_controlnet"));
    for (auto [sum, x] : llvm::zip_equal(samples, r))
      sum = AddOp::create(b, l, sum, x);
  }
  SD3Emitter emitter(b, config, shape);
  Value out = emitter.forward(args, samples);
  func::ReturnOp::create(b, fn.getLoc(), out);
  return fn;
}

} // namespace fresco::models
