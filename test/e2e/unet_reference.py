#!/usr/bin/env python3
"""Reference UNet2DConditionModel forward with the real diffusers class, on CPU PyTorch.

Write inputs for a model:
  unet_reference.py --model DIR --make-inputs OUTDIR [--batch 2] [--seed 0] [--text-tokens 77]
  writes, in the order of UNet2DConditionModel.forward's arguments: sample.npy ([B, in_channels,
  S, S], N(0, 1), S = sample_size), timestep.npy ([B] distinct values in [0, 1000), as the
  schedulers' timesteps) and encoder_hidden_states.npy ([B, T, cross_attention_dim], N(0, 1)).
  For SDXL's addition_embed_type "text_time" also added_cond_kwargs': text_embeds.npy ([B,
  projection_class_embeddings_input_dim - 6 * addition_time_embed_dim], N(0, 1)) and
  time_ids.npy ([B, 6]: original size, crop top-left, target size in pixels, as
  StableDiffusionXLPipeline makes them, varied per row). All float32.

Run the model:
  unet_reference.py --model DIR --inputs INDIR --out out.npy [--dtype float32|float64]
  DIR is a diffusers model folder; float64 runs the model and its inputs in double (diffusers
  computes the timestep sinusoids in float32 whatever the dtype). The output `sample` is saved
  as float32.
"""
import os
import sys

import numpy as np

from fresco_ref_common import (add_compute_dtype_arg, add_random_input_args, arg_parser, import_diffusers,
                               install_sdpa_for_torch1, read_json, torch_dtype)

INPUTS = ("sample", "timestep", "encoder_hidden_states")
ADDED = ("text_embeds", "time_ids")
TIME_IDS = 6  # StableDiffusionXLPipeline's


def input_names(config: dict) -> tuple:
    return INPUTS + ADDED if config.get("addition_embed_type") == "text_time" else INPUTS


def make_inputs(model: str, out: str, batch: int, seed: int, tokens: int) -> None:
    config = read_json(os.path.join(model, "config.json"))
    rng = np.random.default_rng(seed)
    s = config["sample_size"]
    arrays = {
        "sample": rng.standard_normal((batch, config["in_channels"], s, s)),
        "timestep": rng.choice(1000, size=batch, replace=False).astype(np.float64) + 0.5,
        "encoder_hidden_states": rng.standard_normal((batch, tokens, config["cross_attention_dim"])),
    }
    names = input_names(config)
    if ADDED[0] in names:
        pooled = config["projection_class_embeddings_input_dim"] - TIME_IDS * config["addition_time_embed_dim"]
        arrays["text_embeds"] = rng.standard_normal((batch, pooled))
        px = 8 * s
        orig = rng.integers(px // 2, 2 * px, size=(batch, 2))
        crop = rng.integers(0, px // 4, size=(batch, 2))
        arrays["time_ids"] = np.concatenate([orig, crop, np.full((batch, 2), px)], axis=1).astype(np.float64)
    os.makedirs(out, exist_ok=True)
    for name in names:
        np.save(os.path.join(out, f"{name}.npy"), arrays[name].astype(np.float32))
    print(f"wrote {', '.join(names)} to {out}")


def run(model: str, inputs: str, out: str, dtype: str) -> None:
    import torch

    diffusers = import_diffusers(need_accelerate=False)
    # diffusers' torch-1 attention (baddbmm over a torch.empty input with
    # beta 0) gave NaN in about half the float64 runs here; the explicit
    # softmax(q k^T / sqrt(d)) v of fresco_ref_common is deterministic.
    install_sdpa_for_torch1()
    dt = torch_dtype(dtype)
    unet = diffusers.UNet2DConditionModel.from_pretrained(model, torch_dtype=dt).eval()
    names = input_names(dict(unet.config))
    args = {n: torch.from_numpy(np.load(os.path.join(inputs, f"{n}.npy"))).to(dt) for n in names}
    added = {n: args[n] for n in ADDED if n in args} or None
    with torch.no_grad():
        y = unet(args["sample"], args["timestep"], encoder_hidden_states=args["encoder_hidden_states"],
                 added_cond_kwargs=added, return_dict=False)[0]
    np.save(out, y.float().numpy())
    print(f"wrote {out} {list(y.shape)}")


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--model", required=True)
    ap.add_argument("--make-inputs")
    ap.add_argument("--inputs")
    ap.add_argument("--out")
    ap.add_argument("--text-tokens", type=int, default=77)
    add_random_input_args(ap, "--make-inputs")
    add_compute_dtype_arg(ap)
    args = ap.parse_args()
    if args.make_inputs:
        make_inputs(args.model, args.make_inputs, args.batch, args.seed, args.text_tokens)
    elif args.inputs and args.out:
        run(args.model, args.inputs, args.out, args.dtype)
    else:
        sys.exit("give --make-inputs OUTDIR, or --inputs INDIR and --out FILE")


if __name__ == "__main__":
    main()
