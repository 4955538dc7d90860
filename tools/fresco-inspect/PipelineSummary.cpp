//===- PipelineSummary.cpp - fresco-inspect: the Pipeline table -----------===//
#include "tools/fresco-inspect/PipelineSummary.h"
#include "runtime/pipeline/PipelineNames.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace fresco::inspect {
namespace {

using pipeline_names::name;

/// `s` as a JSON string literal (names come from the plan file).
std::string quoted(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
      continue;
    }
    out += c;
  }
  return out + "\"";
}

/// "0", "0-3" or "0, 2": ranks as a reader scans them.
std::string rankList(const std::vector<int> &ranks) {
  bool consecutive = true;
  for (size_t i = 1; i < ranks.size(); ++i)
    consecutive &= ranks[i] == ranks[i - 1] + 1;
  if (ranks.size() > 2 && consecutive)
    return std::to_string(ranks.front()) + "-" + std::to_string(ranks.back());
  std::string s;
  for (size_t i = 0; i < ranks.size(); ++i)
    s += (i ? ", " : "") + std::to_string(ranks[i]);
  return s;
}

std::string roleList(const std::vector<plan::TensorRole> &roles,
                     const char *sep, const char *quote) {
  std::string s;
  for (size_t i = 0; i < roles.size(); ++i)
    s += (i ? sep : "") + std::string(quote) + name(roles[i]) + quote;
  return s;
}

std::string conditioning(const PipelineSpec &s) {
  if (s.conditioning != plan::ConditioningKind::ClassLabel) {
    std::ostringstream os;
    os << name(s.conditioning) << " conditioning";
    if (!s.timeIds.empty()) {
      os << ", time ids (";
      for (size_t i = 0; i < s.timeIds.size(); ++i)
        os << (i ? ", " : "") << s.timeIds[i];
      // The SDXL refiner's last id, given per run.
      os << (s.aestheticScore ? ", aesthetic score)" : ")");
    }
    if (s.zeroNegativePrompt)
      os << ", zeros without a negative prompt";
    return os.str();
  }
  return "class labels 0.." + std::to_string(s.numClasses - 1) +
         (s.nullClass >= 0 ? ", null class " + std::to_string(s.nullClass)
                           : std::string());
}

std::string latents(const PipelineSpec &s) {
  std::ostringstream os;
  os << name(s.layout) << " latents [" << s.channels << ", " << s.height << ", "
     << s.width << "]";
  if (s.layout == plan::LatentLayout::PackedTokens)
    os << " in " << s.patchSize << "x" << s.patchSize << " patches";
  if (s.maskChannels)
    os << " + " << s.maskChannels
       << " channels of mask and masked image latents (an inpainting UNet)";
  if (s.controlMaskChannels)
    os << ", control latents + " << s.controlMaskChannels
       << " mask channel (an inpainting SD3 ControlNet)";
  os << ", prediction " << s.predictionChannels << " channels, decoded as ";
  if (s.latentsMean.empty()) {
    os << "x / " << s.scalingFactor << " + " << s.shiftFactor;
    return os.str();
  }
  // SDXL's latent statistics, one per channel.
  auto list = [&](const std::vector<double> &v) {
    os << "[";
    for (size_t i = 0; i < v.size(); ++i)
      os << (i ? ", " : "") << v[i];
    os << "]";
  };
  os << "x * std / " << s.scalingFactor << " + mean (mean ";
  list(s.latentsMean);
  os << ", std ";
  list(s.latentsStd);
  os << ")";
  return os.str();
}

} // namespace

std::string describePipeline(const PipelineSpec &s) {
  std::ostringstream os;
  os << "pipeline: " << conditioning(s) << "; guidance " << name(s.guidance)
     << "; " << latents(s) << "; scheduler " << s.scheduler;
  if (s.timesteps != plan::TimestepSchedule::Scheduler)
    os << " (" << name(s.timesteps) << " timesteps)";
  if (s.timestepDivisor != 1)
    os << ", timestep / " << s.timestepDivisor;
  if (s.flowPrediction)
    os << ", flow prediction";
  if (s.freshSteps > 0 && !s.warmupFunction.empty()) // pipefusion
    os << "; the first " << s.freshSteps << " step"
       << (s.freshSteps == 1 ? "" : "s") << " run the warm-up '"
       << s.warmupFunction << "' (exact), then the patches (stale keys "
       << "and values)";
  else if (s.freshSteps > 0) // patch=P: later steps read the previous K/V
    os << "; the first " << s.freshSteps << " step"
       << (s.freshSteps == 1 ? "" : "s") << " fresh, then stale";
  os << "\n";
  for (const ComponentSpec &c : s.components) {
    os << "  " << name(c.role) << " '" << c.function << "' on rank"
       << (c.ranks.size() > 1 ? "s " : " ") << rankList(c.ranks) << ": "
       << roleList(c.inputs, ", ", "") << " -> "
       << roleList(c.outputs, ", ", "");
    if (c.role == plan::ComponentRole::TextEncoder) {
      static const char *const kSlots[] = {"prompt", "second prompt",
                                           "third prompt"};
      os << " (" << name(c.tokenizerKind) << " tokenizer '" << c.tokenizer
         << "', " << kSlots[c.promptSlot];
      for (size_t k = 0; k < c.windows.size(); ++k)
        if (c.windows[k] != std::pair<int64_t, int64_t>{0, 0})
          os << "; " << name(c.outputs[k]) << " at token " << c.windows[k].first
             << ", feature " << c.windows[k].second;
      for (size_t k = 0; k < c.outputPrompts.size(); ++k)
        if (c.outputPrompts[k] != plan::PromptBlock::Every)
          os << "; output " << k << " (" << name(c.outputs[k]) << ") for the "
             << (c.outputPrompts[k] == plan::PromptBlock::Prompts
                     ? "prompts"
                     : "negative prompts")
             << " only";
      os << ")";
    }
    os << "\n";
  }
  if (std::optional<std::string> why = generationSupport(s))
    os << "  cannot generate: " << *why << "\n";
  return os.str();
}

std::string pipelineJson(const PipelineSpec &s) {
  std::ostringstream os;
  os << "{\"kind\": " << quoted(s.kind) << ", \"num_images\": " << s.numImages
     << ", \"conditioning\": \"" << name(s.conditioning)
     << "\", \"guidance\": \"" << name(s.guidance) << "\", \"layout\": \""
     << name(s.layout) << "\", \"scheduler\": " << quoted(s.scheduler);
  if (s.freshSteps > 0) // patch=P and pipefusion plans only
    os << ", \"fresh_steps\": " << s.freshSteps;
  if (!s.warmupFunction.empty())
    os << ", \"warmup_function\": " << quoted(s.warmupFunction);
  if (s.conditioning == plan::ConditioningKind::Text) {
    os << ", \"zero_negative_prompt\": "
       << (s.zeroNegativePrompt ? "true" : "false") << ", \"time_ids\": [";
    for (size_t i = 0; i < s.timeIds.size(); ++i)
      os << (i ? ", " : "") << s.timeIds[i];
    os << "]";
    if (s.aestheticScore) // the SDXL refiner's
      os << ", \"aesthetic_score\": true";
  }
  os << ", \"components\": [";
  for (size_t i = 0; i < s.components.size(); ++i) {
    const ComponentSpec &c = s.components[i];
    os << (i ? ", " : "") << "{\"role\": \"" << name(c.role)
       << "\", \"function\": " << quoted(c.function) << ", \"ranks\": [";
    for (size_t k = 0; k < c.ranks.size(); ++k)
      os << (k ? ", " : "") << c.ranks[k];
    os << "], \"inputs\": [" << roleList(c.inputs, ", ", "\"")
       << "], \"outputs\": [" << roleList(c.outputs, ", ", "\"") << "]";
    if (c.role == plan::ComponentRole::TextEncoder)
      os << ", \"tokenizer_kind\": \"" << name(c.tokenizerKind)
         << "\", \"tokenizer\": " << quoted(c.tokenizer)
         << ", \"prompt_slot\": " << c.promptSlot;
    if (!c.windows.empty()) {
      os << ", \"windows\": [";
      for (size_t k = 0; k < c.windows.size(); ++k)
        os << (k ? ", " : "") << "[" << c.windows[k].first << ", "
           << c.windows[k].second << "]";
      os << "]";
    }
    const bool split = std::any_of(
        c.outputPrompts.begin(), c.outputPrompts.end(),
        [](plan::PromptBlock p) { return p != plan::PromptBlock::Every; });
    if (split) {
      os << ", \"output_prompts\": [";
      for (size_t k = 0; k < c.outputPrompts.size(); ++k)
        os << (k ? ", " : "") << "\"" << name(c.outputPrompts[k]) << "\"";
      os << "]";
    }
    os << "}";
  }
  os << "], \"generates\": " << (generationSupport(s) ? "false" : "true")
     << "}";
  return os.str();
}

} // namespace fresco::inspect
