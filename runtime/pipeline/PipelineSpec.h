//===- PipelineSpec.h - A plan's Pipeline table, decoded --------*- C++ -*-===//
//
// The Pipeline table (runtime/schema/plan.fbs) read into plain C++ and
// checked against the plan's functions: every component exists on exactly
// the ranks it lists, with inputs and outputs of the shapes and dtypes its
// roles imply. Decoding checks structure only; whether this runtime can run
// what the table describes is generationSupport()'s question, so a plan
// from a newer compiler still loads (its functions run with --function)
// and generation refuses it with a clear message.
//
// Plan.cpp's verifyPlan calls verifyPipeline at load; the sampling loop
// decodes the same table again (it is small) instead of keeping state.
//
//===----------------------------------------------------------------------===//
#ifndef FRESCO_RUNTIME_PIPELINE_PIPELINESPEC_H
#define FRESCO_RUNTIME_PIPELINE_PIPELINESPEC_H

#include "runtime/schema/plan_generated.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace fresco {

struct ComponentSpec {
  plan::ComponentRole role = plan::ComponentRole::Denoiser;
  std::string function;
  std::vector<int> ranks; // ascending
  std::vector<plan::TensorRole> inputs, outputs;
  // Text encoders: the tokenizer subfolder of the weights folder, its kind
  // and which prompt (0, 1 for the second prompt, 2 for the third) the
  // encoder reads.
  plan::TokenizerKind tokenizerKind = plan::TokenizerKind::None;
  std::string tokenizer;
  int promptSlot = 0;
  // Text encoders: each output's shape as the function returns it (the
  // plan's images in the batch), and where it lands in the denoiser's input
  // of its role: {token offset, feature offset} (feature only for pooled).
  std::vector<std::vector<int64_t>> outputShapes;
  std::vector<std::pair<int64_t, int64_t>> windows;
  // Text encoders: which prompts' rows each output fills (clip_skip's
  // encoders return one state for the prompts, another for the negative
  // prompts); Every when the plan lists none.
  std::vector<plan::PromptBlock> outputPrompts;
  /// Whether output `k` fills the rows of guidance block `block` (0 the
  /// prompts', 1 the negative prompts').
  bool fillsBlock(size_t k, int block) const {
    const plan::PromptBlock p = outputPrompts.at(k);
    return p == plan::PromptBlock::Every ||
           p == (block == 0 ? plan::PromptBlock::Prompts
                            : plan::PromptBlock::NegativePrompts);
  }
  // Encoder: its input as the function takes it, [images, 3, H, W].
  std::vector<int64_t> pixelShape;
};

/// What a run does: the pipeline class's own call, its img2img class's
/// (an init image) or its inpaint class's (an init image and a mask).
enum class Task { TextToImage, ImageToImage, Inpainting };

struct PipelineSpec {
  std::string kind;      // e.g. "DiTPipeline"
  int64_t numImages = 1; // the compiled batch: the most images per run
  std::vector<ComponentSpec> components;

  plan::ConditioningKind conditioning = plan::ConditioningKind::ClassLabel;
  int64_t numClasses = 0, nullClass = -1;
  std::vector<double> timeIds;     // the TimeIds input's row
  bool zeroNegativePrompt = false; // no negative prompt: zero embeddings
  /// Each TimeIds row is timeIds and an aesthetic score the run gives (the
  /// SDXL refiner's requires_aesthetics_score).
  bool aestheticScore = false;

  plan::LatentLayout layout = plan::LatentLayout::Image;
  int64_t channels = 0, height = 0, width = 0, patchSize = 1;
  int64_t predictionChannels = 0;
  /// An inpainting UNet's extra input channels (1 + channels: the mask and
  /// the masked image's latents after the latents); 0: none.
  int64_t maskChannels = 0;
  /// The ControlNets' control images, one row of the denoiser's input: [3
  /// K, H, W] pixels for K nets (plan version 25), or with controlLatents
  /// [T, K P] packed latents of the VAE-encoded images (version 26, Flux);
  /// empty without a ControlNet.
  std::vector<int64_t> controlImage;
  bool controlLatents = false;
  /// ControlNet-Union: the denoiser takes each net's mode (plan version 26).
  bool controlModes = false;
  /// A UNet's ControlNets (plan version 27): the residuals each net's
  /// scale input holds one value for (its down blocks', then the mid
  /// block's: guess mode scales them apart); 0: one scale per net (Flux's,
  /// SD3's).
  int64_t controlResiduals = 0;
  /// An inpainting SD3 ControlNet (plan version 27): its control latents'
  /// mask channels (1) after the C latent channels; 0: none.
  int64_t controlMaskChannels = 0;
  int64_t controlNets() const {
    if (controlImage.empty())
      return 0;
    // [T, K P] packed, [K (C + mask), h, w] image latents, [3 K, H, W]
    // pixels.
    if (controlLatents)
      return (controlImage.size() == 2 ? controlImage[1] : controlImage[0]) /
             (latentChannels() + controlMaskChannels);
    return controlImage[0] / 3;
  }
  double scalingFactor = 1, shiftFactor = 0;
  /// The VAE's per-channel latent statistics (SDXL's latents_mean /
  /// latents_std): both empty or `channels` long.
  std::vector<double> latentsMean, latentsStd;

  std::string scheduler, schedulerConfig;
  plan::GuidanceMode guidance = plan::GuidanceMode::None;
  double timestepDivisor = 1;
  plan::TimestepSchedule timesteps = plan::TimestepSchedule::Scheduler;
  bool flowPrediction = false;
  /// Plan version 15 (patch=P): the first freshSteps denoising steps of
  /// each image run fresh, the later ones stale (RunMode.h). 0 when no
  /// function holds a StaleGather and there is no warm-up function.
  int freshSteps = 0;
  /// Plan version 16 (PipeFusion): the denoiser's warm-up twin, which the
  /// first freshSteps steps run instead of it (same ranks and signature).
  /// Empty: none.
  std::string warmupFunction;

  /// The pipeline class's defaults: num_inference_steps and guidance_scale
  /// of its __call__ (DiTPipeline 50 and 4.0, FluxPipeline 28 and 3.5,
  /// StableDiffusionPipeline 50 and 7.5, StableDiffusionXLPipeline and
  /// StableDiffusionXLImg2ImgPipeline 50 and 5.0, StableDiffusion3Pipeline
  /// 28 and 7.0), or for image-to-image its img2img class's (the same but
  /// StableDiffusion3Img2ImgPipeline's 50 steps and FluxImg2ImgPipeline's
  /// guidance 7.0), or for inpainting its inpaint class's (the img2img
  /// class's but StableDiffusionXLInpaintPipeline's guidance 7.5;
  /// StableDiffusionXLControlNetInpaintPipeline keeps 5.0).
  int defaultSteps(Task task = Task::TextToImage) const;
  double defaultGuidanceScale(Task task = Task::TextToImage) const;
  /// The img2img class's default strength: StableDiffusionImg2ImgPipeline
  /// 0.8, StableDiffusionXLImg2ImgPipeline 0.3, StableDiffusion3- and
  /// FluxImg2ImgPipeline 0.6, the ControlNet Img2Img classes (a plan with
  /// a ControlNet) 0.8; or the inpaint class's:
  /// StableDiffusion(ControlNet)InpaintPipeline 1.0,
  /// StableDiffusionXL(ControlNet)InpaintPipeline 0.9999, StableDiffusion3- and
  /// FluxInpaintPipeline 0.6.
  double defaultStrength(Task task = Task::ImageToImage) const;
  /// StableDiffusionXLImg2ImgPipeline's aesthetic_score and
  /// negative_aesthetic_score defaults.
  static constexpr double kDefaultAestheticScore = 6.0,
                          kDefaultNegativeAestheticScore = 2.5;
  /// Whether the plan's pipeline class runs image-to-image only
  /// (StableDiffusionXLImg2ImgPipeline: its __call__ requires an image).
  bool imageToImageOnly() const;
  /// Either SDXL class: the ones with denoising_start / denoising_end.
  bool isSDXL() const;
  /// The component playing `role` (the first, for text encoders), or null.
  const ComponentSpec *find(plan::ComponentRole role) const;
  /// The text encoder components, in table order.
  std::vector<const ComponentSpec *> textEncoders() const;
  /// Latent positions the denoiser sees per image: H W, or (H/p)(W/p)
  /// tokens when packed.
  int64_t latentPositions() const;
  /// How many times the denoiser sees each image: 2 under CFG.
  int guidanceCopies() const;
  /// Channels per latent position: C, or C p p for packed tokens.
  int64_t latentChannels() const;
  /// `batch` latents in this layout with `perPosition` channels:
  /// [B, perPosition, H, W], or [B, (H/p)(W/p), perPosition] packed.
  std::vector<int64_t> latentShape(int64_t batch, int64_t perPosition) const;
  /// Turns `n` final latents into the decoder's input, in place, in float32
  /// as the pipeline class does: latents / scaling_factor + shift_factor
  /// (FluxPipeline, SD3, SD), or 1 / scaling_factor * latents + shift_factor
  /// for DiTPipeline, which multiplies by the reciprocal (its VAEs have no
  /// shift); with latent statistics latents * std / scaling_factor + mean
  /// per channel of [N, C, H, W] image latents (SDXL).
  void toDecoderInput(float *latents, int64_t n) const;

  /// Decodes and checks `p.pipeline()`; throws fresco::Error prefixed with
  /// "invalid plan NAME: pipeline".
  static PipelineSpec fromPlan(const plan::Plan &p, const std::string &name);
};

/// The load-time check: PipelineSpec::fromPlan without keeping the result.
void verifyPipeline(const plan::Plan &p, const std::string &name);

/// What this runtime cannot run in `spec` ("text conditioning is not
/// implemented yet ..."), or nothing when it can generate with it.
std::optional<std::string> generationSupport(const PipelineSpec &spec);

} // namespace fresco

#endif // FRESCO_RUNTIME_PIPELINE_PIPELINESPEC_H
