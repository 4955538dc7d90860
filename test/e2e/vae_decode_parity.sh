#!/usr/bin/env bash
# vae_decode_parity.sh [VAE-CONFIG]: an AutoencoderKL decoder with random
# weights written by diffusers, run as a plan function, against diffusers'
# decode in float64 on the same random latents.
# Without an argument the VAE is a tiny random DiT pipeline's; with a VAE
# config.json (e.g. models/vae/configs/flux-vae-tiny.json: 16 latent
# channels, no quant convs) it is that model alone, and the plan's
# parameters must be exactly diffusers' decoder keys and shapes.
set -euo pipefail
config=${1:-}
. "$(dirname "$0")/common.sh"

if [ -z "$config" ]; then
  "$FRESCO_PYTHON" "$here/make_diffusers_pipeline.py" \
    --template "$root/models/dit/pipelines/dit-tiny" --out "$work/pipe" \
    --seed 5 > /dev/null
  "$FRESCO_BIN/fresco-compile" "$work/pipe" --component vae --batch 2 \
    -o "$work/vae.fplan"
  vae=$work/pipe/vae
  weights=$work/pipe
else
  "$FRESCO_PYTHON" "$here/make_diffusers_checkpoint.py" --config "$config" \
    --out "$work/vae" --seed 5
  "$FRESCO_BIN/fresco-compile" "$work/vae" --batch 2 -o "$work/vae.fplan"
  "$FRESCO_BIN/fresco-compile" "$work/vae" --batch 2 -o "$work/vae.mlir" \
    --emit=mlir --quiet
  "$FRESCO_PYTHON" "$here/vae_reference.py" --vae "$work/vae" \
    --check-params "$work/vae.mlir"
  vae=$work/vae
  weights=$work/vae
fi
"$FRESCO_PYTHON" "$here/vae_reference.py" --vae "$vae" \
  --make-latents "$work/z.npy" --batch 2 --seed 1 > /dev/null
"$FRESCO_BIN/fresco-run" "$work/vae.fplan" --weights "$weights" \
  --function vae --input "@$work/z.npy" --output "@$work/img.npy"
"$FRESCO_PYTHON" "$here/vae_reference.py" --vae "$vae" \
  --latents "$work/z.npy" --out "$work/ref.npy" --scale none --dtype float64
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/img.npy" "$work/ref.npy" \
  --rtol-max 1e-4
