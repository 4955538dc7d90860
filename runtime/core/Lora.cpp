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
#include <cmath>
#include <cstdlib>
#include <cstring>
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
  if (name.rfind("lora_unet_", 0) == 0 || name.rfind("lora_te", 0) == 0)
    return " (kohya's naming, as sd-scripts writes it, is not supported: "
           "convert the file to diffusers' format)";
  if (name.find("lora_down") != std::string::npos ||
      name.find("lora_up") != std::string::npos ||
      name.find("lora.down") != std::string::npos ||
      name.find("lora.up") != std::string::npos)
    return " (the lora.down / lora.up naming of older diffusers files is not "
           "supported: convert the file to PEFT's lora_A / lora_B)";
  if (name.find("lora_magnitude_vector") != std::string::npos)
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

LoraSet::LoraSet(const std::vector<LoraFile> &files, const plan::Plan &plan) {
  // Every weight any rank loads: (component, name) -> the tensor's shape.
  std::map<std::pair<std::string, std::string>, std::vector<int64_t>> weights;
  std::set<std::string> components;
  for (const plan::RankProgram *rp : *plan.ranks()) {
    if (!rp->weights())
      continue;
    for (const plan::WeightSlice *w : *rp->weights()) {
      weights[{w->component()->str(), w->name()->str()}] = {
          w->full_shape()->begin(), w->full_shape()->end()};
      components.insert(w->component()->str());
    }
  }
  auto componentList = [&] {
    std::string s;
    for (const std::string &c : components)
      s += (s.empty() ? "" : ", ") + c;
    return s.empty() ? std::string("none") : s;
  };

  for (const LoraFile &spec : files) {
    files_.push_back(std::make_unique<SafetensorsFile>(spec.path));
    const SafetensorsFile &file = *files_.back();
    const std::string &path = file.path();
    // Keys in sorted order, as safetensors' load_file gives diffusers them:
    // "first" and "most common" below follow that order.
    std::map<std::string, std::map<std::string, Module>> byComponent;
    for (const std::string &name : file.names()) {
      const TensorInfo &t = file.get(name);
      std::string module;
      const TensorInfo **slot = nullptr;
      Module *m = nullptr;
      for (const char *suffix : {".lora_A.weight", ".lora_B.weight", ".alpha"})
        if (endsWith(name, suffix))
          module = name.substr(0, name.size() - std::strlen(suffix));
      size_t dot = module.find('.');
      if (module.empty() || dot == std::string::npos || dot == 0)
        fail("LoRA file ", path, ": tensor '", name,
             "' is not <component>.<module>.lora_A.weight, "
             "<component>.<module>.lora_B.weight or "
             "<component>.<module>.alpha (diffusers' PEFT format)",
             otherFormatHint(name));
      std::string component = module.substr(0, dot);
      m = &byComponent[component][module.substr(dot + 1)];
      slot = endsWith(name, ".lora_A.weight")   ? &m->a
             : endsWith(name, ".lora_B.weight") ? &m->b
                                                : &m->alpha;
      check(t.dtype == DType::F32 || t.dtype == DType::F16 ||
                t.dtype == DType::BF16,
            "LoRA file ", path, ": tensor '", name, "' has dtype ",
            dtypeName(t.dtype), "; LoRA tensors must be f32, f16 or bf16");
      *slot = &t;
    }
    check(!byComponent.empty(), "LoRA file ", path, " holds no tensors");

    size_t count = 0;
    std::ostringstream line;
    line << "LoRA " << path << " (scale " << spec.scale << "):";
    for (auto &[component, modules] : byComponent) {
      check(components.count(component), "LoRA file ", path,
            ": its tensors name component '", component,
            "', whose weights this plan does not load (its components: ",
            componentList(), ")");
      // get_peft_kwargs: the most common rank (ties: the first), and the
      // first alpha given (diffusers compares alpha tensors by identity, so
      // the "most common" one is the first), else that rank.
      std::map<int64_t, int> rankCount;
      std::vector<int64_t> rankOrder;
      const TensorInfo *firstAlpha = nullptr;
      for (auto &[name, m] : modules) {
        std::string full = component + "." + name;
        check(m.a && m.b, "LoRA file ", path, ": module '", full, "' has ",
              m.a   ? "lora_A but no lora_B"
              : m.b ? "lora_B but no lora_A"
                    : "an alpha but no lora_A or lora_B",
              " weight");
        check(m.a->shape.size() == 2 && m.b->shape.size() == 2 &&
                  m.a->shape[0] == m.b->shape[1] && m.a->shape[0] >= 1,
              "LoRA file ", path, ": module '", full, "' has lora_A ",
              shapeString(m.a->shape), " and lora_B ", shapeString(m.b->shape),
              "; expected [r, in] and [out, r]");
        if (!rankCount[m.b->shape[1]]++)
          rankOrder.push_back(m.b->shape[1]);
        if (m.alpha && !firstAlpha)
          firstAlpha = m.alpha;
      }
      int64_t commonRank = rankOrder.front();
      for (int64_t r : rankOrder)
        if (rankCount[r] > rankCount[commonRank])
          commonRank = r;
      float defaultAlpha =
          firstAlpha ? scalarOf(*firstAlpha) : float(commonRank);
      for (auto &[name, m] : modules) {
        std::string weight = name + ".weight";
        auto it = weights.find({component, weight});
        check(it != weights.end(), "LoRA file ", path, ": module '", component,
              ".", name, "' adapts '", weight, "', which is not a ", component,
              " weight of this plan");
        const std::vector<int64_t> &shape = it->second;
        const int64_t out = m.b->shape[0], in = m.a->shape[1];
        check(shape.size() == 2, "LoRA file ", path, ": module '", component,
              ".", name, "' adapts '", weight, "' of shape ",
              shapeString(shape),
              "; LoRA is supported on linear (2-D) weights only");
        check(shape[0] == out && shape[1] == in, "LoRA file ", path,
              ": module '", component, ".", name, "' has lora_B ",
              shapeString(m.b->shape), " and lora_A ", shapeString(m.a->shape),
              ", which make a [", out, ", ", in, "] update, but '", weight,
              "' is ", shapeString(shape));
        float alpha = m.alpha ? scalarOf(*m.alpha) : defaultAlpha;
        Adapter adapter;
        adapter.a = m.a;
        adapter.b = m.b;
        adapter.scaling =
            spec.scale * alpha / static_cast<float>(m.a->shape[0]);
        targets_[{component, weight}].push_back(adapter);
      }
      line << (count ? ", " : " ") << component << ": " << modules.size()
           << (modules.size() == 1 ? " module" : " modules") << " (rank "
           << commonRank << ")";
      count += modules.size();
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
    readSliceAsF32(*ad.b, {o0, 0}, {rows, r}, b.data());
    readSliceAsF32(*ad.a, {0, o1}, {r, cols}, a.data());
    // slice[:rows, :cols] += scaling * B[o0:, :] A[:, o1:]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(rows), int(cols),
                int(r), ad.scaling, b.data(), int(r), a.data(), int(cols), 1.0f,
                slice, int(s1));
  }
  return true;
}

} // namespace fresco
