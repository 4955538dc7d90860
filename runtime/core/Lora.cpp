//===- Lora.cpp - LoRA adapters merged into weights at load ---------------===//
//
// The scaling replays diffusers 0.31's load_lora_weights (lora_pipeline.py,
// utils/peft_utils.py get_peft_kwargs) with PEFT's LoRA layers.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Lora.h"

#include "runtime/core/Error.h"
#include "runtime/core/LoraLdm.h"
#include "runtime/io/Checkpoint.h"

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

namespace fresco {
namespace {

bool endsWith(const std::string &s, const std::string &suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string shapeString(const std::vector<int64_t> &shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i)
    os << (i ? ", " : "") << shape[i];
  return os.str() + "]";
}

// Why a tensor is not one of PEFT's, for the formats people meet.
std::string otherFormatHint(const std::string &name) {
  if (name.find("lora.down") != std::string::npos ||
      name.find("lora.up") != std::string::npos)
    return " (the lora.down / lora.up naming of older diffusers files is not "
           "supported: convert the file to PEFT's lora_A / lora_B)";
  if (name.find("lora_magnitude_vector") != std::string::npos ||
      name.find("dora_scale") != std::string::npos)
    return " (DoRA is not supported)";
  if (name.find(".hada_") != std::string::npos ||
      name.find(".lokr_") != std::string::npos)
    return " (LyCORIS' LoHa and LoKr are not supported)";
  return "";
}

struct Module {
  const TensorInfo *a = nullptr, *b = nullptr, *alpha = nullptr;
};

float scalarOf(const TensorInfo &t) {
  check(t.numel() == 1 && t.shape.size() <= 1, "LoRA file ", t.file,
        ": alpha '", t.name, "' has shape ", shapeString(t.shape),
        "; an alpha is one number");
  float v = 0;
  readAsF32(t, &v);
  check(std::isfinite(v), "LoRA file ", t.file, ": alpha '", t.name, "' is ",
        v);
  return v;
}

// Indexes weight `name`'s module by its name with '.' written '_', as
// kohya names modules.
void addFlat(std::map<std::string, std::string> &modules,
             const std::string &name) {
  if (!endsWith(name, ".weight"))
    return;
  std::string module = name.substr(0, name.size() - 7), key = module;
  std::replace(key.begin(), key.end(), '.', '_');
  modules[key] = module;
}

// The weights every rank of the plan loads.
struct PlanWeights {
  // (component, name) -> the tensor's shape.
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> shapes;
  // component -> the weight's module with '.' made '_' -> the module, as
  // kohya names text encoder modules.
  std::map<std::string, std::map<std::string, std::string>> flat;

  // The weights folder, for the weights a plan leaves out (SDXL's CLIP
  // encoders' last layer, whose output it never reads): their shapes come
  // from the checkpoints, opened on first need.
  std::string folder;
  mutable std::map<std::string, std::unique_ptr<Checkpoint>> checkpoints;
  mutable std::map<std::string, std::map<std::string, std::string>>
      checkpointFlat;

  const Checkpoint *checkpoint(const std::string &component) const {
    if (folder.empty() || !flat.count(component))
      return nullptr;
    auto &ckpt = checkpoints[component];
    if (!ckpt) {
      ckpt = std::make_unique<Checkpoint>(
          resolveComponentFolder(folder, component));
      std::map<std::string, std::string> &modules = checkpointFlat[component];
      for (const std::string &name : ckpt->names())
        addFlat(modules, name);
    }
    return ckpt.get();
  }

  // The shape of weight `name` of `component`: the plan's (`used`), else
  // the checkpoint's; null when neither has it.
  const std::vector<int64_t> *shapeOf(const std::string &component,
                                      const std::string &name,
                                      bool &used) const {
    used = true;
    if (auto it = shapes.find({component, name}); it != shapes.end())
      return &it->second;
    used = false;
    const Checkpoint *ckpt = checkpoint(component);
    const TensorInfo *t = ckpt ? ckpt->find(ckpt->storedName(name)) : nullptr;
    return t ? &t->shape : nullptr;
  }

  // The module of `component` whose name with '.' made '_' is `key`.
  std::optional<std::string> flatModule(const std::string &component,
                                        const std::string &key) const {
    if (auto c = flat.find(component); c != flat.end())
      if (auto m = c->second.find(key); m != c->second.end())
        return m->second;
    if (checkpoint(component)) {
      const auto &modules = checkpointFlat[component];
      if (auto m = modules.find(key); m != modules.end())
        return m->second;
    }
    return std::nullopt;
  }

  // Whether `component` has a module whose name with '.' made '_' starts
  // with `prefix`.
  bool hasFlatPrefix(const std::string &component,
                     const std::string &prefix) const {
    auto startsIn = [&](const std::map<std::string, std::string> &modules) {
      auto it = modules.lower_bound(prefix);
      return it != modules.end() && it->first.rfind(prefix, 0) == 0;
    };
    if (auto c = flat.find(component); c != flat.end() && startsIn(c->second))
      return true;
    return checkpoint(component) && startsIn(checkpointFlat[component]);
  }

  PlanWeights(const plan::Plan &plan, std::string weightsFolder)
      : folder(std::move(weightsFolder)) {
    for (const plan::RankProgram *rp : *plan.ranks()) {
      if (!rp->weights())
        continue;
      for (const plan::WeightSlice *w : *rp->weights()) {
        std::string component = w->component()->str(), name = w->name()->str();
        shapes[{component, name}] = {w->full_shape()->begin(),
                                     w->full_shape()->end()};
        // Every component gets an entry, weights or not.
        addFlat(flat[component], name);
      }
    }
  }
  bool hasComponent(const std::string &c) const { return flat.count(c); }
  std::string componentList() const {
    std::string s;
    for (const auto &entry : flat)
      s += (s.empty() ? "" : ", ") + entry.first;
    return s.empty() ? std::string("none") : s;
  }
};

// sd-scripts' Flux modules (BFL's names) and the diffusers modules each
// adapts, its lora_up's rows stacked in this order: diffusers 0.31's
// _convert_kohya_flux_lora_to_diffusers.
struct KohyaKind {
  const char *kohya;
  std::vector<const char *> modules;
};
const std::vector<KohyaKind> &kohyaDoubleBlock() {
  static const std::vector<KohyaKind> kinds = {
      {"img_attn_proj", {"attn.to_out.0"}},
      {"img_attn_qkv", {"attn.to_q", "attn.to_k", "attn.to_v"}},
      {"img_mlp_0", {"ff.net.0.proj"}},
      {"img_mlp_2", {"ff.net.2"}},
      {"img_mod_lin", {"norm1.linear"}},
      {"txt_attn_proj", {"attn.to_add_out"}},
      {"txt_attn_qkv",
       {"attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"}},
      {"txt_mlp_0", {"ff_context.net.0.proj"}},
      {"txt_mlp_2", {"ff_context.net.2"}},
      {"txt_mod_lin", {"norm1_context.linear"}}};
  return kinds;
}
const std::vector<KohyaKind> &kohyaSingleBlock() {
  static const std::vector<KohyaKind> kinds = {
      {"linear1", {"attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"}},
      {"linear2", {"proj_out"}},
      {"modulation_lin", {"norm.linear"}}};
  return kinds;
}

// The component and diffusers modules of kohya module `name`; fails for a
// name Fresco does not map.
std::pair<std::string, std::vector<std::string>>
kohyaTargets(const std::string &name, const PlanWeights &weights,
             const std::string &path) {
  auto blockOf = [&](const std::string &prefix, const char *diffusersBlock,
                     const std::vector<KohyaKind> &kinds)
      -> std::optional<std::vector<std::string>> {
    if (name.rfind(prefix, 0) != 0)
      return std::nullopt;
    size_t at = prefix.size(), end = at;
    while (end < name.size() &&
           std::isdigit(static_cast<unsigned char>(name[end])))
      ++end;
    if (end == at || end >= name.size() || name[end] != '_')
      return std::nullopt;
    std::string index = name.substr(at, end - at), kind = name.substr(end + 1);
    for (const KohyaKind &k : kinds) {
      if (kind != k.kohya)
        continue;
      std::vector<std::string> out;
      for (const char *m : k.modules)
        out.push_back(std::string(diffusersBlock) + "." + index + "." + m);
      return out;
    }
    return std::nullopt;
  };
  if (auto m = blockOf("lora_unet_double_blocks_", "transformer_blocks",
                       kohyaDoubleBlock()))
    return {"transformer", *m};
  if (auto m = blockOf("lora_unet_single_blocks_", "single_transformer_blocks",
                       kohyaSingleBlock()))
    return {"transformer", *m};
  for (auto [prefix, component] :
       {std::pair<const char *, const char *>{"lora_te1_", "text_encoder"},
        {"lora_te_", "text_encoder"},
        {"lora_te2_", "text_encoder_2"}}) {
    if (name.rfind(prefix, 0) != 0)
      continue;
    check(weights.hasComponent(component), "LoRA file ", path,
          ": kohya module '", name, "' adapts component '", component,
          "', whose weights this plan does not load (its components: ",
          weights.componentList(), ")");
    auto m = weights.flatModule(component, name.substr(std::strlen(prefix)));
    check(m.has_value(), "LoRA file ", path, ": kohya module '", name,
          "' names no weight of ", component, " (", component,
          "'s modules with '.' written '_')");
    return {component, {*m}};
  }
  // A UNet's (or transformer's) module in diffusers' names, '.' written
  // '_' (what kohya-format files of diffusers-layout models hold).
  if (name.rfind("lora_unet_", 0) == 0) {
    const std::string rest = name.substr(10);
    for (const char *component : {"unet", "transformer"})
      if (auto m = weights.flatModule(component, rest))
        return {component, {*m}};
    // Stable Diffusion's original names, as sd-scripts writes SDXL's.
    if (weights.hasComponent("unet"))
      if (auto flat = lora::ldmUnetModule(rest, [&](const std::string &p) {
            return weights.hasFlatPrefix("unet", p);
          })) {
        auto m = weights.flatModule("unet", *flat);
        check(m.has_value(), "LoRA file ", path, ": kohya module '", name,
              "' (Stable Diffusion's name for the UNet's ", *flat,
              ") names no weight of unet");
        return {"unet", {*m}};
      }
  }
  fail("LoRA file ", path, ": kohya module '", name,
       "' is not one Fresco maps: Flux's lora_unet_double_blocks_N_* and "
       "lora_unet_single_blocks_N_* (as sd-scripts names them), a UNet's "
       "modules in Stable Diffusion's names (lora_unet_input_blocks_..., "
       "middle_block, output_blocks, time_embed, label_emb, out), a UNet's or "
       "transformer's modules in diffusers' names (lora_unet_down_blocks_0_"
       "attentions_0_...) and the text encoders' lora_te_* / lora_te1_* / "
       "lora_te2_* are");
}

} // namespace

LoraFile parseLoraSpec(const std::string &spec) {
  LoraFile f;
  f.path = spec;
  // A scale after the last ':' when it parses whole; a path may hold ':'.
  if (size_t colon = spec.rfind(':'); colon != std::string::npos) {
    std::string tail = spec.substr(colon + 1);
    char *end = nullptr;
    float s = std::strtof(tail.c_str(), &end);
    if (!tail.empty() && end == tail.c_str() + tail.size()) {
      check(std::isfinite(s) && std::fabs(s) <= 1000, "--lora ", spec,
            ": the scale must be a finite number in [-1000, 1000]");
      f.path = spec.substr(0, colon);
      f.scale = s;
    }
  }
  check(!f.path.empty(), "--lora expects FILE or FILE:SCALE, got '", spec, "'");
  return f;
}

namespace {

// One module of a file, resolved: its targets' weights, all checked.
struct Resolved {
  std::string component;
  std::vector<std::string> weights; // the diffusers weights it adapts
  const TensorInfo *a = nullptr, *b = nullptr;
  float scaling = 1;
  // Per weight, set by checkTargets: its rows of B, and whether the plan
  // loads it (a weight it leaves out takes no update).
  std::vector<int64_t> rows;
  std::vector<bool> used;
};

// Checks `r` against the plan: A [r, in] with B [out, r] on linear weights
// [out, in], or A [r, in, kh, kw] with B [out, r, 1, 1] on convolution
// weights [out, in, kh, kw] (PEFT's Conv2d LoRA); the targets' rows add up
// to B's. `label` names the module in messages.
void checkTargets(Resolved &r, const PlanWeights &weights,
                  const std::string &path, const std::string &label,
                  const char *aName, const char *bName) {
  const std::vector<int64_t> &as = r.a->shape, &bs = r.b->shape;
  const bool conv = as.size() == 4;
  check((as.size() == 2 && bs.size() == 2) ||
            (conv && bs.size() == 4 && bs[2] == 1 && bs[3] == 1),
        "LoRA file ", path, ": module '", label, "' has ", aName, " ",
        shapeString(as), " and ", bName, " ", shapeString(bs),
        "; expected [r, in] and [out, r] (a linear layer's), or [r, in, kh, "
        "kw] and [out, r, 1, 1] (a convolution's)");
  check(as[0] == bs[1] && as[0] >= 1 && as[0] < std::numeric_limits<int>::max(),
        "LoRA file ", path, ": module '", label, "' has ", aName, " ",
        shapeString(as), " and ", bName, " ", shapeString(bs),
        ", whose ranks differ");
  int64_t rows = 0;
  for (const std::string &weight : r.weights) {
    bool used = false;
    const std::vector<int64_t> *found =
        weights.shapeOf(r.component, weight, used);
    check(found != nullptr, "LoRA file ", path, ": module '", label,
          "' adapts '", weight, "', which is a ", r.component,
          " weight of neither this plan nor its checkpoint");
    const std::vector<int64_t> &shape = *found;
    check(shape.size() == 2 || shape.size() == 4, "LoRA file ", path,
          ": module '", label, "' adapts '", weight, "' of shape ",
          shapeString(shape),
          "; LoRA is supported on linear and 2-D convolution weights only");
    check(shape.size() == as.size() && shape[1] == as[1] &&
              std::equal(as.begin() + 2, as.end(), shape.begin() + 2),
          "LoRA file ", path, ": module '", label, "' has ", aName, " ",
          shapeString(as), ", which does not fit the inputs of '", weight, "' ",
          shapeString(shape));
    rows += shape[0];
    r.rows.push_back(shape[0]);
    r.used.push_back(used);
  }
  check(rows == bs[0], "LoRA file ", path, ": module '", label, "' has ", bName,
        " ", shapeString(bs), " for ", bs[0], " outputs, but ",
        r.weights.size() == 1
            ? "'" + r.weights[0] + "' has "
            : "its weights (" + r.weights.front() + " ... " + r.weights.back() +
                  "), which split its rows, have ",
        rows);
}

void checkFloat(const TensorInfo &t, const std::string &path) {
  check(t.dtype == DType::F32 || t.dtype == DType::F16 ||
            t.dtype == DType::BF16,
        "LoRA file ", path, ": tensor '", t.name, "' has dtype ",
        dtypeName(t.dtype), "; LoRA tensors must be f32, f16 or bf16");
}

// Where diffusers' load_lora_into_text_encoder meets CLIP module `name`
// when it lists ranks: every layer's self_attn (out, q, k, v), then every
// layer's mlp (fc1, fc2); -1 for another module.
int64_t clipRankOrder(const std::string &name) {
  static const char *kParts[] = {
      "self_attn.out_proj", "self_attn.q_proj", "self_attn.k_proj",
      "self_attn.v_proj",   "mlp.fc1",          "mlp.fc2"};
  const std::string prefix = "text_model.encoder.layers.";
  if (name.rfind(prefix, 0) != 0)
    return -1;
  size_t at = prefix.size(), end = at;
  while (end < name.size() &&
         std::isdigit(static_cast<unsigned char>(name[end])))
    ++end;
  if (end == at || end - at > 6 || end >= name.size() || name[end] != '.')
    return -1;
  const int64_t layer = std::stoll(name.substr(at, end - at));
  for (int64_t part = 0; part < 6; ++part)
    if (name.compare(end + 1, std::string::npos, kParts[part]) == 0)
      return (part < 4 ? 0 : int64_t(1) << 40) + layer * 8 + part;
  return -1;
}

// diffusers' PEFT format, modules grouped by component.
std::vector<Resolved> readPeft(const SafetensorsFile &file, float scale,
                               const PlanWeights &weights) {
  const std::string &path = file.path();
  std::map<std::string, std::map<std::string, Module>> byComponent;
  // In the file's data order, as safetensors' load_file gives diffusers the
  // keys: each component's modules by their lora_B, and its first alpha.
  std::map<std::string, std::vector<std::string>> bOrder;
  std::map<std::string, const TensorInfo *> firstAlpha;
  for (const TensorInfo &t : file.tensors()) {
    const std::string &name = t.name;
    std::string module;
    for (const char *suffix : {".lora_A.weight", ".lora_B.weight", ".alpha"})
      if (endsWith(name, suffix))
        module = name.substr(0, name.size() - std::strlen(suffix));
    size_t dot = module.find('.');
    if (module.empty() || dot == std::string::npos || dot == 0)
      fail("LoRA file ", path, ": tensor '", name,
           "' is not <component>.<module>.lora_A.weight, "
           "<component>.<module>.lora_B.weight or <component>.<module>.alpha "
           "(diffusers' PEFT format), nor kohya's <module>.lora_down.weight, "
           ".lora_up.weight or .alpha",
           otherFormatHint(name));
    checkFloat(t, path);
    const std::string component = module.substr(0, dot);
    Module &m = byComponent[component][module.substr(dot + 1)];
    if (endsWith(name, ".lora_A.weight")) {
      m.a = &t;
    } else if (endsWith(name, ".lora_B.weight")) {
      m.b = &t;
      bOrder[component].push_back(module.substr(dot + 1));
    } else {
      m.alpha = &t;
      firstAlpha.emplace(component, &t);
    }
  }
  std::vector<Resolved> out;
  for (auto &[component, modules] : byComponent) {
    check(weights.hasComponent(component), "LoRA file ", path,
          ": its tensors name component '", component,
          "', whose weights this plan does not load (its components: ",
          weights.componentList(), ")");
    for (auto &[name, m] : modules)
      check(m.a && m.b, "LoRA file ", path, ": module '", component, ".", name,
            "' has ",
            m.a   ? "lora_A but no lora_B"
            : m.b ? "lora_B but no lora_A"
                  : "an alpha but no lora_A or lora_B",
            " weight");
    // get_peft_kwargs: lora_alpha is the first alpha given (diffusers
    // compares alpha tensors by identity, so the "most common" one is the
    // first), else the first rank it lists (for a text encoder, CLIP's
    // module order); each module keeps its own rank (rank_pattern).
    std::string first = bOrder[component].front();
    if (component.rfind("text_encoder", 0) == 0) {
      int64_t best = -1;
      for (const auto &[name, m] : modules)
        if (int64_t at = clipRankOrder(name);
            at >= 0 && (best < 0 || at < best)) {
          best = at;
          first = name;
        }
    }
    const TensorInfo &firstB = *modules[first].b;
    auto alphaIt = firstAlpha.find(component);
    const float defaultAlpha =
        alphaIt != firstAlpha.end() ? scalarOf(*alphaIt->second)
        : firstB.shape.size() >= 2  ? float(firstB.shape[1])
                                    : 1.0f;
    for (auto &[name, m] : modules) {
      Resolved r{component, {name + ".weight"}, m.a, m.b, 1, {}, {}};
      checkTargets(r, weights, path, component + "." + name, "lora_A",
                   "lora_B");
      const float alpha = m.alpha ? scalarOf(*m.alpha) : defaultAlpha;
      r.scaling = scale * alpha / float(m.a->shape[0]);
      out.push_back(std::move(r));
    }
  }
  return out;
}

// kohya's format (sd-scripts), as diffusers reads it for Flux.
std::vector<Resolved> readKohya(const SafetensorsFile &file, float scale,
                                const PlanWeights &weights) {
  const std::string &path = file.path();
  std::map<std::string, Module> modules;
  for (const std::string &name : file.names()) {
    const TensorInfo &t = file.get(name);
    std::string module;
    for (const char *suffix :
         {".lora_down.weight", ".lora_up.weight", ".alpha"})
      if (endsWith(name, suffix))
        module = name.substr(0, name.size() - std::strlen(suffix));
    if (module.empty() || module.find('.') != std::string::npos)
      fail("LoRA file ", path,
           " is in kohya's format (it has lora_down "
           "weights), but tensor '",
           name,
           "' is not <module>.lora_down.weight, <module>.lora_up.weight or "
           "<module>.alpha",
           otherFormatHint(name));
    checkFloat(t, path);
    Module &m = modules[module];
    (endsWith(name, ".lora_down.weight") ? m.a
     : endsWith(name, ".lora_up.weight") ? m.b
                                         : m.alpha) = &t;
  }
  std::vector<Resolved> out;
  for (auto &[name, m] : modules) {
    check(m.a && m.b, "LoRA file ", path, ": module '", name, "' has ",
          m.a   ? "lora_down but no lora_up"
          : m.b ? "lora_up but no lora_down"
                : "an alpha but no lora_down or lora_up",
          " weight");
    auto [component, targets] = kohyaTargets(name, weights, path);
    Resolved r{component, {}, m.a, m.b, 1, {}, {}};
    for (const std::string &t : targets)
      r.weights.push_back(t + ".weight");
    checkTargets(r, weights, path, name, "lora_down", "lora_up");
    const float rank = float(m.a->shape[0]);
    r.scaling = scale * (m.alpha ? scalarOf(*m.alpha) : rank) / rank;
    out.push_back(std::move(r));
  }
  return out;
}

} // namespace

LoraSet::LoraSet(const std::vector<LoraFile> &files, const plan::Plan &plan,
                 const std::string &weightsFolder) {
  const PlanWeights weights(plan, weightsFolder);
  for (const LoraFile &spec : files) {
    files_.push_back(std::make_unique<SafetensorsFile>(spec.path));
    const SafetensorsFile &file = *files_.back();
    check(!file.names().empty(), "LoRA file ", file.path(),
          " holds no tensors");
    // diffusers takes a file with any lora_down weight for kohya's.
    const std::vector<std::string> names = file.names();
    const bool kohya =
        std::any_of(names.begin(), names.end(), [](const std::string &n) {
          return endsWith(n, ".lora_down.weight");
        });
    std::vector<Resolved> modules = kohya ? readKohya(file, spec.scale, weights)
                                          : readPeft(file, spec.scale, weights);
    // Each target's part of B: the rows before it belong to the targets
    // before it.
    struct Stats {
      size_t modules = 0, unused = 0;
      int64_t rank = 0;
      std::string firstUnused;
    };
    std::map<std::string, Stats> perComponent;
    for (const Resolved &r : modules) {
      check(std::isfinite(r.scaling), "LoRA file ", file.path(),
            ": the scaling of a module that adapts '", r.weights.front(),
            "' (scale x alpha / rank) is not a finite number");
      Stats &stats = perComponent[r.component];
      int64_t bRow = 0;
      bool any = false;
      for (size_t i = 0; i < r.weights.size(); ++i) {
        if (r.used[i])
          targets_[{r.component, r.weights[i]}].push_back(
              {r.a, r.b, bRow, r.scaling});
        any = any || r.used[i];
        bRow += r.rows[i];
      }
      if (any) {
        ++stats.modules;
        stats.rank = std::max(stats.rank, r.a->shape[0]);
      } else if (!stats.unused++) {
        stats.firstUnused = r.weights.front();
      }
    }
    std::ostringstream line;
    line << "LoRA " << file.path() << " (" << (kohya ? "kohya" : "PEFT")
         << ", scale " << spec.scale << "):";
    bool first = true;
    for (const auto &[component, stats] : perComponent) {
      line << (first ? " " : "; ") << component << ": " << stats.modules
           << (stats.modules == 1 ? " module" : " modules") << " (rank up to "
           << stats.rank << ")";
      if (!stats.firstUnused.empty())
        line << " and " << stats.unused << " on weights this plan does not "
             << "use (" << stats.firstUnused
             << (stats.unused > 1 ? ", ..." : "") << "), left out";
      first = false;
    }
    summary_.push_back(line.str());
  }
}

LoraSet::~LoraSet() = default;
LoraSet::LoraSet(LoraSet &&) noexcept = default;

size_t LoraSet::moduleCount() const { return targets_.size(); }

std::vector<std::string> LoraSet::summary() const { return summary_; }

bool LoraSet::adapts(const plan::WeightSlice &w) const {
  return targets_.count({w.component()->str(), w.name()->str()}) != 0;
}

bool LoraSet::apply(const plan::WeightSlice &w, float *slice) const {
  auto it = targets_.find({w.component()->str(), w.name()->str()});
  if (it == targets_.end())
    return false;
  const auto &full = *w.full_shape(), &offsets = *w.offsets(),
             &sizes = *w.sizes();
  // A convolution's kernel window stays whole: only its output and input
  // channels are sliced.
  int64_t window = 1;
  for (flatbuffers::uoffset_t d = 2; d < full.size(); ++d) {
    check(offsets.Get(d) == 0 && sizes.Get(d) == full.Get(d), "LoRA: weight '",
          w.name()->str(), "' is sliced in its kernel window");
    window *= full.Get(d);
  }
  const int64_t o0 = offsets.Get(0), o1 = offsets.Get(1), s1 = sizes.Get(1);
  // Rows and input channels inside the tensor (past them: zero padding).
  const int64_t rows = std::clamp<int64_t>(full.Get(0) - o0, 0, sizes.Get(0));
  const int64_t cols = std::clamp<int64_t>(full.Get(1) - o1, 0, s1);
  if (rows == 0 || cols == 0)
    return true;
  constexpr int64_t kMaxBlas = std::numeric_limits<int>::max();
  check(rows < kMaxBlas && s1 * window < kMaxBlas, "LoRA: weight '",
        w.name()->str(), "' is too large for one BLAS call");
  for (const Adapter &ad : it->second) {
    const int64_t r = ad.a->shape[0];
    // A [r, cols, window...] and B [rows, r (, 1, 1)] read as matrices.
    std::vector<int64_t> aOffsets(ad.a->shape.size(), 0), aSizes = ad.a->shape;
    aOffsets[1] = o1;
    aSizes[1] = cols;
    std::vector<int64_t> bOffsets(ad.b->shape.size(), 0), bSizes = ad.b->shape;
    bOffsets[0] = ad.bRow + o0;
    bSizes[0] = rows;
    std::vector<float> b(size_t(rows * r)), a(size_t(r * cols * window));
    readSliceAsF32(*ad.b, bOffsets, bSizes, b.data());
    readSliceAsF32(*ad.a, aOffsets, aSizes, a.data());
    // slice[:rows, :cols * window] += scaling * B A
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows),
                int(cols * window), int(r), ad.scaling, b.data(), int(r),
                a.data(), int(cols * window), 1.0f, slice, int(s1 * window));
  }
  return true;
}

} // namespace fresco
