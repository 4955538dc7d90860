//===- Lora.cpp - LoRA adapters merged into weights at load ---------------===//
//
// The scaling replays diffusers 0.31's load_lora_weights (lora_pipeline.py,
// utils/peft_utils.py get_peft_kwargs) with PEFT's LoRA layers.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Lora.h"

#include "runtime/core/Error.h"

#include <cblas.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <cstring>
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

// The weights every rank of the plan loads.
struct PlanWeights {
  // (component, name) -> the tensor's shape.
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> shapes;
  // component -> the weight's module with '.' made '_' -> the module, as
  // kohya names text encoder modules.
  std::map<std::string, std::map<std::string, std::string>> flat;

  explicit PlanWeights(const plan::Plan &plan) {
    for (const plan::RankProgram *rp : *plan.ranks()) {
      if (!rp->weights())
        continue;
      for (const plan::WeightSlice *w : *rp->weights()) {
        std::string component = w->component()->str(), name = w->name()->str();
        shapes[{component, name}] = {w->full_shape()->begin(),
                                     w->full_shape()->end()};
        // Every component gets an entry, weights or not.
        std::map<std::string, std::string> &modules = flat[component];
        if (endsWith(name, ".weight")) {
          std::string module = name.substr(0, name.size() - 7), key = module;
          std::replace(key.begin(), key.end(), '.', '_');
          modules[key] = module;
        }
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
    auto c = weights.flat.find(component);
    check(c != weights.flat.end(), "LoRA file ", path, ": kohya module '", name,
          "' adapts component '", component,
          "', whose weights this plan does not load (its components: ",
          weights.componentList(), ")");
    auto m = c->second.find(name.substr(std::strlen(prefix)));
    check(m != c->second.end(), "LoRA file ", path, ": kohya module '", name,
          "' names no weight of ", component, " (", component,
          "'s modules with '.' written '_')");
    return {component, {m->second}};
  }
  fail("LoRA file ", path, ": kohya module '", name,
       "' is not one Fresco maps: Flux's lora_unet_double_blocks_N_* and "
       "lora_unet_single_blocks_N_* (as sd-scripts names them) and the text "
       "encoders' lora_te1_* / lora_te2_* are; kohya's names for Stable "
       "Diffusion UNets are not supported");
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
};

// Checks `r` against the plan: every target a 2-D weight taking A's inputs,
// their rows B's rows in all. `label` names the module in messages.
void checkTargets(const Resolved &r, const PlanWeights &weights,
                  const std::string &path, const std::string &label,
                  const char *aName, const char *bName) {
  check(r.a->shape.size() == 2 && r.b->shape.size() == 2 &&
            r.a->shape[0] == r.b->shape[1] && r.a->shape[0] >= 1,
        "LoRA file ", path, ": module '", label, "' has ", aName, " ",
        shapeString(r.a->shape), " and ", bName, " ", shapeString(r.b->shape),
        "; expected [r, in] and [out, r]");
  const int64_t in = r.a->shape[1];
  int64_t rows = 0;
  for (const std::string &weight : r.weights) {
    auto it = weights.shapes.find({r.component, weight});
    check(it != weights.shapes.end(), "LoRA file ", path, ": module '", label,
          "' adapts '", weight, "', which is not a ", r.component,
          " weight of this plan");
    const std::vector<int64_t> &shape = it->second;
    check(shape.size() == 2, "LoRA file ", path, ": module '", label,
          "' adapts '", weight, "' of shape ", shapeString(shape),
          "; LoRA is supported on linear (2-D) weights only");
    check(shape[1] == in, "LoRA file ", path, ": module '", label, "' has ",
          aName, " ", shapeString(r.a->shape), " for inputs of ", in,
          " features, but '", weight, "' is ", shapeString(shape));
    rows += shape[0];
  }
  if (r.weights.size() == 1)
    check(rows == r.b->shape[0], "LoRA file ", path, ": module '", label,
          "' has ", bName, " ", shapeString(r.b->shape), " and ", aName, " ",
          shapeString(r.a->shape), ", which make a [", r.b->shape[0], ", ", in,
          "] update, but '", r.weights[0], "' is [", rows, ", ", in, "]");
  else
    check(rows == r.b->shape[0], "LoRA file ", path, ": module '", label,
          "' has ", bName, " ", shapeString(r.b->shape),
          ", whose rows its weights (", r.weights.front(), " ... ",
          r.weights.back(), ") should split, but they have ", rows,
          " rows in all");
}

void checkFloat(const TensorInfo &t, const std::string &path) {
  check(t.dtype == DType::F32 || t.dtype == DType::F16 ||
            t.dtype == DType::BF16,
        "LoRA file ", path, ": tensor '", t.name, "' has dtype ",
        dtypeName(t.dtype), "; LoRA tensors must be f32, f16 or bf16");
}

// diffusers' PEFT format; modules grouped by component, in sorted key order
// (safetensors' load_file gives diffusers the keys sorted: "first" and "most
// common" follow that order).
std::vector<Resolved> readPeft(const SafetensorsFile &file, float scale,
                               const PlanWeights &weights) {
  const std::string &path = file.path();
  std::map<std::string, std::map<std::string, Module>> byComponent;
  for (const std::string &name : file.names()) {
    const TensorInfo &t = file.get(name);
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
    Module &m = byComponent[module.substr(0, dot)][module.substr(dot + 1)];
    (endsWith(name, ".lora_A.weight")   ? m.a
     : endsWith(name, ".lora_B.weight") ? m.b
                                        : m.alpha) = &t;
  }
  std::vector<Resolved> out;
  for (auto &[component, modules] : byComponent) {
    check(weights.hasComponent(component), "LoRA file ", path,
          ": its tensors name component '", component,
          "', whose weights this plan does not load (its components: ",
          weights.componentList(), ")");
    // get_peft_kwargs: the most common rank (ties: the first), and the
    // first alpha given (diffusers compares alpha tensors by identity, so
    // the "most common" one is the first), else that rank.
    std::map<int64_t, int> rankCount;
    std::vector<int64_t> rankOrder;
    const TensorInfo *firstAlpha = nullptr;
    for (auto &[name, m] : modules) {
      check(m.a && m.b, "LoRA file ", path, ": module '", component, ".", name,
            "' has ",
            m.a   ? "lora_A but no lora_B"
            : m.b ? "lora_B but no lora_A"
                  : "an alpha but no lora_A or lora_B",
            " weight");
      if (m.b->shape.size() == 2 && !rankCount[m.b->shape[1]]++)
        rankOrder.push_back(m.b->shape[1]);
      if (m.alpha && !firstAlpha)
        firstAlpha = m.alpha;
    }
    int64_t commonRank = rankOrder.empty() ? 1 : rankOrder.front();
    for (int64_t r : rankOrder)
      if (rankCount[r] > rankCount[commonRank])
        commonRank = r;
    const float defaultAlpha =
        firstAlpha ? scalarOf(*firstAlpha) : float(commonRank);
    for (auto &[name, m] : modules) {
      Resolved r{component, {name + ".weight"}, m.a, m.b, 1};
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
    Resolved r{component, {}, m.a, m.b, 1};
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

LoraSet::LoraSet(const std::vector<LoraFile> &files, const plan::Plan &plan) {
  const PlanWeights weights(plan);
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
    std::map<std::string, std::pair<size_t, int64_t>> perComponent;
    for (const Resolved &r : modules) {
      int64_t bRow = 0;
      for (const std::string &weight : r.weights) {
        Adapter adapter{r.a, r.b, bRow, r.scaling};
        targets_[{r.component, weight}].push_back(adapter);
        bRow += weights.shapes.at({r.component, weight})[0];
      }
      auto &[count, rank] = perComponent[r.component];
      ++count;
      rank = std::max(rank, r.a->shape[0]);
    }
    std::ostringstream line;
    line << "LoRA " << file.path() << " (" << (kohya ? "kohya" : "PEFT")
         << ", scale " << spec.scale << "):";
    bool first = true;
    for (const auto &[component, stats] : perComponent) {
      line << (first ? " " : ", ") << component << ": " << stats.first
           << (stats.first == 1 ? " module" : " modules") << " (rank up to "
           << stats.second << ")";
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
  const int64_t o0 = w.offsets()->Get(0), o1 = w.offsets()->Get(1);
  const int64_t s1 = w.sizes()->Get(1);
  // Rows and columns inside the tensor (past them: zero padding).
  const int64_t rows =
      std::clamp<int64_t>(w.full_shape()->Get(0) - o0, 0, w.sizes()->Get(0));
  const int64_t cols = std::clamp<int64_t>(w.full_shape()->Get(1) - o1, 0, s1);
  if (rows == 0 || cols == 0)
    return true;
  for (const Adapter &ad : it->second) {
    const int64_t r = ad.a->shape[0];
    std::vector<float> b(size_t(rows * r)), a(size_t(r * cols));
    readSliceAsF32(*ad.b, {ad.bRow + o0, 0}, {rows, r}, b.data());
    readSliceAsF32(*ad.a, {0, o1}, {r, cols}, a.data());
    // slice[:rows, :cols] += scaling * B[bRow + o0:, :] A[:, o1:]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(cols),
                int(r), ad.scaling, b.data(), int(r), a.data(), int(cols), 1.0f,
                slice, int(s1));
  }
  return true;
}

} // namespace fresco
