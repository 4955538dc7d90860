#!/usr/bin/env bash
# sdxl_latent_stats_parity.sh: a Playground-v2.5-like tiny SDXL folder
# (sdxl_sd3_reference.py make --latent-stats: the VAE's latents_mean /
# latents_std, scaling factor 0.5, EDMDPMSolverMultistepScheduler with
# Playground v2.5's config) against the real diffusers pipelines on CPU in
# float64, 4 steps, 2 prompts:
#  - text-to-image: final latents within 1e-4 of their max magnitude, and
#    the PNGs within one 8-bit level of what StableDiffusionXLPipeline
#    decodes (latents * std / scaling_factor + mean);
#  - --scheduler EDMEulerScheduler on the same plan, likewise;
#  - image-to-image at strength 0.6 (StableDiffusionXLImg2ImgPipeline:
#    (latents - mean) * scaling_factor / std), within 1e-4;
#  - placement on 2 ranks (the decoder on rank 0, the denoiser on rank 1)
#    against 1 rank within 1e-5, and its PNGs equal;
#  - bad input: --mask (the inpaint class encodes without the statistics and
#    decodes with them: not implemented), --denoising-end (EDM timesteps are
#    not training timesteps), latents_mean of 3 values for 4 channels, an
#    inpaint-class folder with statistics.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sdxl_sd3_reference.py
H=32 W=24

py "$ref" make --kind sdxl --latent-stats --out "$work/pipe" --seed 3 > /dev/null
py "$ref" latents --out "$work/x.npy" --batch 2 --seed 5 --height $H --width $W > /dev/null
py "$here/sd_pipeline_reference.py" image --out "$work/in.png" --height $H \
  --width $W --seed 2 > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/one.fplan" --batch 2 --height $H \
  --width $W --vae-encoder --quiet
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")

generate() { # plan out-name extra-flags...
  local plan=$1 name=$2
  shift 2
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/pipe" "${prompts[@]}" \
    --steps 4 --latents "@$work/x.npy" -o "$work/$name.png" \
    --output-latents "@$work/$name.npy" --timeout 60 --quiet "$@"
}
reference() { # out-name extra-flags...
  local name=$1
  shift
  py "$ref" run --pipeline "$work/pipe" "${prompts[@]}" --steps 4 \
    --latents "$work/x.npy" --height $H --width $W --dtype float64 \
    --out-latents "$work/$name.npy" --out-images "$work/$name-img.npy" "$@" \
    > /dev/null 2>&1
}
compare() { py "$here/compare_npy.py" "$work/$1.npy" "$work/$2.npy" --rtol-max "$3"; }

echo "== text-to-image, EDMDPMSolverMultistepScheduler"
generate one plain
reference ref_plain
compare plain ref_plain 1e-4
pngs_match_reference "$work/plain" "$work/ref_plain-img.npy"

echo "== --scheduler EDMEulerScheduler"
generate one euler --scheduler EDMEulerScheduler
reference ref_euler --scheduler EDMEulerScheduler
compare euler ref_euler 1e-4
pngs_match_reference "$work/euler" "$work/ref_euler-img.npy"

echo "== image-to-image, strength 0.6"
generate one i2i --image "$work/in.png" --strength 0.6
py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" --image "$work/in.png" \
  --strength 0.6 --steps 4 --latents "$work/x.npy" --dtype float64 \
  --out-latents "$work/ref_i2i.npy" > /dev/null
compare i2i ref_i2i 1e-4

echo "== placement (2 ranks) against 1 rank"
"$B/fresco-compile" "$work/pipe" -o "$work/place.fplan" --batch 2 --height $H \
  --width $W --vae-encoder --ranks 2 --quiet \
  --place text_encoder=0,text_encoder_2=0,vae=0,vae_encoder=0,unet=1
generate place place
ranks_match_one "$work/plain.npy" "$work/place.npy"
for i in 0 1; do cmp "$work/place-$i.png" "$work/plain-$i.png"; done

echo "== bad input"
py "$here/sd_pipeline_reference.py" image --out "$work/mask.png" --height $H \
  --width $W --seed 4 > /dev/null
expect_error "with a VAE's latents_mean / latents_std is not implemented" \
  "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --steps 4 --image "$work/in.png" --mask "$work/mask.png" -o "$work/m.png" \
  --timeout 60 --quiet
expect_error "--denoising-start and --denoising-end are not implemented for EDMDPMSolverMultistepScheduler" \
  "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --steps 4 --denoising-end 0.8 -o "$work/d.png" --timeout 60 --quiet
cp -r "$work/pipe" "$work/three"
py - "$work/three/vae/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["latents_mean"] = c["latents_mean"][:3]
json.dump(c, open(sys.argv[1], "w"))
PY
expect_error "config key 'latents_mean' lists 3 values for latent_channels 4" \
  "$B/fresco-compile" "$work/three" -o "$work/three.fplan" --batch 2 \
  --height $H --width $W
py "$ref" make --kind sdxl --inpaint --latent-stats --out "$work/inpaint" \
  --seed 3 > /dev/null
expect_error "StableDiffusionXLInpaintPipeline with latent statistics is not implemented" \
  "$B/fresco-compile" "$work/inpaint" -o "$work/inpaint.fplan" --batch 2 \
  --height $H --width $W
echo "sdxl latent statistics: ok"
