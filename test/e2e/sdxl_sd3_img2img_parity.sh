#!/usr/bin/env bash
# sdxl_sd3_img2img_parity.sh sdxl|sd3: image-to-image on the tiny random
# StableDiffusionXLPipeline or StableDiffusion3Pipeline folder of
# sdxl_sd3_generate_parity.sh, compiled with fresco-compile --vae-encoder,
# against the real diffusers StableDiffusionXLImg2ImgPipeline /
# StableDiffusion3Img2ImgPipeline loaded from that folder, on CPU in
# float64: the same PNG, the encoder's mean on both sides (retrieve_latents
# in "argmax" mode) and the same noise (fresco-run --latents; diffusers'
# randn_tensor returns it). 2 prompts, 4 steps, strength 0.6 (SDXL's
# get_timesteps keeps the last int(2.4) = 2 steps, SD3's 4 - int(1.6) = 3)
# and 1.0 (a negative prompt and second prompts there): final latents
# within 1e-4 of their max magnitude; sdxl: strength 1.0 with
# micro-conditioning (--original-size, --crops-coords-top-left,
# --target-size, --negative-original-size) too, and the run without it
# missing that reference. sd3: strength 1.0 is text-to-image
# from the same noise (scale_noise at sigma 1), byte for byte. Several
# ranks against 1 rank within 1e-5: the text encoders, VAE and VAE encoder
# on rank 0 with the denoiser on rank 1 (the encoded image is sent), and
# cfg=2 (SDXL) or ulysses=2 (SD3). Inpainting (--mask) against the
# inpaint classes (SD3's on a 16-channel folder) at strength 0.6 and 1.0,
# SDXL's defaults, --denoising-end and --denoising-start, and placement;
# sdxl: an inpainting UNet (9 channels, a
# StableDiffusionXLInpaintPipeline folder), and cfg=2. Bad input: a strength keeping no step,
# an image of another size, a plan without the encoder; sdxl: a scheduler
# without add_noise, a negative crop corner (diffusers ignores it here).
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
kind=$1
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sdxl_sd3_reference.py

case $kind in
sdxl)
  H=32 W=24 make_flags=(--kind sdxl) flags=() denoiser=unet
  encoders=text_encoder=0,text_encoder_2=0
  declare -A kept=([0.6]=2 [1.0]=4)
  sched=EulerDiscreteScheduler second=(--prompt-2 "an oil painting" --prompt-2 "a photo") ;;
sd3)
  # T5 at 16 tokens (its default 256 would dominate this tiny test).
  H=24 W=16 make_flags=(--kind sd3) flags=(--max-sequence-length 16)
  denoiser=transformer encoders=text_encoder=0,text_encoder_2=0,text_encoder_3=0
  declare -A kept=([0.6]=3 [1.0]=4)
  sched=FlowMatchEulerDiscreteScheduler
  second=(--prompt-2 "an oil painting" --prompt-2 "a photo" --prompt-3 "at dusk"
    --prompt-3 "close up") ;;
*) echo "usage: $0 sdxl|sd3"; exit 2 ;;
esac

py "$ref" make "${make_flags[@]}" --out "$work/pipe" --seed 3 > /dev/null
py "$ref" latents --out "$work/noise.npy" --batch 2 --seed 5 --height $H \
  --width $W > /dev/null
py "$here/sd_pipeline_reference.py" image --out "$work/in.png" --height $H \
  --width $W --seed 2 > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/i2i.fplan" --batch 2 --height $H \
  --width $W "${flags[@]}" --vae-encoder
"$B/fresco-inspect" "$work/i2i.fplan" | grep -q "encoder 'vae_encoder'" ||
  { echo "fresco-inspect shows no encoder component"; exit 1; }
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
extra_0_6=()
extra_1_0=(--negative-prompt "blurry, low quality" "${second[@]}")

for strength in 0.6 1.0; do
  name=extra_${strength/./_}[@]
  "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${!name}" --image "$work/in.png" --strength $strength --steps 4 \
    --latents "@$work/noise.npy" --output-latents "@$work/f$strength.npy" \
    --timeout 60 --stats 2> "$work/f$strength.log"
  grep -q "${kept[$strength]} steps of $sched" "$work/f$strength.log" || {
    echo "strength $strength: expected ${kept[$strength]} steps:"
    cat "$work/f$strength.log"; exit 1
  }
  py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" "${!name}" \
    --image "$work/in.png" --strength $strength --steps 4 "${flags[@]}" \
    --latents "$work/noise.npy" --dtype float64 \
    --out-latents "$work/r$strength.npy" > /dev/null
  echo "== strength $strength"
  py "$here/compare_npy.py" "$work/f$strength.npy" "$work/r$strength.npy" \
    --rtol-max 1e-4
done

if [ "$kind" = sdxl ]; then
  # Micro-conditioning as StableDiffusionXLImg2ImgPipeline takes it (no
  # aesthetic score): the negative original size given, the negative target
  # size the prompts', the prompts' crop corner in both halves.
  micro=(--original-size 64,48 --crops-coords-top-left 8,4 --target-size 40,32
    --negative-original-size 56,40)
  "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${extra_1_0[@]}" "${micro[@]}" --image "$work/in.png" --strength 1.0 \
    --steps 4 --latents "@$work/noise.npy" --output-latents "@$work/fm.npy" \
    --timeout 60 --quiet
  py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" "${extra_1_0[@]}" \
    "${micro[@]}" --image "$work/in.png" --strength 1.0 --steps 4 \
    --latents "$work/noise.npy" --dtype float64 --out-latents "$work/rm.npy" \
    > /dev/null
  echo "== strength 1.0, micro-conditioning"
  py "$here/compare_npy.py" "$work/fm.npy" "$work/rm.npy" --rtol-max 1e-4
  # Ignoring the values (the plan's time ids) misses that reference.
  if py "$here/compare_npy.py" "$work/f1.0.npy" "$work/rm.npy" \
    --rtol-max 1e-4 > "$work/ignored.log"; then
    echo "the micro-conditioning did not change the latents"; exit 1
  fi
  echo "== without it (must differ): $(grep -m1 -o 'ratio [^ ]*' "$work/ignored.log")"
fi

if [ "$kind" = sd3 ]; then
  # scale_noise at sigma 1 is the noise itself: text-to-image, the same bytes.
  "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${extra_1_0[@]}" --steps 4 --latents "@$work/noise.npy" \
    --output-latents "@$work/t2i.npy" --timeout 60 --quiet
  cmp "$work/t2i.npy" "$work/f1.0.npy"
fi

# Without --strength (and, for SD3, --steps) the img2img class's defaults:
# SDXL strength 0.3 (10 steps keep 3), SD3 strength 0.6 of 50 steps (30),
# and the run equals one that gives them.
if [ "$kind" = sdxl ]; then
  defaults=(--steps 10) explicit=(--steps 10 --strength 0.3) want=3
else
  defaults=() explicit=(--steps 50 --strength 0.6) want=30
fi
"$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --image "$work/in.png" "${defaults[@]}" --latents "@$work/noise.npy" \
  --output-latents "@$work/default.npy" --timeout 60 --stats \
  2> "$work/default.log"
grep -q "$want steps of $sched" "$work/default.log" || {
  echo "defaults: expected $want steps:"
  cat "$work/default.log"; exit 1
}
"$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --image "$work/in.png" "${explicit[@]}" --latents "@$work/noise.npy" \
  --output-latents "@$work/explicit.npy" --timeout 60 --quiet
cmp "$work/default.npy" "$work/explicit.npy"

# Inpainting (--mask) against StableDiffusionXLInpaintPipeline /
# StableDiffusion3InpaintPipeline (which takes SD3's 16 channels only: a
# 16-channel folder), at strength 0.6 and 1.0 (pure noise), the latents put
# back to the noised init image outside the mask; then the inpaint class's
# defaults (SDXL: strength 0.9999 keeps int(3.9996) = 3 of 4 steps, guidance
# 7.5) equal the run that gives them, and the placement ranks match 1 rank.
ipipe=$work/pipe inoise=$work/noise.npy iplan=$work/i2i.fplan
if [ "$kind" = sd3 ]; then
  ipipe=$work/pipe16 inoise=$work/noise16.npy iplan=$work/inpaint16.fplan
  py "$ref" make --kind sd3 --latent-channels 16 --out "$ipipe" --seed 3 \
    > /dev/null
  py "$ref" latents --out "$inoise" --batch 2 --seed 5 --height $H \
    --width $W --channels 16 > /dev/null
  "$B/fresco-compile" "$ipipe" -o "$iplan" --batch 2 --height $H --width $W \
    "${flags[@]}" --vae-encoder --quiet
fi
py "$here/sd_pipeline_reference.py" mask --out "$work/mask.png" --height $H \
  --width $W --seed 4 --mode L > /dev/null
for strength in 0.6 1.0; do
  "$B/fresco-run" "$iplan" --weights "$ipipe" "${prompts[@]}" \
    "${extra_1_0[@]}" --image "$work/in.png" --mask "$work/mask.png" \
    --strength $strength --steps 4 --latents "@$inoise" \
    --output-latents "@$work/m$strength.npy" --timeout 60 --quiet
  py "$ref" img2img --pipeline "$ipipe" "${prompts[@]}" "${extra_1_0[@]}" \
    --image "$work/in.png" --mask "$work/mask.png" --strength $strength \
    --steps 4 --height $H --width $W "${flags[@]}" --latents "$inoise" \
    --dtype float64 --out-latents "$work/rm$strength.npy" > /dev/null
  echo "== inpainting, strength $strength"
  py "$here/compare_npy.py" "$work/m$strength.npy" "$work/rm$strength.npy" \
    --rtol-max 1e-4
done
if [ "$kind" = sdxl ]; then
  "$B/fresco-run" "$iplan" --weights "$ipipe" "${prompts[@]}" \
    --image "$work/in.png" --mask "$work/mask.png" --steps 4 \
    --latents "@$inoise" --output-latents "@$work/mdefault.npy" --timeout 60 \
    --stats 2> "$work/mdefault.log"
  grep -q "3 steps of $sched" "$work/mdefault.log" || {
    echo "inpainting defaults: expected 3 steps:"; cat "$work/mdefault.log"
    exit 1
  }
  "$B/fresco-run" "$iplan" --weights "$ipipe" "${prompts[@]}" \
    --image "$work/in.png" --mask "$work/mask.png" --steps 4 \
    --strength 0.9999 --guidance-scale 7.5 --latents "@$inoise" \
    --output-latents "@$work/mexplicit.npy" --timeout 60 --quiet
  cmp "$work/mdefault.npy" "$work/mexplicit.npy"
  # The ensemble of experts with a mask: denoising_end stops the blending
  # loop early (its last step puts the image back un-noised, as the
  # truncated schedule's last), denoising_start starts from the init
  # latents unnoised.
  for cut in --denoising-end --denoising-start; do
    "$B/fresco-run" "$iplan" --weights "$ipipe" "${prompts[@]}" \
      "${extra_1_0[@]}" --image "$work/in.png" --mask "$work/mask.png" \
      --steps 6 $cut 0.5 --latents "@$inoise" \
      --output-latents "@$work/m$cut.npy" --timeout 60 --quiet
    py "$ref" img2img --pipeline "$ipipe" "${prompts[@]}" "${extra_1_0[@]}" \
      --image "$work/in.png" --mask "$work/mask.png" --steps 6 $cut 0.5 \
      --height $H --width $W --latents "$inoise" --dtype float64 \
      --out-latents "$work/rm$cut.npy" > /dev/null
    echo "== inpainting, $cut 0.5"
    py "$here/compare_npy.py" "$work/m$cut.npy" "$work/rm$cut.npy" \
      --rtol-max 1e-4
  done
fi
"$B/fresco-compile" "$ipipe" -o "$work/mplace.fplan" --batch 2 --height $H \
  --width $W "${flags[@]}" --vae-encoder --ranks 2 \
  --place "$encoders,vae=0,vae_encoder=0,$denoiser=1" --quiet
"$B/fresco-run" "$work/mplace.fplan" --weights "$ipipe" "${prompts[@]}" \
  "${extra_1_0[@]}" --image "$work/in.png" --mask "$work/mask.png" \
  --strength 0.6 --steps 4 --latents "@$inoise" \
  --output-latents "@$work/mplace.npy" --timeout 60 --quiet
echo "== inpainting, placement (2 ranks)"
py "$here/compare_npy.py" "$work/mplace.npy" "$work/m0.6.npy" --rtol-max 1e-5

# SDXL inpainting 0.1's layout: a StableDiffusionXLInpaintPipeline folder
# whose UNet takes 9 channels (latents, mask, masked image latents), its
# encoder compiled without --vae-encoder: against diffusers at strength 0.6
# and 1.0, and cfg=2 against 1 rank.
if [ "$kind" = sdxl ]; then
  py "$ref" make --kind sdxl --inpaint --out "$work/pipe9" --seed 3 > /dev/null
  for par in 1 cfg=2; do
    flags9=()
    [ $par = 1 ] || flags9=(--ranks 2 --parallel $par)
    "$B/fresco-compile" "$work/pipe9" -o "$work/p9-$par.fplan" --batch 2 \
      --height $H --width $W "${flags9[@]}" --quiet
  done
  for strength in 0.6 1.0; do
    "$B/fresco-run" "$work/p9-1.fplan" --weights "$work/pipe9" \
      "${prompts[@]}" "${extra_1_0[@]}" --image "$work/in.png" \
      --mask "$work/mask.png" --strength $strength --steps 4 \
      --latents "@$work/noise.npy" --output-latents "@$work/m9-$strength.npy" \
      --timeout 60 --quiet
    py "$ref" img2img --pipeline "$work/pipe9" "${prompts[@]}" \
      "${extra_1_0[@]}" --image "$work/in.png" --mask "$work/mask.png" \
      --strength $strength --steps 4 --height $H --width $W \
      --latents "$work/noise.npy" --dtype float64 \
      --out-latents "$work/rm9-$strength.npy" > /dev/null
    echo "== inpainting UNet, strength $strength"
    py "$here/compare_npy.py" "$work/m9-$strength.npy" \
      "$work/rm9-$strength.npy" --rtol-max 1e-4
  done
  "$B/fresco-run" "$work/p9-cfg=2.fplan" --weights "$work/pipe9" \
    "${prompts[@]}" "${extra_1_0[@]}" --image "$work/in.png" \
    --mask "$work/mask.png" --strength 0.6 --steps 4 \
    --latents "@$work/noise.npy" --output-latents "@$work/m9-cfg.npy" \
    --timeout 60 --quiet
  echo "== inpainting UNet, cfg=2"
  py "$here/compare_npy.py" "$work/m9-cfg.npy" "$work/m9-0.6.npy" --rtol-max 1e-5
fi

# Several ranks against the 1-rank run at strength 0.6.
multi() { # name compile-flags...
  local name=$1
  shift
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    --height $H --width $W "${flags[@]}" --vae-encoder --ranks 2 "$@" --quiet
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" "${prompts[@]}" \
    --image "$work/in.png" --strength 0.6 --steps 4 \
    --latents "@$work/noise.npy" --output-latents "@$work/$name.npy" \
    --timeout 60 --quiet
  echo "== $name (2 ranks: $*)"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/f0.6.npy" --rtol-max 1e-5
}
multi placement --place "$encoders,vae=0,vae_encoder=0,$denoiser=1"
if [ "$kind" = sdxl ]; then
  multi cfg2 --parallel cfg=2
else
  multi ulysses2 --parallel ulysses=2
fi

# Bad input: clear errors.
bad() { # message flags...: fresco-run of PLAN ($plan) refuses FLAGS, exit 1
  expect_error "$1" "$B/fresco-run" "${plan:-$work/i2i.fplan}" \
    --weights "$work/pipe" "${prompts[@]}" --steps 4 -o "$work/x.png" \
    --timeout 60 --quiet "${@:2}"
}
if [ "$kind" = sdxl ]; then
  bad "strength 0.2 of 4 steps keeps no denoising step" \
    --image "$work/in.png" --strength 0.2
  bad "is a flow-matching sampler: it needs a denoiser that predicts a flow velocity" \
    --image "$work/in.png" --scheduler FlowMatchEulerDiscreteScheduler
  bad "--negative-crops-coords-top-left: StableDiffusionXLImg2ImgPipeline \
without an aesthetic score puts the prompts' crop corner" \
    --image "$work/in.png" --negative-crops-coords-top-left 2,6
else
  # 4 - 4 * 1e-17 is 4.0: t_start 4, no step left.
  bad "strength 1e-17 of 4 steps keeps no denoising step" \
    --image "$work/in.png" --strength 1e-17
fi
py "$here/sd_pipeline_reference.py" image --out "$work/small.png" \
  --height 16 --width 32 > /dev/null
bad "image is 32x16 pixels (width x height) but the plan was compiled for \
${W}x$H" --image "$work/small.png"
"$B/fresco-compile" "$work/pipe" -o "$work/t2i.fplan" --batch 2 --height $H \
  --width $W "${flags[@]}" --quiet
plan=$work/t2i.fplan bad "this plan has none: compile the pipeline folder \
with fresco-compile --vae-encoder" --image "$work/in.png"
echo "$kind image-to-image: OK"
