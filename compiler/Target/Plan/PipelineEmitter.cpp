//===- PipelineEmitter.cpp - fresco.pipeline -> the Pipeline table --------===//
#include "compiler/Target/Plan/PipelineEmitter.h"
#include "dialects/Fresco/IR/FrescoOps.h"
#include "runtime/pipeline/PipelineNames.h"

#include "mlir/IR/BuiltinAttributes.h"

#include <algorithm>

using namespace mlir;
using namespace mlir::fresco;
namespace fp = ::fresco::plan;
namespace names = ::fresco::pipeline_names;

namespace {

/// Reads the attribute's dictionaries, remembering the first problem as a
/// message naming the key's path ("sampler.guidance").
class Reader {
public:
  explicit Reader(ModuleOp module) : module_(module) {}

  template <typename A> A get(DictionaryAttr d, StringRef path, StringRef key) {
    Attribute a = d ? d.get(key) : Attribute();
    auto typed = dyn_cast_or_null<A>(a);
    if (!typed)
      setError(Twine(a ? "has the wrong type for " : "lacks ") + "'" +
               qualified(path, key) + "'");
    return typed;
  }
  std::string str(DictionaryAttr d, StringRef path, StringRef key) {
    auto a = get<StringAttr>(d, path, key);
    return a ? a.getValue().str() : std::string();
  }
  int64_t i64(DictionaryAttr d, StringRef path, StringRef key,
              std::optional<int64_t> dflt = std::nullopt) {
    if (dflt && d && !d.get(key))
      return *dflt;
    auto a = get<IntegerAttr>(d, path, key);
    return a ? a.getInt() : 0;
  }
  double f64(DictionaryAttr d, StringRef path, StringRef key,
             std::optional<double> dflt = std::nullopt) {
    if (dflt && d && !d.get(key))
      return *dflt;
    auto a = get<FloatAttr>(d, path, key);
    return a ? a.getValueAsDouble() : 0.0;
  }
  bool flag(DictionaryAttr d, StringRef path, StringRef key) {
    if (d && !d.get(key))
      return false;
    auto a = get<BoolAttr>(d, path, key);
    return a && a.getValue();
  }
  /// A string key that may be absent ("").
  std::string optStr(DictionaryAttr d, StringRef path, StringRef key) {
    return d && d.get(key) ? str(d, path, key) : std::string();
  }
  /// An enum from its spelling (PipelineNames.h).
  template <typename E> E enumValue(StringRef spelling, StringRef what) {
    if (std::optional<E> e = names::parse<E>(spelling.str()))
      return *e;
    setError(Twine("has an unknown ") + what + " '" + spelling +
             "' (expected one of: " + names::list<E>() + ")");
    return E(0);
  }
  template <typename E>
  E enumAt(DictionaryAttr d, StringRef path, StringRef key, StringRef what,
           bool optional = false) {
    if (optional && d && !d.get(key))
      return E(0);
    auto a = get<StringAttr>(d, path, key);
    return a ? enumValue<E>(a.getValue(), what) : E(0);
  }

  void setError(const Twine &msg) {
    if (error_.empty())
      error_ = msg.str();
  }
  LogicalResult finish() {
    if (error_.empty())
      return success();
    return module_.emitError("the fresco.pipeline attribute ") << error_;
  }

private:
  static std::string qualified(StringRef path, StringRef key) {
    return path.empty() ? key.str() : (path + "." + key).str();
  }
  ModuleOp module_;
  std::string error_;
};

/// A component's list of spelled enums: the roles of its inputs or
/// outputs, a text encoder's output prompts.
template <typename E>
std::vector<E> enumList(Reader &r, DictionaryAttr c, StringRef key,
                        StringRef what) {
  std::vector<E> values;
  if (auto list = r.get<ArrayAttr>(c, "components[]", key))
    for (Attribute a : list) {
      auto s = dyn_cast<StringAttr>(a);
      if (!s) {
        r.setError(Twine("has a non-string entry in 'components[].") + key +
                   "'");
        continue;
      }
      values.push_back(r.enumValue<E>(s.getValue(), what));
    }
  return values;
}

std::vector<fp::TensorRole> tensorRoles(Reader &r, DictionaryAttr c,
                                        StringRef key) {
  return enumList<fp::TensorRole>(r, c, key, "role");
}

/// A text encoder's output_prompts: one per output, or absent.
std::vector<fp::PromptBlock> outputPrompts(Reader &r, DictionaryAttr c,
                                           size_t outputs) {
  if (!c || !c.get("output_prompts"))
    return {};
  std::vector<fp::PromptBlock> prompts =
      enumList<fp::PromptBlock>(r, c, "output_prompts", "prompt block");
  if (prompts.size() != outputs)
    r.setError(Twine("has ") + Twine(prompts.size()) +
               " 'components[].output_prompts' for " + Twine(outputs) +
               " outputs");
  return prompts;
}

/// A text encoder's output windows: [[token_offset, feature_offset], ...],
/// one per output, or absent.
std::vector<fp::TextWindow> textWindows(Reader &r, DictionaryAttr c,
                                        size_t outputs) {
  std::vector<fp::TextWindow> windows;
  if (!c || !c.get("windows"))
    return windows;
  auto list = r.get<ArrayAttr>(c, "components[]", "windows");
  if (!list)
    return windows;
  for (Attribute a : list) {
    auto pair = dyn_cast<ArrayAttr>(a);
    auto tok = pair && pair.size() == 2 ? dyn_cast<IntegerAttr>(pair[0])
                                        : IntegerAttr();
    auto feat = pair && pair.size() == 2 ? dyn_cast<IntegerAttr>(pair[1])
                                         : IntegerAttr();
    if (!tok || !feat || tok.getInt() < 0 || feat.getInt() < 0) {
      r.setError("has a 'components[].windows' entry that is not a pair of "
                 "offsets >= 0");
      continue;
    }
    windows.emplace_back(tok.getInt(), feat.getInt());
  }
  if (windows.size() != outputs)
    r.setError(Twine("has ") + Twine(windows.size()) +
               " 'components[].windows' for " + Twine(outputs) + " outputs");
  return windows;
}

/// `where`.`key`: a list of numbers, or absent.
std::vector<double> floatList(Reader &r, DictionaryAttr dict, StringRef where,
                              StringRef key) {
  std::vector<double> values;
  if (!dict || !dict.get(key))
    return values;
  if (auto list = r.get<ArrayAttr>(dict, where, key))
    for (Attribute a : list) {
      if (auto f = dyn_cast<FloatAttr>(a))
        values.push_back(f.getValueAsDouble());
      else
        r.setError("has a non-float entry in '" + where + "." + key + "'");
    }
  return values;
}

} // namespace

FailureOr<flatbuffers::Offset<fp::Pipeline>> mlir::fresco::emitPipeline(
    flatbuffers::FlatBufferBuilder &fbb, ModuleOp module,
    llvm::function_ref<std::optional<SmallVector<int64_t>>(StringRef)>
        ranksOf) {
  auto dict = module->getAttrOfType<DictionaryAttr>("fresco.pipeline");
  if (!dict)
    return flatbuffers::Offset<fp::Pipeline>();
  Reader r(module);

  // Components: the function, its ranks and what each input and output is.
  std::vector<flatbuffers::Offset<fp::Component>> components;
  SmallVector<fp::ComponentRole> roles;
  if (auto list = r.get<ArrayAttr>(dict, "", "components")) {
    for (Attribute a : list) {
      auto c = dyn_cast<DictionaryAttr>(a);
      if (!c) {
        r.setError("has a component that is not a dictionary");
        continue;
      }
      std::string fnName = r.str(c, "components[]", "function");
      auto role =
          r.enumAt<fp::ComponentRole>(c, "components[]", "role", "role");
      std::vector<fp::TensorRole> inputs = tensorRoles(r, c, "inputs");
      std::vector<fp::TensorRole> outputs = tensorRoles(r, c, "outputs");
      // The ranks that run it (fresco-specialize-ranks made their copies).
      std::optional<SmallVector<int64_t>> fnRanks = ranksOf(fnName);
      if (!fnName.empty() && !fnRanks)
        r.setError(Twine("names function '") + fnName +
                   "', which the module does not define");
      // The partitioning passes find the denoiser and decoder by these keys.
      for (fp::ComponentRole keyed :
           {fp::ComponentRole::Denoiser, fp::ComponentRole::Decoder}) {
        StringRef key = names::name(keyed);
        if (role == keyed && r.str(dict, "", key) != fnName)
          r.setError(Twine("names '") + fnName + "' as its " + key + " but '" +
                     key + "' is '" + r.str(dict, "", key) + "'");
      }
      std::vector<int32_t> ranks;
      if (fnRanks)
        for (int64_t rank : *fnRanks)
          ranks.push_back(int32_t(rank));
      std::sort(ranks.begin(), ranks.end());
      // A text encoder's tokenizer and prompt slot.
      auto tokenizerKind = r.enumAt<fp::TokenizerKind>(
          c, "components[]", "tokenizer_kind", "tokenizer kind", true);
      std::string tokenizer = r.optStr(c, "components[]", "tokenizer");
      int64_t slot = r.i64(c, "components[]", "prompt_slot", 0);
      if ((role == fp::ComponentRole::TextEncoder) !=
          (tokenizerKind != fp::TokenizerKind::None && !tokenizer.empty()))
        r.setError(Twine("component '") + fnName +
                   "': a text encoder, and only a text encoder, names its "
                   "tokenizer_kind and tokenizer");
      if (slot < 0 || slot > 2)
        r.setError(Twine("component '") + fnName + "': prompt_slot " +
                   Twine(slot) + " is not 0, 1 or 2");
      std::vector<fp::TextWindow> windows = textWindows(r, c, outputs.size());
      std::vector<fp::PromptBlock> prompts =
          outputPrompts(r, c, outputs.size());
      if (!prompts.empty() && role != fp::ComponentRole::TextEncoder)
        r.setError(Twine("component '") + fnName +
                   "': only a text encoder has output_prompts");
      roles.push_back(role);
      components.push_back(fp::CreateComponent(
          fbb, role, fbb.CreateString(fnName), fbb.CreateVector(ranks),
          fbb.CreateVector(inputs), fbb.CreateVector(outputs), tokenizerKind,
          tokenizer.empty() ? 0 : fbb.CreateString(tokenizer), int32_t(slot),
          windows.empty() ? 0 : fbb.CreateVectorOfStructs(windows),
          prompts.empty() ? 0 : fbb.CreateVector(prompts)));
    }
    // The loop needs one of each (the runtime would refuse the plan).
    for (fp::ComponentRole needed :
         {fp::ComponentRole::Denoiser, fp::ComponentRole::Decoder})
      if (llvm::count(roles, needed) != 1)
        r.setError(Twine("needs exactly one ") + names::name(needed) +
                   " component");
  }

  auto cond = r.get<DictionaryAttr>(dict, "", "conditioning");
  auto condKind = r.enumAt<fp::ConditioningKind>(cond, "conditioning", "kind",
                                                 "conditioning kind");
  std::vector<double> ids = floatList(r, cond, "conditioning", "time_ids");
  auto conditioning = fp::CreateConditioning(
      fbb, condKind, r.i64(cond, "conditioning", "num_classes", 0),
      r.i64(cond, "conditioning", "null_class", -1),
      ids.empty() ? 0 : fbb.CreateVector(ids),
      r.flag(cond, "conditioning", "zero_negative_prompt"),
      r.flag(cond, "conditioning", "aesthetic_score"));

  auto lat = r.get<DictionaryAttr>(dict, "", "latents");
  std::vector<double> mean = floatList(r, lat, "latents", "latents_mean");
  std::vector<double> stdDev = floatList(r, lat, "latents", "latents_std");
  auto latents = fp::CreateLatents(
      fbb,
      r.enumAt<fp::LatentLayout>(lat, "latents", "layout", "latent layout"),
      r.i64(lat, "latents", "channels"), r.i64(lat, "latents", "height"),
      r.i64(lat, "latents", "width"), r.i64(lat, "latents", "patch_size", 1),
      r.i64(lat, "latents", "prediction_channels"),
      r.f64(lat, "latents", "scaling_factor"),
      r.f64(lat, "latents", "shift_factor"),
      r.i64(lat, "latents", "mask_channels", 0),
      r.i64(lat, "latents", "control_mask_channels", 0),
      mean.empty() ? 0 : fbb.CreateVector(mean),
      stdDev.empty() ? 0 : fbb.CreateVector(stdDev));

  auto samp = r.get<DictionaryAttr>(dict, "", "sampler");
  auto scheduler = fbb.CreateString(r.str(samp, "sampler", "scheduler"));
  auto config = fbb.CreateString(r.str(samp, "sampler", "scheduler_config"));
  auto sampler = fp::CreateSampler(
      fbb, scheduler, config,
      r.enumAt<fp::GuidanceMode>(samp, "sampler", "guidance", "guidance mode"),
      r.f64(samp, "sampler", "timestep_divisor", 1.0),
      r.enumAt<fp::TimestepSchedule>(samp, "sampler", "timesteps",
                                     "timestep schedule", true),
      r.flag(samp, "sampler", "flow_prediction"));

  // patch=P: the steps that exchange fresh blocks (fresco-compile
  // --fresh-steps writes the key; 1 by default: the first step has no
  // earlier one to read).
  bool stale = readsStaleState(module);
  // PipeFusion: the denoiser's warm-up twin runs the fresh steps; it runs
  // where the denoiser does (fresco-placement).
  std::string warmup;
  if (dict.get("denoiser_warmup")) {
    warmup = r.str(dict, "", "denoiser_warmup");
    if (!ranksOf(warmup))
      r.setError(Twine("names the warm-up function '") + warmup +
                 "', which the module does not define");
    stale = true;
  }
  int64_t freshSteps = stale ? r.i64(dict, "", "fresh_steps", 1) : 0;
  if (stale && (freshSteps < 1 || freshSteps > INT32_MAX))
    r.setError("has 'fresh_steps' " + Twine(freshSteps) +
               " (at least 1: the first step reads no earlier one)");

  auto kind = fbb.CreateString(r.str(dict, "", "kind"));
  auto componentsVec = fbb.CreateVector(components);
  auto warmupName = warmup.empty() ? 0 : fbb.CreateString(warmup);
  auto p = fp::CreatePipeline(fbb, kind, r.i64(dict, "", "num_images"),
                              componentsVec, conditioning, latents, sampler,
                              int32_t(freshSteps), warmupName);
  if (failed(r.finish()))
    return failure();
  return p;
}

bool mlir::fresco::readsStaleState(ModuleOp module) {
  return module
      .walk([](Operation *op) {
        return isa<StaleGatherOp, PatchCacheOp>(op) ? WalkResult::interrupt()
                                                    : WalkResult::advance();
      })
      .wasInterrupted();
}

LogicalResult mlir::fresco::verifyPipelineAttribute(ModuleOp module) {
  flatbuffers::FlatBufferBuilder scratch;
  // Before specialisation: the functions are the module's own.
  return emitPipeline(
      scratch, module,
      [&](StringRef name) -> std::optional<SmallVector<int64_t>> {
        if (!module.lookupSymbol<func::FuncOp>(name))
          return std::nullopt;
        return SmallVector<int64_t>();
      });
}
