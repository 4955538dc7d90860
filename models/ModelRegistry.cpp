//===- ModelRegistry.cpp - config.json -> fresco IR -----------------------===//
#include "models/ModelRegistry.h"
#include "models/dit/DiTBuilder.h"
#include "models/flux/FluxBuilder.h"
#include "models/text/CLIPTextModel.h"
#include "models/text/T5EncoderModel.h"
#include "models/vae/VAEBuilder.h"

#include "mlir/IR/Builders.h"

#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace fresco::models {

static Error makeError(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

Expected<json::Value> parseJson(StringRef text) {
  constexpr int kMaxDepth = 256;
  int depth = 0;
  bool inString = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (inString) {
      if (c == '\\')
        ++i; // the escaped character
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth)
        return makeError("nests arrays or objects more than " +
                         Twine(kMaxDepth) + " levels deep (at byte " +
                         Twine(i) + ")");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return json::parse(text);
}

/// A Flux transformer's token counts from the image size and text length.
static Expected<FluxShape> fluxShape(const BuildOptions &options) {
  // FLUX.1's VAE (8x) and FluxPipeline's 2x2 packing: 16 pixels a token.
  constexpr int64_t kPixelsPerToken = 16, kMaxPixels = int64_t(1) << 16;
  FluxShape shape;
  shape.batch = options.batch;
  int64_t h = options.height ? options.height : 1024;
  int64_t w = options.width ? options.width : 1024;
  for (auto [what, v] : {std::pair<StringRef, int64_t>{"height", h},
                         std::pair<StringRef, int64_t>{"width", w}})
    if (v < kPixelsPerToken || v > kMaxPixels || v % kPixelsPerToken != 0)
      return makeError(
          "a Flux transformer's " + what +
          " must be a multiple of 16 pixels (the VAE's 8x and the 2x2 latent "
          "packing) between 16 and 65536, got " +
          Twine(v));
  shape.imageTokens = (h / kPixelsPerToken) * (w / kPixelsPerToken);
  int64_t text = options.maxSequenceLength ? options.maxSequenceLength : 512;
  if (text < 1 || text > (int64_t(1) << 16))
    return makeError(
        "a Flux transformer's max sequence length must be in 1..65536, got " +
        Twine(text));
  shape.textTokens = text;
  return shape;
}

Error buildComponentFromConfig(mlir::ModuleOp module, StringRef configText,
                               StringRef component,
                               const BuildOptions &options) {
  Expected<json::Value> parsed = parseJson(configText);
  if (!parsed)
    return makeError("config.json is not valid JSON: " +
                     toString(parsed.takeError()));
  const json::Object *obj = parsed->getAsObject();
  if (!obj)
    return makeError("config.json must hold a JSON object");
  if (options.batch < 1)
    return makeError("batch must be at least 1");
  const bool textModel =
      CLIPTextConfig::matches(*obj) || T5Config::matches(*obj);
  if ((options.height || options.width) && !FluxConfig::matches(*obj))
    return makeError("an image height/width applies to a "
                     "FluxTransformer2DModel only; this model's shapes come "
                     "from its config");
  if (options.maxSequenceLength && !FluxConfig::matches(*obj) && !textModel)
    return makeError("a max sequence length applies to a "
                     "FluxTransformer2DModel and the text encoders only; this "
                     "model's shapes come from its config");
  if (DiTConfig::matches(*obj)) {
    Expected<DiTConfig> config = DiTConfig::fromJSON(*obj);
    if (!config)
      return config.takeError();
    buildDiT(module, *config, options.batch,
             component.empty() ? StringRef("transformer") : component);
    return Error::success();
  }
  if (FluxConfig::matches(*obj)) {
    Expected<FluxConfig> config = FluxConfig::fromJSON(*obj);
    if (!config)
      return config.takeError();
    Expected<FluxShape> shape = fluxShape(options);
    if (!shape)
      return shape.takeError();
    buildFlux(module, *config, *shape,
              component.empty() ? StringRef("transformer") : component);
    return Error::success();
  }
  if (VAEConfig::matches(*obj)) {
    Expected<VAEConfig> config = VAEConfig::fromJSON(*obj);
    if (!config)
      return config.takeError();
    int64_t latent = options.latentSize;
    if (latent == 0) {
      if (config->sampleSize % config->upscale() != 0)
        return makeError("VAE sample_size " + Twine(config->sampleSize) +
                         " is not a multiple of its upscale factor " +
                         Twine(config->upscale()));
      latent = config->sampleSize / config->upscale();
    }
    buildVAEDecoder(module, *config, options.batch, latent,
                    component.empty() ? StringRef("vae") : component);
    return Error::success();
  }
  if (options.maxSequenceLength < 0)
    return makeError("max sequence length must be positive");
  if (CLIPTextConfig::matches(*obj)) {
    Expected<CLIPTextConfig> config = CLIPTextConfig::fromJSON(*obj);
    if (!config)
      return config.takeError();
    if (options.maxSequenceLength &&
        options.maxSequenceLength != config->maxPositions)
      return makeError("a CLIPTextModel takes max_position_embeddings = " +
                       Twine(config->maxPositions) + " tokens, not " +
                       Twine(options.maxSequenceLength) +
                       " (--max-sequence-length applies to T5)");
    buildCLIPText(module, *config, options.batch,
                  component.empty() ? StringRef("text_encoder") : component);
    return Error::success();
  }
  if (T5Config::matches(*obj)) {
    Expected<T5Config> config = T5Config::fromJSON(*obj);
    if (!config)
      return config.takeError();
    const int64_t tokens =
        options.maxSequenceLength ? options.maxSequenceLength : 512;
    if (tokens > (int64_t(1) << 16))
      return makeError("max sequence length " + Twine(tokens) +
                       " is more than the 65536 this builder accepts");
    buildT5Encoder(module, *config, options.batch, tokens,
                   component.empty() ? StringRef("text_encoder_2") : component);
    return Error::success();
  }
  auto cls = obj->getString("_class_name");
  if (!cls)
    if (const json::Array *a = obj->getArray("architectures"); a && !a->empty())
      cls = (*a)[0].getAsString();
  return makeError("model class '" + (cls ? *cls : StringRef("<missing>")) +
                   "' is not supported; supported: DiTTransformer2DModel, "
                   "Transformer2DModel with norm_type 'ada_norm_zero', "
                   "FluxTransformer2DModel, AutoencoderKL, CLIPTextModel, T5EncoderModel");
}

Error buildComponentFromFolder(mlir::ModuleOp module, StringRef folder,
                               StringRef component,
                               const BuildOptions &options) {
  SmallString<256> path(folder);
  sys::path::append(path, "config.json");
  auto buf = MemoryBuffer::getFile(path);
  if (!buf)
    return makeError("cannot read " + path + ": " + buf.getError().message());
  if (Error e = buildComponentFromConfig(module, (*buf)->getBuffer(), component,
                                         options))
    return makeError(path + ": " + toString(std::move(e)));
  return Error::success();
}

} // namespace fresco::models

namespace fresco::models {

static Expected<json::Object> readJSONObject(const Twine &path) {
  auto buf = MemoryBuffer::getFile(path);
  if (!buf)
    return makeError("cannot read " + path + ": " + buf.getError().message());
  Expected<json::Value> v = parseJson((*buf)->getBuffer());
  if (!v)
    return makeError(path + " is not valid JSON: " + toString(v.takeError()));
  if (!v->getAsObject())
    return makeError(path + " must hold a JSON object");
  return std::move(*v->getAsObject());
}

Error buildPipelineFromFolder(mlir::ModuleOp module, StringRef folder,
                              const BuildOptions &options) {
  SmallString<256> indexPath(folder);
  sys::path::append(indexPath, "model_index.json");
  Expected<json::Object> index = readJSONObject(indexPath);
  if (!index)
    return index.takeError();
  if (options.height || options.width || options.maxSequenceLength)
    return makeError("an image height/width and a max sequence length apply "
                     "to a FluxTransformer2DModel only (DiTPipeline's sizes "
                     "come from its transformer's config)");
  auto cls = index->getString("_class_name");
  if (!cls || *cls != "DiTPipeline")
    return makeError(indexPath + ": pipeline class '" +
                     (cls ? *cls : StringRef("<missing>")) +
                     "' is not supported; supported: DiTPipeline");
  for (StringRef component : {"transformer", "vae", "scheduler"})
    if (!index->get(component))
      return makeError(indexPath + " has no '" + component +
                       "' component (DiTPipeline needs transformer, vae and "
                       "scheduler)");
  auto componentPath = [&](StringRef component, StringRef file) {
    SmallString<256> p(folder);
    sys::path::append(p, component, file);
    return p;
  };

  SmallString<256> tPath = componentPath("transformer", "config.json");
  Expected<json::Object> tJson = readJSONObject(tPath);
  if (!tJson)
    return tJson.takeError();
  Expected<DiTConfig> dit = DiTConfig::fromJSON(*tJson);
  if (!dit)
    return makeError(tPath + ": " + toString(dit.takeError()));
  SmallString<256> vPath = componentPath("vae", "config.json");
  Expected<json::Object> vJson = readJSONObject(vPath);
  if (!vJson)
    return vJson.takeError();
  Expected<VAEConfig> vae = VAEConfig::fromJSON(*vJson);
  if (!vae)
    return makeError(vPath + ": " + toString(vae.takeError()));
  SmallString<256> sPath =
      componentPath("scheduler", "scheduler_config.json");
  auto sBuf = MemoryBuffer::getFile(sPath);
  if (!sBuf)
    return makeError("cannot read " + sPath + ": " +
                     sBuf.getError().message());
  Expected<json::Object> sJson = readJSONObject(sPath);
  if (!sJson)
    return sJson.takeError();
  auto schedulerClass = sJson->getString("_class_name");
  if (!schedulerClass)
    return makeError(sPath + " has no '_class_name'");

  if (vae->latentChannels != dit->inChannels)
    return makeError("the VAE's latent_channels (" +
                     Twine(vae->latentChannels) +
                     ") differ from the transformer's in_channels (" +
                     Twine(dit->inChannels) + ")");
  int64_t outC = dit->outputChannels();
  if (outC != dit->inChannels && outC != 2 * dit->inChannels)
    return makeError("transformer out_channels " + Twine(outC) +
                     " must equal in_channels or twice it (learned sigma)");
  if (options.batch < 1)
    return makeError("batch must be at least 1");

  // Classifier-free guidance runs the conditional and null-class halves as
  // one batch, as DiTPipeline does.
  buildDiT(module, *dit, 2 * options.batch, "transformer");
  buildVAEDecoder(module, *vae, options.batch, dit->sampleSize, "vae");

  // The sampler description (docs/dialect.md); spellings as in
  // runtime/pipeline/PipelineNames.h.
  mlir::Builder b(module.getContext());
  auto strings = [&](std::initializer_list<StringRef> items) {
    SmallVector<mlir::Attribute> out;
    for (StringRef s : items)
      out.push_back(b.getStringAttr(s));
    return b.getArrayAttr(out);
  };
  auto dict = [&](ArrayRef<mlir::NamedAttribute> entries) {
    return b.getDictionaryAttr(entries);
  };
  mlir::ArrayAttr components = b.getArrayAttr(
      {dict({b.getNamedAttr("role", b.getStringAttr("denoiser")),
             b.getNamedAttr("function", b.getStringAttr("transformer")),
             b.getNamedAttr("inputs",
                            strings({"latents", "timestep", "class_labels"})),
             b.getNamedAttr("outputs", strings({"prediction"}))}),
       dict({b.getNamedAttr("role", b.getStringAttr("decoder")),
             b.getNamedAttr("function", b.getStringAttr("vae")),
             b.getNamedAttr("inputs", strings({"latents"})),
             b.getNamedAttr("outputs", strings({"image"}))})});
  // DiT's null class is the extra row of its label table (DiTPipeline's
  // hard-coded 1000).
  mlir::DictionaryAttr conditioning =
      dict({b.getNamedAttr("kind", b.getStringAttr("class_label")),
            b.getNamedAttr("num_classes",
                           b.getI64IntegerAttr(dit->numEmbedsAdaNorm)),
            b.getNamedAttr("null_class",
                           b.getI64IntegerAttr(dit->numEmbedsAdaNorm))});
  mlir::DictionaryAttr latents = dict(
      {b.getNamedAttr("layout", b.getStringAttr("image")),
       b.getNamedAttr("channels", b.getI64IntegerAttr(dit->inChannels)),
       b.getNamedAttr("height", b.getI64IntegerAttr(dit->sampleSize)),
       b.getNamedAttr("width", b.getI64IntegerAttr(dit->sampleSize)),
       // Learned sigma: the last C channels are dropped.
       b.getNamedAttr("prediction_channels", b.getI64IntegerAttr(outC)),
       b.getNamedAttr("scaling_factor", b.getF64FloatAttr(vae->scalingFactor)),
       b.getNamedAttr("shift_factor",
                      b.getF64FloatAttr(vae->shiftFactor.value_or(0.0)))});
  mlir::DictionaryAttr sampler =
      dict({b.getNamedAttr("scheduler", b.getStringAttr(*schedulerClass)),
            b.getNamedAttr("scheduler_config",
                           b.getStringAttr((*sBuf)->getBuffer())),
            b.getNamedAttr("guidance", b.getStringAttr("class_cfg"))});
  SmallVector<mlir::NamedAttribute> attrs = {
      b.getNamedAttr("kind", b.getStringAttr("DiTPipeline")),
      // The most images a run makes; fewer pad the batch.
      b.getNamedAttr("num_images", b.getI64IntegerAttr(options.batch)),
      // Read by the partitioning passes (placement, the denoiser's split).
      b.getNamedAttr("denoiser", b.getStringAttr("transformer")),
      b.getNamedAttr("decoder", b.getStringAttr("vae")),
      b.getNamedAttr("components", components),
      b.getNamedAttr("conditioning", conditioning),
      b.getNamedAttr("latents", latents), b.getNamedAttr("sampler", sampler)};
  module->setAttr("fresco.pipeline", b.getDictionaryAttr(attrs));
  return Error::success();
}

} // namespace fresco::models
