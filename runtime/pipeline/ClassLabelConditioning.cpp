//===- ClassLabelConditioning.cpp - One class id per image (DiT) ----------===//
#include "runtime/core/Error.h"
#include "runtime/pipeline/Generate.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/PipelineNames.h"

namespace fresco {
namespace {

/// DiTPipeline's conditioning: the labels, and under guidance the null
/// class (DiT's 1000) for the unconditional half.
class ClassLabelConditioning final : public Conditioning {
public:
  ClassLabelConditioning(int64_t nullClass, std::vector<int64_t> labels)
      : nullClass_(nullClass), labels_(std::move(labels)) {}

  int64_t numImages() const override { return int64_t(labels_.size()); }

  bool fill(plan::TensorRole role, const BatchLayout &batch, bool guided,
            HostTensor &in) const override {
    if (role != plan::TensorRole::ClassLabels)
      return false;
    check(in.dtype == DType::I64 && in.numel() == batch.rows(),
          "the denoiser's class labels input is ", dtypeName(in.dtype),
          shapeToString(in.shape), ", expected i64[", batch.rows(), "]");
    for (int64_t r = 0; r < batch.rows(); ++r)
      // Without guidance block 1 repeats the labels (its output is unused).
      in.as<int64_t>()[r] =
          batch.block(r) == 1 && guided ? nullClass_ : labels_[batch.image(r)];
    return true;
  }

  std::string describe(int64_t image) const override {
    return "class " + std::to_string(labels_[image]);
  }

private:
  int64_t nullClass_;
  std::vector<int64_t> labels_;
};

} // namespace

std::unique_ptr<Conditioning>
makeClassLabelConditioning(const PipelineSpec &spec, const GenerateOptions &o) {
  check(o.prompts.empty() && o.prompts2.empty() && o.prompts3.empty() &&
            o.negativePrompts.empty() && o.negativePrompts2.empty() &&
            o.negativePrompts3.empty(),
        "pipeline '", spec.kind,
        "' is conditioned on class labels: --prompt, --prompt-2, --prompt-3 "
        "and --negative-prompt(-2, -3) do not apply (give --class-label)");
  checkImageCount(spec, int64_t(o.classLabels.size()), "class label");
  for (int64_t label : o.classLabels)
    check(label >= 0 && label < spec.numClasses, "class label ", label,
          " is out of range: this model has ", spec.numClasses, " classes (0..",
          spec.numClasses - 1, ")");
  return std::make_unique<ClassLabelConditioning>(spec.nullClass,
                                                  o.classLabels);
}

} // namespace fresco
