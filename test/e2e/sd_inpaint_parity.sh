#!/usr/bin/env bash
# sd_inpaint_parity.sh: inpainting (fresco-run --image --mask) on the tiny
# random StableDiffusionPipeline folder of sd_generate_parity.sh (its
# 4-channel UNet), compiled with --vae-encoder, against the real diffusers
# StableDiffusionInpaintPipeline on CPU in float64, with img2img's
# substitutions (the encoder's mean, --latents as the noise; see
# sd_img2img_parity.sh): each of the five noise-predicting schedulers at
# strength 0.6 (add_noise, the last 2 of 4 steps) and at the class's default
# 1.0 (pure noise times init_noise_sigma), a gray mask and an RGB one whose
# PIL "L" crosses the threshold where a channel mean would not; final
# latents within 1e-4 of their max magnitude. An all-black mask gives the
# init image's latents back. cfg=2, ulysses=2 and the encoders on rank 0
# with the UNet on rank 1 match 1 rank. An inpainting UNet (9 channels, a
# StableDiffusionInpaintPipeline folder) against diffusers and on several
# ranks. Then bad input: --mask without
# --image, a mask with alpha, of another size, not a PNG, a plan without the
# encoder, a DiT plan.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sd_pipeline_reference.py
H=32 W=24

py "$ref" make --out "$work/pipe" --seed 3 > /dev/null
py "$ref" latents --pipeline "$work/pipe" --out "$work/noise.npy" --batch 2 \
  --seed 5 --height $H --width $W > /dev/null
py "$ref" image --out "$work/in.png" --height $H --width $W --seed 2 > /dev/null
py "$ref" mask --out "$work/gray.png" --height $H --width $W --seed 4 \
  --mode L > /dev/null
py "$ref" mask --out "$work/rgb.png" --height $H --width $W --seed 6 \
  --mode RGB > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/i2i.fplan" --batch 2 --height $H \
  --width $W --vae-encoder --quiet
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
neg=(--negative-prompt "blurry, low quality")

# run NAME MASK SCHEDULER [--strength S]: fresco-run and diffusers, compared.
run() {
  local name=$1 mask=$2 scheduler=$3
  shift 3
  "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${neg[@]}" --image "$work/in.png" --mask "$mask" --steps 4 \
    --latents "@$work/noise.npy" --output-latents "@$work/f-$name.npy" \
    -o "$work/f-$name.png" --seed 7 --scheduler "$scheduler" --timeout 60 \
    --quiet "$@"
  py "$ref" inpaint --pipeline "$work/pipe" "${prompts[@]}" "${neg[@]}" \
    --image "$work/in.png" --mask "$mask" --steps 4 --height $H --width $W \
    --latents "$work/noise.npy" --dtype float64 --noise-seed 7 \
    --scheduler "$scheduler" --out-latents "$work/r-$name.npy" "$@" > /dev/null
  echo "== $name"
  py "$here/compare_npy.py" "$work/f-$name.npy" "$work/r-$name.npy" \
    --rtol-max 1e-4
}

for scheduler in DDIMScheduler EulerDiscreteScheduler \
  EulerAncestralDiscreteScheduler PNDMScheduler DPMSolverMultistepScheduler; do
  run "$scheduler-0.6" "$work/gray.png" $scheduler --strength 0.6
  run "$scheduler-1.0" "$work/rgb.png" $scheduler
done
# The mask matters: inpainting is not image-to-image.
"$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
  "${neg[@]}" --image "$work/in.png" --strength 0.6 --steps 4 \
  --latents "@$work/noise.npy" --output-latents "@$work/i2i.npy" --seed 7 \
  --quiet
if py "$here/compare_npy.py" "$work/i2i.npy" "$work/f-DDIMScheduler-0.6.npy" \
  --rtol-max 1e-3 > /dev/null; then
  echo "--mask changed nothing"; exit 1
fi

# All black: nothing repainted, the init image's latents come back (the last
# step puts them back un-noised), and a warning says so.
py "$ref" mask --out "$work/black.png" --height $H --width $W --mode black \
  > /dev/null
"$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --image "$work/in.png" --mask "$work/black.png" --steps 4 --strength 0.6 \
  --latents "@$work/noise.npy" --output-latents "@$work/black.npy" \
  --timeout 60 2> "$work/black.log"
grep -q "is black everywhere: nothing is repainted" "$work/black.log" ||
  { cat "$work/black.log"; echo "no warning for an all-black mask"; exit 1; }
py "$ref" inpaint --pipeline "$work/pipe" "${prompts[@]}" --image "$work/in.png" \
  --mask "$work/black.png" --steps 4 --strength 0.6 --height $H --width $W \
  --latents "$work/noise.npy" --dtype float64 --out-latents "$work/r-black.npy" \
  > /dev/null
py "$here/compare_npy.py" "$work/black.npy" "$work/r-black.npy" --rtol-max 1e-5

# cfg=2, ulysses=2 (the UNet's rows split; every rank blends its whole
# latents) and placement (rank 0 encodes the image and sends it) match the
# 1-rank run.
sd_layout_plans "$work/pipe" $H $W
for par in cfg=2 ulysses=2 place; do
  "$B/fresco-run" "$work/$par.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${neg[@]}" --image "$work/in.png" --mask "$work/gray.png" --strength 0.6 \
    --steps 4 --latents "@$work/noise.npy" --seed 7 \
    --output-latents "@$work/$par.npy" --timeout 60 --quiet
  py "$here/compare_npy.py" "$work/$par.npy" \
    "$work/f-DDIMScheduler-0.6.npy" --rtol-max 1e-5
done

# An inpainting UNet (a StableDiffusionInpaintPipeline folder, 9 input
# channels: latents, mask, masked image latents; the encoder compiled
# without --vae-encoder): against diffusers at strength 0.6 and the default
# 1.0 (the init image's latents not needed), DDIM and Euler ancestral; the
# same on cfg=2, ulysses=2, ring=2, tp=2 and placement; it refuses to run
# without a mask, and a StableDiffusionPipeline folder with such a UNet is
# refused.
py "$ref" make --out "$work/pipe9" --seed 3 --inpaint > /dev/null
"$B/fresco-compile" "$work/pipe9" -o "$work/p9.fplan" --batch 2 --height $H \
  --width $W --quiet
"$B/fresco-inspect" "$work/p9.fplan" |
  grep -q "+ 5 channels of mask and masked image latents" ||
  { "$B/fresco-inspect" "$work/p9.fplan"; echo "no mask channels"; exit 1; }
run9() { # name scheduler [flags...]
  local name=$1 scheduler=$2
  shift 2
  "$B/fresco-run" "$work/${plan9:-p9}.fplan" --weights "$work/pipe9" \
    "${prompts[@]}" "${neg[@]}" --image "$work/in.png" \
    --mask "$work/rgb.png" --steps 4 --latents "@$work/noise.npy" \
    --output-latents "@$work/f9-$name.npy" --seed 7 \
    --scheduler "$scheduler" --timeout 60 --quiet "$@"
}
for scheduler in DDIMScheduler EulerAncestralDiscreteScheduler; do
  for strength in 0.6 1.0; do
    s=(--strength $strength)
    [ $strength = 1.0 ] && s=()
    run9 "$scheduler-$strength" $scheduler "${s[@]}"
    py "$ref" inpaint --pipeline "$work/pipe9" "${prompts[@]}" "${neg[@]}" \
      --image "$work/in.png" --mask "$work/rgb.png" --steps 4 --height $H \
      --width $W --latents "$work/noise.npy" --dtype float64 \
      --noise-seed 7 --scheduler $scheduler --strength $strength \
      --out-latents "$work/r9-$scheduler-$strength.npy" > /dev/null
    echo "== inpainting UNet, $scheduler, strength $strength"
    py "$here/compare_npy.py" "$work/f9-$scheduler-$strength.npy" \
      "$work/r9-$scheduler-$strength.npy" --rtol-max 1e-4
  done
done
for par in cfg=2 ulysses=2 ring=2 tp=2 place; do
  flags=(--parallel $par)
  [ $par = place ] && flags=(--place text_encoder=0,vae=0,vae_encoder=0,unet=1)
  "$B/fresco-compile" "$work/pipe9" -o "$work/p9-$par.fplan" --batch 2 \
    --height $H --width $W --ranks 2 "${flags[@]}" --quiet
  plan9=p9-$par run9 "$par" DDIMScheduler --strength 0.6
  echo "== inpainting UNet, $par"
  py "$here/compare_npy.py" "$work/f9-$par.npy" \
    "$work/f9-DDIMScheduler-0.6.npy" --rtol-max 1e-5
done
expect_error "this plan's UNet is an inpainting UNet (9 input channels: the \
latents, a mask and the masked image's latents): it only inpaints; give \
--image and --mask" "$B/fresco-run" "$work/p9.fplan" --weights "$work/pipe9" \
  "${prompts[@]}" --image "$work/in.png" --steps 2 -o "$work/x.png"
cp -r "$work/pipe9" "$work/pipe9-sd"
sed -i 's/"StableDiffusionInpaintPipeline"/"StableDiffusionPipeline"/' \
  "$work/pipe9-sd/model_index.json"
expect_error "the UNet takes 9 input channels (an inpainting UNet: the \
latents, a mask and the masked image's latents), which \
StableDiffusionPipeline does not feed; its folder's class is \
StableDiffusionInpaintPipeline" "$B/fresco-compile" "$work/pipe9-sd" \
  -o "$work/x.fplan" --height $H --width $W

bad() { # message flags...: fresco-run of PLAN ($plan) refuses FLAGS
  expect_error "$1" "$B/fresco-run" "${plan:-$work/i2i.fplan}" \
    --weights "$work/pipe" "${prompts[@]}" --steps 4 -o "$work/x.png" \
    --timeout 60 --quiet "${@:2}"
}
expect_usage "--mask (inpainting) repaints part of an init image: give \
--image (or --image-latents) too" "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" \
  "${prompts[@]}" -o "$work/x.png" --mask "$work/gray.png"
py "$ref" mask --out "$work/rgba.png" --height $H --width $W --mode RGBA \
  > /dev/null
bad "--mask '$work/rgba.png' has an alpha channel" --image "$work/in.png" \
  --mask "$work/rgba.png"
py "$ref" mask --out "$work/small.png" --height 16 --width 16 > /dev/null
bad "--mask is 16x16 pixels (width x height) but the plan was compiled for \
24x32" --image "$work/in.png" --mask "$work/small.png"
bad "not a PNG file" --image "$work/in.png" --mask "$work/noise.npy"
bad "cannot read PNG file '$work/none.png'" --image "$work/in.png" \
  --mask "$work/none.png"
"$B/fresco-compile" "$work/pipe" -o "$work/t2i.fplan" --batch 2 --height $H \
  --width $W --quiet
plan=$work/t2i.fplan bad "--mask needs the VAE encoder" \
  --image "$work/in.png" --mask "$work/gray.png"
"$FRESCO_PYTHON" "$here/make_diffusers_pipeline.py" \
  --template "$root/models/dit/pipelines/dit-tiny" --out "$work/dit" \
  --seed 5 > /dev/null
"$B/fresco-compile" "$work/dit" -o "$work/dit.fplan" --quiet
expect_error "--mask (inpainting) is implemented for StableDiffusionPipeline, \
StableDiffusionXLPipeline, StableDiffusionXLImg2ImgPipeline, \
StableDiffusion3Pipeline and FluxPipeline plans only; this plan is a \
DiTPipeline" "$B/fresco-run" "$work/dit.fplan" --weights "$work/dit" \
  --class-label 1 --image "$work/in.png" --mask "$work/gray.png" --steps 2 \
  -o "$work/d.png"
echo "stable diffusion inpainting: OK"
