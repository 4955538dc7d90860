//===- PipelineFolder.cpp - A diffusers pipeline folder -> one module -----===//
#include "models/pipelines/PipelineFolder.h"
#include "models/SizeEstimate.h"
#include "models/unet/ControlNetConfig.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace llvm;

namespace fresco::models {

Error makeError(const Twine &msg) {
  return createStringError(inconvertibleErrorCode(), msg);
}

Expected<json::Object> readJSONObject(const Twine &path) {
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

SmallString<256> PipelineFolder::path(StringRef component,
                                      StringRef file) const {
  SmallString<256> p(folder_);
  sys::path::append(p, component, file);
  return p;
}

Expected<json::Object> PipelineFolder::object(StringRef component,
                                              StringRef file) const {
  return readJSONObject(path(component, file));
}

Expected<std::string> PipelineFolder::text(StringRef component,
                                           StringRef file) const {
  SmallString<256> p = path(component, file);
  auto buf = MemoryBuffer::getFile(p);
  if (!buf)
    return makeError("cannot read " + p + ": " + buf.getError().message());
  return (*buf)->getBuffer().str();
}

Error PipelineFolder::requireComponents(const json::Object &index,
                                        StringRef pipeline,
                                        ArrayRef<StringRef> components) const {
  for (StringRef component : components) {
    if (index.get(component))
      continue;
    std::string all; // "a, b and c"
    for (size_t i = 0; i < components.size(); ++i)
      all += (i == 0                       ? ""
              : i + 1 == components.size() ? " and "
                                           : ", ") +
             components[i].str();
    return makeError(path("", "model_index.json") + " has no '" + component +
                     "' component (" + pipeline + " needs " + all + ")");
  }
  return Error::success();
}

Expected<SchedulerFile> PipelineFolder::scheduler() const {
  Expected<SchedulerFile> sched = readScheduler();
  if (sched)
    if (Error e = checkIndexScheduler(sched->className))
      return std::move(e);
  return sched;
}

Expected<SchedulerFile> PipelineFolder::readScheduler() const {
  Expected<std::string> text = this->text("scheduler", "scheduler_config.json");
  if (!text)
    return text.takeError();
  Expected<json::Object> obj = object("scheduler", "scheduler_config.json");
  if (!obj)
    return obj.takeError();
  std::optional<StringRef> cls = obj->getString("_class_name");
  if (!cls)
    return makeError(path("scheduler", "scheduler_config.json") +
                     " has no '_class_name'");
  return SchedulerFile{cls->str(), std::move(*text)};
}

Error PipelineFolder::checkIndexScheduler(StringRef configClass) const {
  if (!indexScheduler_ || *indexScheduler_ == configClass)
    return Error::success();
  return makeError(
      path("", "model_index.json") + ": the scheduler is class " +
      *indexScheduler_ + " but " + path("scheduler", "scheduler_config.json") +
      " has _class_name '" + configClass + "' (diffusers would run the " +
      *indexScheduler_ + "; make them agree)");
}

Expected<ImageSize> imageSize(StringRef pipeline, const BuildOptions &options,
                              int64_t vaeScale, int64_t denoiserScale,
                              StringRef denoiserWhat, int64_t defaultLatent) {
  const int64_t multiple = vaeScale * denoiserScale;
  ImageSize s;
  s.height = options.height ? options.height : defaultLatent * vaeScale;
  s.width = options.width ? options.width : defaultLatent * vaeScale;
  for (auto [what, v] : {std::pair<StringRef, int64_t>{"height", s.height},
                         std::pair<StringRef, int64_t>{"width", s.width}})
    if (v < multiple || v > (int64_t(1) << 16) || v % multiple != 0)
      return makeError(pipeline + "'s image " + what +
                       " must be a multiple of " + Twine(multiple) +
                       " pixels (the VAE's " + Twine(vaeScale) + "x and " +
                       denoiserWhat + ") up to 65536, got " + Twine(v));
  s.latentHeight = s.height / vaeScale;
  s.latentWidth = s.width / vaeScale;
  return s;
}

Error checkJointAttention(StringRef pipeline, int64_t heads, int64_t tokens,
                          int64_t height, int64_t width) {
  SizeEstimate est;
  est.activation({heads, tokens, tokens});
  return est.check(pipeline, "",
                   "a " + Twine(height) + " x " + Twine(width) +
                       " image's joint attention");
}

mlir::DictionaryAttr
PipelineAttrs::textEncoder(StringRef function, ArrayRef<StringRef> outputs,
                           StringRef kind, StringRef tokenizer, int64_t slot,
                           ArrayRef<Window> windows, bool clipSkipped) {
  SmallVector<StringRef> roles(outputs);
  SmallVector<Window> placed(windows);
  if (clipSkipped) {
    assert(!outputs.empty() && "clip_skip replaces output 0's state");
    roles.push_back(outputs[0]);
    if (!placed.empty())
      placed.push_back(placed[0]);
  }
  SmallVector<mlir::NamedAttribute> entries = {
      str("role", "text_encoder"),
      str("function", function),
      attr("inputs", strings({"token_ids"})),
      attr("outputs", strings(roles)),
      str("tokenizer_kind", kind),
      str("tokenizer", tokenizer),
      i64("prompt_slot", slot)};
  if (!placed.empty()) {
    SmallVector<mlir::Attribute> list;
    for (const Window &w : placed)
      list.push_back(b.getArrayAttr(
          {b.getI64IntegerAttr(w.token), b.getI64IntegerAttr(w.feature)}));
    entries.push_back(attr("windows", b.getArrayAttr(list)));
  }
  if (clipSkipped) {
    SmallVector<StringRef> prompts(roles.size(), "every");
    prompts.front() = "negative_prompts";
    prompts.back() = "prompts";
    entries.push_back(attr("output_prompts", strings(prompts)));
  }
  return dict(entries);
}

Error buildPipelineCLIP(mlir::ModuleOp module, const CLIPTextConfig &clip,
                        int64_t batch, StringRef name, CLIPOutputs base,
                        int64_t clipSkip, bool normed, StringRef cls) {
  if (clipSkip != 0) {
    // diffusers indexes hidden_states (num_hidden_layers + 1 entries) from
    // the end: a larger clip_skip is an IndexError there.
    const int64_t fromEnd = clipSkip + (normed ? 1 : 2);
    const int64_t most = clip.numLayers + 1 - (normed ? 1 : 2);
    if (clipSkip < 0 || fromEnd > clip.numLayers + 1)
      return makeError("--clip-skip " + Twine(clipSkip) + ": " + name +
                       " has " + Twine(clip.numLayers) + " layer(s) and " +
                       cls + " reads hidden_states[-(clip_skip + " +
                       Twine(normed ? 1 : 2) + ")], so clip_skip is at most " +
                       Twine(most));
    base.skipFromEnd = fromEnd;
    base.skipNorm = normed;
  }
  buildCLIPText(module, clip, batch, name, base);
  return Error::success();
}

mlir::DictionaryAttr PipelineAttrs::component(StringRef role,
                                              StringRef function,
                                              ArrayRef<StringRef> inputs,
                                              ArrayRef<StringRef> outputs) {
  return dict({str("role", role), str("function", function),
               attr("inputs", strings(inputs)),
               attr("outputs", strings(outputs))});
}

mlir::DictionaryAttr PipelineAttrs::vaeEncoder(mlir::ModuleOp module,
                                               const VAEConfig &vae, int64_t n,
                                               int64_t height, int64_t width) {
  // The log-variance too: --generator torch samples as diffusers does.
  buildVAEEncoder(module, vae, n, height, width, "vae_encoder", "vae",
                  /*logVar=*/true);
  return component("encoder", "vae_encoder", {"pixels"},
                   {"latent_mean", "latent_logvar"});
}

Expected<SchedulerFile> PipelineFolder::scheduler(StringRef pipeline,
                                                  StringRef required) const {
  Expected<SchedulerFile> sched = readScheduler();
  if (sched && sched->className != required)
    return makeError(path("scheduler", "scheduler_config.json") + ": " +
                     pipeline + " runs " + required + ", not '" +
                     sched->className + "'");
  if (sched)
    if (Error e = checkIndexScheduler(sched->className))
      return std::move(e);
  return sched;
}

mlir::ArrayAttr PipelineAttrs::strings(std::initializer_list<StringRef> items) {
  return strings(ArrayRef<StringRef>(items.begin(), items.size()));
}
mlir::ArrayAttr PipelineAttrs::strings(ArrayRef<StringRef> items) {
  SmallVector<mlir::Attribute> out;
  for (StringRef s : items)
    out.push_back(b.getStringAttr(s));
  return b.getArrayAttr(out);
}
mlir::NamedAttribute PipelineAttrs::str(StringRef key, StringRef value) {
  return b.getNamedAttr(key, b.getStringAttr(value));
}
mlir::NamedAttribute PipelineAttrs::i64(StringRef key, int64_t value) {
  return b.getNamedAttr(key, b.getI64IntegerAttr(value));
}
mlir::NamedAttribute PipelineAttrs::f64(StringRef key, double value) {
  return b.getNamedAttr(key, b.getF64FloatAttr(value));
}
mlir::NamedAttribute PipelineAttrs::attr(StringRef key, mlir::Attribute value) {
  return b.getNamedAttr(key, value);
}
mlir::DictionaryAttr
PipelineAttrs::dict(ArrayRef<mlir::NamedAttribute> entries) {
  return b.getDictionaryAttr(entries);
}

bool componentPresent(const json::Object &index, StringRef component) {
  const json::Value *v = index.get(component);
  if (!v)
    return false;
  if (const json::Array *a = v->getAsArray())
    return !a->empty() && !(*a)[0].getAsNull();
  return !v->getAsNull();
}

namespace {

/// The classes model_index.json may name for a component of a pipeline:
/// diffusers loads the class named there, whatever the component's own
/// config says, so another class (a BertModel text encoder, a
/// CLIPTextModelWithProjection where the pipeline takes the hidden states)
/// would run something else. `optional`: [null, null] allowed here (the
/// builders check what must go together).
struct ComponentClasses {
  StringRef pipeline, component;
  std::vector<StringRef> classes;
  bool optional = false;
};

const std::vector<ComponentClasses> &componentClasses() {
  static const std::vector<StringRef> clipTok = {"CLIPTokenizer",
                                                 "CLIPTokenizerFast"},
                                      t5Tok = {"T5TokenizerFast",
                                               "T5Tokenizer"},
                                      vae = {"AutoencoderKL"},
                                      unet = {"UNet2DConditionModel"};
  static const std::vector<ComponentClasses> table = [] {
    std::vector<ComponentClasses> t = {
        {"DiTPipeline",
         "transformer",
         {"DiTTransformer2DModel", "Transformer2DModel"}},
        {"DiTPipeline", "vae", vae},
    };
    for (StringRef sd3 :
         {"StableDiffusion3Pipeline", "StableDiffusion3ControlNetPipeline",
          "StableDiffusion3ControlNetInpaintingPipeline"})
      for (ComponentClasses c : std::vector<ComponentClasses>{
               {"", "transformer", {"SD3Transformer2DModel"}},
               {"", "vae", vae},
               {"", "text_encoder", {"CLIPTextModelWithProjection"}},
               {"", "text_encoder_2", {"CLIPTextModelWithProjection"}},
               {"", "text_encoder_3", {"T5EncoderModel"}, true},
               {"", "tokenizer", clipTok},
               {"", "tokenizer_2", clipTok},
               {"", "tokenizer_3", t5Tok, true}}) {
        c.pipeline = sd3;
        t.push_back(c);
      }
    t.push_back({"StableDiffusion3ControlNetPipeline",
                 "controlnet",
                 {"SD3ControlNetModel", "SD3MultiControlNetModel"}});
    t.push_back({"StableDiffusion3ControlNetInpaintingPipeline",
                 "controlnet",
                 {"SD3ControlNetModel"}});
    for (StringRef flux : {"FluxPipeline", "FluxControlNetPipeline"})
      for (ComponentClasses c : std::vector<ComponentClasses>{
               {"", "transformer", {"FluxTransformer2DModel"}},
               {"", "vae", vae},
               {"", "text_encoder", {"CLIPTextModel"}},
               {"", "text_encoder_2", {"T5EncoderModel"}},
               {"", "tokenizer", clipTok},
               {"", "tokenizer_2", t5Tok}}) {
        c.pipeline = flux;
        t.push_back(c);
      }
    t.push_back({"FluxControlNetPipeline",
                 "controlnet",
                 {"FluxControlNetModel", "FluxMultiControlNetModel"}});
    for (StringRef sd :
         {"StableDiffusionPipeline", "StableDiffusionInpaintPipeline",
          "StableDiffusionControlNetPipeline",
          "StableDiffusionControlNetImg2ImgPipeline",
          "StableDiffusionControlNetInpaintPipeline"})
      for (ComponentClasses c : std::vector<ComponentClasses>{
               {"", "unet", unet},
               {"", "vae", vae},
               {"", "text_encoder", {"CLIPTextModel"}},
               {"", "tokenizer", clipTok}}) {
        c.pipeline = sd;
        t.push_back(c);
      }
    for (StringRef cls : {"StableDiffusionControlNetPipeline",
                          "StableDiffusionControlNetImg2ImgPipeline",
                          "StableDiffusionControlNetInpaintPipeline",
                          "StableDiffusionXLControlNetPipeline",
                          "StableDiffusionXLControlNetImg2ImgPipeline",
                          "StableDiffusionXLControlNetInpaintPipeline"})
      t.push_back(
          {cls, "controlnet", {"ControlNetModel", "MultiControlNetModel"}});
    for (StringRef sdxl :
         {"StableDiffusionXLPipeline", "StableDiffusionXLImg2ImgPipeline",
          "StableDiffusionXLInpaintPipeline",
          "StableDiffusionXLControlNetPipeline",
          "StableDiffusionXLControlNetImg2ImgPipeline",
          "StableDiffusionXLControlNetInpaintPipeline"})
      for (ComponentClasses c : std::vector<ComponentClasses>{
               {"", "unet", unet},
               {"", "vae", vae},
               {"", "text_encoder", {"CLIPTextModel"}, true},
               {"", "text_encoder_2", {"CLIPTextModelWithProjection"}, true},
               {"", "tokenizer", clipTok, true},
               {"", "tokenizer_2", clipTok, true}}) {
        c.pipeline = sdxl;
        t.push_back(c);
      }
    return t;
  }();
  return table;
}

/// Checks the [library, class] entries of model_index.json that `pipeline`
/// reads; the scheduler's class is checked against its config by
/// PipelineFolder::scheduler.
Error checkComponentClasses(PipelineFolder &dir, const json::Object &index,
                            StringRef pipeline) {
  const std::string where = dir.path("", "model_index.json").str().str();
  auto entryClass = [&](StringRef component,
                        bool &isNull) -> Expected<std::optional<StringRef>> {
    isNull = false;
    const json::Value *v = index.get(component);
    if (!v)
      return std::optional<StringRef>();
    const json::Array *a = v->getAsArray();
    if (a && a->size() == 2 && (*a)[0].getAsNull() && (*a)[1].getAsNull()) {
      isNull = true;
      return std::optional<StringRef>();
    }
    if (!a || a->size() != 2 || !(*a)[0].getAsString() ||
        !(*a)[1].getAsString())
      return makeError(where + ": '" + component +
                       "' must be [library, class] (or [null, null])");
    return std::optional<StringRef>(*(*a)[1].getAsString());
  };
  for (const ComponentClasses &c : componentClasses()) {
    if (c.pipeline != pipeline)
      continue;
    bool isNull = false;
    Expected<std::optional<StringRef>> cls = entryClass(c.component, isNull);
    if (!cls)
      return cls.takeError();
    if (isNull && !c.optional)
      return makeError(where + ": '" + c.component + "' is [null, null]; " +
                       pipeline + " needs it");
    if (!*cls || llvm::is_contained(c.classes, **cls))
      continue;
    std::string all;
    for (size_t i = 0; i < c.classes.size(); ++i)
      all += (i ? " or " : "") + c.classes[i].str();
    return makeError(where + ": '" + c.component + "' is class " + **cls +
                     "; " + pipeline + "'s " + c.component + " must be " + all);
  }
  bool isNull = false;
  Expected<std::optional<StringRef>> sched = entryClass("scheduler", isNull);
  if (!sched)
    return sched.takeError();
  if (isNull)
    return makeError(where + ": 'scheduler' is [null, null]; " + pipeline +
                     " needs it");
  if (*sched)
    dir.setIndexScheduler(**sched);
  return Error::success();
}

} // namespace

Expected<size_t> controlNetCount(const PipelineFolder &dir,
                                 const json::Object &index,
                                 StringRef multiClass) {
  const json::Array *entry = index.getArray("controlnet");
  const bool multi =
      entry && entry->size() == 2 &&
      (*entry)[1].getAsString() == std::optional<StringRef>(multiClass);
  // diffusers' MultiControlNetModel loads folders up to the first missing.
  constexpr size_t kMaxControlNets = 16;
  auto present = [&](size_t k) {
    return sys::fs::is_directory(dir.path(controlNetFolder(k), ""));
  };
  if (!multi)
    return 1;
  size_t k = 1;
  while (k < kMaxControlNets && present(k))
    ++k;
  if (k == kMaxControlNets && present(k))
    return makeError("more than " + Twine(kMaxControlNets) +
                     " ControlNets (controlnet, controlnet_1, ...)");
  return k;
}

Error buildPipelineFromFolder(mlir::ModuleOp module, StringRef folder,
                              const BuildOptions &options) {
  SmallString<256> indexPath(folder);
  sys::path::append(indexPath, "model_index.json");
  Expected<json::Object> index = readJSONObject(indexPath);
  if (!index)
    return index.takeError();
  if (options.batch < 1 || options.batch > kMaxBatch)
    return makeError("batch must be in 1.." + Twine(kMaxBatch) + ", got " +
                     Twine(options.batch));
  PipelineFolder dir(folder);
  auto cls = index->getString("_class_name");
  // Bounded as the nets of a folder are (controlNetCount).
  if (options.controlImages &&
      !(cls && *cls == "FluxControlNetPipeline" && options.controlImages >= 1 &&
        options.controlImages <= 16))
    return makeError(
        options.controlImages < 1 || options.controlImages > 16
            ? "--control-images must be in 1..16, got " +
                  Twine(options.controlImages)
            : "--control-images applies to a FluxControlNetPipeline folder "
              "(one ControlNet-Union over several control images), not " +
                  Twine(cls ? *cls : StringRef("<missing>")));
  if (options.vaeEncoder &&
      !(cls && (*cls == "StableDiffusionPipeline" ||
                *cls == "StableDiffusionInpaintPipeline" ||
                *cls == "StableDiffusionControlNetPipeline" ||
                *cls == "StableDiffusionControlNetImg2ImgPipeline" ||
                *cls == "StableDiffusionControlNetInpaintPipeline" ||
                *cls == "StableDiffusionXLControlNetPipeline" ||
                *cls == "StableDiffusionXLControlNetImg2ImgPipeline" ||
                *cls == "StableDiffusionXLControlNetInpaintPipeline" ||
                *cls == "StableDiffusionXLPipeline" ||
                *cls == "StableDiffusionXLImg2ImgPipeline" ||
                *cls == "StableDiffusionXLInpaintPipeline" ||
                *cls == "StableDiffusion3Pipeline" ||
                *cls == "StableDiffusion3ControlNetPipeline" ||
                *cls == "StableDiffusion3ControlNetInpaintingPipeline" ||
                *cls == "FluxPipeline" || *cls == "FluxControlNetPipeline")))
    return makeError("--vae-encoder (image-to-image) is implemented for "
                     "StableDiffusionPipeline, StableDiffusionXLPipeline, "
                     "StableDiffusionXLImg2ImgPipeline, "
                     "StableDiffusion3Pipeline and FluxPipeline folders (and "
                     "the Stable Diffusion inpaint and ControlNet classes') "
                     "only, not " +
                     (cls ? *cls : StringRef("<missing>")));
  // Stable Diffusion's, SDXL's and SD3's classes have clip_skip;
  // DiTPipeline has no text encoder and FluxPipeline reads CLIP's pooled
  // output alone.
  if (options.clipSkip &&
      !(cls && (cls->starts_with("StableDiffusionPipeline") ||
                cls->starts_with("StableDiffusionInpaint") ||
                cls->starts_with("StableDiffusionControlNet") ||
                cls->starts_with("StableDiffusionXL") ||
                cls->starts_with("StableDiffusion3"))))
    return makeError("--clip-skip applies to Stable Diffusion, SDXL and SD3 "
                     "pipelines (their prompts' CLIP hidden states), not " +
                     Twine(cls ? *cls : StringRef("<missing>")));
  if (cls)
    if (Error e = checkComponentClasses(dir, *index, *cls))
      return e;
  if (cls && *cls == "DiTPipeline")
    return buildDiTPipeline(module, dir, *index, options);
  if (cls && (*cls == "FluxPipeline" || *cls == "FluxControlNetPipeline"))
    return buildFluxPipeline(module, dir, *index, options);
  // The inpaint class: its folders (SD 1.5 / 2 inpainting) hold an
  // inpainting UNet, or a plain one (then --mask blends).
  if (cls && (*cls == "StableDiffusionPipeline" ||
              *cls == "StableDiffusionInpaintPipeline" ||
              *cls == "StableDiffusionControlNetPipeline" ||
              *cls == "StableDiffusionControlNetImg2ImgPipeline" ||
              *cls == "StableDiffusionControlNetInpaintPipeline"))
    return buildStableDiffusionPipeline(module, dir, *index, options);
  if (cls && *cls == "StableDiffusionXLPipeline")
    return buildStableDiffusionXLPipeline(module, dir, *index, options);
  // The SDXL refiner's folder (image-to-image only).
  if (cls && *cls == "StableDiffusionXLImg2ImgPipeline")
    return buildStableDiffusionXLImg2ImgPipeline(module, dir, *index, options);
  if (cls && *cls == "StableDiffusionXLInpaintPipeline")
    return buildStableDiffusionXLInpaintPipeline(module, dir, *index, options);
  if (cls && (*cls == "StableDiffusionXLControlNetPipeline" ||
              *cls == "StableDiffusionXLControlNetImg2ImgPipeline" ||
              *cls == "StableDiffusionXLControlNetInpaintPipeline"))
    return buildStableDiffusionXLControlNetPipeline(module, dir, *index,
                                                    options);
  if (cls && (*cls == "StableDiffusion3Pipeline" ||
              *cls == "StableDiffusion3ControlNetPipeline" ||
              *cls == "StableDiffusion3ControlNetInpaintingPipeline"))
    return buildStableDiffusion3Pipeline(module, dir, *index, options);
  return makeError(indexPath + ": pipeline class '" +
                   (cls ? *cls : StringRef("<missing>")) +
                   "' is not supported; supported: DiTPipeline, FluxPipeline, "
                   "FluxControlNetPipeline, "
                   "StableDiffusionPipeline, StableDiffusionInpaintPipeline, "
                   "StableDiffusionControlNetPipeline, "
                   "StableDiffusionControlNetImg2ImgPipeline, "
                   "StableDiffusionControlNetInpaintPipeline, "
                   "StableDiffusionXLPipeline, "
                   "StableDiffusionXLImg2ImgPipeline, "
                   "StableDiffusionXLInpaintPipeline, "
                   "StableDiffusionXLControlNetPipeline, "
                   "StableDiffusionXLControlNetImg2ImgPipeline, "
                   "StableDiffusionXLControlNetInpaintPipeline, "
                   "StableDiffusion3Pipeline, "
                   "StableDiffusion3ControlNetPipeline, "
                   "StableDiffusion3ControlNetInpaintingPipeline");
}

} // namespace fresco::models
