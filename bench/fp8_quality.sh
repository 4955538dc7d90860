#!/usr/bin/env bash
# fp8_quality.sh [BUILD_DIR]: the quality of FP8 GEMMs (fresco-compile
# --gemm fp8), measured on the CPU, where cpu-staged emulates a GPU's bf16
# storage and its FP8 GEMMs exactly (slowly: the numbers here are errors,
# not times). Random-weight tiny models: a weak proxy for trained ones,
# whose activations have outlier channels that per-token scaling must
# absorb; the GPU rows of bench/gpu-check.sh (phase 4b) measure a
# Flux-width model, still random.
#  1. one transformer forward of DiT-S/2 (256 px, batch 2), of a tiny Flux
#     (models/flux/configs/flux-tiny.json, 32 wide, 64x48 px, 7 text
#     tokens, batch 2) and of bench/configs/flux-small (512 wide, 2 double
#     + 4 single blocks, 128x128 px, 32 text tokens, batch 2): f32, bf16
#     and bf16 + FP8 GEMMs against diffusers in float64;
#  2. the final latents of a 28-step generation on the tiny DiT pipeline
#     (CFG 4, DDIM as configured) and on a tiny random FluxPipeline
#     (guidance 3.5): bf16 and FP8 against Fresco in f32 (itself within
#     1e-4 of diffusers in float64: e2e-dit-generate-*, e2e-flux-generate-*).
# Errors: max|x - ref| / max|ref| and ||x - ref|| / ||ref||. Prints a
# markdown table for docs/benchmarks.md. About 5 minutes on 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
B=$build/bin
py=${FRESCO_PYTHON:-$root/.venv/bin/python}
e2e=$root/test/e2e
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
rows=()

# err NAME OUT... REF: one table row per output.
err() {
  local name=$1 ref=${*: -1}
  shift
  rows+=("$("$py" - "$name" "$ref" "${@:1:$#-1}" <<'PY'
import sys
import numpy as np
name, ref, outs = sys.argv[1], sys.argv[2], sys.argv[3:]
r = np.load(ref).astype(np.float64)
cells = []
for o in outs:
    x = np.load(o).astype(np.float64)
    cells.append(f"{np.abs(x - r).max() / np.abs(r).max():.2e} / "
                 f"{np.linalg.norm(x - r) / np.linalg.norm(r):.2e}")
print(f"| {name} | " + " | ".join(cells) + " |")
PY
)")
}

compile3() { # SRC DIR FLAGS...: f32, bf16 and fp8 plans
  local src=$1 d=$2
  shift 2
  "$B/fresco-compile" "$src" -o "$d/f32.fplan" "$@" --quiet
  "$B/fresco-compile" "$src" -o "$d/bf16.fplan" "$@" --dtype bf16 --quiet
  "$B/fresco-compile" "$src" -o "$d/fp8.fplan" "$@" --dtype bf16 --gemm fp8 --quiet
}

#--- 1. one forward ------------------------------------------------------------
d=$work/dit && mkdir -p "$d"
"$B/fresco-random-checkpoint" "$root/models/dit/configs/dit-s-2-256.json" \
  -o "$d/model" --seed 3 > /dev/null
"$py" "$e2e/dit_reference.py" --model "$d/model" --make-inputs "$d/in" \
  --batch 2 --seed 5
compile3 "$d/model" "$d" --batch 2
for v in f32 bf16 fp8; do
  be=cpu-staged && [ $v = f32 ] && be=cpu
  "$B/fresco-run" "$d/$v.fplan" --weights "$d/model" --function transformer \
    --input "@$d/in/latents.npy" --input "@$d/in/timestep.npy" \
    --input "@$d/in/class_labels.npy" --output "@$d/$v.npy" --backend $be
done
"$py" "$e2e/dit_reference.py" --model "$d/model" --latents "$d/in/latents.npy" \
  --timestep "$d/in/timestep.npy" --class-labels "$d/in/class_labels.npy" \
  --out "$d/ref.npy" --dtype float64
err "DiT-S/2 256 px forward vs float64" "$d/f32.npy" "$d/bf16.npy" "$d/fp8.npy" "$d/ref.npy"

flux_forward() { # NAME CONFIG HEIGHT WIDTH TEXT
  local d=$work/$1
  mkdir -p "$d"
  local size=(--height "$3" --width "$4" --max-sequence-length "$5")
  "$py" "$e2e/make_diffusers_checkpoint.py" --config "$2" --out "$d/model" \
    --seed 3
  "$py" "$e2e/flux_reference.py" --model "$d/model" --make-inputs "$d/in" \
    --batch 2 --seed 5 "${size[@]}"
  compile3 "$d/model" "$d" --batch 2 "${size[@]}"
  local inputs=() name v be
  for name in hidden_states encoder_hidden_states pooled_projections timestep \
    img_ids txt_ids guidance; do
    [ -f "$d/in/$name.npy" ] && inputs+=(--input "$name=@$d/in/$name.npy")
  done
  for v in f32 bf16 fp8; do
    be=cpu-staged && [ $v = f32 ] && be=cpu
    "$B/fresco-run" "$d/$v.fplan" --weights "$d/model" --function transformer \
      "${inputs[@]}" --output "@$d/$v.npy" --backend $be
  done
  "$py" "$e2e/flux_reference.py" --model "$d/model" --inputs "$d/in" \
    --out "$d/ref.npy" --dtype float64
}
flux_forward flux "$root/models/flux/configs/flux-tiny.json" 64 48 7
err "tiny Flux (32 wide) forward vs float64" "$work/flux/f32.npy" \
  "$work/flux/bf16.npy" "$work/flux/fp8.npy" "$work/flux/ref.npy"
flux_forward flux-small "$root/bench/configs/flux-small/transformer.json" 128 128 32
err "flux-small (512 wide) forward vs float64" "$work/flux-small/f32.npy" \
  "$work/flux-small/bf16.npy" "$work/flux-small/fp8.npy" "$work/flux-small/ref.npy"

#--- 2. 28-step generations ----------------------------------------------------
d=$work/dit-gen && mkdir -p "$d"
"$py" "$e2e/make_diffusers_pipeline.py" --template "$root/models/dit/pipelines/dit-tiny" \
  --out "$d/pipe" --seed 2 > /dev/null
compile3 "$d/pipe" "$d" --batch 2
for v in f32 bf16 fp8; do
  be=cpu-staged && [ $v = f32 ] && be=cpu
  "$B/fresco-run" "$d/$v.fplan" --weights "$d/pipe" --class-label 3,7 \
    --steps 28 --guidance-scale 4 --seed 4 -o "$d/$v.png" \
    --output-latents "@$d/$v.npy" --backend $be > /dev/null 2>&1
done
err "tiny DiT pipeline, 28 steps, latents vs Fresco f32" "$d/bf16.npy" "$d/fp8.npy" "$d/f32.npy"

d=$work/flux-gen && mkdir -p "$d"
"$py" "$e2e/make_flux_pipeline.py" --out "$d/pipe" --seed 3 > /dev/null
size=(--height 32 --width 48 --max-sequence-length 16)
compile3 "$d/pipe" "$d" --batch 1 "${size[@]}"
for v in f32 bf16 fp8; do
  be=cpu-staged && [ $v = f32 ] && be=cpu
  "$B/fresco-run" "$d/$v.fplan" --weights "$d/pipe" \
    --prompt "a red fox in the snow" --steps 28 --guidance-scale 3.5 --seed 4 \
    -o "$d/$v.png" --output-latents "@$d/$v.npy" --backend $be > /dev/null 2>&1
done
err "tiny Flux pipeline, 28 steps, latents vs Fresco f32" "$d/bf16.npy" "$d/fp8.npy" "$d/f32.npy"

echo
echo "FP8 quality, $(date -u +%Y-%m-%d), $(nproc) CPU cores ($(uname -m)), commit $(git -C "$root" rev-parse --short HEAD)"
echo "cells: max|x - ref| / max|ref| / ||x - ref|| / ||ref||"
echo
echo "| case | f32 | bf16 | bf16 + FP8 GEMMs |"
echo "|---|---|---|---|"
for r in "${rows[@]}"; do
  # The generation rows have no f32 column: f32 is their reference.
  case $r in *"vs Fresco f32"*) r=$(echo "$r" | sed 's/^\(| [^|]*|\)/\1 (reference) |/') ;; esac
  echo "$r"
done
