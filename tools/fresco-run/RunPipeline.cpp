//===- RunPipeline.cpp - fresco-run: generate images ----------------------===//
#include "runtime/core/Error.h"
#include "runtime/core/Plan.h"
#include "runtime/core/Weights.h"
#include "runtime/io/Npy.h"
#include "runtime/io/Png.h"
#include "runtime/pipeline/Generate.h"
#include "runtime/pipeline/ImageToImage.h"
#include "runtime/pipeline/Inpaint.h"
#include "runtime/pipeline/Parts.h"
#include "runtime/pipeline/Progress.h"
#include "runtime/pipeline/Scheduler.h"
#include "runtime/pipeline/TimeIds.h"
#include "runtime/session/Session.h"
#include "tools/fresco-run/Options.h"
#include "tools/fresco-run/Profile.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>

namespace fresco::run {
namespace {

/// The 8-bit PNG `flag` names, as RGB; `want` says what to give instead of
/// one with alpha.
PngImage readEightBitPng(const std::string &path, const char *flag,
                         const char *want) {
  PngImage png = readPng(path);
  check(png.channels == 3, flag, " '", path,
        "' has an alpha channel (or transparency): give ", want);
  // PIL clips 16-bit gray to 255 where the decoder keeps the high byte:
  // the two would read other values.
  check(png.bitDepth <= 8, flag, " '", path, "' has ", png.bitDepth,
        " bits per sample: give an 8-bit image");
  return png;
}

/// --image read as the encoder's f32 [1, 3, H, W] in [-1, 1], its size
/// checked against the plan before any weight is read.
HostTensor readInitImage(const std::string &path, const PipelineSpec &spec) {
  checkImageToImage(spec);
  PngImage png = readEightBitPng(path, "--image", "an RGB image");
  checkInitImageSize(spec, png.width, png.height);
  HostTensor t;
  t.dtype = DType::F32;
  t.shape = {1, 3, png.height, png.width};
  t.data.resize(t.numel() * sizeof(float));
  rgbToImageFloats(png.pixels.data(), 3, png.height, png.width, t.as<float>());
  return t;
}

/// A --control-image read as f32 [1, 3, H, W] in [0, 1] (checkControl
/// checks it against the plan before any weight is read).
HostTensor readControlImage(const std::string &path) {
  PngImage png =
      readEightBitPng(path, "--control-image", "an RGB or gray image");
  return controlImage(png.pixels.data(), 3, png.height, png.width);
}

/// --mask read and binarized as diffusers' mask processor does, its size
/// checked against the plan before any weight is read.
HostTensor readMask(const std::string &path, const PipelineSpec &spec) {
  checkInpainting(spec);
  PngImage png = readEightBitPng(
      path, "--mask", "a gray or RGB mask (white: repaint, black: keep)");
  HostTensor mask = binaryMask(png.pixels.data(), 3, png.height, png.width);
  checkMask(spec, mask);
  return mask;
}

/// out.png -> out-3.png (the stem gets the index; no extension: appended).
std::string indexedPath(const std::string &path, size_t i) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash))
    return path + "-" + std::to_string(i);
  return path.substr(0, dot) + "-" + std::to_string(i) + path.substr(dot);
}

/// --prompt, then the lines of --prompt-file (blank ones skipped).
std::vector<std::string> allPrompts(const Options &o) {
  std::vector<std::string> prompts = o.prompts;
  if (o.promptFile.empty())
    return prompts;
  std::ifstream f(o.promptFile);
  check(f.good(), "cannot read the prompt file ", o.promptFile);
  std::string line;
  for (size_t lineNo = 1; std::getline(f, line); ++lineNo) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    // --prompt cannot carry a NUL byte; a file holding one is not text.
    check(line.find('\0') == std::string::npos, "the prompt file ",
          o.promptFile, " has a NUL byte on line ", lineNo,
          " (is it a text file?)");
    if (line.find_first_not_of(" \t") != std::string::npos)
      prompts.push_back(line);
  }
  check(!prompts.empty(), "the prompt file ", o.promptFile,
        " holds no prompt (one per line)");
  return prompts;
}

/// num_images_per_prompt: each entry of `v` `n` times in a row.
std::vector<std::string> repeatEach(const std::vector<std::string> &v, int n) {
  std::vector<std::string> out;
  for (const std::string &s : v)
    out.insert(out.end(), size_t(n), s);
  return out;
}

/// A per-prompt list (--prompt-2, a negative prompt) for `prompts` prompts
/// of `n` images each: one entry per prompt is repeated as the prompts are
/// (for one prompt too: --prompt-2 needs one per image); none stays none.
std::vector<std::string> perImage(const std::vector<std::string> &v,
                                  size_t prompts, int n) {
  return v.size() == prompts ? repeatEach(v, n) : v;
}

/// "class 3" or "prompt \"a red fox\"", for the messages.
std::string describeImage(const Options &o,
                          const std::vector<std::string> &prompts, size_t i) {
  if (!o.classLabels.empty())
    return "class " + std::to_string(o.classLabels[i]);
  return "prompt \"" + shortPrompt(prompts[i]) + "\"";
}

} // namespace

int runPipeline(const Options &o, const RankEnv &env) {
  auto t0 = std::chrono::steady_clock::now();
  LoadedPlan plan = LoadedPlan::fromFile(o.plan);
  check(plan.plan().pipeline() != nullptr, "plan ", o.plan,
        " holds no pipeline (it was compiled from a model, not a pipeline "
        "folder): run its functions with --function and --input");
  const PipelineSpec spec = PipelineSpec::fromPlan(plan.plan(), o.plan);
  // Before any weight is read: what this runtime cannot generate yet.
  if (std::optional<std::string> why = generationSupport(spec))
    fail(*why);
  if (o.freshSteps >= 0)
    check(!findOp(plan.plan(), plan::OpCode::StaleGather).empty() ||
              !spec.warmupFunction.empty(),
          "--fresh-steps: plan ", o.plan,
          " has no patch axis (no StaleGather instruction) and no warm-up "
          "function: it applies to plans compiled with fresco-compile "
          "--parallel patch=P or pipefusion=S");
  checkInpaintingUNet(spec, !o.mask.empty());
  // A key the scheduler does not read, or a value it refuses.
  withConfigOverrides(o.scheduler.empty() ? spec.scheduler : o.scheduler,
                      spec.schedulerConfig, o.schedulerConfig);
  HostTensor initImage, initImageLatents, mask;
  const bool i2i = !o.image.empty() || !o.imageLatents.empty();
  const Task task = !o.mask.empty() ? Task::Inpainting
                    : i2i           ? Task::ImageToImage
                                    : Task::TextToImage;
  std::vector<HostTensor> controlImages;
  for (const std::string &path : o.controlImages)
    controlImages.push_back(readControlImage(path));
  ControlOptions control{
      {}, o.controlScales, o.controlStarts, o.controlEnds, o.controlModes};
  control.guessMode = o.guessMode;
  for (const HostTensor &t : controlImages)
    control.images.push_back(&t);
  HostTensor controlMask;
  if (!o.controlMask.empty()) {
    PngImage png =
        readEightBitPng(o.controlMask, "--control-mask",
                        "a gray or RGB mask (white: repaint, black: keep)");
    controlMask = binaryMask(png.pixels.data(), 3, png.height, png.width);
    control.mask = &controlMask;
  }
  checkControl(spec, control, task);
  if (!o.mask.empty()) {
    mask = readMask(o.mask, spec);
    // A denoiser of the latent channel count sees the mask only at the
    // latent grid's samples.
    const std::vector<float> grid = nearestMask(mask, spec.height, spec.width);
    const char *why =
        maskedPixels(mask) == 0 ? "is black everywhere"
        : spec.maskChannels == 0 &&
                std::count(grid.begin(), grid.end(), 1.0f) == 0
            ? "has no white pixel where the latent grid samples it"
            : nullptr;
    if (why && !o.quiet && env.rank == 0)
      std::fprintf(stderr,
                   "fresco-run: warning: --mask %s %s: nothing is "
                   "repainted (white pixels are)\n",
                   o.mask.c_str(), why);
  }
  if (!o.image.empty())
    initImage = readInitImage(o.image, spec);
  else if (!o.imageLatents.empty())
    initImageLatents = fromNpy(readNpy(o.imageLatents));
  else
    checkTextToImage(spec);
  checkDenoisingRange(spec, o.denoisingStart, o.denoisingEnd, i2i);
  checkAestheticScore(spec, o.aestheticScore, "--aesthetic-score");
  checkAestheticScore(spec, o.negativeAestheticScore,
                      "--negative-aesthetic-score");
  checkMicroConditioning(spec, o.microConditioning, i2i);
  checkGuidanceRescale(spec, o.guidanceRescale, task);
  const std::vector<std::string> given = allPrompts(o);
  const int64_t wanted = int64_t(given.size()) * o.imagesPerPrompt;
  check(o.imagesPerPrompt == 1 || wanted <= spec.numImages, given.size(),
        " prompt(s) x --num-images-per-prompt ", o.imagesPerPrompt, " is ",
        wanted, " images, but the plan generates at most ", spec.numImages,
        " per run; recompile with fresco-compile --batch ", wanted);
  const std::vector<std::string> prompts = repeatEach(given, o.imagesPerPrompt);
  // Images this run: one per label or prompt.
  const int64_t B =
      int64_t(o.classLabels.empty() ? prompts.size() : o.classLabels.size());
  std::vector<std::string> imagePaths;
  // Before the index goes in: "out/" became the files "out/-0", "out/-1".
  if (!o.outputImage.empty())
    checkNotFolder(o.outputImage);
  if (!o.outputImage.empty())
    for (int64_t i = 0; i < B; ++i)
      imagePaths.push_back(B == 1 ? o.outputImage
                                  : indexedPath(o.outputImage, i));
  Session session(plan, env, sessionOptions(o, plan));
  RankRoles roles = session.roles();
  // The first decoder rank writes the images, the first rank holding the
  // final latents writes them; the first denoiser rank shows progress.
  const bool writesImages = env.rank == roles.decoderRanks.front();
  const bool writesLatents = env.rank == std::min(roles.denoiserRanks.front(),
                                                  roles.decoderRanks.front());
  const bool showsProgress = env.rank == roles.denoiserRanks.front();
  if (writesImages)
    for (const std::string &p : imagePaths)
      checkWritable(p);
  if (writesLatents && !o.outputLatents.empty())
    checkWritable(o.outputLatents);
  const std::string trace =
      checkedTracePath(o.profileTrace, env.rank, env.worldSize);

  HostTensor initial;
  GenerateOptions g;
  g.classLabels = o.classLabels;
  g.prompts = prompts;
  const int per = o.imagesPerPrompt;
  g.prompts2 = perImage(o.prompts2, given.size(), per);
  g.prompts3 = perImage(o.prompts3, given.size(), per);
  g.negativePrompts = perImage(o.negativePrompts, given.size(), per);
  g.negativePrompts2 = perImage(o.negativePrompts2, given.size(), per);
  g.negativePrompts3 = perImage(o.negativePrompts3, given.size(), per);
  g.weightsFolder = o.weights;
  // The text conditioning picks, per encoder, the one rank that warns.
  g.warnings = &std::cerr;
  g.steps = o.steps;
  g.guidanceScale = o.guidanceScale;
  g.guidanceRescale = o.guidanceRescale;
  g.eta = o.eta;
  g.seed = o.seed;
  g.seeds = o.seeds;
  g.generator =
      o.torchGenerator ? NoiseGenerator::Torch : NoiseGenerator::Fresco;
  g.torchDType = o.torchGenerator.value_or(DType::F32);
  g.scheduler = o.scheduler;
  g.schedulerConfig = o.schedulerConfig;
  g.freshSteps = o.freshSteps;
  g.aestheticScore = o.aestheticScore;
  g.negativeAestheticScore = o.negativeAestheticScore;
  g.microConditioning = o.microConditioning;
  if (!o.image.empty())
    g.initImage = &initImage;
  if (!o.imageLatents.empty())
    g.initImageLatents = &initImageLatents;
  if (!o.mask.empty())
    g.mask = &mask;
  g.control = control;
  if (i2i)
    g.strength = o.strength;
  g.denoisingStart = o.denoisingStart;
  g.denoisingEnd = o.denoisingEnd;
  if (!o.latents.empty()) {
    initial = fromNpy(readNpy(o.latents));
    g.initialLatents = &initial;
  }

  // The backend first: a missing GPU fails before the weights are read.
  session.openBackend();
  Executor &exec = session.load(o.weights);
  const WeightStore &weights = session.weights();
  exec.setProfiling(o.profile);
  exec.setRecording(o.graphs);
  double loadSeconds = secondsSince(t0);

  std::unique_ptr<ProgressBar> bar;
  if (!o.quiet && showsProgress)
    bar = std::make_unique<ProgressBar>(o.steps ? o.steps
                                                : spec.defaultSteps(task),
                                        stderr, isTerminal(stderr), "denoise");
  g.onStep = [&](int done, int total, double seconds) {
    if (bar) {
      bar->setTotal(total); // the denoiser calls, which PNDM adds to
      bar->step(done, seconds);
    }
  };
  GenerateResult r = session.generate(g);
  if (bar)
    bar->finish();

  if (writesLatents && !o.outputLatents.empty())
    writeNpy(o.outputLatents, DType::F32, r.latents.shape,
             r.latents.data.data());
  if (!writesImages)
    imagePaths.clear();
  const std::vector<int64_t> &s = r.images.shape; // [B, 3, H, W]
  check(!writesImages || (s.size() == 4 && s[0] == B), "the decoder returned ",
        shapeToString(s), ", expected [", B, ", channels, H, W]");
  std::vector<uint8_t> rgb(writesImages ? s[1] * s[2] * s[3] : 0);
  for (size_t i = 0; i < imagePaths.size(); ++i) {
    latentsImageToRgb(r.images.as<float>() + i * rgb.size(), s[1], s[2], s[3],
                      rgb.data());
    writePng(imagePaths[i], rgb.data(), s[3], s[2], int(s[1]));
    if (!o.quiet)
      std::fprintf(stderr, "fresco-run: wrote %s (%lldx%lld, %s)\n",
                   imagePaths[i].c_str(), (long long)s[3], (long long)s[2],
                   describeImage(o, prompts, i).c_str());
  }
  if (o.stats) {
    // patch=P: how many steps exchanged exactly (fresh) and how many read
    // the previous step's blocks (stale).
    const std::string fresh =
        r.freshSteps < 0
            ? std::string()
            : " (" + std::to_string(r.freshSteps) + " fresh, " +
                  std::to_string(r.steps - r.freshSteps) + " stale)";
    std::fprintf(stderr,
                 "%sfresco-run: load %.3f s, %d steps%s of %s in %.3f s (%.3f "
                 "s/step), decode %.3f s, text encoders %.3f s, %s, "
                 "%s, %lld replayed\n",
                 session.prefix(), loadSeconds, r.steps, fresh.c_str(),
                 r.scheduler.c_str(), r.denoiseSeconds,
                 r.denoiseSeconds / std::max(r.steps, 1), r.decodeSeconds,
                 r.encodeSeconds, arenaStats(exec).c_str(),
                 weightStats(exec, weights).c_str(), (long long)exec.replays());
    printLibraries(session.openBackend(), session.prefix());
  }
  reportProfile(exec, session.prefix(), o.profile, trace, env.rank,
                env.worldSize, o.backend, o.plan);
  return 0;
}

} // namespace fresco::run
