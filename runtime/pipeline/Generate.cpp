//===- Generate.cpp - The sampling loop of a compiled pipeline ------------===//
#include "runtime/pipeline/Generate.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/ImageToImage.h"
#include "runtime/pipeline/Inpaint.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/PipelineNames.h"
#include "runtime/pipeline/Scheduler.h"
#include "runtime/pipeline/TorchGenerator.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>

namespace fresco {
namespace {

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

HostTensor makeTensor(DType dtype, std::vector<int64_t> shape) {
  HostTensor t;
  t.dtype = dtype;
  t.shape = std::move(shape);
  t.data.resize(t.numel() * dtypeSize(dtype));
  return t;
}

bool contains(const std::vector<int> &ranks, int rank) {
  return std::find(ranks.begin(), ranks.end(), rank) != ranks.end();
}

/// The initial latents of the n images: given, or seeded noise (a torch
/// generator's draw when there is one: the [n, C, h, w] grid, put in the
/// latent layout); times init_noise_sigma as diffusers' prepare_latents does
/// (1 for DDIM/DPM).
HostTensor initialLatents(const LatentLayout &layout, int64_t n,
                          const GenerateOptions &o, double initNoiseSigma,
                          const std::vector<float> &torchNoise) {
  HostTensor latents = makeTensor(DType::F32, layout.shape(n));
  float *lat = latents.as<float>();
  if (o.initialLatents) {
    const HostTensor &init = *o.initialLatents;
    check(init.dtype == DType::F32 && init.shape == latents.shape,
          "--latents must be f32 ", shapeToString(latents.shape), ", got ",
          dtypeName(init.dtype), shapeToString(init.shape));
    requireFiniteInput(init, "--latents");
    std::memcpy(lat, init.data.data(), latents.data.size());
  } else if (!torchNoise.empty()) {
    const int64_t m = layout.imageSize();
    for (int64_t i = 0; i < n; ++i)
      layout.fromEncoder(torchNoise.data() + i * m, lat + i * m);
  } else {
    for (int64_t i = 0; i < n; ++i)
      layout.noise(o.seed, i, lat + i * layout.imageSize());
  }
  const float sigma = float(initNoiseSigma);
  if (sigma != 1.0f)
    for (int64_t i = 0; i < latents.numel(); ++i)
      lat[i] *= sigma;
  return latents;
}

/// What diffusers' classes draw from a torch generator before the loop, in
/// their order (--generator torch); each empty when not drawn.
struct TorchDraws {
  std::vector<float> imageSample;  // the init image's latent_dist.sample
  std::vector<float> noise;        // prepare_latents' randn_tensor
  std::vector<float> maskedSample; // prepare_mask_latents' encode
};

/// m values per image, n images. The img2img and inpaint classes encode a
/// pixel init image by sampling (an inpainting UNet at strength 1 skips it),
/// then draw the noise (SDXL's img2img not with denoising_start; its
/// inpaint class does), then the inpaint classes encode the masked image
/// (for a 4-channel denoiser too, which does not read it).
struct DrawCase {
  bool inpaint, maskedUNet, pureNoise, addNoise;
  /// A generator list on SD's and SDXL's img2img classes: the image is
  /// repeated and image i sampled with generator i (elsewhere
  /// _encode_vae_image samples the one-image batch with generator 0).
  bool samplePerImage;
};
TorchDraws drawLikeDiffusers(std::vector<TorchGenerator> &gens,
                             const GenerateOptions &o, int64_t n, int64_t m,
                             DrawCase c) {
  TorchDraws d;
  // randn_tensor of n images: one draw from a single generator, or each
  // image's from its own; a one-image encode samples with generator 0.
  auto each = [&](std::vector<float> &v) {
    v.resize(n * m);
    if (gens.size() == 1)
      gens.front().randn(v.data(), n * m);
    else
      for (int64_t i = 0; i < n; ++i)
        gens[size_t(i)].randn(v.data() + i * m, m);
  };
  auto first = [&](std::vector<float> &v) {
    v.resize(m);
    gens.front().randn(v.data(), m);
  };
  if (o.initImage && !(c.maskedUNet && c.pureNoise))
    gens.size() > 1 && c.samplePerImage ? each(d.imageSample)
                                        : first(d.imageSample);
  if (!o.initialLatents && (c.addNoise || c.inpaint))
    each(d.noise);
  if (c.inpaint && o.initImage)
    first(d.maskedSample);
  return d;
}

/// The denoiser's inputs, allocated as its signature says; the parts fill
/// the conditioning once, the loop the latents and timestep every step.
struct DenoiserInputs {
  std::vector<HostTensor> tensors;
  int latents = -1, timestep = -1, controlScale = -1;
};

DenoiserInputs denoiserInputs(const ComponentSpec &den, Executor &exec,
                              const BatchLayout &batch,
                              const Conditioning &conditioning,
                              const LatentLayout &layout,
                              const Guidance &guidance,
                              const ControlOptions &control,
                              const std::vector<float> &controlLatents) {
  DenoiserInputs in;
  const std::vector<TensorSpec> &specs = exec.inputs(den.function);
  for (size_t k = 0; k < den.inputs.size(); ++k) {
    in.tensors.push_back(makeTensor(specs[k].dtype, specs[k].shape));
    plan::TensorRole role = den.inputs[k];
    if (role == plan::TensorRole::Latents)
      in.latents = int(k);
    else if (role == plan::TensorRole::Timestep)
      in.timestep = int(k);
    else if (role == plan::TensorRole::ControlScale)
      in.controlScale = int(k);
    else if (role == plan::TensorRole::ControlImage)
      fillControlImage(control, in.tensors[k]);
    else if (role == plan::TensorRole::ControlLatents)
      fillRows(controlLatents, in.tensors[k]);
    else if (role == plan::TensorRole::ControlMode)
      fillControlModes(control, in.tensors[k]);
    else if (!conditioning.fill(role, batch, guidance.guided(),
                                in.tensors[k]) &&
             !layout.fill(role, batch, in.tensors[k]) &&
             !guidance.fill(role, batch, in.tensors[k]))
      fail("the denoiser input '", pipeline_names::name(role),
           "' is not implemented yet in this runtime");
  }
  return in;
}

/// Fails naming the step when an image's output is not finite: diffusers
/// would carry NaN into a black image. Padded rows are not looked at.
void checkFinite(const HostTensor &out, const BatchLayout &batch,
                 int64_t rowSize, int step, DType storage) {
  int64_t bad = 0;
  const float *v = out.as<float>();
  for (int b = 0; b < batch.copies; ++b)
    for (int64_t i = 0; i < batch.images; ++i) {
      const float *row = v + batch.row(b, i) * rowSize;
      for (int64_t k = 0; k < rowSize; ++k)
        bad += !std::isfinite(row[k]);
    }
  check(bad == 0, "denoising step ", step + 1, ": the denoiser's output has ",
        bad, " non-finite values of ", batch.images * batch.copies * rowSize,
        storage == DType::F16
            ? " (an overflow: f16 storage ends at 65504, try --dtype "
              "bf16 or f32; or a damaged checkpoint)"
            : " (an overflow, or a damaged checkpoint)");
}

/// An image through the VAE encoder ([n, C, h, w], scaled: image-to-image's
/// init image, a Flux ControlNet's control image) on the denoiser ranks: those
/// holding the VAE encoder run it; the first rank holding it runs it too and
/// sends it to the denoiser ranks without it (as the text encoders' outputs).
/// Empty on the other ranks.
std::optional<HostTensor>
encodedImage(const PipelineSpec &p, Executor &exec, const HostTensor &pixels,
             int64_t n, const RankRoles &roles, bool denoises, int tag,
             const std::vector<float> &sample, bool shift = true) {
  const ComponentSpec &enc = *p.find(plan::ComponentRole::Encoder);
  bool missing = false; // a denoiser rank without the encoder
  for (int r : roles.denoiserRanks)
    missing = missing || !contains(enc.ranks, r);
  const int source = enc.ranks.front();
  std::optional<HostTensor> init;
  if (contains(enc.ranks, roles.rank) &&
      (denoises || (roles.rank == source && missing)))
    init = encodeInitImage(
        p, exec, pixels, n, sample.empty() ? nullptr : sample.data(),
        std::max<int64_t>(1, int64_t(sample.size()) /
                                 (p.channels * p.height * p.width)),
        shift);
  if (!missing)
    return init;
  if (denoises && !init)
    init = makeTensor(DType::F32, {n, p.channels, p.height, p.width});
  HostTensor none;
  handOver(roles, init ? *init : none, source, enc.ranks, roles.denoiserRanks,
           tag, "the VAE encoder '" + enc.function + "'");
  return init;
}

/// Inpainting after step `step`: where the mask is 0 the latents become
/// the init image's, noised to the next timestep (the last step: not
/// noised), as the inpaint classes compute it in float32: (1 - mask) *
/// proper + mask * latents.
void keepUnmasked(const Scheduler &scheduler,
                  const std::vector<float> &imageLatents,
                  const std::vector<float> &noise,
                  const std::vector<float> &mask, float *lat, int step, int end,
                  std::vector<float> &proper) {
  const int64_t total = int64_t(imageLatents.size()), m = int64_t(mask.size());
  if (step + 1 < end)
    scheduler.addNoise(imageLatents.data(), noise.data(), proper.data(), total,
                       step + 1);
  else
    proper = imageLatents;
  for (int64_t i = 0; i < total; ++i) {
    const float k = mask[i % m];
    const float kept = (1.0f - k) * proper[i], made = k * lat[i];
    lat[i] = kept + made;
  }
}

/// --generator torch where diffusers' draws can be followed.
void checkTorchGenerator(const PipelineSpec &p, const Scheduler &scheduler,
                         const GenerateOptions &o, bool imageToImage) {
  const DType dtype = o.torchDType;
  check(o.seeds.empty() || !o.initImage || o.mask ||
            p.kind != "StableDiffusion3Pipeline",
        "--seed with one seed per image (a generator list) is not "
        "implemented for StableDiffusion3Img2ImgPipeline (diffusers 0.31 "
        "encodes image[i:i+1] of the one-image batch for every generator); "
        "give one seed");
  // Fresco's --latents with an init image is the noise add_noise mixes in;
  // diffusers' latents= skips drawing (or encoding) in class-specific ways.
  check(!(imageToImage && o.initialLatents),
        "--generator torch with --latents and an init image: the noise is "
        "given, and diffusers' classes given latents= draw differently from "
        "one another; drop --latents (the generator draws the noise) or use "
        "--generator fresco");
  const ComponentSpec *enc = p.find(plan::ComponentRole::Encoder);
  check(!o.initImage || (enc && enc->outputs.size() == 2),
        "--generator torch samples the VAE encoder's latent distribution as "
        "diffusers does, and this plan's encoder has no latent_logvar "
        "output (its mean only)");
  // SDXL's classes sample the encoder in float32 when the VAE's config says
  // force_upcast, which the plan does not record.
  check(dtype == DType::F32 || !o.initImage || !p.isSDXL(),
        "--generator torch-", dtypeName(dtype),
        " with an init image on an SDXL plan: diffusers' SDXL classes draw "
        "the VAE encoder's sample in float32 or in the pipeline's dtype "
        "depending on the VAE's force_upcast, which the plan does not "
        "record; use --generator torch, or give the noise with --latents");
  check(!(p.kind == "DiTPipeline" && scheduler.drawsStepNoise()),
        "--generator torch: DiTPipeline passes no generator to its "
        "scheduler's step (and steps both guidance halves), so '",
        scheduler.name(),
        "'s step noise has no diffusers stream to follow; use a "
        "deterministic scheduler or --generator fresco");
}

/// The supported schedulers for noise-predicting denoisers, for messages.
std::string noisePredictingSchedulers() {
  std::string out;
  for (const std::string &name : supportedSchedulers())
    if (!createScheduler(name, "{}")->flowMatching())
      out += (out.empty() ? "" : ", ") + name;
  return out;
}

} // namespace

void handOver(const RankRoles &roles, HostTensor &t, int source,
              const std::vector<int> &holders, const std::vector<int> &readers,
              int tag, const std::string &what) {
  for (int r : readers) {
    if (contains(holders, r))
      continue;
    check(roles.world != nullptr, what,
          " runs on another rank but there is no communicator");
    if (roles.rank == source)
      roles.world->send(t.data.data(), t.data.size(), r, tag);
    else if (roles.rank == r)
      roles.world->recv(t.data.data(), t.data.size(), source, tag);
  }
}

RankRoles rankRoles(const PipelineSpec &spec, int rank, Communicator *world) {
  RankRoles roles;
  roles.rank = rank;
  roles.world = world;
  roles.denoiserRanks = spec.find(plan::ComponentRole::Denoiser)->ranks;
  roles.decoderRanks = spec.find(plan::ComponentRole::Decoder)->ranks;
  return roles;
}

GenerateResult generate(const PipelineSpec &p, Executor &exec,
                        const GenerateOptions &o, const RankRoles &roles) {
  if (std::optional<std::string> why = generationSupport(p))
    fail(*why);
  if (!o.schedulerConfig.empty()) {
    // Every reader of the config (the scheduler, Flux's mu, SDXL's
    // cutoffs) sees the keys set.
    PipelineSpec q = p;
    q.schedulerConfig =
        withConfigOverrides(o.scheduler.empty() ? p.scheduler : o.scheduler,
                            p.schedulerConfig, o.schedulerConfig);
    GenerateOptions rest = o;
    rest.schedulerConfig.clear();
    return generate(q, exec, rest, roles);
  }
  const bool denoises = contains(roles.denoiserRanks, roles.rank);
  const bool decodes = contains(roles.decoderRanks, roles.rank);
  // Image-to-image: the img2img class's defaults.
  check(!(o.initImage && o.initImageLatents),
        "give --image or --image-latents, not both");
  const bool i2i = o.initImage != nullptr || o.initImageLatents != nullptr;
  if (!i2i)
    checkTextToImage(p);
  const bool inpaint = o.mask != nullptr;
  if (inpaint) {
    check(i2i, "--mask (inpainting) needs the init image: give --image (or "
               "--image-latents)");
    checkMask(p, *o.mask);
  }
  checkInpaintingUNet(p, inpaint);
  // An inpainting UNet reads the mask and the masked image's latents; a
  // plain denoiser inpaints by putting the image back after every step.
  const bool maskedUNet = p.maskChannels > 0, blend = inpaint && !maskedUNet;
  check(!maskedUNet || o.initImage != nullptr,
        "an inpainting UNet reads the masked image's latents, encoded from "
        "the image's pixels: give --image, not --image-latents");
  const Task task = inpaint ? Task::Inpainting
                    : i2i   ? Task::ImageToImage
                            : Task::TextToImage;
  checkControl(p, o.control, task);
  // The ControlNet Img2Img classes have neither denoising_start nor _end;
  // StableDiffusionXLControlNetInpaintPipeline has both.
  check(p.controlImage.empty() || !i2i || task == Task::Inpainting ||
            (std::isnan(o.denoisingStart) && std::isnan(o.denoisingEnd)),
        "--denoising-start and --denoising-end are not parameters of the "
        "ControlNet image-to-image classes "
        "(StableDiffusionXLControlNetImg2ImgPipeline)");
  // StableDiffusionXLControlNetInpaintPipeline masks the image's pixels
  // (it has no latents path) and has no negative micro-conditioning: its
  // negative time ids are the prompts'.
  if (!p.controlImage.empty() && inpaint && p.isSDXL()) {
    check(o.initImage != nullptr,
          "inpainting with a ControlNet masks the init image's pixels "
          "(StableDiffusionXLControlNetInpaintPipeline takes no latents): "
          "give --image, not --image-latents");
    const MicroConditioning &m = o.microConditioning;
    check(!m.negativeOriginalSize && !m.negativeCropsTopLeft &&
              !m.negativeTargetSize,
          "--negative-original-size, --negative-crops-coords-top-left and "
          "--negative-target-size are not parameters of "
          "StableDiffusionXLControlNetInpaintPipeline (its negative time ids "
          "are the prompts')");
  }
  ControlOptions control = o.control;
  if (control.scales.empty())
    control.scales = {defaultControlScale(p, task)};
  checkDenoisingRange(p, o.denoisingStart, o.denoisingEnd, i2i);
  // denoising_start: the image is not noised (prepare_latents' add_noise).
  const bool addNoise = std::isnan(o.denoisingStart);
  check(addNoise || std::isnan(o.strength),
        "--strength does not apply with --denoising-start (the schedule "
        "starts at its cutoff; diffusers ignores the strength)");
  checkAestheticScore(p, o.aestheticScore, "--aesthetic-score");
  checkAestheticScore(p, o.negativeAestheticScore,
                      "--negative-aesthetic-score");
  checkMicroConditioning(p, o.microConditioning, i2i);
  const int steps = o.steps ? o.steps : p.defaultSteps(task);
  const double scale = std::isnan(o.guidanceScale)
                           ? p.defaultGuidanceScale(task)
                           : o.guidanceScale;
  std::unique_ptr<Conditioning> conditioning = makeConditioning(p, o);
  std::unique_ptr<LatentLayout> layout = makeLatentLayout(p);
  checkGuidanceRescale(p, o.guidanceRescale, task);
  std::unique_ptr<Guidance> guidance =
      makeGuidance(p, scale, o.guidanceRescale);
  if (o.initImageLatents)
    checkImageLatents(p, *o.initImageLatents, conditioning->numImages());
  check(steps >= 1 && steps <= 10000, "--steps must be in 1..10000, got ",
        steps);
  // Plan-wide (the loader ties fresh_steps to the plan's StaleGathers): a
  // pipeline stage without self-attention holds none on its ranks.
  const bool stale = p.freshSteps >= 1;
  if (o.freshSteps >= 0) {
    check(o.freshSteps >= 1, "--fresh-steps must be at least 1, got ",
          o.freshSteps,
          " (the first step has no previous one to read stale blocks from)");
    check(stale, "--fresh-steps: the plan has no patch axis and no "
                 "warm-up function (compile with fresco-compile --parallel "
                 "patch=P or pipefusion=S)");
  }
  const int freshSteps = o.freshSteps >= 0 ? o.freshSteps : p.freshSteps;

  std::string schedulerName = o.scheduler.empty() ? p.scheduler : o.scheduler;
  std::unique_ptr<Scheduler> scheduler =
      createScheduler(schedulerName, p.schedulerConfig);
  // The Stable Diffusion classes pass their eta to a step that takes one
  // (DDIM, TCD); DiT, SD3 and Flux pass none, so such a step runs at its
  // own default (TCD's 0.3, stochastic).
  const bool passesEta = p.kind == "StableDiffusionPipeline" || p.isSDXL();
  if (o.eta != 0) {
    check(passesEta,
          "--eta (the pipelines' eta) is a parameter of the Stable Diffusion "
          "1/2 and SDXL classes; this plan is a ",
          p.kind);
    scheduler->setEta(o.eta);
  } else if (!passesEta && scheduler->takesEta()) {
    scheduler->setEta(scheduler->stepDefaultEta());
  }
  // A flow-matching step reads the denoiser's output as a velocity, the
  // others as noise: the wrong kind gives garbage.
  check(!scheduler->flowMatching() || p.flowPrediction, "scheduler '",
        schedulerName,
        "' is a flow-matching sampler: it needs a denoiser that predicts a "
        "flow velocity (Flux, SD3), and pipeline '",
        p.kind, "' predicts noise; use one of ", noisePredictingSchedulers());
  check(scheduler->flowMatching() || !p.flowPrediction, "scheduler '",
        schedulerName, "' predicts noise, and pipeline '", p.kind,
        "' predicts a flow velocity: use FlowMatchEulerDiscreteScheduler");
  if (p.timesteps == plan::TimestepSchedule::FluxShifted)
    scheduler->setTimestepsWith(
        steps,
        fluxTimestepOptions(p.schedulerConfig, steps, p.latentPositions()));
  else
    scheduler->setTimesteps(steps);
  // SDXL's cutoffs count order-2 steps in a way of their own (diffusers adds
  // one call when the count is even): not replayed.
  check(scheduler->order() == 1 ||
            (std::isnan(o.denoisingStart) && std::isnan(o.denoisingEnd)),
        "--denoising-start and --denoising-end are not implemented for ",
        scheduler->name(),
        ", whose steps take two model calls; use a first-order scheduler");
  // The cutoffs compare timesteps with num_train_timesteps; the EDM classes'
  // timesteps are log(sigma) / 4, which diffusers compares all the same.
  const bool edm = scheduler->name().rfind("EDM", 0) == 0;
  check(!edm || (std::isnan(o.denoisingStart) && std::isnan(o.denoisingEnd)),
        "--denoising-start and --denoising-end are not implemented for ",
        scheduler->name(),
        ", whose timesteps are log(sigma) / 4, not training timesteps");
  // Image-to-image runs the schedule from `begin` on (SDXL's
  // denoising_start: from its cutoff); denoising_end stops it at `end`.
  int begin = 0;
  // The inpaint classes start from pure noise at strength 1 (their
  // is_strength_max), where the img2img classes still call add_noise.
  bool pureNoise = false;
  if (i2i) {
    const double strength =
        std::isnan(o.strength) ? p.defaultStrength(task) : o.strength;
    pureNoise = inpaint && strength == 1.0;
    const size_t length = scheduler->timesteps().size();
    // From latents (SDXL only) no encoder is needed: SD's rule, unchecked.
    begin =
        !addNoise
            ? denoisingStartBegin(p, o.denoisingStart, scheduler->timesteps())
        : o.initImage
            ? imageToImageBegin(p, steps, strength, length, scheduler->order())
            : imageToImageBegin(steps, strength, length, scheduler->order());
    scheduler->setBeginIndex(begin); // fails for a scheduler without it
  }
  const int end =
      std::isnan(o.denoisingEnd)
          ? int(scheduler->timesteps().size())
          : denoisingEndIndex(p, o.denoisingEnd, scheduler->timesteps(), begin);

  const int64_t n = conditioning->numImages();
  const int64_t m = layout->imageSize(); // values per image
  // --generator torch: every rank draws what diffusers draws, in its order.
  std::vector<TorchGenerator> torch;
  TorchDraws draws;
  check(o.seeds.empty() || o.generator == NoiseGenerator::Torch,
        "--seed with several seeds (one generator per image) needs "
        "--generator torch");
  if (o.generator == NoiseGenerator::Torch) {
    checkTorchGenerator(p, *scheduler, o, i2i);
    check(o.seeds.empty() || int64_t(o.seeds.size()) == n, "--seed gives ",
          o.seeds.size(), " seeds (one generator per image) for ", n,
          " images");
    for (uint64_t s : o.seeds.empty() ? std::vector<uint64_t>{o.seed} : o.seeds)
      torch.emplace_back(s, o.torchDType);
    const bool perImage =
        !inpaint && (p.kind == "StableDiffusionPipeline" || p.isSDXL());
    draws = drawLikeDiffusers(
        torch, o, n, m, {inpaint, maskedUNet, pureNoise, addNoise, perImage});
  }
  scheduler->setStepNoise({o.seed, m, torch.empty() ? nullptr : &torch});
  const BatchLayout batch{n, p.numImages, guidance->copies()};
  // Without a torch noise draw (SDXL's denoising_start) the seeded noise
  // is made and not read.
  HostTensor latents = initialLatents(
      *layout, n, o, i2i ? 1.0 : scheduler->initNoiseSigma(), draws.noise);
  float *lat = latents.as<float>();
  // Inpainting: the noise add_noise mixes into the init image every step,
  // the init image's latents, and the mask in the latent layout.
  std::vector<float> noise, imageLatents, latentMask;
  if (blend && denoises) {
    noise.assign(lat, lat + n * m);
    std::vector<float> grid;
    const std::vector<float> plane = nearestMask(*o.mask, p.height, p.width);
    for (int64_t c = 0; c < p.channels; ++c)
      grid.insert(grid.end(), plane.begin(), plane.end());
    latentMask.resize(m);
    layout->fromEncoder(grid.data(), latentMask.data());
  }
  // The inpaint classes start from pure noise at strength 1 (their
  // is_strength_max), times init_noise_sigma.
  if (pureNoise) {
    const float sigma = float(scheduler->initNoiseSigma());
    for (int64_t i = 0; i < n * m; ++i)
      lat[i] *= sigma;
  }

  GenerateResult result;
  result.scheduler = scheduler->name();
  auto t0 = std::chrono::steady_clock::now();
  // Every rank: the text encoders run where they are placed.
  conditioning->prepare(exec, roles);
  // An inpainting UNet's extra input channels, the same in every row: the
  // mask on the latent grid and the masked image's latents.
  std::vector<float> maskedInput;
  if (maskedUNet) {
    const HostTensor masked = maskedImage(*o.initImage, *o.mask);
    std::optional<HostTensor> z = encodedImage(p, exec, masked, n, roles,
                                               denoises, 9, draws.maskedSample);
    if (denoises) {
      maskedInput = nearestMask(*o.mask, p.height, p.width);
      maskedInput.insert(maskedInput.end(), z->as<float>(), z->as<float>() + m);
    }
  }
  // At strength 1 an inpainting UNet starts from pure noise and never
  // reads the init image's latents.
  if (i2i && !(maskedUNet && pureNoise)) {
    // The encoded image, or the latents given as the image (every rank
    // has them; one image's for all when there is one).
    std::optional<HostTensor> init;
    if (o.initImage)
      init = encodedImage(p, exec, *o.initImage, n, roles, denoises, 8,
                          draws.imageSample);
    else if (denoises)
      init = *o.initImageLatents;
    if (denoises) {
      // latents = add_noise(init_latents, noise, timesteps[begin]) (SD3,
      // Flux: scale_noise), in the latent layout (elementwise: packing
      // commutes); with denoising_start the init latents themselves.
      std::vector<float> start(n * m);
      const int64_t grid = init->numel() / init->shape[0];
      for (int64_t i = 0; i < n; ++i)
        layout->fromEncoder(init->as<float>() +
                                (init->shape[0] == 1 ? 0 : i) * grid,
                            start.data() + i * m);
      if (!pureNoise && addNoise)
        scheduler->addNoise(start.data(), lat, lat, latents.numel(), begin);
      else if (!pureNoise)
        std::memcpy(lat, start.data(), start.size() * sizeof(float));
      if (blend)
        imageLatents = std::move(start);
    }
  }
  // Flux and SD3 ControlNets: each control image through the VAE encoder
  // (its mean, scaled as the class scales it: SD3's without the shift), in
  // the latent layout, the K nets' side by side per token (Flux) or in the
  // channels (SD3: one "token" of a whole image). SD3's inpainting net
  // reads the control image masked to -1, shifted, and then 1 - the mask
  // on the latent grid as one more channel.
  std::vector<float> controlLatents;
  if (p.controlLatents) {
    const size_t nets = control.images.size();
    const bool tokenized = p.layout == plan::LatentLayout::PackedTokens;
    const int64_t keep = p.controlMaskChannels ? p.height * p.width : 0;
    const int64_t tokens = tokenized ? p.latentPositions() : 1,
                  per = tokenized ? p.latentChannels() : m + keep;
    if (denoises)
      controlLatents.resize(size_t(tokens * per) * nets);
    std::vector<float> packed(denoises ? size_t(m + keep) : 0);
    for (size_t k = 0; k < nets; ++k) {
      HostTensor pixels = encoderPixels(*control.images[k]);
      if (control.mask)
        pixels = maskedControlPixels(pixels, *control.mask);
      std::optional<HostTensor> z =
          encodedImage(p, exec, pixels, 1, roles, denoises, 10 + int(k), {},
                       controlLatentsShifted(p));
      if (!denoises)
        continue;
      layout->fromEncoder(z->as<float>(), packed.data());
      if (keep)
        controlMaskChannel(*control.mask, p.height, p.width, packed.data() + m);
      interleaveControlLatents(packed.data(), k, nets, tokens, per,
                               controlLatents.data());
    }
  }
  result.encodeSeconds = since(t0);
  t0 = std::chrono::steady_clock::now();
  if (denoises) {
    const ComponentSpec &den = *p.find(plan::ComponentRole::Denoiser);
    DenoiserInputs in = denoiserInputs(den, exec, batch, *conditioning, *layout,
                                       *guidance, control, controlLatents);
    const int64_t rowSize = layout->predictionRowSize();
    std::vector<std::vector<float>> blocks(batch.copies, std::vector<float>(m));
    std::vector<const float *> blockPtrs;
    for (const std::vector<float> &b : blocks)
      blockPtrs.push_back(b.data());
    std::vector<float> prediction(n * m);
    std::vector<float> proper(imageLatents.size()); // inpainting's scratch
    const std::vector<double> &timesteps = scheduler->timesteps();
    // Each row of the latents input: an image's latents, then (an
    // inpainting UNet) the extra channels, written once.
    const int64_t rowIn = m + int64_t(maskedInput.size());
    float *x = in.tensors[in.latents].as<float>();
    check(in.tensors[in.latents].numel() == batch.rows() * rowIn,
          "the denoiser's latents input is ",
          shapeToString(in.tensors[in.latents].shape), ", expected ",
          batch.rows(), " rows of ", rowIn, " values");
    for (int64_t r = 0; r < batch.rows() && !maskedInput.empty(); ++r)
      std::memcpy(x + r * rowIn + m, maskedInput.data(),
                  maskedInput.size() * sizeof(float));
    for (int step = begin; step < end; ++step) {
      auto ts = std::chrono::steady_clock::now();
      for (int64_t r = 0; r < batch.rows(); ++r) {
        std::memcpy(x + r * rowIn, lat + batch.image(r) * m, m * sizeof(float));
        scheduler->scaleModelInput(x + r * rowIn, m, step);
      }
      // In f32 as the pipelines compute it (FluxPipeline: timestep / 1000).
      const float t = float(timesteps[step]) / float(p.timestepDivisor);
      if (in.timestep >= 0)
        for (int64_t r = 0; r < batch.rows(); ++r)
          in.tensors[in.timestep].as<float>()[r] = t;
      // controlnet_keep over the steps that run (image-to-image's too;
      // denoising_end's cut comes after it).
      if (in.controlScale >= 0)
        fillControlScales(control, batch, guidance->guided(), step - begin,
                          int64_t(timesteps.size()) - begin,
                          in.tensors[in.controlScale]);
      // patch=P: the first steps exchange their blocks, later ones read
      // the previous step's (a no-op for a denoiser without StaleGathers).
      // pipefusion: the fresh steps run the warm-up twin, which fills the
      // caches the patched denoiser reads.
      const bool fresh = step - begin < freshSteps;
      const RunMode mode = fresh ? RunMode::Fresh : RunMode::Stale;
      const std::string &fn =
          fresh && !p.warmupFunction.empty() ? p.warmupFunction : den.function;
      std::vector<HostTensor> out = exec.run(fn, in.tensors, mode);
      check(out.size() == 1 && out[0].numel() == batch.rows() * rowSize,
            "the denoiser returned ",
            out.empty() ? std::string("nothing") : shapeToString(out[0].shape),
            ", expected ", batch.rows(), " rows of ", rowSize, " values");
      checkFinite(out[0], batch, rowSize, step, exec.floatStorage());
      for (int64_t i = 0; i < n; ++i) {
        for (int b = 0; b < batch.copies; ++b)
          layout->prediction(out[0].as<float>() + batch.row(b, i) * rowSize,
                             blocks[b].data());
        guidance->combine(blockPtrs, prediction.data() + i * m, m);
      }
      scheduler->step(prediction.data(), lat, n * m, step);
      if (blend)
        keepUnmasked(*scheduler, imageLatents, noise, latentMask, lat, step,
                     end, proper);
      if (o.onStep)
        o.onStep(step + 1 - begin, end - begin, since(ts));
    }
    result.denoiseSeconds = since(t0);
    result.steps = end - begin;
    if (stale)
      result.freshSteps = std::min(freshSteps, result.steps);
  }

  // Placement: decoder ranks without the denoiser get the latents from the
  // first denoiser rank.
  handOver(roles, latents, roles.denoiserRanks.front(), roles.denoiserRanks,
           roles.decoderRanks, 7, "the decoder");
  result.hasLatents = denoises || decodes;
  result.latents = latents;
  if (!decodes)
    return result;

  // The decoder's whole batch (padded as the denoiser's), unscaled (and
  // shifted) as the pipeline class computes it.
  auto t1 = std::chrono::steady_clock::now();
  const ComponentSpec &dec = *p.find(plan::ComponentRole::Decoder);
  const BatchLayout decoded{n, p.numImages, 1};
  const int64_t dm = layout->decoderImageSize();
  HostTensor z = makeTensor(DType::F32, exec.inputs(dec.function)[0].shape);
  check(z.numel() == decoded.rows() * dm, "the decoder takes ",
        shapeToString(z.shape), ", expected ", decoded.rows(), " images of ",
        dm, " values");
  float *zv = z.as<float>();
  for (int64_t r = 0; r < decoded.rows(); ++r)
    layout->toDecoder(lat + decoded.image(r) * m, zv + r * dm);
  p.toDecoderInput(zv, z.numel());
  std::vector<HostTensor> images = exec.run(dec.function, {z});
  check(images.size() == 1 && images[0].shape.size() == 4 &&
            images[0].shape[0] == decoded.rows(),
        "the decoder must return one [", decoded.rows(), ", C, H, W] tensor");
  // Only the n images asked for.
  HostTensor &all = images[0];
  all.shape[0] = n;
  all.data.resize(all.numel() * dtypeSize(all.dtype));
  requireFinite(all, "the decoder's output ('" + dec.function + "')");
  result.images = std::move(all);
  result.hasImages = true;
  result.decodeSeconds = since(t1);
  return result;
}

} // namespace fresco
