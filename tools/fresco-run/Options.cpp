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

const char *kUsageHead = R"(fresco-run: run a compiled Fresco plan (.fplan)

USAGE:
  Generate images with a compiled pipeline:
    fresco-run PLAN --weights PIPELINE-FOLDER --class-label 207[,360...]
               [--steps 50] [--guidance-scale 4] [--seed 0]
               [--generator G] [--scheduler NAME]
               [--scheduler-config K=V] [--latents @x.npy]
               [--output-latents @y.npy] -o out.png
    fresco-run PLAN --weights PIPELINE-FOLDER --prompt "a red fox" [--prompt
               ...] [--prompt-2 ...] [--prompt-3 ...] [--prompt-file F]
               [--negative-prompt N] [--negative-prompt-2 N]
               [--negative-prompt-3 N] [--num-images-per-prompt N]
               [--steps 28] [--guidance-scale 3.5] [--guidance-rescale R]
               [--seed 0] [--generator G] [--scheduler NAME]
               [--scheduler-config K=V] [--latents @x.npy]
               [--image in.png [--mask mask.png] | --image-latents @x.npy]
               [--strength S] [--denoising-start F] [--denoising-end F]
               [--control-image c.png ... [--controlnet-scale S[,S...]]
               [--control-guidance-start F[,F...]] [--control-mode M[,M...]]
               [--control-guidance-end F[,F...]] [--control-mask m.png]]
               [--aesthetic-score A] [--negative-aesthetic-score A]
               [--original-size H,W] [--crops-coords-top-left T,L]
               [--target-size H,W] [--negative-original-size H,W]
               [--negative-crops-coords-top-left T,L]
               [--negative-target-size H,W]
               [--output-latents @y.npy] -o out.png
  Run one function on NumPy inputs:
    fresco-run PLAN --weights FOLDER [--function NAME] --input @x.npy ...
               [--output @out.npy ...]

COMMON OPTIONS:
  --weights FOLDER     diffusers model folder (config.json + *.safetensors,
                       sharded or not) or pipeline folder (model_index.json +
                       one folder per component) holding the plan's weights
  --lora FILE[:SCALE]  merge a LoRA into the weights it adapts as they load,
                       its update times SCALE (default 1); repeat for more.
                       diffusers' PEFT format (<component>.<module>.lora_A/
                       lora_B.weight, .alpha) or kohya's (lora_down/lora_up:
                       Flux's, Stable Diffusion's original or diffusers'
                       module names), on linear and convolution weights
  --ranks N            run N local rank processes (default: the plan's rank
                       count); under mpirun, srun or torchrun-style RANK/
                       WORLD_SIZE/MASTER_ADDR/MASTER_PORT each process joins
                       as one rank instead
)";

const char *kUsageMiddle =
    R"(  --dtype T            float storage: f32, bf16 or f16 (default: the
                       plan's, f32 unless fresco-compile --dtype): weights
                       and activations stored in T, every kernel computing
                       in f32 and rounding once when it stores (cuda, on
                       tensor cores; cpu-staged emulates it); timesteps
                       stay f32. An f32 plan may run in bf16/f16 (laid out
                       at load); a bf16/f16 plan runs in its own storage
)";

const char *kUsageTail =
    R"(  --graphs on|off      record each function's kernels once (a CUDA graph)
                       after a warm-up run and replay them (default on;
                       collectives through NCCL are recorded with the
                       kernels, functions with Gloo collectives run step
                       by step)
  --timeout S          seconds any collective may take before every rank
                       stops with an error naming the failed rank (default 60)
  --stats              print load and run times, arena and weight bytes
  --profile            print the time spent per op kind, then per op and
                       shape (count, total, mean), for the runs after each
                       function's first; the first runs (the warm-up, with
                       one-time setup: cuDNN and cuBLASLt plans, scratch,
                       connections) in a section of their own. Steps are
                       timed one by one (no CUDA graph), on CUDA events
                       under --backend cuda
  --profile-trace F    --profile, and write every timed step as a Chrome
                       trace (JSON; Perfetto or chrome://tracing open it).
                       With several ranks each writes its own file, F with
                       -rank<R> before the extension (t.json -> t-rank1.json)
  --calibrate FILE     time every instruction shape of the plan's functions
                       (zero inputs, --repeat runs, at least 3) and write
                       the cost model's table (docs/planner.md)
  --list               print the plan's functions and their signatures, exit
  -h, --help           show this help
  --version            print the plan format version

GENERATION (plans compiled from a pipeline folder):
  --class-label L[,L]  class id(s), one image each (repeatable); 1 up to
                       the plan's --batch. Fewer than the batch pad it:
                       the run costs the time of a full batch
  --prompt P           a prompt, one image each (repeatable; text-to-image
                       pipelines such as FluxPipeline); 1 up to the plan's
                       --batch
  --prompt-2 P         the second prompt of each image (prompt_2: read by
                       FluxPipeline's T5, SDXL's and SD3's second CLIP;
                       default: the prompt); give none or one per prompt
                       (--prompt and --prompt-file lines together), in the
                       same order
  --prompt-3 P         the third prompt (StableDiffusion3Pipeline's
                       prompt_3, read by T5), as --prompt-2
  --prompt-file F      prompts, one per line (blank lines skipped), after
                       any --prompt
  --num-images-per-prompt N
                       N images of each prompt (diffusers'
                       num_images_per_prompt; default 1), each its own
                       noise: as if every prompt, and each per-prompt
                       --prompt-2/-3 and negative prompt, were given N
                       times in a row; the total counts against --batch
  --negative-prompt P  what classifier-free guidance steers away from
                       (StableDiffusionPipeline, SDXL, SD3; default "",
                       for SDXL zero embeddings as its
                       force_zeros_for_empty_prompt asks): once for every
                       image, or once per --prompt
  --negative-prompt-2 P, --negative-prompt-3 P
                       the negative prompt of the second and third text
                       encoders (SDXL's negative_prompt_2, SD3's
                       negative_prompt_2 and _3; default: the negative
                       prompt), given as --negative-prompt is
  --steps N            denoising steps (default: the pipeline's, 50 for
                       DiTPipeline and the Stable Diffusion 1/2/XL
                       pipelines, 28 for FluxPipeline and SD3)
  --guidance-scale G   guidance scale (default: the pipeline's, 4.0 for
                       DiTPipeline, 7.5 for StableDiffusionPipeline, 5.0
                       for SDXL and 7.0 for SD3 classifier-free guidance,
                       where <= 1 turns it off;
                       3.5 for FluxPipeline, where it is an
                       input of a guidance-distilled transformer (dev);
                       unused by a plan without guidance (schnell))
  --guidance-rescale R guidance_rescale in [0, 1] (default 0: none):
                       StableDiffusionPipeline text-to-image and SDXL; the
                       guided prediction mixed with itself rescaled to the
                       conditional one's standard deviation
  --seed S             seed of the initial noise and of an ancestral
                       scheduler's per-step noise (default 0); image i of a
                       batch depends only on (S, i) (--generator fresco):
                       see docs/cli.md. With --generator torch, S1,S2,...
                       gives one generator per image (diffusers' list of
                       generators)
  --generator G        where the seeded noise comes from: fresco (default;
                       Fresco's per-image streams) or torch (what diffusers
                       draws from torch.Generator("cpu").manual_seed(S) in
                       float32, in its order, the VAE encoder's sample
                       too: the same seed gives diffusers' picture);
                       torch-bf16, torch-f16: what it draws for a pipeline
                       run in that torch_dtype
  --scheduler NAME     override the pipeline's scheduler class, configured
                       from the pipeline's scheduler_config.json:
                       DDIMScheduler, EulerDiscreteScheduler, PNDMScheduler,
                       EulerAncestralDiscreteScheduler,
                       DPMSolverMultistepScheduler (noise-predicting
                       pipelines: DiT, Stable Diffusion 1/2/XL), or
                       FlowMatchEulerDiscreteScheduler (Flux, SD3)
  --scheduler-config K=V
                       set a key of the scheduler's config as diffusers'
                       from_config(config, K=V) does (repeatable; V is JSON
                       or a bare word: use_karras_sigmas=true,
                       timestep_spacing=trailing, shift=3.0); a key that is
                       not the diffusers class's setting is an error
                       listing them
  --latents @FILE      initial noise f32 for the N images in the
                       pipeline's layout ([N, C, H, W] for DiT and Stable
                       Diffusion, or FluxPipeline's packed [N, tokens,
                       4C]), instead of the seed
  --image F.png        image-to-image (StableDiffusionPipeline,
                       StableDiffusionXLPipeline, StableDiffusion3Pipeline
                       and FluxPipeline plans compiled with fresco-compile
                       --vae-encoder; StableDiffusionXLImg2ImgPipeline, the
                       SDXL refiner, runs nothing else): every image starts
                       from this PNG
                       (8-bit RGB or gray, no alpha; exactly the plan's
                       width x height, not resized), encoded to its latent
                       mean and noised to the first step --strength keeps;
                       --latents then gives that noise. Any of the
                       schedulers above that fits the pipeline, driven as
                       diffusers' img2img pipeline class drives it
  --mask F.png         with --image: inpainting (the plans --image takes,
                       as diffusers' inpaint classes on a denoiser of the
                       latent channel count): white pixels are repainted,
                       black ones keep the image (gray or RGB, no alpha, as
                       PIL's "L", 128 and up is white; the plan's width x
                       height). Strength defaults to the inpaint class's
                       (1.0 SD, 0.9999 SDXL, 0.6 SD3 and Flux; at 1.0 from
                       pure noise), guidance to its (7.5 SDXL, 7.0 Flux;
                       with an SDXL ControlNet 5.0)
  --image-latents @F   image-to-image from latents instead of a PNG
                       (SDXL plans: f32 [N or 1, C, H/8, W/8], as
                       --output-latents writes them), taken as they are,
                       not encoded: the refiner's half of an ensemble of
                       experts, with --denoising-start
  --denoising-end F    SDXL: stop after the last step whose timestep is at
                       or above int(round(T - F T)) (T the scheduler's
                       num_train_timesteps), in (0, 1): the base's half of
                       an ensemble of experts, with --output-latents
  --denoising-start F  SDXL image-to-image: run the steps whose timestep
                       is below int(round(T - F T)), from the init image
                       or latents as they are (no noise added; --strength
                       does not apply): the refiner's half
  --strength S         with --image: how much of the schedule runs, in
                       (0, 1] (default the img2img class's: 0.8 SD, 0.3
                       SDXL, 0.6 SD3 and Flux), as diffusers' get_timesteps:
                       the last int(steps * S) of the --steps steps (SD3,
                       Flux: steps - int(steps - steps * S), rounding up;
                       1: all of them, from the image noised to the first)
  --control-image F.png
                       a ControlNet plan's control image (required there,
                       an error elsewhere; once per ControlNet of a
                       MultiControlNetModel, in folder order, or per image
                       of a --control-images plan): 8-bit
                       RGB or gray, no alpha, exactly the plan's width x
                       height (not resized), scaled to [0, 1] as diffusers'
                       control image processor does (Flux, SD3: to [-1, 1] and
                       through the VAE encoder, its latent mean); every
                       image of the run is conditioned on it
  --controlnet-scale S[,S...]
                       the ControlNet's residuals times S (diffusers'
                       controlnet_conditioning_scale; default the class's:
                       1.0, with --image 0.8 (Flux 1.0), with --mask 0.5
                       (SDXL, Flux 1.0));
                       one value for every ControlNet or one each
  --control-mask F.png an SD3 inpainting ControlNet plan's mask
                       (StableDiffusion3ControlNetInpaintingPipeline's
                       control_mask; required there, an error elsewhere):
                       white repaints the control image, black keeps it,
                       binarized as --mask; the plan's width x height
  --control-mode M[,M...]
                       a Flux ControlNet-Union's mode (diffusers'
                       control_mode: which kind of control image, e.g.
                       canny, depth; the net's model card numbers them),
                       required there; one value for every ControlNet or
                       one each
  --control-guidance-start F[,F...]
  --control-guidance-end F[,F...]
                       the fraction of the steps the ControlNet acts on
                       (default 0 and 1): step i of n keeps it unless
                       i/n < start or (i+1)/n > end, as diffusers'
                       controlnet_keep; one value for every ControlNet or
                       one each
  --aesthetic-score A  the SDXL refiner (StableDiffusionXLImg2ImgPipeline
                       with requires_aesthetics_score): the aesthetic score
                       in the prompts' time ids (default 6.0); an error for
                       other plans
  --negative-aesthetic-score A
                       the same for the negative half (default 2.5)
  --original-size H,W  SDXL's micro-conditioning (diffusers'
                       original_size, crops_coords_top_left, target_size),
                       in pixels: the time ids of the prompts' half
                       (default: the plan's height,width)
  --crops-coords-top-left T,L
                       the crop corner (default 0,0)
  --target-size H,W    the target size (default: the plan's height,width;
                       not the refiner's, whose time ids end with the
                       aesthetic score instead)
  --negative-original-size H,W
  --negative-crops-coords-top-left T,L
  --negative-target-size H,W
                       the negative half's, used under classifier-free
                       guidance. Text-to-image (StableDiffusionXLPipeline)
                       takes them only with both sizes (the crop corner
                       defaulting to 0,0), else repeats the prompts' ids;
                       image-to-image (StableDiffusionXLImg2ImgPipeline)
                       defaults each size to the prompts' and takes the
                       prompts' crop corner, or on the refiner the negative
                       one (default 0,0). What diffusers would ignore, and
                       any of these on a plan without SDXL's time ids, is
                       an error
  --fresh-steps N      plans compiled with --parallel patch=P
                       (DistriFusion): the first N steps exchange every
                       rank's keys and values exactly, later steps use the
                       other ranks' from the previous step while this
                       step's travel (default: the plan's, fresco-compile
                       --fresh-steps; at least 1; N >= the steps run makes
                       every step exact); with --parallel pipefusion=S
                       (PipeFusion): the first N steps run the exact
                       warm-up function. An error for other plans
  --output-latents @F  write the final latents (before VAE scaling) as .npy,
                       in the --latents layout
  -o, --output-image F write the image as PNG; with several images,
                       F's stem gets -0, -1, ... (out.png -> out-0.png)
  --quiet              no progress output

FUNCTIONS:
  --function NAME      function (component) to run, e.g. "transformer"; may be
                       left out when the plan has only one function and no
                       pipeline
  --input [NAME=]@FILE a NumPy .npy input; in argument order, or by name.
                       Integer arrays given for f32 arguments are converted
                       (diffusers does timesteps.float()).
  --output @FILE       write the next output as .npy; without any --output,
                       a summary of each output is printed
  --repeat N           run N times (timing: --stats reports each run)

EXIT CODES: 0 success, 1 error (bad plan, weights, inputs), 2 misuse.

EXAMPLES:
  fresco-run dit.fplan --weights ./DiT-XL-2-256 --class-label 207 \
    --steps 25 --guidance-scale 4 --seed 0 -o out.png
  fresco-run flux.fplan --weights ./FLUX.1-dev --prompt "a red fox" \
    --prompt "two cats on a sofa" --seed 0 -o out.png
  fresco-run dit.fplan --weights ./dit-tiny --function transformer \
    --input @latents.npy --input @timestep.npy --input @labels.npy \
    --output @sample.npy
)";

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

/// "auto, nccl, gloo or gloo-direct": what --comm accepts.
std::string commModeList() {
  std::vector<std::string> names = {"auto"};
  for (const std::string &n : CommunicatorRegistry::global().names())
    names.push_back(n);
  return joinNames(names, "or");
}

/// `text` wrapped at 79 columns, every line indented by `indent` spaces but
/// the first, which continues after `first` (already `indent` wide or less).
std::string wrapped(const std::string &first, const std::string &text,
                    size_t indent) {
  std::string out = first, word;
  size_t column = first.size();
  std::string pad(indent, ' ');
  std::istringstream words(text);
  if (column < indent) {
    out += std::string(indent - column, ' ');
    column = indent;
  }
  bool lineEmpty = column == indent;
  while (words >> word) {
    if (!lineEmpty && column + 1 + word.size() > 79) {
      out += "\n" + pad;
      column = indent;
      lineEmpty = true;
    }
    if (!lineEmpty) {
      out += ' ';
      ++column;
    }
    out += word;
    column += word.size();
    lineEmpty = false;
  }
  return out + "\n";
}

/// --help, with the backends and communicators of this build.
std::string usage() {
  const BackendRegistry &backends = BackendRegistry::global();
  std::string out = kUsageHead;
  out += wrapped("  --backend NAME",
                 "where the kernels run: " + backends.nameList() + ":", 23);
  for (const BackendEntry &e : backends.entries())
    out += wrapped(std::string(23, ' ') + e.name + ":", e.summary, 25);
  out += kUsageMiddle;
  out += wrapped(
      "  --comm MODE",
      "how multi-rank collectives move data: " + commModeList() + ":", 23);
  out += wrapped(std::string(23, ' ') + "auto:",
                 "the backend's native communicator where it can serve the "
                 "ranks, else Gloo staged through the host (the default)",
                 25);
  for (const CommunicatorEntry &e : CommunicatorRegistry::global().entries()) {
    std::string only;
    if (e.deviceNative)
      only = backends.nameList([&](const BackendEntry &b) {
        return b.nativeCommunicator == e.name;
      });
    if (e.needsHostAddressable)
      only = backends.nameList(
          [](const BackendEntry &b) { return b.hostAddressable; });
    out += wrapped(
        std::string(23, ' ') + e.name + ":",
        e.summary + (only.empty() ? "" : " (--backend " + only + ")"), 25);
  }
  return out + kUsageTail;
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
    usageError("--controlnet-scale, --control-mode, --control-mask and "
               "--control-guidance-start/-end apply to a ControlNet: give "
               "--control-image too");
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
