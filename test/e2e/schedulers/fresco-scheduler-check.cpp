//===- fresco-scheduler-check.cpp - Drive a scheduler for parity tests ----===//
//
// Test-only tool behind scheduler_parity.py. It configures one scheduler
// from a scheduler_config.json, prints its schedule and, given per-step model
// outputs, runs a whole trajectory so that multistep state is exercised:
//
//   fresco-scheduler-check --class NAME --config cfg.json --steps N
//       [--mu X | --flux-image-seq-len L]
//       [--model-output @mo.npy --sample @x.npy [--step-index K]
//        --out @prev.npy [--scaled-out @scaled.npy] [--noise-seed S] [--eta E]
//        [--strength S --original @x0.npy --noised-out @start.npy]]
//
// mo.npy is f32 [K+1, ...] (row i is the model output of step i), x.npy the
// initial sample [...]. Steps 0..K run in order (K defaults to the last row);
// prev.npy receives [K+1, ...], row i the sample after step i, and
// scaled.npy row i the scale_model_input of the sample entering step i.
// stdout: "init_noise_sigma: V", "timesteps: COUNT", then one timestep per
// line, all with 17 significant digits, then, for schedulers that expose
// them, "sigmas: COUNT" and one sigma per line. --mu passes set_timesteps'
// mu; --flux-image-seq-len sets the timesteps as FluxPipeline does for that
// many image tokens (fluxTimestepOptions: custom sigmas and its mu).
// --noise-seed (default 0) seeds the noise of stochastic steps; the sample's
// first axis is the images (Scheduler.h StepNoise).
//
// --strength runs image-to-image as StableDiffusionImg2ImgPipeline does:
// the begin index of get_timesteps (imageToImageBegin, printed as
// "begin_index: K" after the schedule), setBeginIndex(K), the start sample
// addNoise(x0, x, K) (x is then the noise; written to start.npy), and the
// steps K, K+1, ... with mo.npy's row r the model output of step K + r
// (prev.npy and scaled.npy rows likewise).
// Exit codes: 0 ok, 1 error, 2 misuse.
//
//===----------------------------------------------------------------------===//
#include "runtime/core/Error.h"
#include "runtime/io/Npy.h"
#include "runtime/pipeline/ImageToImage.h"
#include "runtime/pipeline/Scheduler.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

using namespace fresco;

namespace {

struct Args {
  std::string className, configPath, modelOutput, sample, out, scaledOut;
  std::string original, noisedOut;
  std::optional<double> strength;
  int steps = 0;
  int stepIndex = -1;
  std::optional<double> mu;
  int64_t fluxImageSeqLen = -1;
  int noiseSeed = 0;
  double eta = 0; // --eta: DDIM's eta, TCD's gamma
};

[[noreturn]] void usage(const std::string &msg) {
  std::cerr << "fresco-scheduler-check: " << msg << "\n"
            << "usage: fresco-scheduler-check --class NAME --config FILE "
               "--steps N [--mu X | --flux-image-seq-len L] [--model-output "
               "@mo.npy --sample @x.npy "
               "[--step-index K] --out @prev.npy [--scaled-out @s.npy] "
               "[--noise-seed S] [--strength S --original @x0.npy "
               "--noised-out @start.npy]]\n"
            << "classes:";
  for (const std::string &n : supportedSchedulers())
    std::cerr << " " << n;
  std::cerr << "\n";
  std::exit(2);
}

/// iree-run-module style file arguments: "@path" or "path".
std::string filePath(const std::string &v) {
  return !v.empty() && v[0] == '@' ? v.substr(1) : v;
}

int parseInt(const std::string &flag, const std::string &v) {
  try {
    size_t pos = 0;
    int x = std::stoi(v, &pos);
    if (pos == v.size())
      return x;
  } catch (const std::exception &) {
  }
  usage(flag + " expects an integer, got '" + v + "'");
}

double parseDouble(const std::string &flag, const std::string &v) {
  try {
    size_t pos = 0;
    double x = std::stod(v, &pos);
    if (pos == v.size())
      return x;
  } catch (const std::exception &) {
  }
  usage(flag + " expects a number, got '" + v + "'");
}

Args parseArgs(int argc, char **argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "-h" || flag == "--help")
      usage("drives one scheduler for parity tests");
    if (i + 1 >= argc)
      usage("missing value for " + flag);
    std::string v = argv[++i];
    if (flag == "--class")
      a.className = v;
    else if (flag == "--config")
      a.configPath = filePath(v);
    else if (flag == "--steps")
      a.steps = parseInt(flag, v);
    else if (flag == "--model-output")
      a.modelOutput = filePath(v);
    else if (flag == "--sample")
      a.sample = filePath(v);
    else if (flag == "--step-index")
      a.stepIndex = parseInt(flag, v);
    else if (flag == "--out")
      a.out = filePath(v);
    else if (flag == "--scaled-out")
      a.scaledOut = filePath(v);
    else if (flag == "--mu")
      a.mu = parseDouble(flag, v);
    else if (flag == "--flux-image-seq-len")
      a.fluxImageSeqLen = parseInt(flag, v);
    else if (flag == "--noise-seed")
      a.noiseSeed = parseInt(flag, v);
    else if (flag == "--strength")
      a.strength = parseDouble(flag, v);
    else if (flag == "--original")
      a.original = filePath(v);
    else if (flag == "--noised-out")
      a.noisedOut = filePath(v);
    else if (flag == "--eta")
      a.eta = parseDouble(flag, v);
    else
      usage("unknown option " + flag);
  }
  if (a.className.empty() || a.configPath.empty() || a.steps == 0)
    usage("--class, --config and --steps are required");
  if (a.noiseSeed < 0)
    usage("--noise-seed must be non-negative");
  if (a.mu && a.fluxImageSeqLen >= 0)
    usage("--mu and --flux-image-seq-len exclude each other");
  const bool stepping = !a.modelOutput.empty() || !a.sample.empty() ||
                        !a.out.empty() || a.stepIndex >= 0;
  if (stepping && (a.modelOutput.empty() || a.sample.empty() || a.out.empty()))
    usage("stepping needs --model-output, --sample and --out");
  if (!a.scaledOut.empty() && !stepping)
    usage("--scaled-out needs a trajectory (--model-output ...)");
  const bool i2i = a.strength || !a.original.empty() || !a.noisedOut.empty();
  if (i2i && (!a.strength || a.original.empty() || a.noisedOut.empty() ||
              !stepping || a.stepIndex >= 0))
    usage("image-to-image needs --strength, --original, --noised-out and a "
          "trajectory (without --step-index)");
  return a;
}

std::string readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  check(bool(in), "cannot open ", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run(const Args &a) {
  const std::string config = readFile(a.configPath);
  std::unique_ptr<Scheduler> s = createScheduler(a.className, config);
  if (a.eta != 0)
    s->setEta(a.eta);
  TimestepOptions options;
  if (a.fluxImageSeqLen >= 0)
    options = fluxTimestepOptions(config, a.steps, a.fluxImageSeqLen);
  else
    options.mu = a.mu;
  s->setTimestepsWith(a.steps, options);
  const std::vector<double> &ts = s->timesteps();
  std::printf("init_noise_sigma: %.17g\n", s->initNoiseSigma());
  std::printf("timesteps: %zu\n", ts.size());
  for (double t : ts)
    std::printf("%.17g\n", t);
  const std::vector<double> sigmas = s->sigmas();
  if (!sigmas.empty()) {
    std::printf("sigmas: %zu\n", sigmas.size());
    for (double v : sigmas)
      std::printf("%.17g\n", v);
  }
  if (a.modelOutput.empty())
    return 0;

  NpyArray mo = readNpy(a.modelOutput);
  NpyArray x = readNpy(a.sample);
  check(!mo.shape.empty() && mo.shape[0] >= 1, a.modelOutput,
        ": expected [K+1, ...] stacked model outputs");
  std::vector<int64_t> rowShape(mo.shape.begin() + 1, mo.shape.end());
  check(rowShape == x.shape, a.modelOutput, " rows do not match the shape of ",
        a.sample);
  const int64_t n = x.numel();
  check(!x.shape.empty() && x.shape[0] >= 1, a.sample,
        ": expected [images, ...]");
  s->setStepNoise({uint64_t(a.noiseSeed), n / x.shape[0]});
  std::vector<float> modelOutputs = mo.toF32();
  std::vector<float> sample = x.toF32();
  int first = 0, last = a.stepIndex >= 0 ? a.stepIndex : int(mo.shape[0] - 1);
  if (a.strength) {
    first = imageToImageBegin(a.steps, *a.strength, ts.size(), s->order());
    std::printf("begin_index: %d\n", first);
    s->setBeginIndex(first);
    NpyArray x0 = readNpy(a.original);
    check(x0.shape == x.shape, a.original, " must have the shape of ",
          a.sample);
    const std::vector<float> original = x0.toF32();
    s->addNoise(original.data(), sample.data(), sample.data(), n, first);
    writeNpy(a.noisedOut, DType::F32, x.shape, sample.data());
    last = first + int(mo.shape[0]) - 1;
    check(size_t(last) < ts.size(), a.modelOutput, " has ", mo.shape[0],
          " rows, the schedule from step ", first, " only ",
          ts.size() - size_t(first));
  }
  check(last - first < mo.shape[0], "--step-index ", last, " needs ", last + 1,
        " model outputs, ", a.modelOutput, " has ", mo.shape[0]);
  std::vector<float> outs, scaled;
  for (int i = first; i <= last; ++i) {
    std::vector<float> in = sample;
    s->scaleModelInput(in.data(), n, i);
    scaled.insert(scaled.end(), in.begin(), in.end());
    s->step(modelOutputs.data() + size_t(i - first) * size_t(n), sample.data(),
            n, i);
    outs.insert(outs.end(), sample.begin(), sample.end());
  }
  std::vector<int64_t> outShape = x.shape;
  outShape.insert(outShape.begin(), int64_t(last - first) + 1);
  writeNpy(a.out, DType::F32, outShape, outs.data());
  if (!a.scaledOut.empty())
    writeNpy(a.scaledOut, DType::F32, outShape, scaled.data());
  return 0;
}

} // namespace

int main(int argc, char **argv) {
  Args a = parseArgs(argc, argv);
  try {
    return run(a);
  } catch (const Error &e) {
    std::cerr << "fresco-scheduler-check: error: " << e.what() << "\n";
    return 1;
  }
}
