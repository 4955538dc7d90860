//===- TimeIds.cpp - SDXL's micro-conditioning per run --------------------===//
#include "runtime/pipeline/TimeIds.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/PipelineSpec.h"

#include <cmath>
#include <cstdint>

namespace fresco {
namespace {

using Pair = MicroConditioning::Pair;

/// Each value with the fresco-run flag that gives it, and whether it is a
/// size (above 0) or a crop corner (0 allowed).
struct Field {
  const Pair MicroConditioning::*value;
  const char *flag;
  bool size;
};
constexpr Field kFields[] = {
    {&MicroConditioning::originalSize, "--original-size", true},
    {&MicroConditioning::cropsTopLeft, "--crops-coords-top-left", false},
    {&MicroConditioning::targetSize, "--target-size", true},
    {&MicroConditioning::negativeOriginalSize, "--negative-original-size",
     true},
    {&MicroConditioning::negativeCropsTopLeft,
     "--negative-crops-coords-top-left", false},
    {&MicroConditioning::negativeTargetSize, "--negative-target-size", true},
};

/// The flag of the first value given, or null.
const char *firstGiven(const MicroConditioning &m) {
  for (const Field &f : kFields)
    if (m.*f.value)
      return f.flag;
  return nullptr;
}

/// The ids the plan holds: original size, crop corner, then the target size
/// unless the refiner's aesthetic score ends the row.
size_t sdxlIdCount(const PipelineSpec &spec) {
  return spec.aestheticScore ? 4 : 6;
}

void append(std::vector<double> &row, const std::array<double, 2> &v) {
  row.insert(row.end(), v.begin(), v.end());
}

} // namespace

bool MicroConditioning::given() const { return firstGiven(*this) != nullptr; }

void checkMicroConditioning(const PipelineSpec &spec,
                            const MicroConditioning &m, bool imageToImage) {
  const char *flag = firstGiven(m);
  if (!flag)
    return;
  check(!spec.timeIds.empty(), flag, ": pipeline '", spec.kind,
        "' has no time ids; SDXL's micro-conditioning applies to "
        "StableDiffusionXLPipeline and StableDiffusionXLImg2ImgPipeline plans");
  check(spec.isSDXL() && spec.timeIds.size() == sdxlIdCount(spec), flag,
        ": the plan's ", spec.timeIds.size(), " time ids of pipeline '",
        spec.kind,
        "' are not SDXL's (original size, crop corner and target size or "
        "aesthetic score)");
  for (const Field &f : kFields) {
    const Pair &p = m.*f.value;
    if (!p)
      continue;
    for (double v : *p)
      check(std::isfinite(v) && (f.size ? v > 0 : v >= 0) &&
                v <= MicroConditioning::kMaxPixels,
            f.flag, ": ", v, " is not ",
            f.size ? "a size above 0" : "a non-negative coordinate",
            " of at most ", int64_t(MicroConditioning::kMaxPixels), " pixels");
  }
  const bool bothNegativeSizes = m.negativeOriginalSize && m.negativeTargetSize;
  if (spec.aestheticScore) {
    for (const Pair *p : {&m.targetSize, &m.negativeTargetSize})
      check(!*p,
            p == &m.targetSize ? "--target-size" : "--negative-target-size",
            ": the SDXL refiner's time ids (requires_aesthetics_score) are "
            "original size, crop corner and aesthetic score: it takes no "
            "target size");
  } else if (imageToImage) {
    check(!m.negativeCropsTopLeft,
          "--negative-crops-coords-top-left: StableDiffusionXLImg2ImgPipeline "
          "without an aesthetic score puts the prompts' crop corner "
          "(--crops-coords-top-left) in the negative time ids too; diffusers "
          "ignores negative_crops_coords_top_left there");
  } else {
    check(bool(m.negativeOriginalSize) == bool(m.negativeTargetSize),
          m.negativeOriginalSize ? "--negative-original-size"
                                 : "--negative-target-size",
          ": StableDiffusionXLPipeline (text-to-image) uses negative time ids "
          "only when both --negative-original-size and --negative-target-size "
          "are given (else the prompts' time ids): give both, or neither");
    check(!m.negativeCropsTopLeft || bothNegativeSizes,
          "--negative-crops-coords-top-left: StableDiffusionXLPipeline "
          "(text-to-image) uses negative time ids only when both "
          "--negative-original-size and --negative-target-size are given "
          "(else the prompts' time ids): give them too");
  }
}

std::array<std::vector<double>, 2> timeIdRows(const PipelineSpec &spec,
                                              const MicroConditioning &m,
                                              bool imageToImage,
                                              double aestheticScore,
                                              double negativeAestheticScore) {
  checkMicroConditioning(spec, m, imageToImage);
  if (spec.timeIds.empty())
    return {};
  if (!m.given()) {
    // The plan's ids as they are (also for a plan whose ids are not
    // SDXL's layout: nothing to override).
    std::array<std::vector<double>, 2> rows = {spec.timeIds, spec.timeIds};
    if (spec.aestheticScore) {
      rows[0].push_back(std::isnan(aestheticScore)
                            ? PipelineSpec::kDefaultAestheticScore
                            : aestheticScore);
      rows[1].push_back(std::isnan(negativeAestheticScore)
                            ? PipelineSpec::kDefaultNegativeAestheticScore
                            : negativeAestheticScore);
    }
    return rows;
  }
  // The defaults: the plan's (height, width), (0, 0) and (height, width).
  const std::vector<double> &ids = spec.timeIds;
  const std::array<double, 2> planOriginal = {ids[0], ids[1]},
                              planCrops = {ids[2], ids[3]};
  const std::array<double, 2> original = m.originalSize.value_or(planOriginal),
                              crops = m.cropsTopLeft.value_or(planCrops);
  std::array<std::vector<double>, 2> rows;
  if (spec.aestheticScore) {
    // original_size + crops_coords_top_left + (aesthetic_score,);
    // negative_original_size defaults to original_size,
    // negative_crops_coords_top_left to (0, 0).
    append(rows[0], original);
    append(rows[0], crops);
    rows[0].push_back(std::isnan(aestheticScore)
                          ? PipelineSpec::kDefaultAestheticScore
                          : aestheticScore);
    append(rows[1], m.negativeOriginalSize.value_or(original));
    append(rows[1], m.negativeCropsTopLeft.value_or(planCrops));
    rows[1].push_back(std::isnan(negativeAestheticScore)
                          ? PipelineSpec::kDefaultNegativeAestheticScore
                          : negativeAestheticScore);
    return rows;
  }
  const std::array<double, 2> target =
      m.targetSize.value_or(std::array<double, 2>{ids[4], ids[5]});
  append(rows[0], original);
  append(rows[0], crops);
  append(rows[0], target);
  if (imageToImage) {
    // Each negative size defaults to the prompts'; the crop corner is the
    // prompts' (checkMicroConditioning refused a negative one).
    append(rows[1], m.negativeOriginalSize.value_or(original));
    append(rows[1], crops);
    append(rows[1], m.negativeTargetSize.value_or(target));
  } else if (m.negativeOriginalSize && m.negativeTargetSize) {
    append(rows[1], *m.negativeOriginalSize);
    append(rows[1], m.negativeCropsTopLeft.value_or(planCrops));
    append(rows[1], *m.negativeTargetSize);
  } else {
    rows[1] = rows[0];
  }
  return rows;
}

} // namespace fresco
