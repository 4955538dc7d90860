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

from fresco_ref_common import run_transformer, save_arrays, transformer_reference_main, transformer_reference_parser

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


def main() -> None:
    ap = transformer_reference_parser(__doc__, "SD3Transformer2DModel",
                                      "output .npy (float32 [B, out_channels, sample_size, sample_size])")
    ap.add_argument("--max-sequence-length", type=int, default=5, help="text tokens for --make-inputs")
    transformer_reference_main(ap, "SD3Transformer2DModel", make_inputs,
                               lambda args: run_transformer("SD3Transformer2DModel", args, INPUTS))


if __name__ == "__main__":
    main()
