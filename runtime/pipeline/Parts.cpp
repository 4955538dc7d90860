//===- Parts.cpp - The parts a Pipeline table asks for --------------------===//
#include "runtime/pipeline/Parts.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/Generate.h"
#include "runtime/pipeline/PipelineNames.h"

#include <cmath>

namespace fresco {

std::string shortPrompt(const std::string &prompt) {
  if (prompt.size() <= 40)
    return prompt;
  size_t cut = 37;
  while (cut > 0 && (static_cast<unsigned char>(prompt[cut]) & 0xC0) == 0x80)
    --cut; // a continuation byte: back to the character's start
  return prompt.substr(0, cut) + "...";
}

void checkImageCount(const PipelineSpec &spec, int64_t n, const char *what) {
  check(n >= 1, "no ", what, "s given: the plan generates one image per ",
        what);
  check(n <= spec.numImages, "the plan generates at most ", spec.numImages,
        " image(s) per run but ", n, " ", what,
        "(s) were given; recompile with fresco-compile --batch ", n);
}

namespace {
/// The NaNs and infinities of an f32 tensor (0 for other dtypes).
int64_t countNonFinite(const HostTensor &t) {
  if (t.dtype != DType::F32)
    return 0;
  const float *v = t.as<float>();
  int64_t bad = 0, n = t.numel();
  for (int64_t i = 0; i < n; ++i)
    bad += !std::isfinite(v[i]);
  return bad;
}
} // namespace

void requireFinite(const HostTensor &t, const std::string &what) {
  const int64_t bad = countNonFinite(t);
  check(bad == 0, what, " has ", bad, " non-finite values of ", t.numel(),
        " (an overflow, or a damaged checkpoint); nothing was written");
}

void requireFiniteInput(const HostTensor &t, const std::string &flag) {
  const int64_t bad = countNonFinite(t);
  check(bad == 0, flag, " holds ", bad,
        " non-finite values (NaN or infinity) of ", t.numel());
}

std::unique_ptr<Conditioning> makeConditioning(const PipelineSpec &spec,
                                               const GenerateOptions &o) {
  switch (spec.conditioning) {
  case plan::ConditioningKind::ClassLabel:
    return makeClassLabelConditioning(spec, o);
  case plan::ConditioningKind::Text:
    return makeTextConditioning(spec, o);
  }
  fail(pipeline_names::name(spec.conditioning),
       " conditioning is not implemented yet in this runtime");
}

std::unique_ptr<LatentLayout> makeLatentLayout(const PipelineSpec &spec) {
  switch (spec.layout) {
  case plan::LatentLayout::Image:
    return makeImageLatents(spec);
  case plan::LatentLayout::PackedTokens:
    return makePackedTokenLatents(spec);
  }
  fail(pipeline_names::name(spec.layout),
       " latent layout is not implemented yet in this runtime");
}

} // namespace fresco
