#!/usr/bin/env bash
# torch_flux_parity.sh CONFIG HEIGHT WIDTH TEXT_TOKENS: bench/torch_flux.py,
# the self-contained PyTorch Flux that gpu-check times against Fresco on
# GPUs (which have no diffusers), proven here against the real diffusers
# FluxTransformer2DModel on a tiny config:
#  - `torch_flux.py make` writes a random folder (its own safetensors
#    writer) and FluxPipeline-style inputs: the keys and shapes are exactly
#    diffusers' state_dict, img_ids equal FluxPipeline._prepare_latent_
#    image_ids, and diffusers loads the folder;
#  - `torch_flux.py time` in float64 against diffusers in float64 on the same
#    folder and inputs: within 1e-10 of max|ref| (both round to f32 at the
#    same places, so what is left is float64 reassociation, ~1e-15);
#  - in bfloat16 against the same float64 reference: within twice diffusers'
#    own bfloat16 error plus 1e-3 (the two differ only in attention's
#    shim and op grouping);
#  - Fresco (fresco-compile of the folder, fresco-run --function
#    transformer) on the same folder and inputs within 1e-5 of the float64
#    reference: gpu-check's path, end to end on the CPU.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
config=$1 height=$2 width=$3 text=$4
. "$(dirname "$0")/common.sh"
tf=$root/bench/torch_flux.py

py "$tf" make --config "$config" --out "$work" --seed 7 --device cpu \
  --dtype float32 --batch 2 --height "$height" --width "$width" \
  --max-sequence-length "$text"
PYTHONPATH=$here py - "$work" <<'PY'
import json
import sys

import numpy as np
import torch
from safetensors.torch import load_file

from fresco_ref_common import import_diffusers, install_sdpa_for_torch1

work = sys.argv[1]
install_sdpa_for_torch1()
diffusers = import_diffusers(need_accelerate=False)
config = json.load(open(f"{work}/model/config.json"))
want = {k: tuple(v.shape) for k, v in diffusers.FluxTransformer2DModel.from_config(config).state_dict().items()}
got = {k: tuple(v.shape) for k, v in load_file(f"{work}/model/diffusion_pytorch_model.safetensors").items()}
assert got == want, f"keys/shapes differ: only ours {sorted(set(got) - set(want))[:5]}, " \
    f"only diffusers' {sorted(set(want) - set(got))[:5]}, shapes " \
    f"{[(k, got[k], want[k]) for k in set(got) & set(want) if got[k] != want[k]][:5]}"
ids = np.load(f"{work}/in/img_ids.npy")
h2 = 2 * int(ids[:, 1].max() + 1)
w2 = 2 * int(ids[:, 2].max() + 1)
ref = diffusers.FluxPipeline._prepare_latent_image_ids(1, h2, w2, torch.device("cpu"), torch.float32).numpy()
assert ref.shape == ids.shape and (ref == ids).all(), "img_ids differ from FluxPipeline's"
print(f"{len(got)} tensors with diffusers' names and shapes; img_ids {list(ids.shape)} as FluxPipeline's")
PY

ours() { # dtype out
  py "$tf" time --model "$work/model" --inputs "$work/in" --device cpu \
    --dtype "$1" --warmup 0 --runs 1 --out "$2"
}
# The real class in float64, its output kept in float64 (flux_reference.py
# saves float32, whose rounding would hide any difference under 6e-8).
PYTHONPATH=$here py - "$work" <<'PY'
import sys

import numpy as np
import torch

from fresco_ref_common import import_diffusers, install_sdpa_for_torch1, load_tensors
from flux_reference import INPUTS

work = sys.argv[1]
install_sdpa_for_torch1()
diffusers = import_diffusers()
model = diffusers.FluxTransformer2DModel.from_pretrained(f"{work}/model").to(torch.float64).eval()
inputs = load_tensors(f"{work}/in", INPUTS, torch.float64, optional=True)
with torch.no_grad():
    out = model(**inputs, return_dict=False)[0]
np.save(f"{work}/ref.npy", out.numpy())
print(f"diffusers FluxTransformer2DModel, float64: output {list(out.shape)}, max |out| {out.abs().max():.6g}")
PY
ours float64 "$work/ours.npy"
py "$here/compare_npy.py" "$work/ours.npy" "$work/ref.npy" --rtol-max 1e-10

py "$here/flux_reference.py" --model "$work/model" --inputs "$work/in" \
  --out "$work/ref-bf16.npy" --dtype bfloat16
ours bfloat16 "$work/ours-bf16.npy"
within_twice_torch_error bfloat16 torch_flux "$work/ours-bf16.npy" diffusers \
  "$work/ref-bf16.npy" "$work/ref.npy"

"$FRESCO_BIN/fresco-compile" "$work/model" -o "$work/model.fplan" --batch 2 \
  --height "$height" --width "$width" --max-sequence-length "$text" --quiet
flux_transformer_inputs "$work/in"
"$FRESCO_BIN/fresco-run" "$work/model.fplan" --weights "$work/model" \
  --function transformer "${inputs[@]}" --output "@$work/fresco.npy" --quiet
py "$here/compare_npy.py" "$work/fresco.npy" "$work/ref.npy" --rtol-max 1e-5
