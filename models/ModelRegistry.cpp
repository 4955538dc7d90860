//===- ModelRegistry.cpp - config.json -> fresco IR -----------------------===//
#include "models/ModelRegistry.h"
#include "models/ModelSizes.h"
#include "models/SizeEstimate.h"
#include "models/dit/DiTBuilder.h"
#include "models/flux/FluxBuilder.h"
#include "models/sd3/SD3Builder.h"
#include "models/text/CLIPTextModel.h"
#include "models/text/T5EncoderModel.h"
#include "models/unet/UNetBuilder.h"
#include "models/vae/VAEBuilder.h"
#include "runtime/core/PythonJson.h"

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
  // Python's Infinity / NaN literals (diffusers writes them) as numbers.
  return json::parse(::fresco::standardJson(text.str()));
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
  if (options.batch < 1 || options.batch > kMaxBatch)
    return makeError("batch must be in 1.." + Twine(kMaxBatch) + ", got " +
                     Twine(options.batch));
  const bool textModel =
      CLIPTextConfig::matches(*obj) || T5Config::matches(*obj);
  const bool vaeEncoder = options.vaeEncoder && VAEConfig::matches(*obj);
  if (options.vaeEncoder && !vaeEncoder)
    return makeError("--vae-encoder applies to an AutoencoderKL (or a "
                     "StableDiffusionPipeline, StableDiffusionXLPipeline, "
                     "StableDiffusion3Pipeline or FluxPipeline folder) only");
  if ((options.height || options.width) && !FluxConfig::matches(*obj) &&
      !vaeEncoder)
    return makeError("an image height/width applies to a "
                     "FluxTransformer2DModel only (and to an AutoencoderKL "
                     "with --vae-encoder); this model's shapes come from its "
                     "config");
  if (options.maxSequenceLength && !FluxConfig::matches(*obj) && !textModel &&
      !UNetConfig::matches(*obj) && !SD3Config::matches(*obj))
    return makeError("a max sequence length applies to a "
                     "FluxTransformer2DModel, an SD3Transformer2DModel, a "
                     "UNet2DConditionModel and the text encoders only; this "
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
  if (SD3Config::matches(*obj)) {
    Expected<SD3Config> config = SD3Config::fromJSON(*obj);
    if (!config)
      return config.takeError();
    SD3Shape shape;
    shape.batch = options.batch;
    if (options.maxSequenceLength)
      shape.textTokens = options.maxSequenceLength;
    if (shape.textTokens < 1 || shape.textTokens > (int64_t(1) << 16))
      return makeError("an SD3 transformer's max sequence length must be in "
                       "1..65536, got " +
                       Twine(shape.textTokens));
    if (Error e = checkSD3Size(*config, shape.textTokens))
      return e;
    buildSD3(module, *config, shape,
             component.empty() ? StringRef("transformer") : component);
    return Error::success();
  }
  if (UNetConfig::matches(*obj)) {
    Expected<UNetConfig> config = UNetConfig::fromJSON(*obj);
    if (!config)
      return config.takeError();
    UNetShape shape;
    shape.batch = options.batch;
    shape.height = shape.width = config->sampleSize;
    shape.textTokens =
        options.maxSequenceLength ? options.maxSequenceLength : 77;
    if (shape.textTokens > (int64_t(1) << 16))
      return makeError("max sequence length " + Twine(shape.textTokens) +
                       " is more than the 65536 this builder accepts");
    if (shape.height % config->downscale() != 0)
      return makeError("UNet sample_size " + Twine(shape.height) +
                       " is not a multiple of " + Twine(config->downscale()) +
                       " (one halving per down block but the last)");
    buildUNet(module, *config, shape,
              component.empty() ? StringRef("unet") : component);
    return Error::success();
  }
  if (VAEConfig::matches(*obj)) {
    Expected<VAEConfig> config = VAEConfig::fromJSON(*obj);
    if (!config)
      return config.takeError();
    if (vaeEncoder) {
      const int64_t h = options.height ? options.height : config->sampleSize;
      const int64_t w = options.width ? options.width : config->sampleSize;
      for (int64_t v : {h, w})
        if (v < 1 || v > (int64_t(1) << 16) || v % config->upscale() != 0)
          return makeError("a VAE encoder's image height and width must be "
                           "multiples of " +
                           Twine(config->upscale()) +
                           " (one halving per block but the last) up to "
                           "65536, got " +
                           Twine(v));
      if (Error e = checkVAESize(*config, h, w))
        return e;
      buildVAEEncoder(module, *config, options.batch, h, w,
                      component.empty() ? StringRef("vae_encoder") : component);
      return Error::success();
    }
    int64_t latent = options.latentSize;
    if (latent == 0) {
      if (config->sampleSize % config->upscale() != 0)
        return makeError("VAE sample_size " + Twine(config->sampleSize) +
                         " is not a multiple of its upscale factor " +
                         Twine(config->upscale()));
      latent = config->sampleSize / config->upscale();
    }
    const int64_t pixels = saturatingProduct({latent, config->upscale()});
    if (Error e = checkVAESize(*config, pixels, pixels)) // issue 15
      return e;
    buildVAEDecoder(module, *config, options.batch, latent, latent,
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
    // With a projection (SDXL's text_encoder_2) the penultimate hidden
    // state the SDXL pipeline reads comes too.
    const bool proj = config->withProjection;
    buildCLIPText(module, *config, options.batch,
                  !component.empty() ? component
                  : proj             ? StringRef("text_encoder_2")
                                     : StringRef("text_encoder"),
                  proj ? CLIPOutputs{true, true, true} : CLIPOutputs::Both);
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
                   "FluxTransformer2DModel, SD3Transformer2DModel, "
                   "UNet2DConditionModel, AutoencoderKL, CLIPTextModel, "
                   "CLIPTextModelWithProjection, T5EncoderModel");
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
