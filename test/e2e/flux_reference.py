#!/usr/bin/env python3
"""Reference FluxTransformer2DModel forward with the real diffusers class, on CPU PyTorch.

Write inputs for a model:
  flux_reference.py --model DIR --make-inputs OUTDIR [--batch 2] [--seed 0]
      [--height 64] [--width 32] [--max-sequence-length 5]
  writes, in the order of FluxTransformer2DModel.forward's arguments: hidden_states.npy
  ([B, (H/16)*(W/16), in_channels], N(0, 1): packed 2x2 latents), encoder_hidden_states.npy
  ([B, L, joint_attention_dim], N(0, 1)), pooled_projections.npy ([B, pooled_projection_dim],
  N(0, 1)), timestep.npy ([B] in [0, 1], as FluxPipeline passes t / 1000), img_ids.npy (from
  FluxPipeline._prepare_latent_image_ids), txt_ids.npy (zeros [L, 3], as FluxPipeline makes them)
  and, for a model with guidance_embeds, guidance.npy ([B] in [1, 5]). All float32.

Run the model:
  flux_reference.py --model DIR --inputs INDIR --out out.npy [--dtype float32|float64]
  DIR is a diffusers model folder. float64 runs the model and the inputs in double, but for what
  diffusers itself computes in float32 whatever the dtype: the timestep embedding's sinusoids,
  the RMS norms' mean squares and the rotary embedding's products (apply_rotary_emb's x.float());
  the output is saved as float32.
"""
import sys

import numpy as np

from fresco_ref_common import (import_diffusers, run_transformer, save_arrays, transformer_reference_main,
                               transformer_reference_parser)

# FluxTransformer2DModel.forward's tensor arguments, in order.
INPUTS = ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep", "img_ids", "txt_ids",
          "guidance")


def make_inputs(config: dict, args) -> None:
    import torch

    diffusers = import_diffusers(need_accelerate=False)
    if args.height % 16 or args.width % 16:
        sys.exit(f"--height and --width must be multiples of 16, got {args.height} x {args.width}")
    rng = np.random.default_rng(args.seed)
    b, length = args.batch, args.max_sequence_length
    rows, cols = args.height // 16, args.width // 16
    # FluxPipeline passes the unpacked latent size (pixels / vae_scale_factor 8).
    img_ids = diffusers.FluxPipeline._prepare_latent_image_ids(b, 2 * rows, 2 * cols, torch.device("cpu"),
                                                               torch.float32)
    inputs = {
        "hidden_states": rng.standard_normal((b, rows * cols, config["in_channels"])),
        "encoder_hidden_states": rng.standard_normal((b, length, config["joint_attention_dim"])),
        "pooled_projections": rng.standard_normal((b, config["pooled_projection_dim"])),
        "timestep": rng.uniform(0.0, 1.0, size=b),
        "img_ids": img_ids.numpy(),
        "txt_ids": np.zeros((length, 3)),
    }
    if config.get("guidance_embeds", False):
        inputs["guidance"] = rng.uniform(1.0, 5.0, size=b)
    save_arrays(args.make_inputs, {name: array.astype(np.float32) for name, array in inputs.items()})


def run(args) -> None:
    def check_guidance(model, tensors: dict) -> None:
        if model.config.guidance_embeds != ("guidance" in tensors):
            sys.exit(f"guidance_embeds is {model.config.guidance_embeds} but guidance.npy is "
                     f"{'present' if 'guidance' in tensors else 'missing'} in {args.inputs}")

    run_transformer("FluxTransformer2DModel", args, INPUTS, optional=True, check=check_guidance)


def main() -> None:
    ap = transformer_reference_parser(__doc__, "FluxTransformer2DModel",
                                      "output .npy (float32 [B, image tokens, out channels])")
    ap.add_argument("--height", type=int, default=64, help="image height in pixels for --make-inputs")
    ap.add_argument("--width", type=int, default=32, help="image width in pixels for --make-inputs")
    ap.add_argument("--max-sequence-length", type=int, default=5, help="text tokens for --make-inputs")
    transformer_reference_main(ap, "FluxTransformer2DModel", make_inputs, run)


if __name__ == "__main__":
    main()
