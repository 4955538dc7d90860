#!/usr/bin/env python3
"""Time DiT image generation on CPU PyTorch: one denoising step and one VAE decode.

The baseline for Fresco's generation path. Builds the diffusers components from configs with
diffusers' own random init (timing does not depend on the values): the transformer
(default DiT-S/2, models/dit/configs/dit-s-2-256.json), the AutoencoderKL DiT uses
(models/dit/pipelines/dit-xl-2-256/vae/config.json: sd-vae, 32x32 latents -> 256x256 images) and
the scheduler (DiT-XL-2-256's DDIMScheduler config, or --scheduler NAME from it).

A step is DiTPipeline.__call__'s loop body verbatim: cat the latents twice for classifier-free
guidance (so --batch 2 labels is a transformer batch of 4), scale_model_input, the transformer
forward with the labels plus the null class 1000, guidance on the eps channels, the learned-sigma
split, scheduler.step. --warmup steps run untimed first, then --steps timed ones (one denoising
run of --warmup + --steps steps). The decode is DiTPipeline's `vae.decode(1 / scaling_factor *
latents)` on --batch latents, --vae-warmup untimed then --vae-runs timed. Everything runs under
torch.no_grad(). Prints one JSON line: step_median_s and vae_decode_median_s with the runs, the
configs, batches, threads, versions, OpenMP wait policy and BLAS (as bench/torch_dit_forward.py).
"""
import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
DEFAULT_TRANSFORMER = os.path.join(ROOT, "models", "dit", "configs", "dit-s-2-256.json")
DEFAULT_VAE = os.path.join(ROOT, "models", "dit", "pipelines", "dit-xl-2-256", "vae", "config.json")
DEFAULT_SCHEDULER = os.path.join(ROOT, "models", "dit", "pipelines", "dit-xl-2-256", "scheduler",
                                 "scheduler_config.json")


def read_json(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--transformer-config", default=DEFAULT_TRANSFORMER,
                    help="DiT config.json (default models/dit/configs/dit-s-2-256.json)")
    ap.add_argument("--vae-config", default=DEFAULT_VAE,
                    help="AutoencoderKL config.json (default models/dit/pipelines/dit-xl-2-256/vae/config.json)")
    ap.add_argument("--scheduler-config", default=DEFAULT_SCHEDULER,
                    help="scheduler_config.json (default DiT-XL-2-256's DDIMScheduler)")
    ap.add_argument("--scheduler", help="scheduler class to build from --scheduler-config (default its own)")
    ap.add_argument("--batch", type=int, default=2, help="class labels = images (default 2)")
    ap.add_argument("--guidance-scale", type=float, default=4.0, help="CFG scale (default 4; <= 1: no CFG)")
    ap.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                    help="torch and OpenBLAS threads (default: all usable cores)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed denoising steps first (default 1)")
    ap.add_argument("--steps", type=int, default=4, help="timed denoising steps (default 4)")
    ap.add_argument("--vae-warmup", type=int, default=0, help="untimed VAE decodes first (default 0)")
    ap.add_argument("--vae-runs", type=int, default=1, help="timed VAE decodes (default 1; 0 skips)")
    ap.add_argument("--seed", type=int, default=0, help="seed for weights and inputs (default 0)")
    args = ap.parse_args()

    # Read when torch and its BLAS load, so set before the import (see bench/torch_dit_forward.py).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    import diffusers
    import torch

    sys.path.insert(0, HERE)
    from torch_dit_forward import blas_info

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    tconfig, vconfig, sconfig = (read_json(p) for p in
                                 (args.transformer_config, args.vae_config, args.scheduler_config))
    transformer = getattr(diffusers, tconfig["_class_name"]).from_config(tconfig).eval()
    vae = diffusers.AutoencoderKL.from_config(vconfig).eval()
    scheduler = getattr(diffusers, args.scheduler or sconfig["_class_name"]).from_config(sconfig)

    batch, cfg = args.batch, args.guidance_scale > 1
    channels, size = transformer.config.in_channels, transformer.config.sample_size
    latents = torch.randn(batch, channels, size, size)
    class_labels = torch.randint(0, 1000, (batch,))
    labels_input = torch.cat([class_labels, torch.tensor([1000] * batch)]) if cfg else class_labels
    total = args.warmup + args.steps
    scheduler.set_timesteps(total)

    step_runs = []
    latent_model_input = torch.cat([latents] * 2) if cfg else latents
    with torch.no_grad():
        for i, t in enumerate(scheduler.timesteps):
            start = time.perf_counter()
            # DiTPipeline.__call__'s loop body.
            if cfg:
                half = latent_model_input[: len(latent_model_input) // 2]
                latent_model_input = torch.cat([half, half], dim=0)
            latent_model_input = scheduler.scale_model_input(latent_model_input, t)
            timesteps = t[None].expand(latent_model_input.shape[0])
            noise_pred = transformer(latent_model_input, timestep=timesteps, class_labels=labels_input).sample
            if cfg:
                eps, rest = noise_pred[:, :channels], noise_pred[:, channels:]
                cond_eps, uncond_eps = torch.split(eps, len(eps) // 2, dim=0)
                half_eps = uncond_eps + args.guidance_scale * (cond_eps - uncond_eps)
                eps = torch.cat([half_eps, half_eps], dim=0)
                noise_pred = torch.cat([eps, rest], dim=1)
            if transformer.config.out_channels // 2 == channels:
                model_output, _ = torch.split(noise_pred, channels, dim=1)
            else:
                model_output = noise_pred
            latent_model_input = scheduler.step(model_output, t, latent_model_input).prev_sample
            if i >= args.warmup:
                step_runs.append(time.perf_counter() - start)

        n = vconfig["sample_size"] // 2 ** (len(vconfig["block_out_channels"]) - 1)
        vae_latents = torch.randn(batch, vconfig["latent_channels"], n, n)
        vae_runs, image_shape = [], None
        for i in range(args.vae_warmup + args.vae_runs):
            start = time.perf_counter()
            image = vae.decode(1 / vae.config.scaling_factor * vae_latents).sample
            if i >= args.vae_warmup:
                vae_runs.append(time.perf_counter() - start)
            image_shape = list(image.shape)

    def median(runs):
        return round(statistics.median(runs), 6) if runs else None

    print(json.dumps({
        "impl": "pytorch-diffusers",
        "transformer_config": os.path.relpath(args.transformer_config, ROOT),
        "vae_config": os.path.relpath(args.vae_config, ROOT),
        "scheduler": type(scheduler).__name__,
        "batch": batch,
        "transformer_batch": int(latent_model_input.shape[0]),
        "guidance_scale": args.guidance_scale,
        "threads": torch.get_num_threads(),
        "step_median_s": median(step_runs),
        "step_runs": [round(r, 6) for r in step_runs],
        "vae_latents": list(vae_latents.shape),
        "vae_image": image_shape,
        "vae_decode_median_s": median(vae_runs),
        "vae_runs": [round(r, 6) for r in vae_runs],
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"],
        "blas": blas_info(torch),
    }))


if __name__ == "__main__":
    main()
