#!/usr/bin/env python3
"""Writes a random LoRA for a diffusers pipeline folder, in diffusers' PEFT
format (what save_lora_weights writes and load_lora_weights reads):
<component>.<module>.lora_A.weight [r, in], <component>.<module>.lora_B.weight
[out, r] and, for some modules, <component>.<module>.alpha.

  make_lora.py --pipeline DIR --out lora.safetensors [--components transformer,text_encoder]
      [--rank 4] [--seed 0] [--mixed] [--alphas]

Targets every linear weight of the components that diffusers' loaders adapt:
the transformer's or UNet's 2-D weights, and the text encoders' attention and
MLP projections (q_proj, k_proj, v_proj, out_proj, fc1, fc2), as
load_lora_into_text_encoder does. --mixed puts the feed-forward modules at
rank // 2; --alphas gives the q projections an alpha of 2 and one k
projection per component an alpha of 1 (Flux's loader reads alphas, SD's
refuses them), so that diffusers' defaults for modules without an alpha are
exercised. Entries are U(-0.3, 0.3) (B too: a trained
LoRA's B is not zero). Nothing is downloaded.
"""

import argparse
import glob
import os
import re
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

TEXT_MODULES = re.compile(r"\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)\.weight$")


def component_weights(folder):
    files = sorted(glob.glob(os.path.join(folder, "*.safetensors")))
    if not files:
        sys.exit(f"make_lora: no safetensors in {folder}")
    out = {}
    for f in files:
        out.update(load_file(f))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--components", default="transformer,text_encoder")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mixed", action="store_true")
    ap.add_argument("--alphas", action="store_true")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    tensors = {}
    for component in args.components.split(","):
        weights = component_weights(os.path.join(args.pipeline, component))
        text = component.startswith("text_encoder")
        other_alpha = False
        for name in sorted(weights):
            w = weights[name]
            if not name.endswith(".weight") or w.ndim != 2:
                continue
            if text and not TEXT_MODULES.search(name):
                continue
            module = f"{component}.{name[:-len('.weight')]}"
            r = args.rank
            if args.mixed and (".ff" in name or "proj_mlp" in name or "fc" in name):
                r = max(1, r // 2)
            tensors[f"{module}.lora_A.weight"] = rng.uniform(-0.3, 0.3, (r, w.shape[1])).astype(np.float32)
            tensors[f"{module}.lora_B.weight"] = rng.uniform(-0.3, 0.3, (w.shape[0], r)).astype(np.float32)
            if args.alphas and ("to_q" in name or "q_proj" in name):
                tensors[f"{module}.alpha"] = np.array(2.0, dtype=np.float32)
            elif args.alphas and not other_alpha and ("to_k" in name or "k_proj" in name):
                tensors[f"{module}.alpha"] = np.array(1.0, dtype=np.float32)
                other_alpha = True
    save_file(tensors, args.out)
    modules = sum(k.endswith(".lora_A.weight") for k in tensors)
    print(f"make_lora: wrote {args.out}: {modules} modules, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
