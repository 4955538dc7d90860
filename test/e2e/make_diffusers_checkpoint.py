#!/usr/bin/env python3
"""Write a diffusers model folder with random weights, using diffusers' own save_pretrained.

The model class is the config's `_class_name`. diffusers remaps a legacy Transformer2DModel
config with norm_type ada_norm_zero to DiTTransformer2DModel and saves it under that name, keeping
the legacy keys (cross_attention_dim, use_linear_projection, ...) and adding norm_eps. A
FluxTransformer2DModel or SD3Transformer2DModel is built with test/e2e's scaled_dot_product_attention
for torch 1.
Every parameter is redrawn from a seeded generator, so the checkpoint is reproducible and no
tensor is trivially zero or one: weights U(+-1/sqrt(fan_in)), biases U(+-0.1), norm gains
1 + U(+-0.1), embedding tables N(0, 1).

Output: <out>/config.json plus diffusion_pytorch_model.safetensors, or shards with
diffusion_pytorch_model.safetensors.index.json when the weights exceed --shard-size.
"""
import math
import os

import torch
from torch import nn

from fresco_ref_common import (add_storage_dtype_arg, arg_parser, import_diffusers, install_sdpa_for_torch1, read_json,
                               torch_dtype)


def randomize(model: nn.Module, seed: int) -> None:
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            for name, p in module.named_parameters(recurse=False):
                if isinstance(module, nn.Embedding):
                    p.normal_(0.0, 1.0, generator=gen)
                elif p.dim() >= 2:
                    bound = 1.0 / math.sqrt(p[0].numel())
                    p.uniform_(-bound, bound, generator=gen)
                elif name == "weight":
                    p.uniform_(0.9, 1.1, generator=gen)
                else:
                    p.uniform_(-0.1, 0.1, generator=gen)


def main() -> None:
    ap = arg_parser(__doc__)
    ap.add_argument("--config", required=True, help="diffusers config.json of the model")
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--seed", type=int, default=0, help="weight seed (default 0)")
    add_storage_dtype_arg(ap)
    ap.add_argument("--shard-size", default="10GB",
                    help="save_pretrained max_shard_size, e.g. 1MB (default 10GB, diffusers' default)")
    args = ap.parse_args()

    config = read_json(args.config)
    diffusers = import_diffusers(need_accelerate=False)
    if config["_class_name"] in ("FluxTransformer2DModel", "SD3Transformer2DModel"):
        install_sdpa_for_torch1()  # their blocks refuse to build without it
    model = getattr(diffusers, config["_class_name"]).from_config(config)
    randomize(model, args.seed)
    model.to(torch_dtype(args.dtype))
    model.save_pretrained(args.out, safe_serialization=True, max_shard_size=args.shard_size)

    n_params = sum(p.numel() for p in model.parameters())
    files = sorted(os.listdir(args.out))
    print(f"wrote {args.out}: {type(model).__name__}, {n_params} parameters, {args.dtype}, seed {args.seed}: "
          + " ".join(files))


if __name__ == "__main__":
    main()
