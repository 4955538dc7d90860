#!/usr/bin/env python3
"""Reference image generation with the real diffusers DiTPipeline, on CPU PyTorch.

Run the pipeline:
  dit_pipeline_reference.py --pipeline DIR --class-labels 3,7 --latents x.npy
      [--steps 4] [--guidance-scale 4] [--scheduler NAME] [--loop pipeline|standard]
      [--dtype float32|float64] [--out-latents y.npy] [--out-images img.npy]
      [--out-trajectory traj.npy] [--out-meta meta.json] [--patch P [--fresh-steps W]]
  DIR is a diffusers DiTPipeline folder (model_index.json, transformer/, vae/, scheduler/), e.g.
  one written by make_diffusers_pipeline.py. x.npy is the initial noise, float [B, in_channels,
  sample_size, sample_size] with B = the number of class labels (a leading '@' on the path is
  ignored). --scheduler swaps the folder's scheduler for NAME.from_config(folder's scheduler
  config), as diffusers' docs do: DDIMScheduler (the folder's own for DiT-XL-2-256),
  DPMSolverMultistepScheduler (DPM++ 2M), EulerDiscreteScheduler, or any diffusers scheduler class.
  Outputs (all optional):
    --out-latents     float32 [B, C, h, w]: the final latents, before the VAE's 1/scaling_factor
    --out-images      float32 [B, H, W, 3] in [0, 1]: the pipeline's output_type="np" images
    --out-trajectory  float32 [steps, B, C, h, w]: the latents after every scheduler step
    --out-meta        JSON: scheduler class and config, timesteps, sigmas, init_noise_sigma, ...

How the real pipeline is driven (--loop pipeline, the default):
  DiTPipeline.__call__ has no latents= argument; it draws the noise with
  diffusers.utils.torch_utils.randn_tensor, imported by name into
  diffusers.pipelines.dit.pipeline_dit. That module-level name is replaced, for the duration of the
  call, by a function that checks the requested shape against x.npy and returns x.npy in the
  requested dtype. Everything else is DiTPipeline's own code, run with
  output_type="np". The final latents are captured by wrapping pipe.scheduler.step (an instance
  attribute that calls the real method) and keeping the first B rows of its last prev_sample:
  that is exactly the tensor DiTPipeline calls `latents` before `1 / scaling_factor * latents`.
  pipe.vae.decode is wrapped too, and its input is checked to equal 1 / scaling_factor * latents
  bit for bit, so the capture is known to be the decoded tensor.

KNOWN QUIRK of diffusers' DiTPipeline (0.31; the code has been this way since 0.12):
  it (1) never multiplies the initial noise by scheduler.init_noise_sigma and (2) passes the
  OUTPUT of scheduler.scale_model_input (`latent_model_input`) to scheduler.step as the sample,
  and carries that scaled tensor into the next step. For schedulers whose scale_model_input is the
  identity and whose init_noise_sigma is 1 (DDIM, DDPM, DPMSolverMultistep, ...) this changes
  nothing. For EulerDiscreteScheduler (scale_model_input divides by sqrt(sigma^2 + 1);
  init_noise_sigma is sqrt(sigma_first^2 + 1) with DiT's "leading" timestep spacing, 17.4 for 4
  steps, or sigma_max = 157 with "linspace"/"trailing") the DiTPipeline result is not the Euler
  sampler: on dit-tiny with 4 steps its latents differ from the standard loop's by 88% of max|.|.
  The standard Euler loop with final sigma 0 reproduces DDIM (eta 0, set_alpha_to_one) on the same
  timesteps to float32 rounding (3e-7), as it should: DDIM is Euler's method on x / sqrt(alpha_bar).
  --loop standard runs the same components in a hand-written loop with the standard diffusers
  ordering, for checking a correct Euler implementation:
      latents = noise * scheduler.init_noise_sigma
      for t in scheduler.timesteps:
          model_input = scheduler.scale_model_input(cat([latents, latents]), t)
          noise_pred = transformer(model_input, t expanded to 2B, class_labels + [1000] * B)
          eps, rest = noise_pred[:, :C], noise_pred[:, C:]          # C = in_channels
          cond, uncond = eps[:B], eps[B:]
          eps = uncond + guidance_scale * (cond - uncond)
          model_output = eps if out_channels // 2 == C (learned sigma dropped) else cat([eps, rest[:B]])
          latents = scheduler.step(model_output, t, latents).prev_sample
      images = DiTPipeline's decode of latents
  CFG is exactly DiTPipeline's (null class id 1000, guidance on the first in_channels channels only,
  learned-sigma channels split off); with guidance_scale <= 1 there is no CFG, as in DiTPipeline.
  For DDIM and DPM++ both loops must agree (checked: bit for bit on CPU float32).

float64 (--dtype float64): the transformer, the VAE and the noise are converted to double
  (pipe.to(torch.float64); diffusers allows it on CPU). The schedulers keep their float32 tables
  (alphas_cumprod, sigmas, timesteps), and DPMSolverMultistepScheduler.step and
  EulerDiscreteScheduler.step cast the sample to float32 for their update and back to the model
  dtype afterwards, so those updates are float32 arithmetic even in float64 mode; DDIMScheduler.step
  has no such cast (float64 arithmetic with float32-rounded coefficients). --scheduler-float64
  lifts most of that: the scheduler module's `torch.float32` is replaced by float64 for the whole
  run (the scheduler is rebuilt from its config under the patch), so its torch tables (betas, alphas_cumprod) and its step
  arithmetic are double; values the schedulers compute through numpy float32 (Euler's and DPM's
  sigmas) stay float32-rounded. On dit-tiny (4 steps, CFG 4) float32 vs float64 differ by
  2.5e-7 to 3.3e-7 of max|latents| and --scheduler-float64 moves float64 results by at most
  1.9e-7 of max|latents| (coefficient rounding). All outputs are saved as float32.

DistriFusion (--patch P [--fresh-steps W], default off): the transformer's self-attentions read
  the other ranks' keys and values of the previous step after the first W steps (default 1), as
  fresco-compile --parallel patch=P computes it; emulated in one process by distrifusion.py (its
  docstring says what exactly). Both loops; one transformer call a step (CFG is in the batch).

Write initial noise:
  dit_pipeline_reference.py --pipeline DIR --make-latents x.npy [--batch 2] [--seed 0]
  writes float32 N(0, 1) noise [B, in_channels, sample_size, sample_size] (numpy generator).
"""
import contextlib
import json
import os
import sys
import types

import numpy as np

import distrifusion
from fresco_ref_common import (add_compute_dtype_arg, add_random_input_args, arg_parser, import_diffusers,
                               read_json, save_normal_noise)


def transformer_config(pipeline_dir: str) -> dict:
    return read_json(os.path.join(pipeline_dir, "transformer", "config.json"))


@contextlib.contextmanager
def scheduler_module_float64(cls):
    """Make `torch.float32` mean float64 inside the module that defines scheduler class `cls`."""
    import torch

    module = sys.modules[cls.__module__]

    class Float64Torch(types.ModuleType):
        def __getattr__(self, name):
            return torch.float64 if name == "float32" else getattr(torch, name)

    original = module.torch
    module.torch = Float64Torch("torch")
    try:
        yield
    finally:
        module.torch = original


@contextlib.contextmanager
def fixed_noise(noise):
    """Replace randn_tensor in DiTPipeline's module by one returning `noise` (shape-checked)."""
    from diffusers.pipelines.dit import pipeline_dit

    def randn_tensor(shape, generator=None, device=None, dtype=None, layout=None):
        if tuple(shape) != tuple(noise.shape):
            sys.exit(f"DiTPipeline asked for noise {list(shape)}, --latents is {list(noise.shape)}")
        return noise.to(device=device, dtype=dtype)

    original = pipeline_dit.randn_tensor
    pipeline_dit.randn_tensor = randn_tensor
    try:
        yield
    finally:
        pipeline_dit.randn_tensor = original


def scheduler_class(args):
    import diffusers

    name = args.scheduler or read_json(os.path.join(args.pipeline, "model_index.json"))["scheduler"][1]
    cls = getattr(diffusers, name, None)
    if cls is None or not hasattr(cls, "from_config") or "Scheduler" not in name:
        sys.exit(f"scheduler {name!r}: not a diffusers scheduler class")
    return cls


def load_pipeline(args):
    import torch

    diffusers = import_diffusers()
    pipe = diffusers.DiTPipeline.from_pretrained(args.pipeline)
    pipe.set_progress_bar_config(disable=True)
    if args.scheduler or args.scheduler_float64:
        # Rebuilt from its config even without --scheduler, so that --scheduler-float64's
        # patch (active from before this call) is in effect while the scheduler is built.
        pipe.scheduler = scheduler_class(args).from_config(dict(pipe.scheduler.config))
    if args.dtype == "float64":
        pipe.to(torch.float64)
    return pipe


def standard_loop(pipe, noise, class_labels, guidance_scale, steps):
    """The same components in the standard diffusers ordering (see the module docstring)."""
    import torch

    transformer, scheduler, vae = pipe.transformer, pipe.scheduler, pipe.vae
    batch = len(class_labels)
    channels = transformer.config.in_channels
    cfg = guidance_scale > 1
    labels = torch.tensor(class_labels).reshape(-1)
    if cfg:
        labels = torch.cat([labels, torch.tensor([1000] * batch)], 0)

    scheduler.set_timesteps(steps)
    latents = noise.to(transformer.dtype) * scheduler.init_noise_sigma
    with torch.no_grad():
        for t in scheduler.timesteps:
            model_input = torch.cat([latents] * 2) if cfg else latents
            model_input = scheduler.scale_model_input(model_input, t)
            timesteps = t[None].expand(model_input.shape[0])  # t is a 0-d tensor, as in DiTPipeline
            noise_pred = transformer(model_input, timestep=timesteps, class_labels=labels).sample
            if cfg:
                eps, rest = noise_pred[:, :channels], noise_pred[:, channels:]
                cond_eps, uncond_eps = torch.split(eps, len(eps) // 2, dim=0)
                eps = uncond_eps + guidance_scale * (cond_eps - uncond_eps)
                noise_pred = torch.cat([eps, rest[:batch]], dim=1)
            if transformer.config.out_channels // 2 == channels:
                model_output, _ = torch.split(noise_pred, channels, dim=1)
            else:
                model_output = noise_pred
            latents = scheduler.step(model_output, t, latents).prev_sample

        # DiTPipeline's decode and post-processing, verbatim.
        samples = vae.decode(1 / vae.config.scaling_factor * latents).sample
        samples = (samples / 2 + 0.5).clamp(0, 1)
        images = samples.cpu().permute(0, 2, 3, 1).float().numpy()
    return images


def run(args) -> None:
    import torch

    class_labels = [int(c) for c in args.class_labels.split(",") if c.strip()]
    noise = torch.from_numpy(np.load(args.latents.lstrip("@")))
    if noise.dim() != 4 or noise.shape[0] != len(class_labels):
        sys.exit(f"want latents [B={len(class_labels)}, C, h, w] (one per class label); got {list(noise.shape)}")

    # --scheduler-float64: patched for the whole run, since step() and set_timesteps() use it too.
    patch = scheduler_module_float64(scheduler_class(args)) if args.scheduler_float64 else contextlib.nullcontext()
    with patch:
        run_patched(args, class_labels, noise)


def run_patched(args, class_labels, noise) -> None:
    import torch

    pipe = load_pipeline(args)
    scheduler = pipe.scheduler
    dtype = pipe.transformer.dtype
    noise = noise.to(dtype)
    batch = len(class_labels)

    # Capture every scheduler step's output (first B rows = the pipeline's latents) and the
    # VAE decode's input. Both wrappers call the real methods unchanged.
    trajectory, decode_inputs = [], []
    real_step, real_decode = scheduler.step, pipe.vae.decode

    def step(*a, **k):
        out = real_step(*a, **k)
        prev = out.prev_sample if hasattr(out, "prev_sample") else out[0]
        trajectory.append(prev[:batch].clone())
        return out

    def decode(z, *a, **k):
        decode_inputs.append(z.clone())
        return real_decode(z, *a, **k)

    scheduler.step = step
    pipe.vae.decode = decode
    emulation = distrifusion.from_args(args, pipe.transformer)

    if args.loop == "pipeline":
        with fixed_noise(noise):
            images = pipe(class_labels=class_labels, guidance_scale=args.guidance_scale,
                          num_inference_steps=args.steps, output_type="np").images
    else:
        images = standard_loop(pipe, noise, class_labels, args.guidance_scale, args.steps)

    if emulation:
        emulation.check_calls(args.steps)
        print(emulation.summary())
    latents = trajectory[-1]
    expected = 1 / pipe.vae.config.scaling_factor * latents
    if len(decode_inputs) != 1 or not torch.equal(decode_inputs[0], expected):
        sys.exit("internal error: the VAE did not decode 1 / scaling_factor * the captured latents")

    out_latents = latents.float().numpy()
    finite = bool(np.isfinite(out_latents).all() and np.isfinite(images).all())
    if args.out_latents:
        np.save(args.out_latents, out_latents)
    if args.out_images:
        np.save(args.out_images, np.asarray(images, dtype=np.float32))
    if args.out_trajectory:
        np.save(args.out_trajectory, torch.stack(trajectory).float().numpy())
    timesteps = [float(t) for t in scheduler.timesteps]
    meta = {
        "scheduler": type(scheduler).__name__,
        "scheduler_config": {k: v for k, v in scheduler.config.items()},
        "loop": args.loop,
        "dtype": args.dtype,
        "scheduler_float64": args.scheduler_float64,
        "class_labels": class_labels,
        "guidance_scale": args.guidance_scale,
        "steps": args.steps,
        "timesteps": timesteps,
        "timesteps_dtype": str(scheduler.timesteps.dtype),
        "init_noise_sigma": float(scheduler.init_noise_sigma),
        "sigmas": [float(s) for s in scheduler.sigmas] if hasattr(scheduler, "sigmas") else None,
        "vae_scaling_factor": pipe.vae.config.scaling_factor,
        "finite": finite,
    }
    if emulation:
        meta["patch"], meta["fresh_steps"] = emulation.patches, emulation.fresh_steps
    if args.out_meta:
        with open(args.out_meta, "w") as f:
            json.dump(meta, f, indent=2, default=str)
            f.write("\n")
    print(f"{meta['scheduler']} loop={args.loop} dtype={args.dtype} steps={args.steps} "
          f"guidance={args.guidance_scale} labels={class_labels} timesteps={timesteps}")
    print(f"latents float32 {list(out_latents.shape)} std {out_latents.std():.5g} max|.| "
          f"{np.abs(out_latents).max():.5g}; images float32 {list(np.shape(images))} mean "
          f"{np.mean(images):.4f} in [{np.min(images):.4f}, {np.max(images):.4f}]; finite={finite}")
    for flag, path in (("latents", args.out_latents), ("images", args.out_images),
                       ("trajectory", args.out_trajectory), ("meta", args.out_meta)):
        if path:
            print(f"wrote {path} ({flag})")
    if not finite:
        sys.exit("non-finite output")


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--pipeline", required=True, help="diffusers DiTPipeline folder")
    ap.add_argument("--class-labels", help="comma-separated class ids, e.g. 3,7")
    ap.add_argument("--latents", help="initial noise .npy [B, C, h, w] (a leading @ is ignored)")
    ap.add_argument("--steps", type=int, default=4, help="num_inference_steps (default 4)")
    ap.add_argument("--guidance-scale", type=float, default=4.0, help="CFG scale (default 4; <= 1: no CFG)")
    ap.add_argument("--scheduler", help="replace the folder's scheduler by this class, from its config")
    ap.add_argument("--loop", choices=("pipeline", "standard"), default="pipeline",
                    help="pipeline: DiTPipeline.__call__ (default); standard: the hand-written loop")
    add_compute_dtype_arg(ap)
    ap.add_argument("--scheduler-float64", action="store_true",
                    help="build the scheduler with float64 tables and step arithmetic")
    ap.add_argument("--out-latents", help="final latents .npy (float32 [B, C, h, w], before 1/scaling_factor)")
    ap.add_argument("--out-images", help="images .npy (float32 [B, H, W, 3] in [0, 1])")
    ap.add_argument("--out-trajectory", help="latents after each step .npy (float32 [steps, B, C, h, w])")
    ap.add_argument("--out-meta", help="run description .json (timesteps, sigmas, scheduler config)")
    ap.add_argument("--make-latents", metavar="FILE", help="write initial noise for --pipeline to FILE instead")
    add_random_input_args(ap, "--make-latents")
    distrifusion.add_args(ap)
    args = ap.parse_args()
    distrifusion.check_args(ap, args)

    if args.make_latents:
        config = transformer_config(args.pipeline)
        size = config["sample_size"]
        save_normal_noise(args.make_latents, (args.batch, config["in_channels"], size, size), args.seed)
        return
    if not args.class_labels or not args.latents:
        ap.error("need --class-labels and --latents (or --make-latents)")
    with distrifusion.exit_on_refusal():
        run(args)


if __name__ == "__main__":
    main()
