#!/usr/bin/env bash
# sd_img2img_parity.sh SCHEDULER [FOLDER_SCHEDULER]: image-to-image on the
# tiny random StableDiffusionPipeline folder of sd_generate_parity.sh (with
# FOLDER_SCHEDULER, default SCHEDULER, run with --scheduler SCHEDULER, as
# diffusers' SCHEDULER.from_config(pipe.scheduler.config); DDIMScheduler
# runs everything below, the other classes the parity), compiled with
# fresco-compile --vae-encoder, against the real diffusers
# StableDiffusionImg2ImgPipeline on CPU in float64: the same PNG, the
# encoder's mean on both sides (diffusers' retrieve_latents in "argmax"
# mode), the same add_noise noise (fresco-run --latents; diffusers'
# randn_tensor returns it) and, for EulerAncestralDiscreteScheduler, the
# same step noise (fresco-run --seed 7). 2 prompts with a negative prompt,
# 4 steps, strength 0.6 (the last 2 steps) and 1.0 (PNDM and DPM-Solver
# also 0.75, 3 steps: PNDM's slice then starts on the repeated second PLMS
# timestep, DPM-Solver takes a second-order step): final
# latents within 1e-4 of their max magnitude; cfg=2, ulysses=2 and the
# encoders on rank 0 with the UNet on rank 1 as 1 rank. Then bad input:
# clear errors for a missing or non-PNG --image, one with alpha, one of
# another size, --strength outside (0, 1] or keeping no step, --strength
# without --image, a flow-matching scheduler, a plan without the encoder,
# and a non-SD pipeline.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
scheduler=$1 folder_scheduler=${2:-$1}
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sd_pipeline_reference.py
H=32 W=24

py "$ref" make --out "$work/pipe" --seed 3 --scheduler "$folder_scheduler" \
  > /dev/null
py "$ref" latents --pipeline "$work/pipe" --out "$work/noise.npy" --batch 2 \
  --seed 5 --height $H --width $W > /dev/null
py "$ref" image --out "$work/in.png" --height $H --width $W --seed 2 > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/i2i.fplan" --batch 2 --height $H \
  --width $W --vae-encoder
"$B/fresco-inspect" "$work/i2i.fplan" | grep -q "encoder.*vae_encoder" ||
  { echo "fresco-inspect shows no encoder component"; exit 1; }
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
neg=(--negative-prompt "blurry, low quality")

strengths="0.6 1.0"
case $scheduler in
PNDMScheduler | DPMSolverMultistepScheduler | UniPCMultistepScheduler | \
  HeunDiscreteScheduler | DPMSolverSinglestepScheduler)
  strengths="0.6 0.75 1.0" ;;
esac
for strength in $strengths; do
  "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${neg[@]}" --image "$work/in.png" --strength $strength --steps 4 \
    --latents "@$work/noise.npy" --output-latents "@$work/f$strength.npy" \
    -o "$work/f$strength.png" --seed 7 --scheduler "$scheduler" \
    --timeout 60 --quiet
  py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" "${neg[@]}" \
    --image "$work/in.png" --strength $strength --steps 4 \
    --latents "$work/noise.npy" --dtype float64 --noise-seed 7 \
    --scheduler "$scheduler" \
    --out-latents "$work/r$strength.npy" > /dev/null
  echo "== strength $strength"
  py "$here/compare_npy.py" "$work/f$strength.npy" "$work/r$strength.npy" \
    --rtol-max 1e-4
done
# The two strengths start from different steps: not the same result.
if cmp -s "$work/f0.6.npy" "$work/f1.0.npy"; then
  echo "--strength 0.6 and 1.0 gave the same latents"; exit 1
fi
if [ "$scheduler" != DDIMScheduler ]; then
  echo "stable diffusion image-to-image ($scheduler): OK"
  exit 0
fi

# cfg=2 (each rank encodes the image itself), ulysses=2 (the UNet's rows
# split, the encoder whole on each rank) and the encoders on rank 0 with the
# UNet on rank 1 (rank 0 encodes the image and sends it) match the 1-rank
# run.
sd_layout_plans "$work/pipe" $H $W
for par in cfg=2 ulysses=2 place; do
  "$B/fresco-run" "$work/$par.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${neg[@]}" --image "$work/in.png" --strength 0.6 --steps 4 \
    --latents "@$work/noise.npy" --output-latents "@$work/$par.npy" \
    --timeout 60 --quiet
  py "$here/compare_npy.py" "$work/$par.npy" "$work/f0.6.npy" --rtol-max 1e-5
done

bad() { # message flags...: fresco-run of PLAN ($plan) refuses FLAGS
  expect_error "$1" "$B/fresco-run" "${plan:-$work/i2i.fplan}" \
    --weights "$work/pipe" "${prompts[@]}" --steps 4 -o "$work/x.png" \
    --timeout 60 --quiet "${@:2}"
}
bad "cannot read PNG file '$work/none.png'" --image "$work/none.png"
bad "not a PNG file" --image "$work/noise.npy"
py "$ref" image --out "$work/rgba.png" --height $H --width $W --alpha > /dev/null
bad "has an alpha channel" --image "$work/rgba.png"
py "$ref" image --out "$work/small.png" --height 16 --width 16 > /dev/null
bad "image is 16x16 pixels (width x height) but the plan was compiled for 24x32" \
  --image "$work/small.png"
usage() { # message flags...: a usage error (exit 2) naming MESSAGE
  expect_usage "$1" "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" \
    "${prompts[@]}" -o "$work/x.png" "${@:2}"
}
usage "--strength must be in (0, 1], got 0" --image "$work/in.png" --strength 0
usage "--strength must be in (0, 1], got 1.5" --image "$work/in.png" \
  --strength 1.5
usage "--strength applies to image-to-image: give --image (or --image-latents) too" --strength 0.5
bad "strength 0.2 of 4 steps keeps no denoising step" \
  --image "$work/in.png" --strength 0.2
bad "scheduler 'FlowMatchEulerDiscreteScheduler' is a flow-matching sampler" \
  --image "$work/in.png" --scheduler FlowMatchEulerDiscreteScheduler
"$B/fresco-compile" "$work/pipe" -o "$work/t2i.fplan" --batch 2 --height $H \
  --width $W --quiet
plan=$work/t2i.fplan bad "this plan has none: compile the pipeline folder \
with fresco-compile --vae-encoder" --image "$work/in.png"
# DiT: no encoder can be compiled, and a DiT plan takes no --image.
"$FRESCO_PYTHON" "$here/make_diffusers_pipeline.py" \
  --template "$root/models/dit/pipelines/dit-tiny" --out "$work/dit" \
  --seed 5 > /dev/null
expect_error "StableDiffusion3Pipeline and FluxPipeline folders (and the \
Stable Diffusion inpaint and ControlNet classes') only, not DiTPipeline" "$B/fresco-compile" "$work/dit" --vae-encoder -o "$work/d.fplan"
"$B/fresco-compile" "$work/dit" -o "$work/dit.fplan" --quiet
expect_error "StableDiffusion3Pipeline and FluxPipeline plans only; this \
plan is a DiTPipeline" "$B/fresco-run" "$work/dit.fplan" --weights "$work/dit" \
  --class-label 1 --image "$work/in.png" --steps 2 -o "$work/d.png"
echo "stable diffusion image-to-image ($scheduler): OK"
