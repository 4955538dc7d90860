#!/usr/bin/env bash
# torch_generator_parity.sh: fresco-run --generator torch --seed S against
# diffusers' pipelines called with generator=torch.Generator("cpu")
# .manual_seed(S) and no latents (torch_generator_reference.py: float64
# models, the noise drawn in float32): final latents within 1e-4 of their
# max magnitude (seen: below 3.5e-6) for Stable Diffusion (PNDM; Euler
# ancestral, LCM and DPM++ 2M SDE, whose steps draw from the same generator,
# the SDE's in float32 whatever the pipeline's dtype; two images per
# prompt), SDXL (Euler ancestral), SD3, Flux and DiT; the img2img and
# inpaint classes of SD (4- and 9-channel UNets, strength 0.6 and 1), SDXL
# (from pixels and from latents, denoising_start, the refiner, the
# 9-channel UNet), SD3 and Flux, whose VAE encoder sample comes first; the
# bfloat16 draws (--generator torch-bf16). A 2-rank cfg plan and a 2-rank
# placement draw what 1 rank draws. Then bad input: an unknown generator,
# bf16 with an SDXL init image, --latents with an init image, DiT with a
# stochastic scheduler.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/torch_generator_reference.py

# check NAME PLAN PIPE CLASS FLAGS... -- REFERENCE-FLAGS...
check() {
  local name=$1 plan=$2 pipe=$3 cls=$4
  shift 4
  local run=() refargs=()
  while [ "$1" != -- ]; do run+=("$1"); shift; done
  shift
  refargs=("$@")
  "$B/fresco-run" "$plan" --weights "$pipe" --generator torch \
    --output-latents "@$work/f-$name.npy" --timeout 120 --quiet "${run[@]}"
  py "$ref" --pipeline "$pipe" --class "$cls" --out-latents "$work/r-$name.npy" \
    "${refargs[@]}" | grep "randn_tensor calls"
  echo "== $name"
  py "$here/compare_npy.py" "$work/f-$name.npy" "$work/r-$name.npy" \
    --rtol-max 1e-4
}

# Stable Diffusion 1.x: its PNDM config, then Euler ancestral (a draw per
# step), two images of one prompt, another seed.
py "$here/sd_pipeline_reference.py" make --out "$work/sd" --seed 3 \
  --scheduler PNDMScheduler > /dev/null
"$B/fresco-compile" "$work/sd" -o "$work/sd.fplan" --batch 2 --height 32 \
  --width 24 --quiet
sd=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!" --steps 4)
check sd-pndm "$work/sd.fplan" "$work/sd" StableDiffusionPipeline \
  "${sd[@]}" --seed 7 -- "${sd[@]}" --seed 7 --height 32 --width 24
anc=(--scheduler EulerAncestralDiscreteScheduler)
check sd-ancestral "$work/sd.fplan" "$work/sd" StableDiffusionPipeline \
  "${sd[@]}" "${anc[@]}" --seed 0 -- "${sd[@]}" "${anc[@]}" --seed 0 \
  --height 32 --width 24
per=(--prompt "a lighthouse" --num-images-per-prompt 2 --steps 3 "${anc[@]}")
check sd-per-prompt "$work/sd.fplan" "$work/sd" StableDiffusionPipeline \
  "${per[@]}" --seed 123456789 -- "${per[@]}" --seed 123456789 --height 32 \
  --width 24
# A generator per image (diffusers' generator list): image i depends only
# on its seed, so the first image of (7, 8) is the image of (7, 9)'s.
check sd-list "$work/sd.fplan" "$work/sd" StableDiffusionPipeline \
  "${sd[@]}" "${anc[@]}" --seed 7,8 -- "${sd[@]}" "${anc[@]}" --seed 7,8 \
  --height 32 --width 24
"$B/fresco-run" "$work/sd.fplan" --weights "$work/sd" --generator torch \
  "${sd[@]}" "${anc[@]}" --seed 7,9 --output-latents "@$work/list79.npy" \
  --timeout 120 --quiet
py - "$work/f-sd-list.npy" "$work/list79.npy" <<'PY'
import sys
import numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
assert np.array_equal(a[0], b[0]), "image 0 depends on the other image's seed"
assert not np.array_equal(a[1], b[1]), "image 1 ignores its seed"
print("a generator per image: image 0 the same, image 1 not")
PY
# The 2-rank cfg plan draws the same noise on both ranks: equal to 1 rank.
"$B/fresco-compile" "$work/sd" -o "$work/sd-cfg.fplan" --batch 2 --height 32 \
  --width 24 --ranks 2 --parallel cfg=2 --quiet
"$B/fresco-run" "$work/sd-cfg.fplan" --weights "$work/sd" --generator torch \
  "${sd[@]}" "${anc[@]}" --seed 0 --output-latents "@$work/cfg.npy" \
  --timeout 120 --quiet
ranks_match_one "$work/f-sd-ancestral.npy" "$work/cfg.npy"
# The generator matters: Fresco's own stream gives other latents.
"$B/fresco-run" "$work/sd.fplan" --weights "$work/sd" "${sd[@]}" "${anc[@]}" \
  --seed 0 --output-latents "@$work/fresco.npy" --timeout 120 --quiet
if cmp -s "$work/fresco.npy" "$work/f-sd-ancestral.npy"; then
  echo "--generator torch changed nothing"; exit 1
fi

# SDXL (Euler ancestral), SD3 (flow matching), Flux (packed latents).
xl=$here/sdxl_sd3_reference.py
py "$xl" make --kind sdxl --out "$work/sdxl" --seed 3 > /dev/null
"$B/fresco-compile" "$work/sdxl" -o "$work/sdxl.fplan" --batch 2 --height 32 \
  --width 24 --quiet
check sdxl "$work/sdxl.fplan" "$work/sdxl" StableDiffusionXLPipeline \
  "${sd[@]}" "${anc[@]}" --seed 11 -- "${sd[@]}" "${anc[@]}" --seed 11 \
  --height 32 --width 24
py "$xl" make --kind sd3 --out "$work/sd3" --seed 3 > /dev/null
"$B/fresco-compile" "$work/sd3" -o "$work/sd3.fplan" --batch 2 --height 24 \
  --width 16 --max-sequence-length 16 --quiet
check sd3 "$work/sd3.fplan" "$work/sd3" StableDiffusion3Pipeline \
  "${sd[@]}" --seed 5 -- "${sd[@]}" --seed 5 --height 24 --width 16 \
  --max-sequence-length 16
py "$here/make_flux_pipeline.py" --out "$work/flux" --seed 3 > /dev/null
"$B/fresco-compile" "$work/flux" -o "$work/flux.fplan" --batch 2 --height 32 \
  --width 48 --max-sequence-length 16 --quiet
check flux "$work/flux.fplan" "$work/flux" FluxPipeline \
  "${sd[@]}" --seed 9 -- "${sd[@]}" --seed 9 --height 32 --width 48 \
  --max-sequence-length 16
check flux-list "$work/flux.fplan" "$work/flux" FluxPipeline \
  "${sd[@]}" --seed 21,22 -- "${sd[@]}" --seed 21,22 --height 32 --width 48 \
  --max-sequence-length 16

# Image-to-image and inpainting: diffusers first samples the VAE encoder's
# latent distribution with the generator (the mean + std x noise), then
# draws the noise, then (inpainting) samples the masked image's.
ref_sd=$here/sd_pipeline_reference.py
py "$ref_sd" image --out "$work/in.png" --height 32 --width 24 --seed 2 \
  > /dev/null
py "$ref_sd" mask --out "$work/mask.png" --height 32 --width 24 --seed 4 \
  --mode L > /dev/null
img=(--image "$work/in.png")
msk=(--image "$work/in.png" --mask "$work/mask.png")
"$B/fresco-compile" "$work/sd" -o "$work/sd-i2i.fplan" --batch 2 --height 32 \
  --width 24 --vae-encoder --quiet
one=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!" --steps 4
  --height 32 --width 24)
i2i() { # name plan pipe class flags... (both sides)
  local name=$1 plan=$2 pipe=$3 cls=$4
  shift 4
  local f=("${one[@]:0:6}" "$@") r=("${one[@]}" "$@")
  check "$name" "$plan" "$pipe" "$cls" "${f[@]}" -- "${r[@]}"
}
i2i sd-img2img "$work/sd-i2i.fplan" "$work/sd" StableDiffusionImg2ImgPipeline \
  "${img[@]}" --strength 0.6 "${anc[@]}" --seed 1
i2i sd-inpaint "$work/sd-i2i.fplan" "$work/sd" StableDiffusionInpaintPipeline \
  "${msk[@]}" --strength 0.6 "${anc[@]}" --seed 2
i2i sd-inpaint-max "$work/sd-i2i.fplan" "$work/sd" \
  StableDiffusionInpaintPipeline "${msk[@]}" "${anc[@]}" --seed 3
# An inpainting UNet (9 channels) reads the masked image's sample; at
# strength 1 diffusers does not encode the init image.
py "$ref_sd" make --inpaint --out "$work/sd9" --seed 3 \
  --scheduler PNDMScheduler > /dev/null
"$B/fresco-compile" "$work/sd9" -o "$work/sd9.fplan" --batch 2 --height 32 \
  --width 24 --quiet
i2i sd9 "$work/sd9.fplan" "$work/sd9" StableDiffusionInpaintPipeline \
  "${msk[@]}" --strength 0.6 "${anc[@]}" --seed 4
i2i sd9-max "$work/sd9.fplan" "$work/sd9" StableDiffusionInpaintPipeline \
  "${msk[@]}" "${anc[@]}" --seed 5
# The encoder on rank 0, the UNet on rank 1: the sample is drawn on both.
"$B/fresco-compile" "$work/sd" -o "$work/place.fplan" --batch 2 --height 32 \
  --width 24 --vae-encoder --ranks 2 \
  --place text_encoder=0,vae=0,vae_encoder=0,unet=1 --quiet
"$B/fresco-run" "$work/place.fplan" --weights "$work/sd" --generator torch \
  "${one[@]:0:6}" "${msk[@]}" --strength 0.6 "${anc[@]}" --seed 2 \
  --output-latents "@$work/place.npy" --timeout 120 --quiet
ranks_match_one "$work/f-sd-inpaint.npy" "$work/place.npy"
"$B/fresco-compile" "$work/sdxl" -o "$work/sdxl-i2i.fplan" --batch 2 \
  --height 32 --width 24 --vae-encoder --quiet
i2i sdxl-img2img "$work/sdxl-i2i.fplan" "$work/sdxl" \
  StableDiffusionXLImg2ImgPipeline "${img[@]}" --strength 0.6 "${anc[@]}" \
  --seed 6
i2i sdxl-inpaint "$work/sdxl-i2i.fplan" "$work/sdxl" \
  StableDiffusionXLInpaintPipeline "${msk[@]}" --strength 0.6 "${anc[@]}" \
  --seed 7
# SDXL's img2img from latents (no encode, so no sample) and its inpaint
# class with denoising_start (the noise drawn but not added); SD3's img2img.
py - "$work/z.npy" <<'PY'
import sys
import numpy as np
np.save(sys.argv[1], np.random.default_rng(1).standard_normal((1, 4, 16, 12)).astype(np.float32))
PY
i2i sdxl-latents "$work/sdxl-i2i.fplan" "$work/sdxl" \
  StableDiffusionXLImg2ImgPipeline --image-latents "@$work/z.npy" \
  --strength 0.6 "${anc[@]}" --seed 10
i2i sdxl-inpaint-start "$work/sdxl-i2i.fplan" "$work/sdxl" \
  StableDiffusionXLInpaintPipeline "${msk[@]}" --denoising-start 0.5 \
  "${anc[@]}" --seed 11
"$B/fresco-compile" "$work/sd3" -o "$work/sd3-i2i.fplan" --batch 2 \
  --height 24 --width 16 --max-sequence-length 16 --vae-encoder --quiet
py "$ref_sd" image --out "$work/in3.png" --height 24 --width 16 --seed 2 \
  > /dev/null
check sd3-img2img "$work/sd3-i2i.fplan" "$work/sd3" \
  StableDiffusion3Img2ImgPipeline "${sd[@]}" --image "$work/in3.png" \
  --strength 0.6 --seed 12 -- "${sd[@]}" --image "$work/in3.png" \
  --strength 0.6 --seed 12 --height 24 --width 16 --max-sequence-length 16
# Generator lists with an init image: SD's and SDXL's img2img sample image i
# with generator i; the inpaint classes and Flux's sample the one image with
# generator 0; every generator draws its image's noise.
i2i sd-img2img-list "$work/sd-i2i.fplan" "$work/sd" \
  StableDiffusionImg2ImgPipeline "${img[@]}" --strength 0.6 "${anc[@]}" \
  --seed 31,32
i2i sd9-list "$work/sd9.fplan" "$work/sd9" StableDiffusionInpaintPipeline \
  "${msk[@]}" --strength 0.6 "${anc[@]}" --seed 33,34
i2i sdxl-inpaint-list "$work/sdxl-i2i.fplan" "$work/sdxl" \
  StableDiffusionXLInpaintPipeline "${msk[@]}" --strength 0.6 "${anc[@]}" \
  --seed 35,36
# A bfloat16 SDXL run from latents draws no encoder sample: allowed.
zl=(--image-latents "@$work/z.npy" --strength 0.6 "${anc[@]}" --seed 10)
check sdxl-latents-bf16 "$work/sdxl-i2i.fplan" "$work/sdxl" \
  StableDiffusionXLImg2ImgPipeline "${one[@]:0:6}" "${zl[@]}" \
  --generator torch-bf16 -- "${one[@]}" "${zl[@]}" --noise-dtype bfloat16
# The SDXL refiner (an image-to-image-only plan) and SDXL's 9-channel
# inpainting UNet at strength 1 (no init image sample).
py "$xl" make --kind sdxl-refiner --out "$work/refiner" --seed 3 > /dev/null
"$B/fresco-compile" "$work/refiner" -o "$work/refiner.fplan" --batch 2 \
  --height 32 --width 24 --quiet
i2i refiner "$work/refiner.fplan" "$work/refiner" \
  StableDiffusionXLImg2ImgPipeline "${img[@]}" --strength 0.6 "${anc[@]}" \
  --seed 13
py "$xl" make --kind sdxl --inpaint --out "$work/sdxl9" --seed 3 > /dev/null
"$B/fresco-compile" "$work/sdxl9" -o "$work/sdxl9.fplan" --batch 2 \
  --height 32 --width 24 --quiet
i2i sdxl9-max "$work/sdxl9.fplan" "$work/sdxl9" \
  StableDiffusionXLInpaintPipeline "${msk[@]}" --strength 1.0 "${anc[@]}" \
  --seed 14
# SD3's inpaint class (its transformer takes 16 latent channels).
py "$xl" make --kind sd3 --latent-channels 16 --out "$work/sd3-16" --seed 3 \
  > /dev/null
"$B/fresco-compile" "$work/sd3-16" -o "$work/sd3-16.fplan" --batch 2 \
  --height 24 --width 16 --max-sequence-length 16 --vae-encoder --quiet
py "$ref_sd" mask --out "$work/mask3.png" --height 24 --width 16 --seed 4 \
  --mode L > /dev/null
check sd3-inpaint "$work/sd3-16.fplan" "$work/sd3-16" \
  StableDiffusion3InpaintPipeline "${sd[@]}" --image "$work/in3.png" \
  --mask "$work/mask3.png" --strength 0.6 --seed 15 -- "${sd[@]}" \
  --image "$work/in3.png" --mask "$work/mask3.png" --strength 0.6 --seed 15 \
  --height 24 --width 16 --max-sequence-length 16
py "$here/make_flux_pipeline.py" --out "$work/flux" --seed 3 > /dev/null
py "$ref_sd" image --out "$work/fin.png" --height 32 --width 48 --seed 2 \
  > /dev/null
py "$ref_sd" mask --out "$work/fmask.png" --height 32 --width 48 --seed 4 \
  --mode L > /dev/null
"$B/fresco-compile" "$work/flux" -o "$work/flux-i2i.fplan" --batch 2 \
  --height 32 --width 48 --max-sequence-length 16 --vae-encoder --quiet
fl=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!" --steps 4)
check flux-img2img "$work/flux-i2i.fplan" "$work/flux" FluxImg2ImgPipeline \
  "${fl[@]}" --image "$work/fin.png" --strength 0.6 --seed 8 -- "${fl[@]}" \
  --image "$work/fin.png" --strength 0.6 --seed 8 --height 32 --width 48 \
  --max-sequence-length 16
check flux-img2img-list "$work/flux-i2i.fplan" "$work/flux" \
  FluxImg2ImgPipeline "${fl[@]}" --image "$work/fin.png" --strength 0.6 \
  --seed 37,38 -- "${fl[@]}" --image "$work/fin.png" --strength 0.6 \
  --seed 37,38 --height 32 --width 48 --max-sequence-length 16
check flux-inpaint "$work/flux-i2i.fplan" "$work/flux" FluxInpaintPipeline \
  "${fl[@]}" --image "$work/fin.png" --mask "$work/fmask.png" --seed 9 -- \
  "${fl[@]}" --image "$work/fin.png" --mask "$work/fmask.png" --seed 9 \
  --height 32 --width 48 --max-sequence-length 16

# A pipeline run in bfloat16 draws bfloat16 noise, another stream (the
# models here still in float64: only the draws are compared).
check sd-bf16 "$work/sd.fplan" "$work/sd" StableDiffusionPipeline \
  "${sd[@]}" "${anc[@]}" --seed 0 --generator torch-bf16 -- "${sd[@]}" \
  "${anc[@]}" --seed 0 --height 32 --width 24 --noise-dtype bfloat16
check flux-img2img-bf16 "$work/flux-i2i.fplan" "$work/flux" \
  FluxImg2ImgPipeline "${fl[@]}" --image "$work/fin.png" --strength 0.6 \
  --seed 8 --generator torch-bf16 -- "${fl[@]}" --image "$work/fin.png" \
  --strength 0.6 --seed 8 --height 32 --width 48 --max-sequence-length 16 \
  --noise-dtype bfloat16
# The other stochastic steps: LCM (a draw per step but the last, in the
# pipeline's dtype) and "DPM++ 2M SDE" (a draw per step, always float32, so
# under torch-bf16 too).
lcm=(--scheduler LCMScheduler)
check sd-lcm-bf16 "$work/sd.fplan" "$work/sd" StableDiffusionPipeline \
  "${sd[@]}" "${lcm[@]}" --seed 5 --generator torch-bf16 -- "${sd[@]}" \
  "${lcm[@]}" --seed 5 --height 32 --width 24 --noise-dtype bfloat16
sde=(--scheduler DPMSolverMultistepScheduler
  --scheduler-config algorithm_type=sde-dpmsolver++)
check sd-sde "$work/sd.fplan" "$work/sd" StableDiffusionPipeline \
  "${sd[@]}" "${sde[@]}" --seed 5 -- "${sd[@]}" "${sde[@]}" --seed 5 \
  --height 32 --width 24
check sd-sde-bf16 "$work/sd.fplan" "$work/sd" StableDiffusionPipeline \
  "${sd[@]}" "${sde[@]}" --seed 5 --generator torch-bf16 -- "${sd[@]}" \
  "${sde[@]}" --seed 5 --height 32 --width 24 --noise-dtype bfloat16
if cmp -s "$work/f-sd-bf16.npy" "$work/f-sd-ancestral.npy"; then
  echo "torch-bf16 drew the float32 stream"; exit 1
fi

# DiT (DDIM, its folder's scheduler).
py "$here/make_diffusers_pipeline.py" \
  --template "$root/models/dit/pipelines/dit-tiny" --out "$work/dit" \
  --seed 2 > /dev/null
"$B/fresco-compile" "$work/dit" -o "$work/dit.fplan" --batch 2 --quiet
dit=(--steps 4 --guidance-scale 4)
check dit "$work/dit.fplan" "$work/dit" DiTPipeline --class-label 3,7 \
  "${dit[@]}" --seed 4 -- --class-labels 3,7 "${dit[@]}" --seed 4

bad() { # message plan pipe flags...
  expect_error "$1" "$B/fresco-run" "$2" --weights "$3" -o "$work/x.png" \
    --timeout 60 "${@:4}"
}
expect_usage "--generator must be fresco, torch, torch-bf16 or torch-f16, \
got 'numpy'" \
  "$B/fresco-run" "$work/sd.fplan" --weights "$work/sd" "${sd[@]}" \
  --generator numpy -o "$work/x.png"
bad "--generator torch-bf16 with an init image on an SDXL plan: diffusers' \
SDXL classes draw the VAE encoder's sample in float32 or in the pipeline's \
dtype depending on the VAE's force_upcast" "$work/sdxl-i2i.fplan" \
  "$work/sdxl" "${one[@]:0:6}" "${img[@]}" --generator torch-bf16
bad "--generator torch with --latents and an init image: the noise is given" \
  "$work/sd-i2i.fplan" "$work/sd" "${one[@]:0:6}" "${img[@]}" \
  --generator torch --latents "@$work/f-sd-pndm.npy"
bad "--seed with several seeds (one generator per image) needs --generator \
torch" "$work/sd.fplan" "$work/sd" "${sd[@]}" --seed 1,2
bad "--seed gives 3 seeds (one generator per image) for 2 images" \
  "$work/sd.fplan" "$work/sd" "${sd[@]}" --seed 1,2,3 --generator torch
bad "--seed with one seed per image (a generator list) is not implemented \
for StableDiffusion3Img2ImgPipeline" "$work/sd3-i2i.fplan" "$work/sd3" \
  "${sd[@]}" --image "$work/in3.png" --seed 1,2 --generator torch
expect_usage "--seed must be non-negative" "$B/fresco-run" "$work/sd.fplan" \
  --weights "$work/sd" "${sd[@]}" --seed 1,-2 -o "$work/x.png"
bad "--generator torch: DiTPipeline passes no generator to its scheduler's \
step" "$work/dit.fplan" "$work/dit" --class-label 3 --steps 2 \
  --generator torch "${anc[@]}"
echo OK
