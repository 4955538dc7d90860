//===- Generate.cpp - The sampling loop of a compiled pipeline ------------===//
#include "runtime/pipeline/Generate.h"
#include "runtime/core/Error.h"
#include "runtime/pipeline/Noise.h"
#include "runtime/pipeline/Scheduler.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

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

} // namespace

RankRoles rankRoles(const LoadedPlan &plan, int rank, Communicator *world) {
  RankRoles roles;
  roles.rank = rank;
  roles.world = world;
  roles.denoiserRanks.clear();
  roles.decoderRanks.clear();
  const plan::Pipeline *p = plan.plan().pipeline();
  check(p != nullptr, "the plan holds no pipeline");
  for (const plan::RankProgram *rp : *plan.plan().ranks())
    for (const plan::Function *f : *rp->functions()) {
      if (f->name()->str() == p->denoiser()->str())
        roles.denoiserRanks.push_back(rp->rank());
      if (f->name()->str() == p->decoder()->str())
        roles.decoderRanks.push_back(rp->rank());
    }
  check(!roles.denoiserRanks.empty() && !roles.decoderRanks.empty(),
        "the plan places its denoiser or decoder on no rank");
  return roles;
}

GenerateResult generate(const plan::Pipeline &p, Executor &exec,
                        const GenerateOptions &o, const RankRoles &roles) {
  auto isIn = [&](const std::vector<int> &ranks) {
    return std::find(ranks.begin(), ranks.end(), roles.rank) != ranks.end();
  };
  const bool denoises = isIn(roles.denoiserRanks);
  const bool decodes = isIn(roles.decoderRanks);
  check(p.kind() && p.kind()->str() == "DiTPipeline", "the plan's pipeline '",
        p.kind() ? p.kind()->str() : "", "' is not supported by this runtime");
  const int64_t B = p.num_images(), C = p.latent_channels(),
                S = p.latent_size();
  const int64_t n = C * S * S; // values per image
  check(int64_t(o.classLabels.size()) == B, "the plan generates ", B,
        " image(s) per run but ", o.classLabels.size(),
        " class label(s) were given; recompile with fresco-compile --batch ",
        o.classLabels.size());
  for (int64_t label : o.classLabels)
    check(label >= 0 && label < p.num_classes(), "class label ", label,
          " is out of range: this model has ", p.num_classes(), " classes (0..",
          p.num_classes() - 1, ")");
  check(o.steps >= 1 && o.steps <= 10000, "--steps must be in 1..10000, got ",
        o.steps);

  std::string schedulerName =
      o.scheduler.empty() ? p.scheduler()->str() : o.scheduler;
  std::unique_ptr<Scheduler> scheduler =
      createScheduler(schedulerName, p.scheduler_config()->str());
  scheduler->setTimesteps(o.steps);

  // Latents for the B images; the denoiser sees them twice with CFG.
  HostTensor latents = makeTensor(DType::F32, {B, C, S, S});
  float *lat = latents.as<float>();
  if (o.initialLatents) {
    const HostTensor &init = *o.initialLatents;
    check(init.dtype == DType::F32 && init.shape == latents.shape,
          "--latents must be f32 ", shapeToString(latents.shape), ", got ",
          dtypeName(init.dtype), shapeToString(init.shape));
    std::memcpy(lat, init.data.data(), latents.data.size());
  } else {
    for (int64_t b = 0; b < B; ++b)
      gaussianNoise(o.seed, b, lat + b * n, n);
  }
  // As diffusers' prepare_latents, for given latents too (1 for DDIM/DPM).
  const float sigma = float(scheduler->initNoiseSigma());
  if (sigma != 1.0f)
    for (int64_t i = 0; i < B * n; ++i)
      lat[i] *= sigma;

  const bool guided = o.guidanceScale > 1.0;
  const int64_t DB = p.cfg() ? 2 * B : B; // the denoiser's batch
  HostTensor modelIn = makeTensor(DType::F32, {DB, C, S, S});
  HostTensor tIn = makeTensor(DType::F32, {DB});
  HostTensor labelsIn = makeTensor(DType::I64, {DB});
  for (int64_t b = 0; b < DB; ++b)
    // The second half is the null class under guidance, and a copy of the
    // conditional half otherwise (its output is then unused).
    labelsIn.as<int64_t>()[b] = b < B    ? o.classLabels[b]
                                : guided ? p.num_classes()
                                         : o.classLabels[b - B];
  std::vector<float> modelOutput(B * n);
  const int64_t outC = p.learned_sigma() ? 2 * C : C;
  const float g = float(o.guidanceScale);

  GenerateResult result;
  result.scheduler = scheduler->name();
  auto t0 = std::chrono::steady_clock::now();
  const std::string denoiser = p.denoiser()->str();
  if (denoises) {
    const std::vector<double> &timesteps = scheduler->timesteps();
    for (int step = 0; step < int(timesteps.size()); ++step) {
      auto ts = std::chrono::steady_clock::now();
      float *in = modelIn.as<float>();
      for (int64_t r = 0; r < DB / B; ++r)
        std::memcpy(in + r * B * n, lat, B * n * sizeof(float));
      scheduler->scaleModelInput(in, DB * n, step);
      for (int64_t b = 0; b < DB; ++b)
        tIn.as<float>()[b] = float(timesteps[step]);
      std::vector<HostTensor> out =
          exec.run(denoiser, {modelIn, tIn, labelsIn});
      check(out.size() == 1 &&
                out[0].shape == std::vector<int64_t>{DB, outC, S, S},
            "the denoiser returned ",
            out.empty() ? std::string("nothing") : shapeToString(out[0].shape),
            ", expected ", shapeToString({DB, outC, S, S}));
      const float *np_ = out[0].as<float>();
      // diffusers would carry NaN into a black image; say what happened.
      int64_t bad = 0;
      for (int64_t i = 0; i < out[0].numel(); ++i)
        bad += !std::isfinite(np_[i]);
      check(bad == 0, "denoising step ", step + 1,
            ": the denoiser's output has ", bad, " non-finite values of ",
            out[0].numel(),
            exec.floatStorage() == DType::F16
                ? " (an overflow: f16 storage ends at 65504, try --dtype "
                  "bf16 or f32; or a damaged checkpoint)"
                : " (an overflow, or a damaged checkpoint)");
      const int64_t imageStride = outC * S * S; // eps is the first C channels
      for (int64_t b = 0; b < B; ++b) {
        const float *cond = np_ + b * imageStride;
        float *dst = modelOutput.data() + b * n;
        if (guided) {
          const float *uncond = np_ + (b + B) * imageStride;
          for (int64_t i = 0; i < n; ++i)
            dst[i] = uncond[i] + g * (cond[i] - uncond[i]);
        } else {
          std::memcpy(dst, cond, n * sizeof(float));
        }
      }
      scheduler->step(modelOutput.data(), lat, B * n, step);
      if (o.onStep)
        o.onStep(step + 1, int(timesteps.size()), since(ts));
    }
    result.denoiseSeconds = since(t0);
    result.steps = int(timesteps.size());
  }

  // Placement: decoder ranks without the denoiser get the latents from the
  // first denoiser rank.
  const int source = roles.denoiserRanks.front();
  for (int r : roles.decoderRanks) {
    if (std::find(roles.denoiserRanks.begin(), roles.denoiserRanks.end(), r) !=
        roles.denoiserRanks.end())
      continue;
    check(roles.world != nullptr,
          "the decoder runs on another rank but there is no communicator");
    if (roles.rank == source)
      roles.world->send(latents.data.data(), latents.data.size(), r, 7);
    else if (roles.rank == r)
      roles.world->recv(latents.data.data(), latents.data.size(), source, 7);
  }
  result.hasLatents = denoises || decodes;
  result.latents = latents;
  if (!decodes)
    return result;

  // 1 / scaling_factor as the pipeline computes it (a Python float, then a
  // float32 multiply).
  auto t1 = std::chrono::steady_clock::now();
  HostTensor z = latents;
  const float inv = float(1.0 / p.vae_scaling_factor());
  const float shift = float(p.vae_shift_factor());
  for (int64_t i = 0; i < z.numel(); ++i)
    z.as<float>()[i] = inv * z.as<float>()[i] + shift;
  std::vector<HostTensor> images = exec.run(p.decoder()->str(), {z});
  check(images.size() == 1, "the decoder must return one tensor");
  result.images = std::move(images[0]);
  result.hasImages = true;
  result.decodeSeconds = since(t1);
  return result;
}

} // namespace fresco
