#!/usr/bin/env python3
"""Reference SD3Transformer2DModel forward with the real diffusers class, on CPU PyTorch.

Write inputs for a model:
  sd3_reference.py --model DIR --make-inputs OUTDIR [--batch 2] [--seed 0]
      [--max-sequence-length 5]
  writes, in the order of SD3Transformer2DModel.forward's arguments: hidden_states.npy
  ([B, in_channels, sample_size, sample_size], N(0, 1)), encoder_hidden_states.npy
  ([B, L, joint_attention_dim], N(0, 1)), pooled_projections.npy ([B, pooled_projection_dim],
  N(0, 1)) and timestep.npy ([B] in [0, 1000], as StableDiffusion3Pipeline passes
  sigma * 1000). All float32.

Run the model:
  sd3_reference.py --model DIR --inputs INDIR --out out.npy [--dtype float32|float64]
  DIR is a diffusers model folder. float64 runs the model and the inputs in double, but for what
  diffusers itself computes in float32 whatever the dtype: the timestep embedding's sinusoids,
  the RMS norms' mean squares (SD3.5's qk_norm) and the position table (a float32 buffer of the
  folder); the output is saved as float32.
"""

import numpy as np

from fresco_ref_common import (add_compute_dtype_arg, add_random_input_args, arg_parser, import_diffusers,
                               install_sdpa_for_torch1, load_tensors, read_model_config, save_arrays,
                               save_output, torch_dtype)

# SD3Transformer2DModel.forward's tensor arguments, in order.
INPUTS = ("hidden_states", "encoder_hidden_states", "pooled_projections", "timestep")


def make_inputs(config: dict, args) -> None:
    rng = np.random.default_rng(args.seed)
    b, size = args.batch, config.get("sample_size", 128)
    channels = config.get("in_channels", 16)
    inputs = {
        "hidden_states": rng.standard_normal((b, channels, size, size)),
        "encoder_hidden_states": rng.standard_normal((b, args.max_sequence_length, config["joint_attention_dim"])),
        "pooled_projections": rng.standard_normal((b, config["pooled_projection_dim"])),
        "timestep": rng.uniform(0.0, 1000.0, size=b),
    }
    save_arrays(args.make_inputs, {name: array.astype(np.float32) for name, array in inputs.items()})


def run(args) -> None:
    import torch

    install_sdpa_for_torch1()
    diffusers = import_diffusers()
    dtype = torch_dtype(args.dtype)
    model = diffusers.SD3Transformer2DModel.from_pretrained(args.model).to(dtype).eval()
    tensors = load_tensors(args.inputs, INPUTS, dtype)
    with torch.no_grad():
        sample = model(**tensors, return_dict=False)[0]
    save_output(args.out, sample, args.dtype)


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--model", required=True, help="diffusers SD3Transformer2DModel folder")
    ap.add_argument("--inputs", help="folder of input .npy files (as --make-inputs writes them)")
    ap.add_argument("--out", help="output .npy (float32 [B, out_channels, sample_size, sample_size])")
    add_compute_dtype_arg(ap)
    ap.add_argument("--make-inputs", metavar="DIR", help="write random inputs for --model into DIR instead")
    add_random_input_args(ap, "--make-inputs")
    ap.add_argument("--max-sequence-length", type=int, default=5, help="text tokens for --make-inputs")
    args = ap.parse_args()

    config = read_model_config(args.model, "SD3Transformer2DModel")
    if args.make_inputs:
        make_inputs(config, args)
        return
    if args.inputs is None or args.out is None:
        ap.error("missing --inputs and --out (or use --make-inputs)")
    run(args)


if __name__ == "__main__":
    main()
