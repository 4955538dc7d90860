//===- Options.h - fresco-run command line -----------------------*- C++
//-*-===//
#ifndef FRESCO_TOOLS_FRESCO_RUN_OPTIONS_H
#define FRESCO_TOOLS_FRESCO_RUN_OPTIONS_H

#include "runtime/comm/Environment.h"
#include "runtime/core/Executor.h"
#include "runtime/core/Tensor.h"
#include "runtime/io/Npy.h"
#include "runtime/pipeline/TimeIds.h"
#include "runtime/session/Session.h"

#include <chrono>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace fresco::run {

struct Options {
  std::string plan, weights;
  int ranks = 0;           // 0: the plan's rank count
  int timeoutSeconds = 60; // every collective fails within this
  bool stats = false, list = false, profile = false, quiet = false;
  bool graphs = true;
  std::string comm = "auto";   // auto, nccl, gloo, gloo-direct
  std::string dtype;           // float storage: f32, bf16, f16; "": the plan's
  std::string backend = "cpu"; // --backend: cpu or cuda
  std::vector<LoraFile> loras; // --lora FILE[:SCALE], merged at load
  // Function mode.
  std::string function;
  std::vector<std::pair<std::string, std::string>> inputs; // name, path
  std::vector<std::string> outputs;
  int repeat = 1;
  // Generation mode.
  std::vector<int64_t> classLabels;
  std::vector<std::string> prompts, prompts2, prompts3, negativePrompts,
      negativePrompts2, negativePrompts3;
  std::string promptFile;
  int imagesPerPrompt = 1; // --num-images-per-prompt
  int steps = 0;           // 0: the pipeline's
  double guidanceScale = std::numeric_limits<double>::quiet_NaN(); // NaN: ditto
  double guidanceRescale = 0; // --guidance-rescale; 0: none
  double eta = 0;             // --eta; 0: deterministic DDIM / TCD
  uint64_t seed = 0;
  // --seed S1,S2,...: one torch generator per image (--generator torch)
  std::vector<uint64_t> seeds;
  // --generator torch (F32), torch-bf16, torch-f16; nullopt: fresco
  std::optional<fresco::DType> torchGenerator;
  std::string scheduler, latents, outputLatents, outputImage;
  std::string image;        // --image: image-to-image's init PNG
  std::string imageLatents; // --image-latents: or its init latents (.npy)
  std::string mask;         // --mask: inpainting's mask PNG
  // --control-image, once per ControlNet (a ControlNet plan's PNGs)
  std::vector<std::string> controlImages;
  // --control-mask: StableDiffusion3ControlNetInpaintingPipeline's PNG
  std::string controlMask;
  // --guess-mode: diffusers' guess_mode (SD's and SDXL's ControlNets)
  bool guessMode = false;
  // --controlnet-scale S[,S...]; empty: the class's (1.0, image-to-image
  // 0.8); --control-guidance-start / -end F[,F...]
  std::vector<double> controlScales, controlStarts = {0.0}, controlEnds = {1.0};
  // --control-mode M[,M...]: ControlNet-Union's modes.
  std::vector<int64_t> controlModes;
  // --scheduler-config KEY=VALUE, in order
  std::vector<std::pair<std::string, std::string>> schedulerConfig;
  // --denoising-start / --denoising-end (SDXL's ensemble of experts); NaN:
  // none
  double denoisingStart = std::numeric_limits<double>::quiet_NaN();
  double denoisingEnd = std::numeric_limits<double>::quiet_NaN();
  // --strength; NaN: the img2img class's (0.8 SD, 0.3 SDXL, 0.6 SD3, Flux)
  double strength = std::numeric_limits<double>::quiet_NaN();
  // --aesthetic-score, --negative-aesthetic-score (the SDXL refiner); NaN:
  // 6.0 and 2.5, StableDiffusionXLImg2ImgPipeline's
  double aestheticScore = std::numeric_limits<double>::quiet_NaN();
  double negativeAestheticScore = std::numeric_limits<double>::quiet_NaN();
  // --original-size, --crops-coords-top-left, --target-size and their
  // --negative-* twins (SDXL's time ids); unset: the plan's
  MicroConditioning microConditioning;
  int freshSteps = -1;      // --fresh-steps; -1: the plan's (patch=P)
  std::string calibrate;    // --calibrate: the table to write
  std::string profileTrace; // --profile-trace: Chrome trace JSON (+ rank)

  bool generating() const {
    return !classLabels.empty() || !prompts.empty() || !promptFile.empty();
  }
};

/// Parses argv; prints help/version and exits 0, or a message and exits 2
/// on misuse.
Options parseArgs(int argc, char **argv);

/// Prints "fresco-run: <msg>" and a pointer to --help, then exits 2.
[[noreturn]] void usageError(const std::string &msg);

/// fresco-run --help's text (Usage.cpp).
std::string usage();
/// "auto, nccl, gloo or gloo-direct": what --comm accepts.
std::string commModeList();

/// Fails when `path` names a folder (an existing one, or ending in '/'):
/// outputs are files.
void checkNotFolder(const std::string &path);

/// Fails, before any compute, when the output file `path` cannot be created
/// (an existing folder there included).
void checkWritable(const std::string &path);

HostTensor fromNpy(NpyArray a);
std::string signature(const std::vector<TensorSpec> &specs);
double secondsSince(std::chrono::steady_clock::time_point t0);
/// The runtime session options --backend, --dtype, --comm and --timeout
/// ask for.
SessionOptions sessionOptions(const Options &o, const LoadedPlan &plan);

/// The two modes, run as rank `env.rank`; both return the exit code.
int runFunction(const Options &o, const RankEnv &env);
int runPipeline(const Options &o, const RankEnv &env);
/// --calibrate (Calibrate.cpp).
int runCalibrate(const Options &o, const RankEnv &env);

} // namespace fresco::run

#endif // FRESCO_TOOLS_FRESCO_RUN_OPTIONS_H
