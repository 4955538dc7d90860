//===- PipelineNames.h - Spellings of the Pipeline table's enums -*- C++
//-*-===//
//
// One spelling per enum value of the Pipeline table, shared by the compiler
// (the fresco.pipeline attribute it reads) and the runtime (messages,
// fresco-inspect), so the two cannot drift. Header-only, no exceptions:
// the compiler includes it too.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_PIPELINENAMES_H
#define FRESCO_RUNTIME_PIPELINE_PIPELINENAMES_H

#include "runtime/schema/plan_generated.h"

#include <optional>
#include <string>
#include <string_view>

namespace fresco::pipeline_names {

// Indexed by the enum's value; the static_asserts keep them complete.
inline constexpr const char *kComponentRoles[] = {"denoiser", "decoder",
                                                  "text_encoder", "encoder"};
inline constexpr const char *kTensorRoles[] = {
    "latents",         "timestep",
    "class_labels",    "prediction",
    "image",           "token_ids",
    "text_embeddings", "pooled_text_embeddings",
    "guidance_scale",  "image_ids",
    "text_ids",        "time_ids",
    "pixels",          "latent_mean",
    "latent_logvar",   "control_image",
    "control_scale",   "control_latents",
    "control_mode"};
inline constexpr const char *kConditioningKinds[] = {"class_label", "text"};
inline constexpr const char *kLatentLayouts[] = {"image", "packed_tokens"};
inline constexpr const char *kGuidanceModes[] = {"none", "class_cfg",
                                                 "text_cfg", "embedded"};
inline constexpr const char *kTokenizerKinds[] = {"none", "clip_bpe",
                                                  "t5_sentencepiece"};
inline constexpr const char *kTimestepSchedules[] = {"scheduler",
                                                     "flux_shifted"};
inline constexpr const char *kPromptBlocks[] = {"every", "prompts",
                                                "negative_prompts"};

template <typename E> struct Table;
#define FRESCO_PIPELINE_NAMES(E, array)                                        \
  template <> struct Table<plan::E> {                                          \
    static constexpr const char *const *names = array;                         \
    static constexpr int size = int(sizeof(array) / sizeof(array[0]));         \
    static_assert(size == int(plan::E::MAX) + 1, #E " spellings incomplete");  \
  };
FRESCO_PIPELINE_NAMES(ComponentRole, kComponentRoles)
FRESCO_PIPELINE_NAMES(TensorRole, kTensorRoles)
FRESCO_PIPELINE_NAMES(ConditioningKind, kConditioningKinds)
FRESCO_PIPELINE_NAMES(LatentLayout, kLatentLayouts)
FRESCO_PIPELINE_NAMES(GuidanceMode, kGuidanceModes)
FRESCO_PIPELINE_NAMES(TokenizerKind, kTokenizerKinds)
FRESCO_PIPELINE_NAMES(TimestepSchedule, kTimestepSchedules)
FRESCO_PIPELINE_NAMES(PromptBlock, kPromptBlocks)
#undef FRESCO_PIPELINE_NAMES

/// The spelling of `e`, or "?" for a value outside the enum (a plan from a
/// newer compiler).
template <typename E> const char *name(E e) {
  int i = int(e);
  return i >= 0 && i < Table<E>::size ? Table<E>::names[i] : "?";
}

/// The value spelled `s`, if any.
template <typename E> std::optional<E> parse(std::string_view s) {
  for (int i = 0; i < Table<E>::size; ++i)
    if (s == Table<E>::names[i])
      return E(i);
  return std::nullopt;
}

/// "a, b, c": the valid spellings, for messages.
template <typename E> std::string list() {
  std::string out;
  for (int i = 0; i < Table<E>::size; ++i)
    out += std::string(i ? ", " : "") + Table<E>::names[i];
  return out;
}

} // namespace fresco::pipeline_names

#endif // FRESCO_RUNTIME_PIPELINE_PIPELINENAMES_H
