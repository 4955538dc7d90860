#!/usr/bin/env bash
# flux_img2img_parity.sh: image-to-image on the tiny random FluxPipeline
# folder of flux_generate_parity.sh (make_flux_pipeline.py, dev-like),
# compiled with fresco-compile --vae-encoder, against the real diffusers
# FluxImg2ImgPipeline on CPU in float64: the same PNG, the encoder's mean on
# both sides (diffusers' retrieve_latents in "argmax" mode) and the same
# scale_noise noise (fresco-run --latents, packed; diffusers' randn_tensor
# returns it unpacked). 2 prompts, 4 steps, strength 0.6 (Flux's
# get_timesteps keeps the last 3 steps, where SD's would keep 2) and 1.0:
# final packed latents within 1e-4 of their max magnitude; the same for a
# schnell-like folder, and bf16 storage within 5e-2 of the f32 run. Then: the plan
# runs text-to-image as a plan without the encoder does (the same bytes);
# several ranks against the 1-rank run within 1e-5 (text encoders, VAE and
# VAE encoder on rank 0, the transformer on rank 1: the encoded image is
# sent; ulysses=2; the same placement with the transformer ulysses=2 on
# ranks 1-2); inpainting (--mask) against FluxInpaintPipeline at strength
# 0.6 and 1.0, and on the same ranks; bad input: --strength outside (0, 1]
# or keeping no step, an image of another size, one with alpha, a plan
# without the encoder.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/flux_pipeline_reference.py
H=32 W=48 L=16

py "$here/make_flux_pipeline.py" --out "$work/pipe" --seed 3 > /dev/null
py "$ref" --pipeline "$work/pipe" --make-latents "$work/noise.npy" --batch 2 \
  --seed 5 --height $H --width $W > /dev/null
py "$here/sd_pipeline_reference.py" image --out "$work/in.png" --height $H \
  --width $W --seed 2 > /dev/null
size=(--height $H --width $W --max-sequence-length $L)
"$B/fresco-compile" "$work/pipe" -o "$work/i2i.fplan" --batch 2 "${size[@]}" \
  --vae-encoder
"$B/fresco-inspect" "$work/i2i.fplan" | grep -q "encoder.*vae_encoder" ||
  { echo "fresco-inspect shows no encoder component"; exit 1; }
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
run=(--steps 4 --guidance-scale 3.5 --latents "@$work/noise.npy" --timeout 60)

declare -A kept=([0.6]=3 [1.0]=4)
for strength in 0.6 1.0; do
  "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${run[@]}" --image "$work/in.png" --strength $strength \
    --output-latents "@$work/f$strength.npy" -o "$work/f$strength.png" \
    --stats 2> "$work/f$strength.log"
  grep -q "${kept[$strength]} steps of FlowMatchEulerDiscreteScheduler" \
    "$work/f$strength.log" || {
    echo "strength $strength: expected ${kept[$strength]} steps:"
    cat "$work/f$strength.log"; exit 1
  }
  py "$ref" --pipeline "$work/pipe" "${prompts[@]}" --image "$work/in.png" \
    --strength $strength --latents "$work/noise.npy" --steps 4 \
    --guidance-scale 3.5 "${size[@]}" --dtype float64 \
    --out-latents "$work/r$strength.npy" > /dev/null
  echo "== strength $strength"
  py "$here/compare_npy.py" "$work/f$strength.npy" "$work/r$strength.npy" \
    --rtol-max 1e-4
done
if cmp -s "$work/f0.6.npy" "$work/f1.0.npy"; then
  echo "--strength 0.6 and 1.0 gave the same latents"; exit 1
fi

# FLUX.1-schnell (no guidance embedder; shift 1, no dynamic shifting): the
# same against diffusers at strength 0.6.
py "$here/make_flux_pipeline.py" --out "$work/schnell" --seed 4 --schnell \
  > /dev/null
"$B/fresco-compile" "$work/schnell" -o "$work/schnell.fplan" --batch 2 \
  "${size[@]}" --vae-encoder --quiet
"$B/fresco-run" "$work/schnell.fplan" --weights "$work/schnell" \
  "${prompts[@]}" --steps 4 --latents "@$work/noise.npy" --timeout 60 \
  --image "$work/in.png" --strength 0.6 --output-latents "@$work/s0.6.npy" \
  --quiet
py "$ref" --pipeline "$work/schnell" "${prompts[@]}" --image "$work/in.png" \
  --strength 0.6 --latents "$work/noise.npy" --steps 4 "${size[@]}" \
  --dtype float64 --out-latents "$work/rs0.6.npy" > /dev/null
echo "== schnell, strength 0.6"
py "$here/compare_npy.py" "$work/s0.6.npy" "$work/rs0.6.npy" --rtol-max 1e-4

# bf16 storage (cpu-staged emulates it): the encoder, the transformer and the
# sampler in 2-byte activations, within bf16's error of the f32 run (and not
# equal to it: the storage did change).
"$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
  "${run[@]}" --image "$work/in.png" --strength 0.6 --backend cpu-staged \
  --dtype bf16 --output-latents "@$work/bf16.npy" --quiet
echo "== bf16 storage, strength 0.6"
py "$here/compare_npy.py" "$work/bf16.npy" "$work/f0.6.npy" --rtol-max 5e-2 |
  tee "$work/bf16.txt"
py - "$work/bf16.txt" <<'PY'
import re, sys
ratio = float(re.search(r"ratio ([0-9.e+-]+)", open(sys.argv[1]).read()).group(1))
if ratio < 1e-4:
    sys.exit(f"FAIL: bf16 latents within {ratio:g} of f32: the storage was not bf16")
PY

# Text-to-image on the plan with the encoder: the same bytes as on a plan
# without it. (Strength 1.0 noises at sigma 1, the noise itself, so it is
# text-to-image too: the same bytes again.)
"$B/fresco-compile" "$work/pipe" -o "$work/t2i.fplan" --batch 2 "${size[@]}" \
  --quiet
for p in i2i t2i; do
  "$B/fresco-run" "$work/$p.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${run[@]}" --output-latents "@$work/t2i-$p.npy" --quiet
done
cmp "$work/t2i-i2i.npy" "$work/t2i-t2i.npy"
cmp "$work/t2i-i2i.npy" "$work/f1.0.npy"

# Inpainting (--mask) against FluxInpaintPipeline: the packed latents put
# back to the init image's, scale_noise'd to the next sigma, outside the
# mask (an RGB one, binarized through PIL's "L"), at strength 0.6 and 1.0.
py "$here/sd_pipeline_reference.py" mask --out "$work/mask.png" --height $H \
  --width $W --seed 4 --mode RGB > /dev/null
for strength in 0.6 1.0; do
  "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${run[@]}" --image "$work/in.png" --mask "$work/mask.png" \
    --strength $strength --output-latents "@$work/m$strength.npy" --quiet
  py "$ref" --pipeline "$work/pipe" "${prompts[@]}" --image "$work/in.png" \
    --mask "$work/mask.png" --strength $strength --latents "$work/noise.npy" \
    --steps 4 --guidance-scale 3.5 "${size[@]}" --dtype float64 \
    --out-latents "$work/rm$strength.npy" > /dev/null
  echo "== inpainting, strength $strength"
  py "$here/compare_npy.py" "$work/m$strength.npy" "$work/rm$strength.npy" \
    --rtol-max 1e-4
done
if py "$here/compare_npy.py" "$work/m0.6.npy" "$work/f0.6.npy" \
  --rtol-max 1e-3 > /dev/null; then
  echo "--mask changed nothing"; exit 1
fi

# Several ranks against the 1-rank run at strength 0.6, image-to-image and
# inpainting.
multi() { # name ranks compile-flags...
  local name=$1 ranks=$2
  shift 2
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    "${size[@]}" --vae-encoder --ranks "$ranks" "$@" --quiet
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" \
    "${prompts[@]}" "${run[@]}" --image "$work/in.png" --strength 0.6 \
    --output-latents "@$work/$name.npy" -o "$work/$name.png" --quiet
  echo "== $name ($ranks ranks: $*)"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/f0.6.npy" --rtol-max 1e-5
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" \
    "${prompts[@]}" "${run[@]}" --image "$work/in.png" --strength 0.6 \
    --mask "$work/mask.png" --output-latents "@$work/m-$name.npy" --quiet
  echo "== $name, inpainting"
  py "$here/compare_npy.py" "$work/m-$name.npy" "$work/m0.6.npy" \
    --rtol-max 1e-5
}
encoders=text_encoder=0,text_encoder_2=0,vae=0,vae_encoder=0
multi placement 2 --place "$encoders,transformer=1"
multi ulysses2 2 --parallel ulysses=2
multi placement-ulysses2 3 --place "$encoders,transformer=1+2" \
  --parallel ulysses=2

# Bad input: clear errors.
bad() { # message flags...: fresco-run of PLAN ($plan) refuses FLAGS, exit 1
  expect_error "$1" "$B/fresco-run" "${plan:-$work/i2i.fplan}" \
    --weights "$work/pipe" "${prompts[@]}" --steps 4 -o "$work/x.png" \
    --timeout 60 --quiet "${@:2}"
}
usage() { # message flags...: a usage error (exit 2) naming MESSAGE
  expect_usage "$1" "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" \
    "${prompts[@]}" -o "$work/x.png" "${@:2}"
}
usage "--strength must be in (0, 1], got 0" --image "$work/in.png" --strength 0
usage "--strength must be in (0, 1], got 1.5" --image "$work/in.png" \
  --strength 1.5
# 4 - 4 * 1e-17 is 4.0: t_start 4, no step left (diffusers raises too).
bad "strength 1e-17 of 4 steps keeps no denoising step" \
  --image "$work/in.png" --strength 1e-17
py "$here/sd_pipeline_reference.py" image --out "$work/small.png" \
  --height 16 --width 16 > /dev/null
bad "image is 16x16 pixels (width x height) but the plan was compiled for 48x32" \
  --image "$work/small.png"
py "$here/sd_pipeline_reference.py" image --out "$work/rgba.png" \
  --height $H --width $W --alpha > /dev/null
bad "has an alpha channel" --image "$work/rgba.png"
plan=$work/t2i.fplan bad "this plan has none: compile the pipeline folder \
with fresco-compile --vae-encoder" --image "$work/in.png"
echo "flux image-to-image: OK"
