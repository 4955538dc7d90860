//===- Usage.cpp - fresco-run --help --------------------------------------===//
//
// The help text, with the backends and communicators of this build.
//
//===----------------------------------------------------------------------===//
#include "runtime/backends/BackendRegistry.h"
#include "runtime/comm/registry/CommunicatorRegistry.h"
#include "tools/fresco-run/Options.h"

#include <sstream>
#include <string>
#include <vector>

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
               [--eta E] [--seed 0] [--generator G] [--scheduler NAME]
               [--scheduler-config K=V] [--latents @x.npy]
               [--image in.png [--mask mask.png] | --image-latents @x.npy]
               [--strength S] [--denoising-start F] [--denoising-end F]
               [--control-image c.png ... [--controlnet-scale S[,S...]]
               [--control-guidance-start F[,F...]] [--control-mode M[,M...]]
               [--control-guidance-end F[,F...]] [--control-mask m.png]
               [--guess-mode]]
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
  --eta E              the Stable Diffusion pipelines' eta in [0, 1]
                       (default 0): DDIMScheduler's eta, TCDScheduler's
                       gamma; above 0 their steps add fresh seeded noise
  --guidance-rescale R guidance_rescale in [0, 1] (default 0: none):
                       StableDiffusionPipeline text-to-image and SDXL; the
                       guided prediction mixed with itself rescaled to the
                       conditional one's standard deviation
  --seed S             seed of the initial noise and of a stochastic
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
                       DDIMScheduler, DDPMScheduler, EulerDiscreteScheduler,
                       PNDMScheduler,
                       EulerAncestralDiscreteScheduler,
                       DPMSolverMultistepScheduler,
                       DPMSolverSinglestepScheduler, UniPCMultistepScheduler,
                       HeunDiscreteScheduler, KDPM2DiscreteScheduler,
                       KDPM2AncestralDiscreteScheduler, LMSDiscreteScheduler,
                       LCMScheduler, TCDScheduler, EDMEulerScheduler,
                       EDMDPMSolverMultistepScheduler (noise-predicting
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
  --guess-mode         a Stable Diffusion or SDXL ControlNet plan: diffusers'
                       guess_mode, the nets' residuals scaled from 0.1 (the
                       first) to 1 (the mid block's) and, under CFG, none
                       for the negative prompts' half
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

} // namespace

/// "auto, nccl, gloo or gloo-direct": what --comm accepts.
std::string commModeList() {
  std::vector<std::string> names = {"auto"};
  for (const std::string &n : CommunicatorRegistry::global().names())
    names.push_back(n);
  return joinNames(names, "or");
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

} // namespace fresco::run
