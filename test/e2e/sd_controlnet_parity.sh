#!/usr/bin/env bash
# sd_controlnet_parity.sh: a tiny random StableDiffusionControlNetPipeline
# folder (sd_pipeline_reference.py make --controlnet: the UNet of
# unet-tiny.json and a random ControlNetModel of its config, the zero
# convolutions random too) compiled and run with fresco-run --control-image,
# against the real diffusers StableDiffusionControlNetPipeline on CPU in
# float64 (--latents as its latents): DDIM at scale 1, a gray control image
# at scale 0.5 inside a guidance window (control_guidance_start/end: the
# first and last of 4 steps without it), Euler ancestral, guess mode (with
# and without CFG, in a window; on cfg=2 and tp=2 too); final latents
# within 1e-4 of their max magnitude. The ControlNet matters (scale 0 moves
# the latents). Every strategy on the UNet and ControlNet together (cfg=2,
# tp=2, tp=3 with padded heads, ulysses=2, ring=2, ulysses=4, ulysses=3 and
# ring=3 with padded rows, pipeline=2, placement, cfg=2 x ulysses=2) matches
# 1 rank; so does SD's factor 8 (a 4-block VAE, the embedding's three
# stride-2 convolutions split by rows) on ulysses=2, ring=2, ulysses=4 and
# ulysses=3. An SDXL ControlNet
# (StableDiffusionXLControlNetPipeline: the ControlNet also reads the pooled
# text embeddings and time ids) against diffusers, with SDXL's
# denoising_end, micro-conditioning and guess mode, and on cfg=2, tp=2 and
# ulysses=2.
# Image-to-image with a ControlNet (--vae-encoder plans, or an Img2Img
# ControlNet folder) against StableDiffusionControlNetImg2ImgPipeline and
# StableDiffusionXLControlNetImg2ImgPipeline (their defaults: strength 0.8,
# scale 0.8; strength 0.6 with a guidance window over the steps that run),
# on cfg=2 and placement too. Inpainting against
# StableDiffusionControlNetInpaintPipeline (defaults: strength 1.0, scale
# 0.5; strength 0.6 with a window), with a plain UNet and with a folder of
# that class whose UNet takes 9 channels (on cfg=2, ulysses=2, ring=3 and
# tp=2 too); and against StableDiffusionXLControlNetInpaintPipeline
# (plain and 9-channel UNets, denoising_end; cfg=2 and ulysses=2). Two ControlNets (MultiControlNetModel) with a
# scale and window each, and on cfg, ulysses and tp. --generator torch
# against the classes called with the seeded generator. Then bad input.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sd_pipeline_reference.py
H=32 W=24

py "$ref" make --out "$work/pipe" --seed 3 --controlnet > /dev/null
py "$ref" latents --pipeline "$work/pipe" --out "$work/noise.npy" --batch 2 \
  --seed 5 --height $H --width $W > /dev/null
py "$ref" image --out "$work/ctl.png" --height $H --width $W --seed 9 \
  > /dev/null
py - "$work/ctl.png" "$work/gray.png" <<'PY'
import sys
from PIL import Image
Image.open(sys.argv[1]).convert("L").save(sys.argv[2])
PY
py "$ref" image --out "$work/small.png" --height 16 --width $W > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/cn.fplan" --batch 2 --height $H \
  --width $W --quiet
"$B/fresco-inspect" "$work/cn.fplan" | grep -qF \
  "denoiser 'unet' on rank 0: latents, timestep, text_embeddings, control_image, control_scale -> prediction" ||
  { "$B/fresco-inspect" "$work/cn.fplan"; echo "no control inputs"; exit 1; }
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
neg=(--negative-prompt "blurry, low quality")

# gen NAME PLAN [flags...]: fresco-run's final latents in $work/NAME.npy.
gen() {
  local name=$1 plan=$2
  shift 2
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${neg[@]}" --steps 4 --latents "@$work/noise.npy" \
    --output-latents "@$work/$name.npy" --timeout 60 --quiet "$@"
}
# against NAME [flags...]: diffusers with the same flags, compared.
against() {
  local name=$1
  shift
  py "$ref" controlnet --pipeline "$work/pipe" "${prompts[@]}" "${neg[@]}" \
    --steps 4 --height $H --width $W --latents "$work/noise.npy" \
    --dtype float64 --out-latents "$work/r-$name.npy" "$@" > /dev/null
  echo "== $name"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/r-$name.npy" \
    --rtol-max 1e-4
}

gen ddim cn --control-image "$work/ctl.png" -o "$work/ddim.png"
against ddim --control-image "$work/ctl.png"
window=(--controlnet-scale 0.5 --control-guidance-start 0.25
  --control-guidance-end 0.75)
gen window cn --control-image "$work/gray.png" "${window[@]}"
against window --control-image "$work/gray.png" "${window[@]}"
gen euler-a cn --control-image "$work/ctl.png" --seed 7 \
  --scheduler EulerAncestralDiscreteScheduler
against euler-a --control-image "$work/ctl.png" --noise-seed 7 \
  --scheduler EulerAncestralDiscreteScheduler
# The ControlNet's residuals reach the UNet.
gen off cn --control-image "$work/ctl.png" --controlnet-scale 0
if py "$here/compare_npy.py" "$work/off.npy" "$work/ddim.npy" \
  --rtol-max 1e-3 > /dev/null; then
  echo "--controlnet-scale 0 changed nothing"; exit 1
fi

# guess_mode (fresco-run --guess-mode): the residuals scaled 0.1 .. 1 and,
# under CFG, none for the negative prompts' half; without CFG the factors
# alone; with a scale in a window. Against diffusers, and on cfg=2 (each
# half on its own rank) and tp=2 against 1 rank.
gen guess cn --control-image "$work/ctl.png" --guess-mode
against guess --control-image "$work/ctl.png" --guess-mode
gen guess-unguided cn --control-image "$work/ctl.png" --guess-mode \
  --guidance-scale 1
against guess-unguided --control-image "$work/ctl.png" --guess-mode \
  --guidance-scale 1
gen guess-window cn --control-image "$work/gray.png" --guess-mode "${window[@]}"
against guess-window --control-image "$work/gray.png" --guess-mode "${window[@]}"
if py "$here/compare_npy.py" "$work/guess.npy" "$work/ddim.npy" \
  --rtol-max 1e-4 > /dev/null; then
  echo "--guess-mode changed nothing"; exit 1
fi
for par in cfg=2 tp=2; do
  "$B/fresco-compile" "$work/pipe" -o "$work/guess-$par.fplan" --batch 2 \
    --height $H --width $W --ranks 2 --parallel $par --quiet
  gen "guess-$par" "guess-$par" --control-image "$work/ctl.png" --guess-mode
  echo "== guess mode on $par"
  py "$here/compare_npy.py" "$work/guess-$par.npy" "$work/guess.npy" \
    --rtol-max 1e-5
done

# Every strategy splits the UNet and its ControlNet together.
for par in cfg=2 tp=2 tp=3 ulysses=2 ring=2 ulysses=4 ulysses=3 ring=3 \
  pipeline=2 place cfg=2,ulysses=2; do
  flags=(--parallel $par)
  n=2
  case $par in
  place) flags=(--place text_encoder=0,vae=0,unet=1) ;;
  tp=3 | ulysses=3 | ring=3) n=3 ;;
  ulysses=4 | cfg=2,ulysses=2) n=4 ;;
  esac
  "$B/fresco-compile" "$work/pipe" -o "$work/$par.fplan" --batch 2 \
    --height $H --width $W --ranks $n "${flags[@]}" --quiet
  gen "$par" "$par" --control-image "$work/ctl.png"
  echo "== $par"
  py "$here/compare_npy.py" "$work/$par.npy" "$work/ddim.npy" --rtol-max 1e-5
done

# Two ControlNets (a MultiControlNetModel: controlnet/, controlnet_1/), each
# with its image, scale and window; their residuals summed. Against
# diffusers, with one scale for both, and on cfg=2, ulysses=2 and tp=2.
py "$ref" make --out "$work/multi" --seed 3 --controlnets 2 > /dev/null
"$B/fresco-compile" "$work/multi" -o "$work/multi.fplan" --batch 2 \
  --height $H --width $W --quiet
multi_images=(--control-image "$work/ctl.png" --control-image "$work/gray.png")
for case in each one guess; do
  flags=(--controlnet-scale 0.5,1.5 --control-guidance-start 0,0.25
    --control-guidance-end 0.75,1)
  [ $case = one ] && flags=(--controlnet-scale 0.7)
  [ $case = guess ] && flags+=(--guess-mode)
  "$B/fresco-run" "$work/multi.fplan" --weights "$work/multi" \
    "${prompts[@]}" "${neg[@]}" --steps 4 --latents "@$work/noise.npy" \
    "${multi_images[@]}" "${flags[@]}" --output-latents "@$work/multi-$case.npy" \
    --timeout 60 --quiet
  py "$ref" controlnet --pipeline "$work/multi" "${prompts[@]}" "${neg[@]}" \
    --steps 4 --height $H --width $W --latents "$work/noise.npy" \
    --dtype float64 "${multi_images[@]}" "${flags[@]}" \
    --out-latents "$work/r-multi-$case.npy" > /dev/null
  echo "== two ControlNets, $case"
  py "$here/compare_npy.py" "$work/multi-$case.npy" \
    "$work/r-multi-$case.npy" --rtol-max 1e-4
done
for par in cfg=2 ulysses=2 tp=2; do
  "$B/fresco-compile" "$work/multi" -o "$work/multi-$par.fplan" --batch 2 \
    --height $H --width $W --ranks 2 --parallel $par --quiet
  "$B/fresco-run" "$work/multi-$par.fplan" --weights "$work/multi" \
    "${prompts[@]}" "${neg[@]}" --steps 4 --latents "@$work/noise.npy" \
    "${multi_images[@]}" --controlnet-scale 0.7 \
    --output-latents "@$work/multi-$par.npy" --timeout 60 --quiet
  echo "== two ControlNets, $par"
  py "$here/compare_npy.py" "$work/multi-$par.npy" "$work/multi-one.npy" \
    --rtol-max 1e-5
done
# As diffusers loads them: a MultiControlNetModel folder with only
# controlnet/ runs that one net (the same seed as $work/pipe's), and a
# ControlNetModel folder ignores a controlnet_1/.
cp -r "$work/multi" "$work/multi-one"
rm -r "$work/multi-one/controlnet_1"
cp -r "$work/multi/controlnet_1" "$work/pipe/controlnet_1"
for folder in multi-one pipe; do
  "$B/fresco-compile" "$work/$folder" -o "$work/$folder-k1.fplan" --batch 2 \
    --height $H --width $W --quiet
  "$B/fresco-run" "$work/$folder-k1.fplan" --weights "$work/$folder" \
    "${prompts[@]}" "${neg[@]}" --steps 4 --latents "@$work/noise.npy" \
    --control-image "$work/ctl.png" --output-latents "@$work/$folder-k1.npy" \
    --timeout 60 --quiet
  py "$here/compare_npy.py" "$work/$folder-k1.npy" "$work/ddim.npy" \
    --rtol-max 0
done
rm -r "$work/pipe/controlnet_1"
multi_run=("$B/fresco-run" "$work/multi.fplan" --weights "$work/multi"
  --prompt "a fox" --steps 2 -o "$work/x.png")
expect_error "this plan runs 2 ControlNet(s); got 1 --control-image flag(s) (one \
per net, in folder order: controlnet, controlnet_1, ...)" "${multi_run[@]}" \
  --control-image "$work/ctl.png"
expect_error "control image 2 of 2 is 24x16 pixels, the plan's images 24x32" \
  "${multi_run[@]}" --control-image "$work/ctl.png" --control-image \
  "$work/small.png"
expect_usage "--controlnet-scale expects a number, got '' (in '0.5,')" \
  "${multi_run[@]}" "${multi_images[@]}" --controlnet-scale 0.5,
expect_error "--control-guidance-end gives 3 values for 2 ControlNet(s): give \
one for all or one each" "${multi_run[@]}" "${multi_images[@]}" \
  --control-guidance-end 1,1,1
py - "$work/multi/controlnet_1/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["block_out_channels"] = [32, 32]
json.dump(c, open(sys.argv[1], "w"))
PY
expect_error "controlnet_1: the ControlNet's block_out_channels differ from \
the UNet's" "$B/fresco-compile" "$work/multi" -o "$work/x.fplan" \
  --height $H --width $W

# SD's factor 8: a 4-block VAE and an embedding of 4 widths (three stride-2
# convolutions at the control image's rows, split with halos under
# ulysses and ring), 64x48 pixels.
py "$ref" make --out "$work/pipe8" --seed 4 --controlnet --vae-blocks 4 \
  > /dev/null
py "$ref" image --out "$work/ctl8.png" --height 64 --width 48 --seed 9 \
  > /dev/null
py -c "import numpy as np, sys; np.save(sys.argv[1], np.random.default_rng(5)
.standard_normal((2, 4, 8, 6)).astype(np.float32))" "$work/noise8.npy"
for par in one ulysses=2 ring=2 ulysses=4 ulysses=3; do
  flags=(--ranks 2 --parallel $par)
  [ $par = one ] && flags=()
  [ $par = ulysses=4 ] && flags=(--ranks 4 --parallel $par)
  [ $par = ulysses=3 ] && flags=(--ranks 3 --parallel $par)
  "$B/fresco-compile" "$work/pipe8" -o "$work/p8-$par.fplan" --batch 2 \
    --height 64 --width 48 "${flags[@]}" --quiet
  "$B/fresco-run" "$work/p8-$par.fplan" --weights "$work/pipe8" \
    "${prompts[@]}" "${neg[@]}" --steps 4 --latents "@$work/noise8.npy" \
    --control-image "$work/ctl8.png" --output-latents "@$work/p8-$par.npy" \
    --timeout 60 --quiet
done
py "$ref" controlnet --pipeline "$work/pipe8" "${prompts[@]}" "${neg[@]}" \
  --steps 4 --height 64 --width 48 --latents "$work/noise8.npy" \
  --dtype float64 --control-image "$work/ctl8.png" \
  --out-latents "$work/r-p8.npy" > /dev/null
echo "== factor 8"
py "$here/compare_npy.py" "$work/p8-one.npy" "$work/r-p8.npy" --rtol-max 1e-4
for par in ulysses=2 ring=2 ulysses=4 ulysses=3; do
  echo "== factor 8, $par"
  py "$here/compare_npy.py" "$work/p8-$par.npy" "$work/p8-one.npy" \
    --rtol-max 1e-5
done

# SDXL.
xref=$here/sdxl_sd3_reference.py
py "$xref" make --kind sdxl --out "$work/xl" --seed 3 --controlnet > /dev/null
"$B/fresco-compile" "$work/xl" -o "$work/xl.fplan" --batch 2 --height $H \
  --width $W --quiet
xl() { # NAME PLAN [flags...]: fresco-run on the SDXL folder
  local name=$1 plan=$2
  shift 2
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/xl" "${prompts[@]}" \
    "${neg[@]}" --steps 4 --latents "@$work/noise.npy" \
    --control-image "$work/ctl.png" --output-latents "@$work/$name.npy" \
    --timeout 60 --quiet "$@"
}
for case in scale window end micro guess; do
  flags=()
  case $case in
  scale) flags=(--controlnet-scale 0.7) ;;
  guess) flags=(--guess-mode --controlnet-scale 0.7) ;;
  window) flags=("${window[@]}") ;;
  end) flags=(--denoising-end 0.5) ;;
  micro) flags=(--original-size 64,48 --crops-coords-top-left 4,2) ;;
  esac
  xl "xl-$case" xl "${flags[@]}"
  py "$xref" run --pipeline "$work/xl" "${prompts[@]}" "${neg[@]}" --steps 4 \
    --height $H --width $W --latents "$work/noise.npy" --dtype float64 \
    --control-image "$work/ctl.png" --out-latents "$work/r-xl-$case.npy" \
    "${flags[@]}" > /dev/null
  echo "== SDXL $case"
  py "$here/compare_npy.py" "$work/xl-$case.npy" "$work/r-xl-$case.npy" \
    --rtol-max 1e-4
done
for par in cfg=2 tp=2 ulysses=2; do
  "$B/fresco-compile" "$work/xl" -o "$work/xl-$par.fplan" --batch 2 \
    --height $H --width $W --ranks 2 --parallel $par --quiet
  xl "xl-$par" "xl-$par" --controlnet-scale 0.7
  echo "== SDXL $par"
  py "$here/compare_npy.py" "$work/xl-$par.npy" "$work/xl-scale.npy" \
    --rtol-max 1e-5
done
expect_error "--guidance-rescale (guidance_rescale) is not a parameter of the \
ControlNet pipeline classes" "$B/fresco-run" "$work/xl.fplan" --weights \
  "$work/xl" --prompt "a fox" --steps 2 -o "$work/x.png" --control-image \
  "$work/ctl.png" --guidance-rescale 0.5
# An SDXL ControlNet in a Stable Diffusion folder, and the other way round.
mv "$work/xl/controlnet" "$work/xl-controlnet"
cp -r "$work/pipe/controlnet" "$work/xl/controlnet"
expect_error "controlnet: addition_embed_type is none (a Stable Diffusion \
1.x / 2.x ControlNet), which StableDiffusionXLControlNetPipeline does not \
feed" "$B/fresco-compile" "$work/xl" -o "$work/x.fplan" --height $H --width $W
rm -r "$work/xl/controlnet"
cp -r "$work/xl-controlnet" "$work/xl/controlnet"

# Image-to-image: the encoder's mean and --latents as the noise (see
# sd_img2img_parity.sh).
py "$ref" image --out "$work/in.png" --height $H --width $W --seed 2 \
  > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/i2i.fplan" --batch 2 --height $H \
  --width $W --vae-encoder --quiet
i2i_flags=(--control-image "$work/ctl.png" --image "$work/in.png")
for case in defaults window; do
  flags=()
  [ $case = window ] && flags=(--strength 0.6 --control-guidance-start 0.3)
  gen "i2i-$case" i2i "${i2i_flags[@]}" "${flags[@]}"
  against "i2i-$case" "${i2i_flags[@]}" "${flags[@]}"
done
# A StableDiffusionControlNetImg2ImgPipeline folder brings its encoder.
cp -r "$work/pipe" "$work/pipe-i2i"
sed -i 's/"StableDiffusionControlNetPipeline"/"StableDiffusionControlNetImg2ImgPipeline"/' \
  "$work/pipe-i2i/model_index.json"
"$B/fresco-compile" "$work/pipe-i2i" -o "$work/i2i-class.fplan" --batch 2 \
  --height $H --width $W --quiet
gen i2i-class i2i-class "${i2i_flags[@]}" --strength 0.6 \
  --control-guidance-start 0.3
py "$here/compare_npy.py" "$work/i2i-class.npy" "$work/i2i-window.npy" \
  --rtol-max 0
for par in cfg=2 place; do
  flags=(--parallel $par)
  [ $par = place ] && flags=(--place text_encoder=0,vae=0,vae_encoder=0,unet=1)
  "$B/fresco-compile" "$work/pipe" -o "$work/i2i-$par.fplan" --batch 2 \
    --height $H --width $W --vae-encoder --ranks 2 "${flags[@]}" --quiet
  gen "i2i-$par" "i2i-$par" "${i2i_flags[@]}" --strength 0.6 \
    --control-guidance-start 0.3
  echo "== image-to-image $par"
  py "$here/compare_npy.py" "$work/i2i-$par.npy" "$work/i2i-window.npy" \
    --rtol-max 1e-5
done
"$B/fresco-compile" "$work/xl" -o "$work/xl-i2i.fplan" --batch 2 --height $H \
  --width $W --vae-encoder --quiet
for case in defaults window; do
  flags=()
  [ $case = window ] && flags=(--strength 0.6 --control-guidance-start 0.3
    "${neg[@]}")
  "$B/fresco-run" "$work/xl-i2i.fplan" --weights "$work/xl" "${prompts[@]}" \
    --steps 4 --latents "@$work/noise.npy" "${i2i_flags[@]}" "${flags[@]}" \
    --output-latents "@$work/xl-i2i-$case.npy" --timeout 60 --quiet
  py "$xref" img2img --pipeline "$work/xl" "${prompts[@]}" --steps 4 \
    --height $H --width $W --latents "$work/noise.npy" --dtype float64 \
    "${i2i_flags[@]}" "${flags[@]}" --out-latents "$work/r-xl-i2i-$case.npy" \
    > /dev/null
  echo "== SDXL image-to-image $case"
  py "$here/compare_npy.py" "$work/xl-i2i-$case.npy" \
    "$work/r-xl-i2i-$case.npy" --rtol-max 1e-4
done
expect_error "--denoising-start and --denoising-end are not parameters of the \
ControlNet image-to-image classes" "$B/fresco-run" "$work/xl-i2i.fplan" \
  --weights "$work/xl" --prompt "a fox" --steps 2 -o "$work/x.png" \
  "${i2i_flags[@]}" --denoising-start 0.5
py "$ref" mask --out "$work/mask.png" --height $H --width $W --seed 4 \
  --mode L > /dev/null
# Inpainting (StableDiffusionControlNetInpaintPipeline, the folder loaded as
# that class): the class's defaults (strength 1.0, scale 0.5) and strength
# 0.6 with a window over the steps that run; a folder of that class whose
# UNet takes 9 channels (its ControlNet reads the 4 latent channels alone);
# cfg=2, ulysses=2, ring=3 (padded rows) and tp=2 equal to 1 rank.
py "$ref" make --out "$work/cn-inpaint" --seed 6 --inpaint --controlnet \
  > /dev/null
"$B/fresco-compile" "$work/cn-inpaint" -o "$work/cn-inpaint.fplan" --batch 2 \
  --height $H --width $W --quiet
# inpaint_case NAME PLAN PIPE REF SUBCOMMAND [flags...]: fresco-run's
# inpainting ($work/NAME.npy) against the reference script's SUBCOMMAND.
inpaint_case() {
  local name=$1 plan=$2 pipe=$3 script=$4 sub=$5
  shift 5
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/$pipe" \
    "${prompts[@]}" --steps 4 --latents "@$work/noise.npy" "${i2i_flags[@]}" \
    --mask "$work/mask.png" "$@" --output-latents "@$work/$name.npy" \
    --timeout 60 --quiet
  py "$script" "$sub" --pipeline "$work/$pipe" "${prompts[@]}" --steps 4 \
    --height $H --width $W --latents "$work/noise.npy" --dtype float64 \
    "${i2i_flags[@]}" --mask "$work/mask.png" "$@" \
    --out-latents "$work/r-$name.npy" > /dev/null 2>&1
  echo "== $name"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/r-$name.npy" \
    --rtol-max 1e-4
}
for case in blend-defaults blend-window unet9-defaults unet9-window; do
  plan=i2i pipe=pipe flags=()
  case $case in unet9-*) plan=cn-inpaint pipe=cn-inpaint ;; esac
  case $case in *-window) flags=(--strength 0.6 --control-guidance-start 0.3
    --controlnet-scale 0.9) ;; esac
  inpaint_case "inp-$case" $plan $pipe "$ref" controlnet "${flags[@]}"
done
for par in cfg=2 ulysses=2 ring=3 tp=2; do # (ring=3: padded rows)
  "$B/fresco-compile" "$work/cn-inpaint" -o "$work/cn-inpaint-$par.fplan" \
    --batch 2 --height $H --width $W --ranks ${par#*=} --parallel $par --quiet
  "$B/fresco-run" "$work/cn-inpaint-$par.fplan" --weights "$work/cn-inpaint" \
    "${prompts[@]}" --steps 4 --latents "@$work/noise.npy" "${i2i_flags[@]}" \
    --mask "$work/mask.png" --strength 0.6 --control-guidance-start 0.3 \
    --controlnet-scale 0.9 --output-latents "@$work/inp-$par.npy" \
    --timeout 60 --quiet
  echo "== inpainting, 9-channel UNet, $par"
  py "$here/compare_npy.py" "$work/inp-$par.npy" "$work/inp-unet9-window.npy" \
    --rtol-max 1e-5
done
# SDXL ControlNet inpainting (StableDiffusionXLControlNetInpaintPipeline,
# the folders loaded as that class): its defaults (strength 0.9999, guidance
# 5.0, scale 1.0) and strength 0.6 with a window on the plain UNet (blend,
# with guidance_rescale, which that class has) and on a folder of that class
# whose UNet takes 9 channels; denoising_end with a window that ends before
# it (the window counts the steps before the cut) and denoising_start with
# a window (counted from the cutoff); the 9-channel folder on cfg=2 and
# ulysses=2 equals 1 rank.
py "$xref" make --kind sdxl --out "$work/xl-inp" --seed 7 --inpaint \
  --controlnet > /dev/null
grep -q '"StableDiffusionXLControlNetInpaintPipeline"' \
  "$work/xl-inp/model_index.json"
"$B/fresco-compile" "$work/xl-inp" -o "$work/xl-inp.fplan" --batch 2 \
  --height $H --width $W --quiet
for case in blend-defaults blend-window unet9-defaults unet9-window \
  blend-end unet9-end unet9-start; do
  plan=xl-i2i pipe=xl flags=()
  case $case in unet9-*) plan=xl-inp pipe=xl-inp ;; esac
  case $case in
  *-window) flags=(--strength 0.6 --control-guidance-start 0.3
    --controlnet-scale 0.9 "${neg[@]}") ;;
  *-end) flags=(--denoising-end 0.5 --controlnet-scale 0.8
    --control-guidance-end 0.6) ;;
  *-start) flags=(--denoising-start 0.4 --control-guidance-start 0.2) ;;
  esac
  [ $case = blend-window ] && flags+=(--guidance-rescale 0.7)
  inpaint_case "xl-inp-$case" $plan $pipe "$xref" img2img "${flags[@]}"
done
for par in cfg=2 ulysses=2; do
  "$B/fresco-compile" "$work/xl-inp" -o "$work/xl-inp-$par.fplan" --batch 2 \
    --height $H --width $W --ranks 2 --parallel $par --quiet
  "$B/fresco-run" "$work/xl-inp-$par.fplan" --weights "$work/xl-inp" \
    "${prompts[@]}" --steps 4 --latents "@$work/noise.npy" "${i2i_flags[@]}" \
    --mask "$work/mask.png" --strength 0.6 --control-guidance-start 0.3 \
    --controlnet-scale 0.9 "${neg[@]}" \
    --output-latents "@$work/xl-inp-$par.npy" --timeout 60 --quiet
  echo "== SDXL inpainting, 9-channel UNet, $par"
  py "$here/compare_npy.py" "$work/xl-inp-$par.npy" \
    "$work/xl-inp-unet9-window.npy" --rtol-max 1e-5
done
expect_error "give --image, not --image-latents" "$B/fresco-run" \
  "$work/xl-i2i.fplan" --weights "$work/xl" --prompt "a fox" --steps 2 \
  -o "$work/x.png" --control-image "$work/ctl.png" --image-latents \
  "@$work/noise.npy" --mask "$work/mask.png"
expect_error "are not parameters of StableDiffusionXLControlNetInpaintPipeline" \
  "$B/fresco-run" "$work/xl-i2i.fplan" --weights "$work/xl" --prompt "a fox" \
  --steps 2 -o "$work/x.png" "${i2i_flags[@]}" --mask "$work/mask.png" \
  --negative-original-size 64,48
# That folder's UNet under the text-to-image ControlNet class.
sed -i 's/"StableDiffusionXLControlNetInpaintPipeline"/"StableDiffusionXLControlNetPipeline"/' \
  "$work/xl-inp/model_index.json"
expect_error "which StableDiffusionXLControlNetPipeline does not feed; its \
folder's class is StableDiffusionXLControlNetInpaintPipeline" \
  "$B/fresco-compile" "$work/xl-inp" -o "$work/x.fplan" --height $H --width $W

# diffusers' seeds (--generator torch): ControlNet classes draw as the base
# classes do (Euler ancestral's step noise; image-to-image's encoder sample
# first), checked against them called with the seeded generator.
tref=$here/torch_generator_reference.py
gen_torch() { # NAME PLAN CLASS FLAGS...
  local name=$1 plan=$2 cls=$3
  shift 3
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/pipe" --generator torch \
    "${prompts[@]}" --steps 4 --output-latents "@$work/t-$name.npy" \
    --timeout 60 --quiet "$@"
  py "$tref" --pipeline "$work/pipe" --class "$cls" "${prompts[@]}" --steps 4 \
    --height $H --width $W --out-latents "$work/rt-$name.npy" "$@" > /dev/null
  echo "== --generator torch, $name"
  py "$here/compare_npy.py" "$work/t-$name.npy" "$work/rt-$name.npy" \
    --rtol-max 1e-4
}
gen_torch ancestral cn StableDiffusionControlNetPipeline \
  --control-image "$work/ctl.png" --scheduler EulerAncestralDiscreteScheduler \
  --seed 7,8
gen_torch img2img i2i StableDiffusionControlNetImg2ImgPipeline \
  --control-image "$work/ctl.png" --image "$work/in.png" --strength 0.6 \
  --seed 11

# Bad input.
run=("$B/fresco-run" "$work/cn.fplan" --weights "$work/pipe" --prompt "a fox"
  --steps 2 -o "$work/x.png")
expect_error "this plan runs a ControlNet: give its control image with \
--control-image" "${run[@]}"
expect_error "control image 1 of 1 is 24x16 pixels, the plan's images 24x32 \
(width x height)" "${run[@]}" --control-image "$work/small.png"
py "$ref" image --out "$work/alpha.png" --height $H --width $W --alpha \
  > /dev/null
expect_error "has an alpha channel" "${run[@]}" --control-image \
  "$work/alpha.png"
expect_error "cannot read PNG file" "${run[@]}" --control-image \
  "$work/none.png"
py - "$work/ctl.png" "$work/deep.png" <<'PY'
import sys
import numpy as np
from PIL import Image
gray = np.asarray(Image.open(sys.argv[1]).convert("L"), dtype=np.uint16) * 257
Image.fromarray(gray).save(sys.argv[2])  # mode I;16
PY
expect_error "has 16 bits per sample: give an 8-bit image" "${run[@]}" \
  --control-image "$work/deep.png"
# (The init image is read alike.)
expect_error "--image '$work/deep.png' has 16 bits per sample" \
  "$B/fresco-run" "$work/i2i.fplan" --weights "$work/pipe" --prompt "a fox" \
  --steps 2 -o "$work/x.png" --control-image "$work/ctl.png" \
  --image "$work/deep.png"
for flag in "--controlnet-scale 0.5" --guess-mode "--control-mask $work/ctl.png"; do
  expect_usage "--controlnet-scale, --control-mode, --control-mask, \
--guess-mode and --control-guidance-start/-end apply to a ControlNet: give \
--control-image too" "${run[@]}" $flag
done
expect_error "--control-guidance-start (0.5) and --control-guidance-end (0.5) \
must satisfy 0 <= start < end <= 1" "${run[@]}" --control-image \
  "$work/ctl.png" --control-guidance-start 0.5 --control-guidance-end 0.5
expect_usage "--control-guidance-end must be in [0, 1], got 1.5" "${run[@]}" \
  --control-image "$work/ctl.png" --control-guidance-end 1.5
expect_usage "--controlnet-scale expects a number, got 'nan'" "${run[@]}" \
  --control-image "$work/ctl.png" --controlnet-scale nan
expect_usage "--controlnet-scale must be finite numbers, got inf" \
  "${run[@]}" --control-image "$work/ctl.png" --controlnet-scale inf
expect_error "--image needs the VAE encoder, and this plan has none" \
  "${run[@]}" --control-image "$work/ctl.png" --image "$work/ctl.png"
# An Img2Img ControlNet folder takes --vae-encoder too (it has the encoder
# anyway).
"$B/fresco-compile" "$work/pipe-i2i" -o "$work/x.fplan" --height $H \
  --width $W --vae-encoder --quiet
# A plan without a ControlNet refuses a control image.
py "$ref" make --out "$work/plain" --seed 3 > /dev/null
"$B/fresco-compile" "$work/plain" -o "$work/plain.fplan" --height $H \
  --width $W --quiet
expect_error "--control-image: this StableDiffusionPipeline plan has no \
ControlNet" "$B/fresco-run" "$work/plain.fplan" --weights "$work/plain" \
  --prompt "a fox" --steps 2 -o "$work/x.png" --control-image "$work/ctl.png"
# ControlNet configs that do not fit, or are not implemented.
cfg=$work/pipe/controlnet/config.json
cp "$cfg" "$work/config.json"
edit() { # KEY JSON: the ControlNet's config with KEY set to JSON
  py - "$work/config.json" "$cfg" "$1" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c[sys.argv[3]] = json.loads(sys.argv[4])
json.dump(c, open(sys.argv[2], "w"))
PY
}
compile=("$B/fresco-compile" "$work/pipe" -o "$work/x.fplan" --height $H
  --width $W)
edit conditioning_embedding_out_channels '[8, 16, 32]'
expect_error "the ControlNet's conditioning embedding shrinks the control \
image 4x (conditioning_embedding_out_channels has 3 entries), but the VAE's \
latents are 2x smaller than the image" "${compile[@]}"
edit block_out_channels '[32, 32]'
expect_error "the ControlNet's block_out_channels differ from the UNet's" \
  "${compile[@]}"
edit controlnet_conditioning_channel_order '"bgr"'
expect_error "config key 'controlnet_conditioning_channel_order' = \"bgr\" is \
not implemented" "${compile[@]}"
edit global_pool_conditions null
"$B/fresco-compile" "$work/pipe" -o "$work/x.fplan" --height $H --width $W \
  --quiet
edit controlnet_conditioning_channel_order null
expect_error "config key 'controlnet_conditioning_channel_order' = null is \
not implemented (supported: \"rgb\")" "${compile[@]}"
edit global_pool_conditions true
expect_error "config key 'global_pool_conditions' is not implemented" \
  "${compile[@]}"
edit conditioning_channels 1
expect_error "the ControlNet's conditioning_channels is 1; \
StableDiffusionControlNetPipeline feeds it an RGB control image (3 \
channels)" "${compile[@]}"
edit cross_attention_dim 16
expect_error "the ControlNet's cross_attention_dim (16) differs from the \
UNet's (24): both read the same text embeddings" "${compile[@]}"
edit _class_name '"UNet2DConditionModel"'
expect_error "controlnet" "${compile[@]}"
rm -r "$work/pipe/controlnet"
cp -r "$work/xl-controlnet" "$work/pipe/controlnet"
expect_error "controlnet: addition_embed_type is \"text_time\" (an SDXL \
ControlNet), which StableDiffusionControlNetPipeline does not feed" \
  "${compile[@]}"
rm "$cfg"
expect_error "controlnet/config.json" "${compile[@]}"
echo "ControlNet parity OK"
