//===- Generate.h - The sampling loop of a compiled pipeline ----*- C++ -*-===//
//
// Drives a plan's component functions to generate images as the plan's
// Pipeline table describes them: one loop (noise, the scheduler's steps
// around the denoiser, 1 / scaling_factor and the decoder) with the
// per-family parts of Parts.h. For DiT it is diffusers' DiTPipeline:
// classifier-free guidance over a doubled batch (the null class is DiT's
// 1000), guidance on the epsilon channels only, learned-sigma channels
// split off.
//
// A run makes 1..num_images images: the functions' batch is fixed when
// compiling, so fewer images pad it (BatchLayout) and cost a full batch's
// time; the padded rows' results are dropped.
//
// One deliberate difference: DiTPipeline hands scheduler.step the output of
// scale_model_input and never multiplies the initial noise by
// init_noise_sigma. Both are no-ops for DDIM and DPM-Solver (the results are
// identical); for Euler they are not, and Fresco follows the standard
// diffusers ordering instead (noise * init_noise_sigma, step on the unscaled
// latents), which is what the Euler sampler is defined as.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_GENERATE_H
#define FRESCO_RUNTIME_PIPELINE_GENERATE_H

#include "runtime/comm/Communicator.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Plan.h"
#include "runtime/core/Tensor.h"
#include "runtime/pipeline/Control.h"
#include "runtime/pipeline/PipelineSpec.h"
#include "runtime/pipeline/TimeIds.h"

#include <cstdint>
#include <functional>
#include <iosfwd>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace fresco {

/// Where the seeded noise comes from.
enum class NoiseGenerator {
  /// Fresco's per-image streams (Noise.h): image i depends on (seed, i).
  Fresco,
  /// What diffusers draws from torch.Generator("cpu").manual_seed(seed) in
  /// GenerateOptions::torchDType, in its order (TorchGenerator.h): the whole
  /// batch's noise in one draw, so an image depends on the batch.
  Torch,
};

struct GenerateOptions {
  std::vector<int64_t> classLabels; // one image per label, 1..num_images
  /// Text conditioning: one image per prompt, 1..num_images; the second
  /// and third prompts (FluxPipeline's prompt_2: T5's; SDXL's prompt_2,
  /// SD3's prompt_2 and prompt_3) default to the prompts.
  std::vector<std::string> prompts, prompts2, prompts3;
  /// Text CFG: the negative prompts, none ("" each, as diffusers), one for
  /// every image, or one per image.
  std::vector<std::string> negativePrompts;
  /// The second and third encoders' negative prompts (SDXL's
  /// negative_prompt_2, SD3's negative_prompt_2 and _3), given as
  /// negativePrompts is; they default to it (diffusers'
  /// `negative_prompt_2 or negative_prompt`), and, Fresco's rule as for
  /// prompts2, so does an image's empty one (diffusers keeps "" in a list).
  std::vector<std::string> negativePrompts2, negativePrompts3;
  /// The folder holding the tokenizers (the pipeline folder of --weights).
  std::string weightsFolder;
  /// Where warnings go (a truncated prompt); none when null.
  std::ostream *warnings = nullptr;
  /// 0 / NaN: the pipeline's default (defaultSteps / defaultGuidanceScale).
  int steps = 0;
  double guidanceScale = std::numeric_limits<double>::quiet_NaN();
  /// guidance_rescale (StableDiffusionPipeline's text-to-image, the SDXL
  /// classes): in [0, 1], 0 none (checkGuidanceRescale).
  double guidanceRescale = 0.0;
  /// The Stable Diffusion pipelines' eta (DDIM's eta, TCD's gamma), in
  /// [0, 1]: 0 deterministic; refused for other schedulers and pipelines.
  double eta = 0.0;
  uint64_t seed = 0;
  /// NoiseGenerator::Torch only: one seed per image, each image drawing
  /// from its own generator (diffusers' generator=[g0, g1, ...]); empty:
  /// one generator of `seed` for the batch.
  std::vector<uint64_t> seeds;
  NoiseGenerator generator = NoiseGenerator::Fresco;
  /// NoiseGenerator::Torch: the dtype diffusers' pipeline runs in (its
  /// randn_tensor draws in it): F32, BF16 or F16.
  DType torchDType = DType::F32;
  /// Initial noise of the n images in the latent layout ([n, C, H, W] f32)
  /// instead of the seeded generator (as diffusers' `latents=`); multiplied
  /// by init_noise_sigma like the noise.
  const HostTensor *initialLatents = nullptr;
  /// Image-to-image (the Img2Img classes of SD, SDXL, SD3 and Flux):
  /// every image starts from this init image, f32 [1, 3, H, W] in [-1, 1]
  /// at the plan's pixel size, encoded and noised to the first timestep
  /// `strength` keeps (ImageToImage.h); initialLatents (or the seeded noise)
  /// is then the noise add_noise (SD3, Flux: scale_noise) mixes in, in the
  /// latent layout, not multiplied by init_noise_sigma. Null (and no
  /// initImageLatents): text-to-image.
  const HostTensor *initImage = nullptr;
  /// Image-to-image from latents instead (SDXL: an image of the latent
  /// channel count is taken as the init latents, unscaled, not encoded):
  /// f32 [n or 1, C, h, w], e.g. a base run's final latents. At most one of
  /// initImage and initImageLatents.
  const HostTensor *initImageLatents = nullptr;
  /// Inpainting (Inpaint.h; with initImage): f32 [1, 1, H, W] of 0 (keep
  /// the init image) and 1 (repaint) at the plan's pixel size, as
  /// binaryMask makes it. Null: the whole image is repainted.
  const HostTensor *mask = nullptr;
  /// A ControlNet plan's control image, scale and guidance window
  /// (Control.h).
  ControlOptions control;
  /// Image-to-image: (0, 1]; NaN: the img2img (inpaint) class's default
  /// (PipelineSpec::defaultStrength).
  double strength = std::numeric_limits<double>::quiet_NaN();
  /// SDXL's ensemble of experts (ImageToImage.h), in (0, 1); NaN: none.
  /// denoisingStart (image-to-image only) replaces strength: the schedule
  /// starts at its cutoff and the init latents are not noised;
  /// denoisingEnd stops the loop after its cutoff.
  double denoisingStart = std::numeric_limits<double>::quiet_NaN();
  double denoisingEnd = std::numeric_limits<double>::quiet_NaN();
  /// The SDXL refiner's time ids (PipelineSpec::aestheticScore): the
  /// aesthetic score of the prompts' half and of the negative half; NaN:
  /// StableDiffusionXLImg2ImgPipeline's defaults, 6.0 and 2.5. A plan
  /// without them refuses a number.
  double aestheticScore = std::numeric_limits<double>::quiet_NaN();
  double negativeAestheticScore = std::numeric_limits<double>::quiet_NaN();
  /// SDXL's original size, crop corner and target size of either half
  /// (TimeIds.h); unset: the plan's. A plan without time ids refuses them.
  MicroConditioning microConditioning;
  /// Scheduler class overriding the plan's; it is configured from the
  /// plan's scheduler_config, as diffusers' from_config(pipe.scheduler.config).
  std::string scheduler;
  /// Keys of that config set as from_config's keyword arguments set them
  /// (key, JSON value or bare word; withConfigOverrides in Scheduler.h),
  /// e.g. {"use_karras_sigmas", "true"}.
  std::vector<std::pair<std::string, std::string>> schedulerConfig;
  /// patch=P plans (a denoiser holding StaleGathers): step i of the loop
  /// (counted from its first step, image-to-image's too) runs fresh when
  /// i < freshSteps, else stale (RunMode.h). -1: the plan's
  /// Pipeline.fresh_steps; else at least 1, and only for such plans.
  int freshSteps = -1;
  /// Called after every denoising step with (done, total, step seconds).
  std::function<void(int, int, double)> onStep;
};

/// This process's part in a multi-rank run. Ranks that run the denoiser
/// each run the whole sampling loop (the plan's collectives keep them in
/// step); a decoder rank that does not also run the denoiser receives the
/// final latents from the first denoiser rank.
struct RankRoles {
  int rank = 0;
  std::vector<int> denoiserRanks = {0};
  std::vector<int> decoderRanks = {0};
  Communicator *world = nullptr; // needed when latents must move
};

/// The roles the plan's Pipeline table assigns (its components' ranks).
RankRoles rankRoles(const PipelineSpec &spec, int rank, Communicator *world);

/// Placement: rank `source` sends `t` (tagged `tag`) to every rank of
/// `readers` outside `holders`, which receives it into `t` (already of its
/// shape there); other ranks do nothing. `what` names the component in the
/// error when there is no communicator.
void handOver(const RankRoles &roles, HostTensor &t, int source,
              const std::vector<int> &holders, const std::vector<int> &readers,
              int tag, const std::string &what);

struct GenerateResult {
  HostTensor latents; // final latents of the n images, before 1 / scaling
  HostTensor images;  // decoder output [n, 3, H, W], values ~[-1, 1]
  bool hasLatents = false, hasImages = false; // what this rank computed
  std::string scheduler;
  double encodeSeconds = 0, denoiseSeconds = 0, decodeSeconds = 0;
  /// Denoising steps run: the scheduler's timestep count, which some
  /// spacings make differ from the steps asked for.
  int steps = 0;
  /// Of those, the steps run fresh; -1 when the denoiser holds no
  /// StaleGather (every step is exact) or this rank does not denoise.
  int freshSteps = -1;
};

/// Runs the plan's pipeline on rank `exec`. Throws fresco::Error for options
/// the plan cannot honour (label count or range, steps, latents shape) and
/// for parts of the table this runtime does not implement yet.
GenerateResult generate(const PipelineSpec &pipeline, Executor &exec,
                        const GenerateOptions &options,
                        const RankRoles &roles = {});

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_GENERATE_H
