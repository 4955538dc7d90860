//===- Options.cpp - fresco-run command line ------------------------------===//
#include "tools/fresco-run/Options.h"
#include "runtime/backends/BackendRegistry.h"
#include "runtime/comm/registry/CommunicatorRegistry.h"
#include "runtime/core/PlanVersion.h"

#include <array>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

namespace fresco::run {
namespace {

int64_t parseInt(const std::string &s, const char *flag) {
  char *end = nullptr;
  errno = 0;
  long long v = std::strtoll(s.c_str(), &end, 10);
  if (s.empty() || !end || *end || errno)
    usageError(std::string(flag) + " expects an integer, got '" + s + "'");
  return v;
}

/// "H,W" (or "T,L"): two numbers in [0, kMaxPixels], above 0 for a size.
std::array<double, 2> parsePair(const std::string &s, const std::string &flag,
                                bool size) {
  const char *what = size ? "H,W" : "T,L";
  const size_t comma = s.find(',');
  std::array<double, 2> v{};
  bool ok =
      comma != std::string::npos && s.find(',', comma + 1) == std::string::npos;
  for (int i = 0; ok && i < 2; ++i) {
    const std::string part = i ? s.substr(comma + 1) : s.substr(0, comma);
    // Overflow (ERANGE) gives inf, which the range check names.
    char *end = nullptr;
    v[i] = std::strtod(part.c_str(), &end);
    ok = !part.empty() && !std::isspace((unsigned char)part[0]) && end && !*end;
  }
  if (!ok)
    usageError(flag + " expects " + what + ", two numbers (e.g. " +
               (size ? "1024,1024" : "0,0") + "), got '" + s + "'");
  for (double x : v)
    if (!std::isfinite(x) || (size ? x <= 0 : x < 0) ||
        x > MicroConditioning::kMaxPixels)
      usageError(flag + " must be " +
                 (size ? "sizes above 0" : "non-negative coordinates") +
                 " of at most " +
                 std::to_string(int64_t(MicroConditioning::kMaxPixels)) +
                 " pixels, got '" + s + "'");
  return v;
}

/// `list`: the comma list `s` is an item of, quoted in the error.
double parseDouble(const std::string &s, const char *flag,
                   const std::string &list = "") {
  char *end = nullptr;
  errno = 0;
  double v = std::strtod(s.c_str(), &end);
  if (s.empty() || !end || *end || errno || v != v)
    usageError(std::string(flag) + " expects a number, got '" + s + "'" +
               (list.empty() || list == s ? "" : " (in '" + list + "')"));
  return v;
}

/// "A,B,...": its items (an empty one where two commas meet or at an end).
std::vector<std::string> splitCommas(const std::string &s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    const size_t comma = s.find(',', start);
    out.push_back(
        s.substr(start, comma == std::string::npos ? comma : comma - start));
    if (comma == std::string::npos)
      return out;
    start = comma + 1;
  }
}

/// "A,B,...": one number each.
std::vector<double> parseDoubles(const std::string &s, const char *flag) {
  std::vector<double> out;
  for (const std::string &item : splitCommas(s))
    out.push_back(parseDouble(item, flag, s));
  return out;
}

} // namespace

void usageError(const std::string &msg) {
  std::cerr << "fresco-run: " << msg << "\n(run fresco-run --help for usage)\n";
  std::exit(2);
}

static std::string stripAt(const std::string &s, const char *flag) {
  if (s.size() < 2 || s[0] != '@')
    usageError(std::string(flag) + " expects @FILE.npy, got '" + s + "'");
  return s.substr(1);
}

Options parseArgs(int argc, char **argv) {
  Options o;
  // Flags that only mean something in one mode: mixing them is misuse.
  std::vector<std::string> generationFlags, functionFlags;
  bool strengthGiven = false, controlGiven = false;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    std::string value;
    bool hasValue = false;
    if (a.rfind("--", 0) == 0 && a.find('=') != std::string::npos) {
      value = a.substr(a.find('=') + 1);
      a = a.substr(0, a.find('='));
      hasValue = true;
    }
    auto next = [&]() -> std::string {
      if (hasValue)
        return value;
      if (i + 1 >= args.size())
        usageError(a + " needs a value");
      return args[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << usage();
      std::exit(0);
    } else if (a == "--version") {
      std::cout << "fresco-run (plan format version " << kPlanVersion << ")\n";
      std::exit(0);
    } else if (a == "--weights") {
      o.weights = next();
    } else if (a == "--lora") {
      std::string spec = next();
      try {
        o.loras.push_back(parseLoraSpec(spec));
      } catch (const Error &e) {
        usageError(e.what());
      }
    } else if (a == "--function") {
      o.function = next();
    } else if (a == "--input") {
      std::string v = next();
      std::string name;
      size_t eq = v.find('=');
      if (eq != std::string::npos && v[0] != '@') {
        name = v.substr(0, eq);
        v = v.substr(eq + 1);
      }
      o.inputs.push_back({name, stripAt(v, "--input")});
    } else if (a == "--output") {
      o.outputs.push_back(stripAt(next(), "--output"));
      functionFlags.push_back(a);
    } else if (a == "--stats") {
      o.stats = true;
    } else if (a == "--profile") {
      o.profile = true;
    } else if (a == "--profile-trace") {
      o.profileTrace = next();
      if (o.profileTrace.empty())
        usageError("--profile-trace expects a file name");
      o.profile = true;
    } else if (a == "--dtype") {
      o.dtype = next();
      if (o.dtype != "f32" && o.dtype != "bf16" && o.dtype != "f16")
        usageError("--dtype expects f32, bf16 or f16, got '" + o.dtype + "'");
    } else if (a == "--comm") {
      o.comm = next();
      if (o.comm != "auto" && !CommunicatorRegistry::global().find(o.comm))
        usageError("--comm expects " + commModeList() + ", got '" + o.comm +
                   "'");
    } else if (a == "--graphs") {
      std::string v = next();
      if (v != "on" && v != "off")
        usageError("--graphs expects on or off, got '" + v + "'");
      o.graphs = v == "on";
    } else if (a == "--repeat") {
      int64_t n = parseInt(next(), "--repeat");
      if (n < 1 || n > 100000)
        usageError("--repeat expects a count in 1..100000");
      o.repeat = int(n);
      functionFlags.push_back(a);
    } else if (a == "--class-label") {
      for (const std::string &item : splitCommas(next()))
        o.classLabels.push_back(parseInt(item, "--class-label"));
    } else if (a == "--prompt") {
      o.prompts.push_back(next());
    } else if (a == "--prompt-2") {
      o.prompts2.push_back(next());
      generationFlags.push_back(a);
    } else if (a == "--prompt-3") {
      o.prompts3.push_back(next());
      generationFlags.push_back(a);
    } else if (a == "--negative-prompt") {
      o.negativePrompts.push_back(next());
      generationFlags.push_back(a);
    } else if (a == "--negative-prompt-2") {
      o.negativePrompts2.push_back(next());
      generationFlags.push_back(a);
    } else if (a == "--negative-prompt-3") {
      o.negativePrompts3.push_back(next());
      generationFlags.push_back(a);
    } else if (a == "--num-images-per-prompt") {
      const int64_t n = parseInt(next(), "--num-images-per-prompt");
      if (n < 1 || n > 4096)
        usageError("--num-images-per-prompt must be in 1..4096, got " +
                   std::to_string(n));
      o.imagesPerPrompt = int(n);
      generationFlags.push_back(a);
    } else if (a == "--prompt-file") {
      o.promptFile = next();
    } else if (a == "--steps") {
      int64_t n = parseInt(next(), "--steps");
      if (n < 1 || n > 10000)
        usageError("--steps must be in 1..10000, got " + std::to_string(n));
      o.steps = int(n);
      generationFlags.push_back(a);
    } else if (a == "--guidance-scale") {
      const std::string v = next();
      o.guidanceScale = parseDouble(v, "--guidance-scale");
      if (!std::isfinite(o.guidanceScale) || std::fabs(o.guidanceScale) > 1e6)
        usageError("--guidance-scale must be a finite number in -1e6..1e6, "
                   "got " +
                   v);
      generationFlags.push_back(a);
    } else if (a == "--eta") {
      const std::string v = next();
      o.eta = parseDouble(v, "--eta");
      if (!(o.eta >= 0 && o.eta <= 1))
        usageError("--eta must be in [0, 1], got " + v);
      generationFlags.push_back(a);
    } else if (a == "--guidance-rescale") {
      const std::string v = next();
      o.guidanceRescale = parseDouble(v, "--guidance-rescale");
      if (!(o.guidanceRescale >= 0 && o.guidanceRescale <= 1))
        usageError("--guidance-rescale must be in [0, 1], got " + v);
      generationFlags.push_back(a);
    } else if (a == "--seed") {
      // S, or S1,S2,...: one seed per image (a torch generator list).
      o.seeds.clear();
      for (const std::string &item : splitCommas(next())) {
        const int64_t s = parseInt(item, "--seed");
        if (s < 0)
          usageError("--seed must be non-negative");
        o.seeds.push_back(uint64_t(s));
      }
      o.seed = o.seeds.front();
      if (o.seeds.size() == 1)
        o.seeds.clear();
      generationFlags.push_back(a);
    } else if (a == "--generator") {
      const std::string v = next();
      if (v == "torch")
        o.torchGenerator = DType::F32;
      else if (v == "torch-bf16")
        o.torchGenerator = DType::BF16;
      else if (v == "torch-f16")
        o.torchGenerator = DType::F16;
      else if (v == "fresco")
        o.torchGenerator.reset();
      else
        usageError("--generator must be fresco, torch, torch-bf16 or "
                   "torch-f16, got '" +
                   v + "'");
      generationFlags.push_back(a);
    } else if (a == "--scheduler") {
      o.scheduler = next();
      generationFlags.push_back(a);
    } else if (a == "--scheduler-config") {
      const std::string v = next();
      const size_t eq = v.find('=');
      if (eq == std::string::npos || eq == 0)
        usageError("--scheduler-config takes KEY=VALUE (e.g. "
                   "use_karras_sigmas=true), got '" +
                   v + "'");
      o.schedulerConfig.emplace_back(v.substr(0, eq), v.substr(eq + 1));
      generationFlags.push_back(a);
    } else if (a == "--latents") {
      o.latents = stripAt(next(), "--latents");
      generationFlags.push_back(a);
    } else if (a == "--image") {
      o.image = next();
      generationFlags.push_back(a);
    } else if (a == "--mask") {
      o.mask = next();
      generationFlags.push_back(a);
    } else if (a == "--control-image") {
      o.controlImages.push_back(next());
      generationFlags.push_back(a);
    } else if (a == "--control-mask") {
      o.controlMask = next();
      controlGiven = true;
      generationFlags.push_back(a);
    } else if (a == "--guess-mode") {
      o.guessMode = true;
      controlGiven = true;
      generationFlags.push_back(a);
    } else if (a == "--controlnet-scale") {
      const std::string v = next();
      o.controlScales = parseDoubles(v, "--controlnet-scale");
      for (double s : o.controlScales)
        if (!std::isfinite(s)) // strtod reads "inf"
          usageError("--controlnet-scale must be finite numbers, got " + v);
      controlGiven = true;
      generationFlags.push_back(a);
    } else if (a == "--control-mode") {
      const std::string v = next();
      o.controlModes.clear();
      for (const std::string &item : splitCommas(v)) {
        const int64_t m = parseInt(item, "--control-mode");
        if (m < 0)
          usageError("--control-mode must be non-negative mode numbers, got " +
                     v);
        o.controlModes.push_back(m);
      }
      controlGiven = true;
      generationFlags.push_back(a);
    } else if (a == "--control-guidance-start" ||
               a == "--control-guidance-end") {
      const std::string v = next();
      std::vector<double> &dst =
          a == "--control-guidance-start" ? o.controlStarts : o.controlEnds;
      dst = parseDoubles(v, a.c_str());
      for (double d : dst)
        if (!(d >= 0 && d <= 1))
          usageError(a + " must be in [0, 1], got " + v);
      controlGiven = true;
      generationFlags.push_back(a);
    } else if (a == "--image-latents") {
      o.imageLatents = stripAt(next(), "--image-latents");
      generationFlags.push_back(a);
    } else if (a == "--denoising-start" || a == "--denoising-end") {
      const std::string v = next();
      double &dst =
          a == "--denoising-start" ? o.denoisingStart : o.denoisingEnd;
      dst = parseDouble(v, a.c_str());
      if (!(dst > 0 && dst < 1))
        usageError(a + " must be in (0, 1), got " + v);
      generationFlags.push_back(a);
    } else if (a == "--strength") {
      const std::string v = next();
      o.strength = parseDouble(v, "--strength");
      if (!(o.strength > 0 && o.strength <= 1))
        usageError("--strength must be in (0, 1], got " + v);
      strengthGiven = true;
      generationFlags.push_back(a);
    } else if (a == "--aesthetic-score" || a == "--negative-aesthetic-score") {
      const std::string v = next();
      double &dst = a == "--aesthetic-score" ? o.aestheticScore
                                             : o.negativeAestheticScore;
      dst = parseDouble(v, a.c_str());
      if (!std::isfinite(dst) || std::fabs(dst) > 1e6)
        usageError(a + " must be a finite number, got " + v);
      generationFlags.push_back(a);
    } else if (a == "--original-size" || a == "--crops-coords-top-left" ||
               a == "--target-size" || a == "--negative-original-size" ||
               a == "--negative-crops-coords-top-left" ||
               a == "--negative-target-size") {
      MicroConditioning &m = o.microConditioning;
      MicroConditioning::Pair &dst =
          a == "--original-size"            ? m.originalSize
          : a == "--crops-coords-top-left"  ? m.cropsTopLeft
          : a == "--target-size"            ? m.targetSize
          : a == "--negative-original-size" ? m.negativeOriginalSize
          : a == "--negative-target-size"   ? m.negativeTargetSize
                                            : m.negativeCropsTopLeft;
      dst = parsePair(next(), a, a.find("crops") == std::string::npos);
      generationFlags.push_back(a);
    } else if (a == "--fresh-steps") {
      int64_t n = parseInt(next(), "--fresh-steps");
      if (n < 1 || n > 10000)
        usageError("--fresh-steps must be in 1..10000, got " +
                   std::to_string(n) +
                   (n < 1 ? " (the first step has no earlier one to read "
                            "stale keys and values from)"
                          : ""));
      o.freshSteps = int(n);
      generationFlags.push_back(a);
    } else if (a == "--output-latents") {
      o.outputLatents = stripAt(next(), "--output-latents");
      generationFlags.push_back(a);
    } else if (a == "-o" || a == "--output-image") {
      o.outputImage = next();
    } else if (a == "--ranks") {
      int64_t n = parseInt(next(), "--ranks");
      if (n < 1 || n > 4096)
        usageError("--ranks expects a count in 1..4096");
      o.ranks = int(n);
    } else if (a == "--backend") {
      o.backend = next();
      if (!BackendRegistry::global().find(o.backend))
        usageError("--backend expects " + BackendRegistry::global().nameList() +
                   ", got '" + o.backend + "'");
    } else if (a == "--timeout") {
      int64_t t = parseInt(next(), "--timeout");
      if (t < 1 || t > 86400)
        usageError("--timeout expects seconds in 1..86400");
      o.timeoutSeconds = int(t);
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a == "--list") {
      o.list = true;
    } else if (a == "--calibrate") {
      o.calibrate = next();
    } else if (a.rfind("-", 0) == 0) {
      usageError("unknown option '" + a + "'");
    } else if (o.plan.empty()) {
      o.plan = a;
    } else {
      usageError("unexpected argument '" + a + "' (the plan is '" + o.plan +
                 "')");
    }
  }
  if (o.plan.empty())
    usageError("no plan given");
  if (!o.list && o.weights.empty())
    usageError("--weights FOLDER is required");
  bool generating = o.generating() || !o.outputImage.empty();
  if (!o.calibrate.empty() &&
      (generating || !o.function.empty() || !o.inputs.empty()))
    usageError(
        "--calibrate times every function of the plan on zero inputs: "
        "it takes no --class-label, --prompt, -o, --function or --input");
  if (!o.calibrate.empty() && !o.profileTrace.empty())
    usageError("--calibrate times instructions for the cost model; "
               "--profile-trace does not apply to it");
  if (generating && (!o.function.empty() || !o.inputs.empty()))
    usageError("--class-label/--prompt/-o generate images; --function/--input "
               "run one function: use one or the other");
  if (strengthGiven && o.image.empty() && o.imageLatents.empty())
    usageError("--strength applies to image-to-image: give --image (or "
               "--image-latents) too");
  if (!o.mask.empty() && o.image.empty() && o.imageLatents.empty())
    usageError("--mask (inpainting) repaints part of an init image: give "
               "--image (or --image-latents) too");
  if (controlGiven && o.controlImages.empty())
    usageError("--controlnet-scale, --control-mode, --control-mask, "
               "--guess-mode and --control-guidance-start/-end apply to a "
               "ControlNet: give --control-image too");
  if (!o.image.empty() && !o.imageLatents.empty())
    usageError("--image and --image-latents both give the init image: use "
               "one or the other");
  if (strengthGiven && o.denoisingStart == o.denoisingStart)
    usageError("--strength does not apply with --denoising-start (the "
               "schedule starts at its cutoff)");
  if (generating && o.outputImage.empty() && o.outputLatents.empty())
    usageError("say where the image goes: -o out.png (or --output-latents)");
  if (generating && !o.generating())
    usageError("--class-label or --prompt is required to generate images");
  if (o.imagesPerPrompt > 1 && !o.classLabels.empty())
    usageError("--num-images-per-prompt applies to prompts (DiTPipeline has "
               "no num_images_per_prompt): repeat the --class-label instead");
  if (!o.classLabels.empty() && (!o.prompts.empty() || !o.promptFile.empty()))
    usageError("--class-label conditions a class-conditional pipeline, "
               "--prompt a text-to-image one: use one or the other");
  if (generating && !functionFlags.empty())
    usageError(functionFlags.front() +
               " runs one function; it does not apply when generating images");
  if (!generating && !generationFlags.empty())
    usageError(generationFlags.front() +
               " applies to image generation (--class-label or --prompt ... -o "
               "out.png)");
  return o;
}

HostTensor fromNpy(NpyArray a) {
  HostTensor t;
  t.dtype = a.dtype;
  t.shape = std::move(a.shape);
  t.data = std::move(a.data);
  return t;
}

std::string signature(const std::vector<TensorSpec> &specs) {
  std::string s;
  for (const TensorSpec &t : specs) {
    if (!s.empty())
      s += ", ";
    s += t.name + ": " + dtypeName(t.dtype) + shapeToString(t.shape);
  }
  return s;
}

SessionOptions sessionOptions(const Options &o, const LoadedPlan &plan) {
  SessionOptions s;
  s.backend = o.backend;
  // By default, the storage the plan was compiled for (f32 unless
  // fresco-compile --dtype); a plan laid out for bf16/f16 refuses another.
  const char *compiled = dtypeName(DType(plan.plan().float_storage()));
  check(!o.dtype.empty() || std::string(compiled) == "f32" ||
            o.backend != "cpu",
        "plan ", plan.name(), " was compiled for ", compiled,
        " storage (fresco-compile --dtype ", compiled,
        ") and the cpu backend computes in f32: run it with --backend "
        "cpu-staged or cuda, or recompile with --dtype f32");
  s.precision = precisionFromName(o.dtype.empty() ? compiled : o.dtype);
  s.comm = o.comm;
  s.timeout = std::chrono::seconds(o.timeoutSeconds);
  s.program = "fresco-run";
  s.loras = o.loras;
  return s;
}

double secondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
      .count();
}

void checkNotFolder(const std::string &path) {
  std::error_code ec;
  check(!std::filesystem::is_directory(path, ec) &&
            (path.empty() || path.back() != '/'),
        "output ", path, " is a folder: give a file name");
}

void checkWritable(const std::string &path) {
  checkNotFolder(path);
  std::string probe = path + ".fresco-probe";
  {
    std::ofstream f(probe, std::ios::binary);
    check(f.good(), "cannot write output ", path,
          " (is the folder there and writable?)");
  }
  std::remove(probe.c_str());
}

} // namespace fresco::run
