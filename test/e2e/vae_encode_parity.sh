#!/usr/bin/env bash
# vae_encode_parity.sh VAE-CONFIG: an AutoencoderKL encoder with random
# weights written by diffusers (the config's layout: SD's 4 latent channels
# with quant_conv, or FLUX.1's 16 without), compiled alone with
# fresco-compile --vae-encoder for a non-square image, run as a plan
# function, against diffusers' encode(x).latent_dist.mean in float64 on the
# same random images. The plan's parameters must be exactly diffusers'
# encoder keys and shapes.
set -euo pipefail
config=$1
. "$(dirname "$0")/common.sh"
H=24 W=16

"$FRESCO_PYTHON" "$here/make_diffusers_checkpoint.py" --config "$config" \
  --out "$work/vae" --seed 5 > /dev/null
"$FRESCO_BIN/fresco-compile" "$work/vae" --vae-encoder --batch 2 --height $H \
  --width $W -o "$work/enc.fplan"
"$FRESCO_BIN/fresco-compile" "$work/vae" --vae-encoder --batch 2 --height $H \
  --width $W -o "$work/enc.mlir" --emit=mlir --quiet
"$FRESCO_PYTHON" "$here/vae_reference.py" --vae "$work/vae" \
  --check-params "$work/enc.mlir" --encoder
"$FRESCO_PYTHON" "$here/vae_reference.py" --vae "$work/vae" \
  --make-images "$work/x.npy" --height $H --width $W --batch 2 --seed 1 \
  > /dev/null
"$FRESCO_BIN/fresco-run" "$work/enc.fplan" --weights "$work/vae" \
  --function vae_encoder --input "@$work/x.npy" --output "@$work/mean.npy"
"$FRESCO_PYTHON" "$here/vae_reference.py" --vae "$work/vae" --encode \
  --images "$work/x.npy" --out "$work/ref.npy" --dtype float64
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/mean.npy" "$work/ref.npy" \
  --rtol-max 1e-4
# The image size must halve exactly at every down block.
expect_error "multiples of 4" "$FRESCO_BIN/fresco-compile" "$work/vae" \
  --vae-encoder --height 18 --width $W -o "$work/bad.fplan"
