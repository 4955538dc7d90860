#!/usr/bin/env python3
"""Reference DiT forward with the real diffusers class, on CPU PyTorch.

Run the model:
  dit_reference.py --model DIR --latents x.npy --timestep t.npy --class-labels y.npy --out out.npy
      [--dtype float32|float64]
  DIR is a diffusers model folder (config.json + diffusion_pytorch_model.safetensors, or shards
  with an index). Its `_class_name` may be DiTTransformer2DModel or the legacy Transformer2DModel
  with norm_type ada_norm_zero, which diffusers itself remaps to DiTTransformer2DModel. Loading
  is diffusers' default path (accelerate, low_cpu_mem_usage): a missing or mis-shaped tensor is an
  error, an extra one a warning. float64 runs the model and inputs in double; the output is always
  saved as float32.

Write inputs for a model:
  dit_reference.py --model DIR --make-inputs OUTDIR [--batch 2] [--seed 0]
  writes latents.npy (float32 [B, in_channels, sample_size, sample_size], N(0, 1)),
  timestep.npy (int64 [B] in [0, 1000)) and class_labels.npy (int64 [B] in [0, num_embeds_ada_norm)).
"""
import argparse
import os
import sys

import numpy as np

from fresco_ref_common import (add_compute_dtype_arg, add_random_input_args, arg_parser, import_diffusers,
                               read_json, save_arrays, save_output, torch_dtype)

DIT_CLASSES = ("DiTTransformer2DModel", "Transformer2DModel")


def make_inputs(config: dict, out_dir: str, batch: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    size = config["sample_size"]
    inputs = {
        "latents": rng.standard_normal((batch, config["in_channels"], size, size)).astype(np.float32),
        "timestep": rng.integers(0, 1000, size=batch, dtype=np.int64),
        "class_labels": rng.integers(0, config["num_embeds_ada_norm"], size=batch, dtype=np.int64),
    }
    save_arrays(out_dir, inputs)


def load_model(model_dir: str, config: dict):
    name = config.get("_class_name")
    if name not in DIT_CLASSES:
        sys.exit(f"{model_dir}: _class_name {name!r} is not one of {', '.join(DIT_CLASSES)}")
    if config.get("norm_type") != "ada_norm_zero":
        sys.exit(f"{model_dir}: norm_type {config.get('norm_type')!r} is not ada_norm_zero (not a DiT)")
    diffusers = import_diffusers()
    model = getattr(diffusers, name).from_pretrained(model_dir)
    if not isinstance(model, diffusers.DiTTransformer2DModel):
        sys.exit(f"{model_dir}: diffusers built {type(model).__name__}, not DiTTransformer2DModel")
    return model.eval()


def run(args: argparse.Namespace, config: dict) -> None:
    import torch

    dtype = torch_dtype(args.dtype)
    latents = torch.from_numpy(np.load(args.latents)).to(dtype)
    timestep = torch.from_numpy(np.load(args.timestep))
    class_labels = torch.from_numpy(np.load(args.class_labels))
    batch = latents.shape[0]
    if latents.dim() != 4 or timestep.shape != (batch,) or class_labels.shape != (batch,):
        sys.exit(f"want latents [B, C, H, W], timestep [B], class_labels [B]; got {list(latents.shape)}, "
                 f"{list(timestep.shape)}, {list(class_labels.shape)}")

    model = load_model(args.model, config).to(dtype)
    with torch.no_grad():
        sample = model(latents, timestep=timestep, class_labels=class_labels).sample
    save_output(args.out, sample, args.dtype)


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--model", required=True, help="diffusers model folder")
    ap.add_argument("--latents", help="float latents .npy [B, C, H, W]")
    ap.add_argument("--timestep", help="timesteps .npy [B]")
    ap.add_argument("--class-labels", help="int64 class labels .npy [B]")
    ap.add_argument("--out", help="output .npy (float32 [B, out_channels, H, W])")
    add_compute_dtype_arg(ap)
    ap.add_argument("--make-inputs", metavar="DIR", help="write random inputs for --model into DIR instead")
    add_random_input_args(ap, "--make-inputs")
    args = ap.parse_args()

    config = read_json(os.path.join(args.model, "config.json"))
    if args.make_inputs:
        make_inputs(config, args.make_inputs, args.batch, args.seed)
        return
    missing = [f"--{k.replace('_', '-')}" for k in ("latents", "timestep", "class_labels", "out")
               if getattr(args, k) is None]
    if missing:
        ap.error(f"missing {' '.join(missing)} (or use --make-inputs)")
    run(args, config)


if __name__ == "__main__":
    main()
