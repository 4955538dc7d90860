//===- TimeIds.h - SDXL's micro-conditioning per run ------------*- C++ -*-===//
//
// SDXL's UNet takes "time ids" beside the timestep: original size, crop
// corner and target size in pixels (the refiner, requires_aesthetics_score:
// original size, crop corner and an aesthetic score). The plan holds the
// defaults diffusers derives from the image size; a run may give its own
// values (diffusers' original_size, crops_coords_top_left, target_size and
// their negative_* twins), which this file turns into the two TimeIds rows
// exactly as diffusers 0.31's _get_add_time_ids and its callers do:
//  - StableDiffusionXLPipeline (text-to-image): the negative half uses
//    negative_original_size + negative_crops_coords_top_left +
//    negative_target_size only when both sizes are given, else the
//    prompts' ids;
//  - StableDiffusionXLImg2ImgPipeline (image-to-image, any SDXL plan): each
//    negative size defaults to the prompts'; without an aesthetic score the
//    negative half takes the prompts' crop corner (negative_crops_... is
//    unused), with one (the refiner) negative_crops_coords_top_left,
//    default (0, 0), and no target size at all.
// What diffusers would silently ignore is refused instead. Every image's
// negative half gets the negative row; diffusers 0.31's text-to-image class
// repeats the [negative, prompts'] pair per prompt instead, misaligning the
// rows for more than one prompt (docs/pipelines.md).
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_TIMEIDS_H
#define FRESCO_RUNTIME_PIPELINE_TIMEIDS_H

#include <array>
#include <optional>
#include <vector>

namespace fresco {

struct PipelineSpec;

/// A run's SDXL micro-conditioning, in pixels ({height, width}, or {top,
/// left} for a crop corner); unset: the default.
struct MicroConditioning {
  using Pair = std::optional<std::array<double, 2>>;
  Pair originalSize, cropsTopLeft, targetSize;
  Pair negativeOriginalSize, negativeCropsTopLeft, negativeTargetSize;

  /// The largest value a size or crop coordinate may take.
  static constexpr double kMaxPixels = 1e6;
  /// Whether any value is given.
  bool given() const;
};

/// Throws fresco::Error, naming the fresco-run flag, for values `spec`
/// cannot take: any on a plan without SDXL's time ids, a value outside
/// [0, kMaxPixels] (sizes above 0), and those diffusers would ignore (a
/// target size on the refiner; for text-to-image, one negative size
/// without the other or a negative crop corner without both; for
/// image-to-image without an aesthetic score, a negative crop corner).
/// `imageToImage`: the run starts from an image
/// (StableDiffusionXLImg2ImgPipeline), else StableDiffusionXLPipeline.
void checkMicroConditioning(const PipelineSpec &spec,
                            const MicroConditioning &m, bool imageToImage);

/// The TimeIds row of the prompts' half [0] and of the negative half [1]
/// (used under classifier-free guidance only), with `m` over the plan's
/// defaults as above; the refiner's rows end with the aesthetic scores
/// (NaN: 6.0 and 2.5). Empty rows for a plan without time ids. Throws as
/// checkMicroConditioning.
std::array<std::vector<double>, 2> timeIdRows(const PipelineSpec &spec,
                                              const MicroConditioning &m,
                                              bool imageToImage,
                                              double aestheticScore,
                                              double negativeAestheticScore);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_TIMEIDS_H
