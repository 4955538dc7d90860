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

from fresco_ref_common import (add_compute_dtype_arg, add_random_input_args, arg_parser, import_diffusers,
                               install_sdpa_for_torch1, load_tensors, read_model_config, save_arrays,
                               save_output, torch_dtype)

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
    import torch

    install_sdpa_for_torch1()
    diffusers = import_diffusers()
    dtype = torch_dtype(args.dtype)
    model = diffusers.FluxTransformer2DModel.from_pretrained(args.model).to(dtype).eval()
    tensors = load_tensors(args.inputs, INPUTS, dtype, optional=True)
    if model.config.guidance_embeds != ("guidance" in tensors):
        sys.exit(f"guidance_embeds is {model.config.guidance_embeds} but guidance.npy is "
                 f"{'present' if 'guidance' in tensors else 'missing'} in {args.inputs}")
    with torch.no_grad():
        sample = model(**tensors, return_dict=False)[0]
    save_output(args.out, sample, args.dtype)


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--model", required=True, help="diffusers FluxTransformer2DModel folder")
    ap.add_argument("--inputs", help="folder of input .npy files (as --make-inputs writes them)")
    ap.add_argument("--out", help="output .npy (float32 [B, image tokens, out channels])")
    add_compute_dtype_arg(ap)
    ap.add_argument("--make-inputs", metavar="DIR", help="write random inputs for --model into DIR instead")
    add_random_input_args(ap, "--make-inputs")
    ap.add_argument("--height", type=int, default=64, help="image height in pixels for --make-inputs")
    ap.add_argument("--width", type=int, default=32, help="image width in pixels for --make-inputs")
    ap.add_argument("--max-sequence-length", type=int, default=5, help="text tokens for --make-inputs")
    args = ap.parse_args()

    config = read_model_config(args.model, "FluxTransformer2DModel")
    if args.make_inputs:
        make_inputs(config, args)
        return
    if args.inputs is None or args.out is None:
        ap.error("missing --inputs and --out (or use --make-inputs)")
    run(args)


if __name__ == "__main__":
    main()
