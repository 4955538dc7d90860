//===- DiTBuilder.cpp - Emit a diffusers DiT as fresco IR -----------------===//
//
// Mirrors diffusers' DiTTransformer2DModel.forward (PatchEmbed, N x
// BasicTransformerBlock with ada_norm_zero, adaLN output head, unpatchify).
// Locations name the diffusers module each op belongs to, so diagnostics
// point at e.g. "transformer_blocks.3.attn1".
//
//===----------------------------------------------------------------------===//
#include "models/dit/DiTBuilder.h"
#include "dialects/Fresco/IR/FrescoOps.h"

#include "mlir/IR/Builders.h"

#include <cmath>

using namespace mlir;
using namespace mlir::fresco;

namespace fresco::models {
namespace {

class DiTEmitter {
public:
  DiTEmitter(OpBuilder &b, const DiTConfig &c, int64_t batch)
      : b(b), c(c), batch(batch), f32(b.getF32Type()) {}

  Value forward(Value latents, Value timestep, Value labels);

private:
  Location loc(const Twine &scope) {
    return NameLoc::get(b.getStringAttr(scope));
  }
  Value param(const Twine &name, ArrayRef<int64_t> shape) {
    std::string n = name.str();
    return ParamOp::create(b, loc(n), RankedTensorType::get(shape, f32),
                           b.getStringAttr(n));
  }
  /// diffusers nn.Linear at `prefix` (weight [out, in], optional bias).
  Value linear(const Twine &prefix, Value x, int64_t in, int64_t out,
               bool bias = true) {
    std::string p = prefix.str();
    Value w = param(p + ".weight", {out, in});
    Value bv = bias ? param(p + ".bias", {out}) : Value();
    return LinearOp::create(b, loc(p), x, w, bv);
  }
  Value reshape(Value x, ArrayRef<int64_t> shape, Location l) {
    auto t = cast<RankedTensorType>(x.getType());
    return ReshapeOp::create(
        b, l, RankedTensorType::get(shape, t.getElementType()), x);
  }
  Value chunk(Value x, int64_t index, int64_t size, Location l) {
    return SliceOp::create(b, l, x, b.getI64IntegerAttr(1),
                           b.getI64IntegerAttr(index * size),
                           b.getI64IntegerAttr(size));
  }
  Value layerNorm(Value x, double eps, Location l, ValueRange affine = {}) {
    return LayerNormOp::create(b, l, x, affine, b.getF64FloatAttr(eps));
  }
  /// CombinedTimestepLabelEmbeddings at `prefix`: [B, D].
  Value conditioning(const Twine &prefix, Value tProj, Value labels);
  Value block(int64_t i, Value h, Value tProj, Value labels);

  OpBuilder &b;
  const DiTConfig &c;
  int64_t batch;
  Type f32;
};

Value DiTEmitter::conditioning(const Twine &prefix, Value tProj, Value labels) {
  int64_t d = c.innerDim();
  std::string p = prefix.str();
  Value t = linear(p + ".timestep_embedder.linear_1", tProj, 256, d);
  t = SiluOp::create(b, loc(p + ".timestep_embedder"), t);
  t = linear(p + ".timestep_embedder.linear_2", t, d, d);
  // LabelEmbedding keeps one extra row: the null class used for CFG.
  Value table = param(p + ".class_embedder.embedding_table.weight",
                      {c.numEmbedsAdaNorm + 1, d});
  Value y = EmbeddingOp::create(b, loc(p + ".class_embedder"), table, labels);
  return AddOp::create(b, loc(p), t, y);
}

Value DiTEmitter::block(int64_t i, Value h, Value tProj, Value labels) {
  int64_t d = c.innerDim();
  std::string p = "transformer_blocks." + std::to_string(i);
  Location l = loc(p);

  // AdaLayerNormZero: six [B, D] modulation vectors from the conditioning.
  Value cond = conditioning(p + ".norm1.emb", tProj, labels);
  Value e = linear(p + ".norm1.linear", SiluOp::create(b, l, cond), d, 6 * d);
  Value shiftMsa = chunk(e, 0, d, l), scaleMsa = chunk(e, 1, d, l);
  Value gateMsa = chunk(e, 2, d, l), shiftMlp = chunk(e, 3, d, l);
  Value scaleMlp = chunk(e, 4, d, l), gateMlp = chunk(e, 5, d, l);

  Value n = layerNorm(h, 1e-6, loc(p + ".norm1.norm"));
  n = ModulateOp::create(b, loc(p + ".norm1"), n, shiftMsa, scaleMsa);

  std::string a = p + ".attn1";
  Value q = linear(a + ".to_q", n, d, d, c.attentionBias);
  Value k = linear(a + ".to_k", n, d, d, c.attentionBias);
  Value v = linear(a + ".to_v", n, d, d, c.attentionBias);
  Value o = AttentionOp::create(
      b, loc(a), q, k, v, b.getI64IntegerAttr(c.numAttentionHeads),
      b.getF64FloatAttr(1.0 / std::sqrt(double(c.attentionHeadDim))),
      /*ring_axes=*/nullptr);
  o = linear(a + ".to_out.0", o, d, d);
  o = MulOp::create(b, l, reshape(gateMsa, {batch, 1, d}, l), o);
  h = AddOp::create(b, l, o, h);

  SmallVector<Value> affine;
  if (c.normElementwiseAffine) {
    affine.push_back(param(p + ".norm3.weight", {d}));
    affine.push_back(param(p + ".norm3.bias", {d}));
  }
  n = layerNorm(h, c.normEps, loc(p + ".norm3"), affine);
  n = ModulateOp::create(b, loc(p + ".norm3"), n, shiftMlp, scaleMlp);
  std::string ff = p + ".ff.net";
  Value f = linear(ff + ".0.proj", n, d, 4 * d);
  f = GeluOp::create(b, loc(ff + ".0"), f,
                     b.getStringAttr(c.geluTanh ? "tanh" : "none"));
  f = linear(ff + ".2", f, 4 * d, d);
  f = MulOp::create(b, l, reshape(gateMlp, {batch, 1, d}, l), f);
  return AddOp::create(b, l, f, h);
}

Value DiTEmitter::forward(Value latents, Value timestep, Value labels) {
  int64_t d = c.innerDim(), p = c.patchSize;
  int64_t gh = c.sampleSize / p, gw = c.sampleSize / p, tokens = gh * gw;
  int64_t outC = c.outputChannels();

  // PatchEmbed: conv with kernel = stride = patch, flatten, + sin-cos table.
  Location pe = loc("pos_embed");
  Value w = param("pos_embed.proj.weight", {d, c.inChannels, p, p});
  Value bias = param("pos_embed.proj.bias", {d});
  Value h = Conv2dOp::create(b, loc("pos_embed.proj"), latents, w, bias,
                             b.getDenseI64ArrayAttr({p, p}),
                             b.getDenseI64ArrayAttr({0, 0}), IntegerAttr());
  h = reshape(h, {batch, d, tokens}, pe);
  h = TransposeOp::create(b, pe, h, b.getDenseI64ArrayAttr({0, 2, 1}));
  Value table = PosEmbed2dOp::create(
      b, pe, b.getI64IntegerAttr(gh), b.getI64IntegerAttr(gw),
      b.getI64IntegerAttr(d), b.getF64FloatAttr(double(c.sampleSize / p)),
      b.getF64FloatAttr(1.0));
  h = AddOp::create(b, pe, h, table);

  // Timesteps(256, flip_sin_to_cos=True, downscale_freq_shift=1), shared by
  // every block's embedder.
  Value tProj = TimestepEmbeddingOp::create(
      b, loc("transformer_blocks.0.norm1.emb.time_proj"), timestep,
      b.getI64IntegerAttr(256), b.getBoolAttr(true), b.getF64FloatAttr(1.0),
      b.getF64FloatAttr(1.0), b.getF64FloatAttr(10000.0));

  for (int64_t i = 0; i < c.numLayers; ++i)
    h = block(i, h, tProj, labels);

  // Output head: block 0's conditioning drives the final adaLN.
  Location out = loc("proj_out");
  Value cond = conditioning("transformer_blocks.0.norm1.emb", tProj, labels);
  Value e = linear("proj_out_1", SiluOp::create(b, out, cond), d, 2 * d);
  h = layerNorm(h, 1e-6, loc("norm_out"));
  h = ModulateOp::create(b, out, h, chunk(e, 0, d, out), chunk(e, 1, d, out));
  h = linear("proj_out_2", h, d, p * p * outC);

  // Unpatchify: [B, gh, gw, p, p, C] -> einsum nhwpqc->nchpwq -> [B,C,H,W].
  Location up = loc("unpatchify");
  h = reshape(h, {batch, gh, gw, p, p, outC}, up);
  h = TransposeOp::create(b, up, h, b.getDenseI64ArrayAttr({0, 5, 1, 3, 2, 4}));
  return reshape(h, {batch, outC, gh * p, gw * p}, up);
}

} // namespace

func::FuncOp buildDiT(ModuleOp module, const DiTConfig &config, int64_t batch,
                      StringRef name) {
  OpBuilder b(module.getBodyRegion());
  b.setInsertionPointToEnd(module.getBody());
  MLIRContext *ctx = module.getContext();
  Type f32 = b.getF32Type();
  int64_t s = config.sampleSize;
  auto latentsTy = RankedTensorType::get({batch, config.inChannels, s, s}, f32);
  auto timestepTy = RankedTensorType::get({batch}, f32);
  auto labelsTy = RankedTensorType::get({batch}, b.getI64Type());
  auto outTy =
      RankedTensorType::get({batch, config.outputChannels(), s, s}, f32);
  auto fnTy =
      FunctionType::get(ctx, {latentsTy, timestepTy, labelsTy}, {outTy});
  auto fn =
      func::FuncOp::create(b, NameLoc::get(b.getStringAttr(name)), name, fnTy);
  fn->setAttr(FrescoDialect::kComponentAttrName, b.getStringAttr(name));
  const char *argNames[] = {"latents", "timestep", "class_labels"};
  for (unsigned i = 0; i < 3; ++i)
    fn.setArgAttr(i, FrescoDialect::kNameAttrName,
                  b.getStringAttr(argNames[i]));
  fn.setResultAttr(0, FrescoDialect::kNameAttrName, b.getStringAttr("sample"));

  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  DiTEmitter emitter(b, config, batch);
  Value out = emitter.forward(entry->getArgument(0), entry->getArgument(1),
                              entry->getArgument(2));
  func::ReturnOp::create(b, fn.getLoc(), out);
  return fn;
}

} // namespace fresco::models
