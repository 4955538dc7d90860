#!/usr/bin/env bash
# planner_predictions.sh BIN WORK: the predicted tables of docs/strategies.md
# ("Choosing the layout: predictions"): fresco-compile --parallel auto on
# the GPU topology presets (roofline, no calibration) for the FLUX.1-dev
# pipeline at 1024 px (28 steps, bf16, and FP8 GEMMs) and DiT-XL/2 at 256 px (the
# whole pipeline, 50 steps with guidance, f32 and bf16), 1 to 8 GPUs.
# patch=8 and pipefusion=8 against ulysses=8, ring=8 and pipeline=8 last. Needs no weights: configs only.
set -euo pipefail
B=${1:?bin folder}
W=${2:?work folder}
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$W"
best() { # label compile-args...: prints the winner's row of the table
  local label=$1
  shift
  local row
  row=$("$B/fresco-compile" "$@" -o "$W/best.fplan" --quiet | sed -n '3p')
  echo "$label: $row"
}
# FLUX.1-dev: the whole pipeline (CLIP and T5 once per image, the
# transformer every step, the VAE decode once), bf16; and on H100 SXM with
# the blocks' linears in FP8 (--gemm fp8).
flux=$root/models/flux/pipelines/flux1-dev
for topo in h100-sxm-8 h100-pcie-8 l40s-pcie-4; do
  max=8
  [ "$topo" = l40s-pcie-4 ] && max=4
  for n in 1 2 4 8; do
    [ "$n" -le "$max" ] || continue
    best "flux-1-dev 1024px $topo $n" "$flux" --batch 1 \
      --dtype bf16 --height 1024 --width 1024 --ranks "$n" --parallel auto \
      --topology "$topo" --steps 28
  done
done
for n in 1 2 4 8; do
  best "flux-1-dev 1024px fp8 h100-sxm-8 $n" "$flux" --batch 1 \
    --dtype bf16 --gemm fp8 --height 1024 --width 1024 --ranks "$n" \
    --parallel auto --topology h100-sxm-8 --steps 28
done
# 16 GPUs on two nodes: which axis crosses the InfiniBand.
best "flux-1-dev 1024px h100-sxm-2x8-ib 16" "$flux" --batch 1 \
  --dtype bf16 --height 1024 --width 1024 --ranks 16 --parallel auto \
  --topology h100-sxm-2x8-ib --steps 28
for topo in h100-sxm-8 h100-pcie-8; do
  for dtype in f32 bf16; do
    for n in 1 2 4 8; do
      best "dit-xl-2-256 $dtype $topo $n" "$root/models/dit/pipelines/dit-xl-2-256" \
        --batch 1 --dtype "$dtype" --ranks "$n" --parallel auto \
        --topology "$topo" --steps 50
    done
  done
done
# Stable Diffusion 1.5 (512 px, 50 steps), SDXL base (1024 px, 50 steps) and
# SD3.5 large (1024 px, 28 steps): the whole pipelines with true CFG, one
# image, bf16, on H100 SXM (3 and 6 GPUs: the degrees that pad).
for n in 1 2 3 4 6 8; do
  best "sd15 512px bf16 h100-sxm-8 $n" "$root/models/unet/pipelines/sd15" \
    --batch 1 --dtype bf16 --ranks "$n" --parallel auto --topology h100-sxm-8 --steps 50
  best "sdxl-base 1024px bf16 h100-sxm-8 $n" "$root/models/unet/pipelines/sdxl-base" \
    --batch 1 --dtype bf16 --ranks "$n" --parallel auto --topology h100-sxm-8 --steps 50
  best "sd3.5-large 1024px bf16 h100-sxm-8 $n" "$root/models/sd3/pipelines/sd3.5-large" \
    --batch 1 --dtype bf16 --ranks "$n" --parallel auto --topology h100-sxm-8 --steps 28
done
# With --allow-approximate the search also tries patch=P and pipefusion=S
# (approximate: stale keys and values): FLUX.1-dev's winners then.
for topo in h100-sxm-8 h100-pcie-8; do
  for n in 2 4 8; do
    best "flux-1-dev 1024px $topo $n approximate allowed" "$flux" --batch 1 \
      --dtype bf16 --height 1024 --width 1024 --ranks "$n" --parallel auto \
      --allow-approximate --topology "$topo" --steps 28
  done
done
# patch=P (DistriFusion) is approximate, so --parallel auto alone never picks it:
# its stale step against ulysses and ring on 8 GPUs, FLUX.1-dev's
# transformer at 1024 px, bf16 (docs/strategies.md, "Displaced patches").
# PipeFusion (pipefusion=8, also approximate) with 8 and 16 patches, and
# pipeline=8, whose stages it overlaps.
for topo in h100-sxm-8 h100-pcie-8; do
  for layout in ulysses=8 ring=8 patch=8 pipeline=8 pipefusion=8 \
    "pipefusion=8 --pipefusion-patches 16"; do
    # shellcheck disable=SC2086 # the layout's words are flags
    "$B/fresco-compile" "$flux" -o "$W/layout.fplan" --batch 1 --dtype bf16 \
      --height 1024 --width 1024 --ranks 8 --parallel $layout --quiet
    echo "flux-1-dev 1024px $topo $layout: $("$B/fresco-inspect" \
      "$W/layout.fplan" --predict --topology "$topo" --steps 28 |
      grep -m1 'function transformer')"
  done
done
