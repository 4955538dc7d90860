//===- ImageToImage.cpp - Start the loop from an encoded image ------------===//
#include "runtime/pipeline/ImageToImage.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/SchedulerUtils.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace fresco {
namespace {
/// The img2img classes of the flow-matching pipelines (FluxImg2ImgPipeline,
/// StableDiffusion3Img2ImgPipeline) cut the schedule with float t_start and
/// shift the encoder's mean; SD's and SDXL's do neither.
bool flowClass(const PipelineSpec &spec) {
  return spec.kind == "FluxPipeline" || spec.kind == "StableDiffusion3Pipeline";
}

void checkStrength(double strength) {
  check(std::isfinite(strength) && strength > 0 && strength <= 1,
        "--strength must be in (0, 1], got ", strength);
}
} // namespace

int imageToImageBegin(int numInferenceSteps, double strength,
                      size_t scheduleLength, int order) {
  checkStrength(strength);
  // init_timestep = min(int(steps * strength), steps); t_start = steps -
  // init_timestep; timesteps = scheduler.timesteps[t_start:].
  const int64_t init = std::min<int64_t>(
      int64_t(double(numInferenceSteps) * strength), numInferenceSteps);
  const int64_t begin = (numInferenceSteps - init) * order;
  check(init >= 1 && begin < int64_t(scheduleLength), "--strength ", strength,
        " of ", numInferenceSteps,
        " steps keeps no denoising step (int(steps * strength) is 0): raise "
        "--strength or --steps");
  return int(begin);
}

int flowImageToImageBegin(int numInferenceSteps, double strength,
                          size_t scheduleLength) {
  checkStrength(strength);
  // init_timestep = min(steps * strength, steps); t_start = int(max(steps -
  // init_timestep, 0)), Python floats; timesteps[t_start:].
  const double steps = double(numInferenceSteps);
  const double init = std::min(steps * strength, steps);
  const int64_t begin = int64_t(std::max(steps - init, 0.0));
  check(begin < numInferenceSteps && begin < int64_t(scheduleLength),
        "--strength ", strength, " of ", numInferenceSteps,
        " steps keeps no denoising step (int(steps - steps * strength) is ",
        begin, "): raise --strength or --steps");
  return int(begin);
}

int imageToImageBegin(const PipelineSpec &spec, int numInferenceSteps,
                      double strength, size_t scheduleLength, int order) {
  checkImageToImage(spec);
  if (flowClass(spec))
    return flowImageToImageBegin(numInferenceSteps, strength, scheduleLength);
  return imageToImageBegin(numInferenceSteps, strength, scheduleLength, order);
}

void checkImageToImage(const PipelineSpec &spec) {
  check(spec.kind == "StableDiffusionPipeline" || spec.isSDXL() ||
            flowClass(spec),
        "--image (image-to-image) is implemented for StableDiffusionPipeline, "
        "StableDiffusionXLPipeline, StableDiffusionXLImg2ImgPipeline, "
        "StableDiffusion3Pipeline and FluxPipeline plans only; this plan is "
        "a ",
        spec.kind);
  check(spec.find(plan::ComponentRole::Encoder) != nullptr,
        "--image needs the VAE encoder, and this plan has none: compile the "
        "pipeline folder with fresco-compile --vae-encoder");
}

int64_t denoisingCutoff(const PipelineSpec &spec, double fraction) {
  const sched::Config config(spec.scheduler, spec.schedulerConfig);
  const double train = double(config.getInt("num_train_timesteps", 1000));
  return int64_t(sched::npRound(train - fraction * train));
}

int denoisingStartBegin(const PipelineSpec &spec, double start,
                        const std::vector<double> &timesteps) {
  const int64_t cutoff = denoisingCutoff(spec, start);
  // num_inference_steps = (timesteps < cutoff).sum(); t_start = len - that.
  const int64_t below =
      std::count_if(timesteps.begin(), timesteps.end(),
                    [&](double t) { return t < double(cutoff); });
  check(below >= 1, "--denoising-start ", start,
        " keeps no denoising step: no timestep of the ", timesteps.size(),
        "-step schedule is below its cutoff ", cutoff,
        " (lower --denoising-start or raise --steps)");
  return int(int64_t(timesteps.size()) - below);
}

int denoisingEndIndex(const PipelineSpec &spec, double end,
                      const std::vector<double> &timesteps, int begin) {
  const int64_t cutoff = denoisingCutoff(spec, end);
  const int64_t kept =
      std::count_if(timesteps.begin() + begin, timesteps.end(),
                    [&](double t) { return t >= double(cutoff); });
  check(kept >= 1, "--denoising-end ", end,
        " keeps no denoising step: no timestep left to run is at or above "
        "its cutoff ",
        cutoff, " (raise --denoising-end or --steps)");
  return begin + int(kept);
}

void checkDenoisingRange(const PipelineSpec &spec, double start, double end,
                         bool imageToImage) {
  for (auto [v, flag] : {std::pair{start, "--denoising-start"},
                         std::pair{end, "--denoising-end"}}) {
    if (std::isnan(v))
      continue;
    check(spec.isSDXL(), flag,
          " (an ensemble of experts) is implemented for "
          "StableDiffusionXLPipeline and StableDiffusionXLImg2ImgPipeline "
          "plans only; this plan is a ",
          spec.kind);
    // diffusers ignores a value outside (0, 1); Fresco refuses it.
    check(v > 0 && v < 1, flag, " must be in (0, 1), got ", v);
  }
  check(std::isnan(start) || imageToImage,
        "--denoising-start applies to image-to-image (the refiner's half of "
        "an ensemble of experts): give --image-latents (a base run's "
        "--output-latents) or --image");
  check(std::isnan(start) || std::isnan(end) || start < end,
        "--denoising-start ", start, " must be below --denoising-end ", end);
}

void checkImageLatents(const PipelineSpec &spec, const HostTensor &latents,
                       int64_t n) {
  check(spec.isSDXL(),
        "--image-latents is implemented for StableDiffusionXLPipeline and "
        "StableDiffusionXLImg2ImgPipeline plans only; this plan is a ",
        spec.kind);
  const std::vector<int64_t> &s = latents.shape;
  check(latents.dtype == DType::F32 && s.size() == 4 &&
            (s[0] == n || s[0] == 1) && s[1] == spec.channels &&
            s[2] == spec.height && s[3] == spec.width,
        "--image-latents must be f32 [", n, n == 1 ? "" : " (or 1)", ", ",
        spec.channels, ", ", spec.height, ", ", spec.width,
        "] (the plan's latent grid), got ", dtypeName(latents.dtype),
        shapeToString(s));
  requireFiniteInput(latents, "--image-latents");
}

void checkTextToImage(const PipelineSpec &spec) {
  check(!spec.imageToImageOnly(), "pipeline '", spec.kind,
        "' is image-to-image only (diffusers' class takes no text-to-image "
        "call; an SDXL refiner refines an image): give --image (or, after a "
        "base run with --denoising-end, --image-latents)");
}

void checkAestheticScore(const PipelineSpec &spec, double given,
                         const char *flag) {
  check(std::isnan(given) || spec.aestheticScore, flag, ": pipeline '",
        spec.kind,
        "' takes no aesthetic score (its UNet's time ids are original size, "
        "crop corner and target size); it applies to an SDXL refiner, a "
        "StableDiffusionXLImg2ImgPipeline folder with "
        "requires_aesthetics_score true");
}

void checkInitImageSize(const PipelineSpec &spec, int64_t width,
                        int64_t height) {
  checkImageToImage(spec);
  const std::vector<int64_t> &in =
      spec.find(plan::ComponentRole::Encoder)->pixelShape;
  check(height == in[2] && width == in[3], "--image is ", width, "x", height,
        " pixels (width x height) but the plan was compiled for ", in[3], "x",
        in[2],
        " (fresco-compile --width/--height); Fresco does not resize: resize "
        "the image or compile the plan for its size");
}

bool controlLatentsShifted(const PipelineSpec &spec) {
  // StableDiffusion3ControlNetInpaintingPipeline shifts, its plain class
  // does not.
  return spec.kind != "StableDiffusion3Pipeline" ||
         spec.controlMaskChannels != 0;
}

HostTensor encodeInitImage(const PipelineSpec &spec, Executor &exec,
                           const HostTensor &pixels, int64_t n,
                           const float *sample, int64_t sampleImages,
                           bool shift) {
  const ComponentSpec &enc = *spec.find(plan::ComponentRole::Encoder);
  const TensorSpec &in = exec.inputs(enc.function).at(0);
  check(in.shape.size() == 4 && in.shape[0] >= n, "the encoder '", enc.function,
        "' takes ", shapeToString(in.shape), ", expected [", n, "+, 3, H, W]");
  check(pixels.dtype == DType::F32 && pixels.shape.size() == 4 &&
            pixels.shape[0] == 1 && pixels.shape[1] == in.shape[1],
        "the init image must be f32 [1, ", in.shape[1], ", H, W], got ",
        dtypeName(pixels.dtype), shapeToString(pixels.shape));
  checkInitImageSize(spec, pixels.shape[3], pixels.shape[2]);
  // Every row of the encoder's batch the same image (the pipeline repeats
  // it per prompt); floats cross the executor's boundary as f32.
  HostTensor x;
  x.dtype = DType::F32;
  x.shape = in.shape;
  x.data.resize(x.numel() * sizeof(float));
  for (int64_t r = 0; r < x.shape[0]; ++r)
    std::memcpy(x.data.data() + r * pixels.data.size(), pixels.data.data(),
                pixels.data.size());
  std::vector<HostTensor> out = exec.run(enc.function, {x});
  check((out.size() == 1 || out.size() == 2) && out[0].dtype == DType::F32 &&
            out.back().dtype == DType::F32,
        "the encoder '", enc.function,
        "' must return the f32 mean (and log-variance)");
  const std::vector<int64_t> want = {out[0].shape.at(0), spec.channels,
                                     spec.height, spec.width};
  for (const HostTensor &t : out)
    check(t.shape == want, "the encoder '", enc.function, "' returned ",
          shapeToString(t.shape), ", expected ", shapeToString(want));
  HostTensor mean = std::move(out[0]);
  requireFinite(mean, "the encoder's output ('" + enc.function + "')");
  mean.shape[0] = n;
  mean.data.resize(mean.numel() * sizeof(float));
  if (sample) {
    check(out.size() == 2, "the encoder '", enc.function,
          "' returns no log-variance to sample with");
    requireFinite(out[1],
                  "the encoder's log-variance ('" + enc.function + "')");
    // DiagonalGaussianDistribution in float32: std = exp(0.5 * clamp(logvar,
    // -30, 20)); x = mean + std * sample.
    const float *logVar = out[1].as<float>();
    float *v = mean.as<float>();
    check(sampleImages == 1 || sampleImages == n, "a latent sample of ",
          sampleImages, " images for ", n);
    const int64_t per = mean.numel() / n;
    for (int64_t r = 0; r < n; ++r)
      for (int64_t i = 0; i < per; ++i) {
        const float lv = std::min(std::max(logVar[r * per + i], -30.0f), 20.0f);
        const float half = 0.5f * lv;
        const float sd = std::exp(half);
        const float scaled = sd * sample[(sampleImages == 1 ? 0 : r) * per + i];
        v[r * per + i] += scaled;
      }
  }
  // SD, SDXL: init_latents = scaling_factor * init_latents (their classes
  // read no shift_factor); SDXL with latents_mean / latents_std: (latents -
  // mean) * scaling_factor / std per channel; Flux, SD3: (latents -
  // shift_factor) * scaling_factor. Python floats with a float32 tensor.
  const float scale = float(spec.scalingFactor);
  float *v = mean.as<float>();
  if (!spec.latentsMean.empty()) {
    const int64_t plane = spec.height * spec.width;
    for (int64_t i = 0; i < mean.numel(); ++i) {
      const size_t c = size_t((i / plane) % spec.channels);
      const float d = v[i] - float(spec.latentsMean[c]);
      const float s = d * scale;
      v[i] = s / float(spec.latentsStd[c]);
    }
  } else if (flowClass(spec) && shift) {
    const float by = float(spec.shiftFactor);
    for (int64_t i = 0; i < mean.numel(); ++i) {
      const float d = v[i] - by;
      v[i] = d * scale;
    }
  } else {
    for (int64_t i = 0; i < mean.numel(); ++i)
      v[i] = scale * v[i];
  }
  return mean;
}

} // namespace fresco
