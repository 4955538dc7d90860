#!/usr/bin/env bash
# dit_generate_parity.sh SCHEDULER [--legacy-vae-attention]: a 4-step
# generation with classifier-free guidance on a tiny random DiT pipeline
# written by diffusers itself, compared end to end with the real diffusers
# DiTPipeline in float64 (the standard-ordering loop for Euler: see
# runtime/pipeline/Generate.h): final latents within 1e-4 of their max
# magnitude, PNGs of the expected size within one 8-bit level.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
scheduler=$1
shift
. "$(dirname "$0")/common.sh"

"$FRESCO_PYTHON" "$here/make_diffusers_pipeline.py" \
  --template "$root/models/dit/pipelines/dit-tiny" --out "$work/pipe" \
  --seed 2 "$@" > /dev/null
"$FRESCO_BIN/fresco-compile" "$work/pipe" -o "$work/p.fplan" --batch 2
"$FRESCO_PYTHON" "$here/dit_pipeline_reference.py" --pipeline "$work/pipe" \
  --make-latents "$work/x0.npy" --batch 2 --seed 4 > /dev/null
"$FRESCO_BIN/fresco-run" "$work/p.fplan" --weights "$work/pipe" \
  --class-label 3,7 --steps 4 --guidance-scale 4 --latents "@$work/x0.npy" \
  --scheduler "$scheduler" -o "$work/img.png" \
  --output-latents "@$work/lat.npy" --stats
loop=pipeline
case $scheduler in
EulerDiscreteScheduler | HeunDiscreteScheduler | LMSDiscreteScheduler | \
  KDPM2DiscreteScheduler)
  loop=standard ;;
esac
"$FRESCO_PYTHON" "$here/dit_pipeline_reference.py" --pipeline "$work/pipe" \
  --class-labels 3,7 --steps 4 --guidance-scale 4 --latents "@$work/x0.npy" \
  --scheduler "$scheduler" --loop "$loop" --dtype float64 \
  --out-latents "$work/ref_lat.npy" --out-images "$work/ref_img.npy" > /dev/null
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/lat.npy" "$work/ref_lat.npy" \
  --rtol-max 1e-4
"$FRESCO_PYTHON" - "$work" <<'PY'
import sys
import numpy as np
from PIL import Image
work = sys.argv[1]
ref = np.load(f"{work}/ref_img.npy")  # [B, H, W, 3] in [0, 1]
for i in range(ref.shape[0]):
    got = np.asarray(Image.open(f"{work}/img-{i}.png").convert("RGB")).astype(np.int32)
    want = np.round(ref[i] * 255).astype(np.int32)
    assert got.shape == want.shape, f"image {i}: {got.shape} vs {want.shape}"
    diff = np.abs(got - want).max()
    print(f"image {i}: {got.shape[1]}x{got.shape[0]}, max 8-bit difference {diff}")
    assert diff <= 1, "PNG differs from diffusers' image"
PY
