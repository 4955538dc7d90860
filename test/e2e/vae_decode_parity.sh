#!/usr/bin/env bash
# vae_decode_parity.sh: the AutoencoderKL decoder of a tiny random pipeline
# (written by diffusers) run as a plan function, against diffusers' decode
# in float64 on the same random latents.
set -euo pipefail
. "$(dirname "$0")/common.sh"

"$FRESCO_PYTHON" "$here/make_diffusers_pipeline.py" \
  --template "$root/models/dit/pipelines/dit-tiny" --out "$work/pipe" \
  --seed 5 > /dev/null
"$FRESCO_BIN/fresco-compile" "$work/pipe" --component vae --batch 2 \
  -o "$work/vae.fplan"
"$FRESCO_PYTHON" "$here/vae_reference.py" --vae "$work/pipe/vae" \
  --make-latents "$work/z.npy" --batch 2 --seed 1 > /dev/null
"$FRESCO_BIN/fresco-run" "$work/vae.fplan" --weights "$work/pipe" \
  --function vae --input "@$work/z.npy" --output "@$work/img.npy"
"$FRESCO_PYTHON" "$here/vae_reference.py" --vae "$work/pipe/vae" \
  --latents "$work/z.npy" --out "$work/ref.npy" --scale none --dtype float64
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/img.npy" "$work/ref.npy" \
  --rtol-max 1e-4
