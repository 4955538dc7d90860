#!/usr/bin/env python3
"""Writes a random LoRA for a diffusers pipeline folder, in diffusers' PEFT
format (what save_lora_weights writes and load_lora_weights reads):
<component>.<module>.lora_A.weight [r, in], <component>.<module>.lora_B.weight
[out, r] and, for some modules, <component>.<module>.alpha.

  make_lora.py --pipeline DIR --out lora.safetensors [--components transformer,text_encoder]
      [--rank 4] [--seed 0] [--mixed] [--alphas]
  make_lora.py --pipeline DIR --out lora.safetensors --kohya flux|linear1 [--peft-twin twin.safetensors]
  make_lora.py --pipeline DIR --out lora.safetensors --kohya flat|ldm [--components unet,text_encoder] [--conv]

Targets every linear weight of the components that diffusers' loaders adapt:
the transformer's or UNet's 2-D weights, and the text encoders' attention and
MLP projections (q_proj, k_proj, v_proj, out_proj, fc1, fc2), as
load_lora_into_text_encoder does. --mixed puts the feed-forward modules at
rank // 2 and the first module diffusers lists (whose rank is every module's
alpha when none is given) at 2 x rank; --alphas gives the q projections an alpha of 2 and one k
projection per component an alpha of 1 (Flux's loader reads alphas, SD's
refuses them), so that diffusers' defaults for modules without an alpha are
exercised. Entries are U(-0.3, 0.3) (B too: a trained
LoRA's B is not zero). Nothing is downloaded.

--kohya flux writes a FluxPipeline LoRA in kohya's format (sd-scripts'
names: lora_unet_double_blocks_N_img_attn_qkv, ..._single_blocks_N_linear2,
lora_te1_text_model_..., each with lora_down, lora_up and an alpha) on every
double-block module, the single blocks' linear2 and modulation_lin, and
CLIP's projections; --kohya linear1 only the single blocks' linear1 (diffusers
0.31 splits it by FLUX.1's sizes, so it cannot load it at a tiny size).
--peft-twin writes the same transformer update in PEFT's format.
--kohya flat writes the modules the PEFT mode would, in kohya's format with
diffusers' names ('.' written '_', lora_unet_ / lora_te_ prefixes, one alpha
for all, as sd-scripts' network_alpha); --kohya ldm the same with the UNet's
modules in Stable Diffusion's original names (input_blocks_4_1_proj_in,
a ResNet's in_layers_2, ...), as sd-scripts writes SDXL LoRAs, and
lora_te1_ / lora_te2_. --conv also adapts convolutions (the ResNets' and
their shortcuts', the samplers', SD 1.x's 1x1 proj_in / proj_out): A [r, in,
kh, kw], B [out, r, 1, 1].
"""

import argparse
import json
import glob
import os
import re
import sys

import numpy as np
from safetensors.numpy import load_file, save_file

TEXT_MODULES = re.compile(r"\.(q_proj|k_proj|v_proj|out_proj|fc1|fc2)\.weight$")
# Convolutions --conv adapts: the ResNets', the samplers', the attention
# blocks' 1x1 projections (SD 1.x).
CONV_MODULES = re.compile(r"(resnets\.\d+\.conv[12]|conv_shortcut|samplers\.\d+\.conv|proj_in|proj_out)\.weight$")


def component_weights(folder):
    files = sorted(glob.glob(os.path.join(folder, "*.safetensors")))
    if not files:
        sys.exit(f"make_lora: no safetensors in {folder}")
    out = {}
    for f in files:
        out.update(load_file(f))
    return out


# kohya's (sd-scripts) Flux modules and the diffusers modules whose weights
# their lora_up rows stack, as diffusers 0.31's
# _convert_kohya_flux_lora_to_diffusers reads them.
KOHYA_DOUBLE = {
    "img_attn_proj": ["attn.to_out.0"],
    "img_attn_qkv": ["attn.to_q", "attn.to_k", "attn.to_v"],
    "img_mlp_0": ["ff.net.0.proj"],
    "img_mlp_2": ["ff.net.2"],
    "img_mod_lin": ["norm1.linear"],
    "txt_attn_proj": ["attn.to_add_out"],
    "txt_attn_qkv": ["attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"],
    "txt_mlp_0": ["ff_context.net.0.proj"],
    "txt_mlp_2": ["ff_context.net.2"],
    "txt_mod_lin": ["norm1_context.linear"],
}
KOHYA_SINGLE = {
    "linear1": ["attn.to_q", "attn.to_k", "attn.to_v", "proj_mlp"],
    "linear2": ["proj_out"],
    "modulation_lin": ["norm.linear"],
}


def kohya(args, rng):
    """A Flux LoRA in kohya's format; with --peft-twin, the same update in
    PEFT's format (alpha / r folded into lora_A, lora_B split by rows)."""
    weights = component_weights(os.path.join(args.pipeline, "transformer"))
    kohya_sd, peft_sd = {}, {}

    def add(name, targets):
        shapes = [weights[t + ".weight"].shape for t in targets]
        r = args.rank
        down = rng.uniform(-0.3, 0.3, (r, shapes[0][1])).astype(np.float32)
        up = rng.uniform(-0.3, 0.3, (sum(s[0] for s in shapes), r)).astype(np.float32)
        alpha = float(rng.integers(1, 2 * r + 1))
        kohya_sd.update({f"{name}.lora_down.weight": down, f"{name}.lora_up.weight": up,
                         f"{name}.alpha": np.array(alpha, dtype=np.float32)})
        row = 0
        for t, s in zip(targets, shapes):
            peft_sd[f"transformer.{t}.lora_A.weight"] = down * np.float32(alpha / r)
            peft_sd[f"transformer.{t}.lora_B.weight"] = up[row:row + s[0]].copy()
            row += s[0]

    blocks = {k.split(".")[1] for k in weights if k.startswith("transformer_blocks.")}
    singles = {k.split(".")[1] for k in weights if k.startswith("single_transformer_blocks.")}
    for i in sorted(blocks, key=int):
        if args.kohya != "linear1":
            for kind, mods in KOHYA_DOUBLE.items():
                add(f"lora_unet_double_blocks_{i}_{kind}", [f"transformer_blocks.{i}.{m}" for m in mods])
    for i in sorted(singles, key=int):
        for kind, mods in KOHYA_SINGLE.items():
            # diffusers 0.31 splits linear1 by FLUX.1's sizes (3072 x 3 + 12288) only.
            if (kind == "linear1") == (args.kohya == "linear1"):
                add(f"lora_unet_single_blocks_{i}_{kind}",
                    [f"single_transformer_blocks.{i}.{m}" for m in mods])
    if args.kohya != "linear1":
        te = component_weights(os.path.join(args.pipeline, "text_encoder"))
        for name in sorted(te):
            if TEXT_MODULES.search(name):
                module = name[:-len(".weight")]
                r = args.rank
                w = te[name]
                kohya_sd[f"lora_te1_{module.replace('.', '_')}.lora_down.weight"] = \
                    rng.uniform(-0.3, 0.3, (r, w.shape[1])).astype(np.float32)
                kohya_sd[f"lora_te1_{module.replace('.', '_')}.lora_up.weight"] = \
                    rng.uniform(-0.3, 0.3, (w.shape[0], r)).astype(np.float32)
                kohya_sd[f"lora_te1_{module.replace('.', '_')}.alpha"] = np.array(r / 2, dtype=np.float32)
    save_file(kohya_sd, args.out)
    if args.peft_twin:
        save_file(peft_sd, args.peft_twin)
    modules = sum(k.endswith(".lora_down.weight") for k in kohya_sd)
    print(f"make_lora: wrote {args.out} (kohya): {modules} modules")


def ldm_name(module, config):
    """Stable Diffusion's original (LDM) name of a diffusers UNet module, as
    sd-scripts writes it. (diffusers 0.31 maps these back only for SDXL, and
    takes an up block's upsampler without attention, output_blocks_N_1, for
    an attention.)"""
    per = config["layers_per_block"]
    parts = module.split(".")
    resnet = {"conv1": "in_layers.2", "conv2": "out_layers.3",
              "time_emb_proj": "emb_layers.1", "conv_shortcut": "skip_connection"}

    def tail(kind, rest):
        return ".".join([resnet.get(rest[0], rest[0])] + rest[1:]) if kind == "resnets" else ".".join(rest)
    if parts[0] == "down_blocks":
        b, kind, j = int(parts[1]), parts[2], int(parts[3])
        if kind == "downsamplers":
            return f"input_blocks.{1 + b * (per + 1) + per}.0.op"
        sub = 0 if kind == "resnets" else 1
        return f"input_blocks.{1 + b * (per + 1) + j}.{sub}.{tail(kind, parts[4:])}"
    if parts[0] == "mid_block":
        kind, j = parts[1], int(parts[2])
        index = 1 if kind == "attentions" else 2 * j
        return f"middle_block.{index}.{tail(kind, parts[3:])}"
    if parts[0] == "up_blocks":
        b, kind, j = int(parts[1]), parts[2], int(parts[3])
        attention = config["up_block_types"][b].startswith("CrossAttn")
        if kind == "upsamplers":
            return f"output_blocks.{b * (per + 1) + per}.{2 if attention else 1}.conv"
        sub = 0 if kind == "resnets" else 1
        return f"output_blocks.{b * (per + 1) + j}.{sub}.{tail(kind, parts[4:])}"
    return {"conv_in": "input_blocks.0.0", "conv_out": "out.2"}.get(module)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pipeline", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--components", default="transformer,text_encoder")
    ap.add_argument("--rank", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mixed", action="store_true")
    ap.add_argument("--alphas", action="store_true")
    ap.add_argument("--kohya", choices=("flux", "linear1", "flat", "ldm"))
    ap.add_argument("--conv", action="store_true")
    ap.add_argument("--peft-twin")
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    # One alpha for every module of a --kohya flat file, as sd-scripts'
    # network_alpha gives: diffusers 0.31 misnames the alphas of SD's
    # attention modules (to_q_lora...) and gives those the most common one.
    kohya_alpha = float(rng.integers(1, 2 * args.rank + 1))
    if args.kohya in ("flux", "linear1"):
        kohya(args, rng)
        return
    tensors = {}
    for component in args.components.split(","):
        weights = component_weights(os.path.join(args.pipeline, component))
        text = component.startswith("text_encoder")
        other_alpha = False
        first = None  # the first module diffusers lists ranks for
        unet_config = None
        if component == "unet":
            with open(os.path.join(args.pipeline, "unet", "config.json")) as f:
                unet_config = json.load(f)
        for name in sorted(weights):
            w = weights[name]
            conv = args.conv and w.ndim == 4 and CONV_MODULES.search(name)
            if not name.endswith(".weight") or (w.ndim != 2 and not conv):
                continue
            if text and not TEXT_MODULES.search(name):
                continue
            module = f"{component}.{name[:-len('.weight')]}"
            r = args.rank
            if args.mixed and (".ff" in name or "proj_mlp" in name or "fc" in name):
                r = max(1, r // 2)
            # With no alpha diffusers takes the first rank it lists for every
            # module's alpha: make it one that most modules do not have. It
            # lists a text encoder's layer 0 out_proj first, else the file's
            # first module (sorted, all tensors f32).
            is_first = (name == "text_model.encoder.layers.0.self_attn.out_proj.weight" if text
                        else first is None)
            first = first or name
            if args.mixed and is_first:
                r = 2 * args.rank
            # A convolution's: A [r, in, kh, kw], B [out, r, 1, 1] (PEFT's Conv2d LoRA).
            a_shape = (r,) + w.shape[1:]
            b_shape = (w.shape[0], r) + (1,) * (w.ndim - 2)
            a = rng.uniform(-0.3, 0.3, a_shape).astype(np.float32)
            b = rng.uniform(-0.3, 0.3, b_shape).astype(np.float32)
            if args.kohya in ("flat", "ldm"):
                # kohya's names for a diffusers layout: '.' written '_', and
                # an alpha on every module. Not the time embedding's:
                # diffusers 0.31 reads time_embedding_linear_1 as
                # time_embedding.linear (its SDXL "emb" rule) and drops it.
                if "embedding" in name:
                    continue
                prefix = "lora_te_" if text else "lora_unet_"
                module_name = name[:-len(".weight")]
                if args.kohya == "ldm":
                    # sd-scripts' SDXL names: lora_te1_, lora_te2_.
                    prefix = {"text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}.get(
                        component, "lora_unet_")
                    if not text:
                        module_name = ldm_name(module_name, unet_config)
                flat = prefix + module_name.replace(".", "_")
                tensors[f"{flat}.lora_down.weight"] = a
                tensors[f"{flat}.lora_up.weight"] = b
                tensors[f"{flat}.alpha"] = np.array(kohya_alpha, dtype=np.float32)
                continue
            tensors[f"{module}.lora_A.weight"] = a
            tensors[f"{module}.lora_B.weight"] = b
            if args.alphas and ("to_q" in name or "q_proj" in name):
                tensors[f"{module}.alpha"] = np.array(2.0, dtype=np.float32)
            elif args.alphas and not other_alpha and ("to_k" in name or "k_proj" in name):
                tensors[f"{module}.alpha"] = np.array(1.0, dtype=np.float32)
                other_alpha = True
    save_file(tensors, args.out)
    modules = sum(k.endswith((".lora_A.weight", ".lora_down.weight")) for k in tensors)
    print(f"make_lora: wrote {args.out}: {modules} modules, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
