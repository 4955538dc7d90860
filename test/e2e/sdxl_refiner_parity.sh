#!/usr/bin/env bash
# sdxl_refiner_parity.sh: the SDXL refiner, a tiny random
# StableDiffusionXLImg2ImgPipeline folder (sdxl_sd3_reference.py make --kind
# sdxl-refiner: text_encoder null, text_encoder_2 alone, 5 time ids with
# requires_aesthetics_score, force_zeros_for_empty_prompt false), compiled
# without --vae-encoder (the img2img class always has it), against the real
# diffusers StableDiffusionXLImg2ImgPipeline loaded from that folder, on CPU
# in float64, as sdxl_sd3_img2img_parity.sh does (the encoder's mean, the
# same noise through --latents): 2 prompts, 4 steps, strength 0.6 with the
# default aesthetic scores and an empty negative prompt encoded (not
# zeroed), strength 1.0 with a negative prompt and aesthetic scores 7.5 /
# 1.0; final latents within 1e-5 of their max magnitude, and the
# non-default scores moving them; clip_skip 1 on its one encoder; with
# micro-conditioning (original size and
# crop corner of each half) too, the run without it missing that reference.
# Several ranks against 1 rank within 1e-5:
# placement (text encoder, VAE and encoder on rank 0, the UNet on rank 1),
# cfg=2 and ulysses=2. Inpainting on the refiner, and an inpainting
# ensemble of experts (base --mask --denoising-end, refiner --image-latents
# --mask --denoising-start). Bad input: text-to-image on the refiner,
# --prompt-2 (its one encoder reads the prompt), --target-size (the refiner
# has none), --aesthetic-score on a base plan, a folder with text_encoder_2 null, one whose
# requires_aesthetics_score is false.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sdxl_sd3_reference.py
H=32 W=24

py "$ref" make --kind sdxl-refiner --out "$work/pipe" --seed 3 > /dev/null
py "$ref" latents --out "$work/noise.npy" --batch 2 --seed 5 --height $H \
  --width $W > /dev/null
py "$here/sd_pipeline_reference.py" image --out "$work/in.png" --height $H \
  --width $W --seed 2 > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/r.fplan" --batch 2 --height $H \
  --width $W --quiet
"$B/fresco-inspect" "$work/r.fplan" > "$work/inspect.txt"
for want in "encoder 'vae_encoder'" "time ids ($H, $W, 0, 0, aesthetic score)" \
  "text_encoder 'text_encoder_2' on rank 0: token_ids -> text_embeddings, pooled_text_embeddings (clip_bpe tokenizer 'tokenizer_2', prompt)"; do
  grep -qF "$want" "$work/inspect.txt" ||
    { echo "fresco-inspect lacks '$want':"; cat "$work/inspect.txt"; exit 1; }
done
if grep -q "text_encoder'" "$work/inspect.txt"; then
  echo "a text_encoder component in the refiner's plan"; exit 1
fi
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
extra_0_6=()
extra_1_0=(--negative-prompt "blurry, low quality" --aesthetic-score 7.5
  --negative-aesthetic-score 1.0)
declare -A kept=([0.6]=2 [1.0]=4)

for strength in 0.6 1.0; do
  name=extra_${strength/./_}[@]
  "$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${!name}" --image "$work/in.png" --strength $strength --steps 4 \
    --latents "@$work/noise.npy" --output-latents "@$work/f$strength.npy" \
    --timeout 60 --stats 2> "$work/f$strength.log"
  grep -q "${kept[$strength]} steps of EulerDiscreteScheduler" \
    "$work/f$strength.log" || {
    echo "strength $strength: expected ${kept[$strength]} steps:"
    cat "$work/f$strength.log"; exit 1
  }
  py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" "${!name}" \
    --image "$work/in.png" --strength $strength --steps 4 \
    --latents "$work/noise.npy" --dtype float64 \
    --out-latents "$work/r$strength.npy" > /dev/null
  echo "== strength $strength"
  py "$here/compare_npy.py" "$work/f$strength.npy" "$work/r$strength.npy" \
    --rtol-max 1e-5
done

# clip_skip (fresco-compile --clip-skip 1) on the refiner's one encoder,
# text_encoder_2: the prompts read hidden_states[-3], against diffusers.
"$B/fresco-compile" "$work/pipe" -o "$work/skip.fplan" --batch 2 --height $H \
  --width $W --clip-skip 1 --quiet
"$B/fresco-run" "$work/skip.fplan" --weights "$work/pipe" "${prompts[@]}" \
  "${extra_1_0[@]}" --image "$work/in.png" --strength 1.0 --steps 4 \
  --latents "@$work/noise.npy" --output-latents "@$work/skip.npy" \
  --timeout 60 --quiet
py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" "${extra_1_0[@]}" \
  --image "$work/in.png" --strength 1.0 --steps 4 --latents "$work/noise.npy" \
  --dtype float64 --clip-skip 1 --out-latents "$work/r-skip.npy" > /dev/null
echo "== clip_skip 1"
py "$here/compare_npy.py" "$work/skip.npy" "$work/r-skip.npy" --rtol-max 1e-5
if py "$here/compare_npy.py" "$work/skip.npy" "$work/r1.0.npy" \
  --rtol-max 1e-3 > /dev/null; then
  echo "--clip-skip 1 did not change the latents"; exit 1
fi

# The scores matter: the default ones miss the reference of 7.5 / 1.0.
"$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --negative-prompt "blurry, low quality" --image "$work/in.png" \
  --strength 1.0 --steps 4 --latents "@$work/noise.npy" \
  --output-latents "@$work/default-scores.npy" --timeout 60 --quiet
if py "$here/compare_npy.py" "$work/default-scores.npy" "$work/r1.0.npy" \
  --rtol-max 1e-3 > /dev/null; then
  echo "the aesthetic scores did not change the latents"; exit 1
fi

# Micro-conditioning as the refiner takes it: original size and crop corner
# of each half before the aesthetic score (no target size).
micro=(--original-size 64,48 --crops-coords-top-left 8,4
  --negative-original-size 56,40 --negative-crops-coords-top-left 2,6)
"$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  "${extra_1_0[@]}" "${micro[@]}" --image "$work/in.png" --strength 1.0 \
  --steps 4 --latents "@$work/noise.npy" --output-latents "@$work/fm.npy" \
  --timeout 60 --quiet
py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" "${extra_1_0[@]}" \
  "${micro[@]}" --image "$work/in.png" --strength 1.0 --steps 4 \
  --latents "$work/noise.npy" --dtype float64 --out-latents "$work/rm.npy" \
  > /dev/null
echo "== strength 1.0, micro-conditioning"
py "$here/compare_npy.py" "$work/fm.npy" "$work/rm.npy" --rtol-max 1e-5
if py "$here/compare_npy.py" "$work/f1.0.npy" "$work/rm.npy" \
  --rtol-max 1e-5 > "$work/ignored.log"; then
  echo "the micro-conditioning did not change the latents"; exit 1
fi
echo "== without it (must differ): $(grep -m1 -o 'ratio [^ ]*' "$work/ignored.log")"

# Several ranks against the 1-rank run at strength 1.0 (a negative prompt,
# non-default scores).
multi() { # name compile-flags...
  local name=$1
  shift
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    --height $H --width $W --ranks 2 "$@" --quiet
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" "${prompts[@]}" \
    "${extra_1_0[@]}" --image "$work/in.png" --strength 1.0 --steps 4 \
    --latents "@$work/noise.npy" --output-latents "@$work/$name.npy" \
    --timeout 60 --quiet
  echo "== $name (2 ranks: $*)"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/f1.0.npy" --rtol-max 1e-5
}
multi placement --place "text_encoder_2=0,vae=0,vae_encoder=0,unet=1"
multi cfg2 --parallel cfg=2
multi ulysses2 --parallel ulysses=2

# Ensemble of experts: the base (a StableDiffusionXLPipeline folder) stops
# at --denoising-end 0.8 (8 Euler steps, timesteps 876 ... 1: cutoff 200
# keeps 6), the refiner takes its latents as the image and runs from
# --denoising-start 0.8 (the 2 below 200), not noising them; against
# diffusers' same two calls (output_type "latent" into image=), each half
# within 1e-5. Then the refiner from those latents at --strength 0.6 (noised:
# add_noise as for an encoded image).
py "$ref" make --kind sdxl --out "$work/base" --seed 3 > /dev/null
"$B/fresco-compile" "$work/base" -o "$work/base.fplan" --batch 2 \
  --height $H --width $W --quiet
"$B/fresco-run" "$work/base.fplan" --weights "$work/base" "${prompts[@]}" \
  --steps 8 --denoising-end 0.8 --latents "@$work/noise.npy" \
  --output-latents "@$work/fb.npy" --timeout 60 --stats 2> "$work/fb.log"
"$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --steps 8 --denoising-start 0.8 --image-latents "@$work/fb.npy" \
  --output-latents "@$work/fe.npy" --timeout 60 --stats 2> "$work/fe.log"
for want in "fb.log:6 steps of" "fe.log:2 steps of"; do
  grep -q "${want#*:}" "$work/${want%%:*}" ||
    { echo "expected '${want#*:}':"; cat "$work/${want%%:*}"; exit 1; }
done
py "$ref" run --pipeline "$work/base" "${prompts[@]}" --steps 8 \
  --denoising-end 0.8 --latents "$work/noise.npy" --dtype float64 \
  --out-latents "$work/rb.npy" > /dev/null
py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" --steps 8 \
  --denoising-start 0.8 --image-latents "$work/rb.npy" \
  --latents "$work/noise.npy" --dtype float64 --out-latents "$work/re.npy" \
  > /dev/null
echo "== base, --denoising-end 0.8"
py "$here/compare_npy.py" "$work/fb.npy" "$work/rb.npy" --rtol-max 1e-5
echo "== refiner, --denoising-start 0.8 from the base's latents"
py "$here/compare_npy.py" "$work/fe.npy" "$work/re.npy" --rtol-max 1e-5
"$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --steps 4 --strength 0.6 --image-latents "@$work/fb.npy" \
  --latents "@$work/noise.npy" --output-latents "@$work/fs.npy" \
  --timeout 60 --quiet
py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" --steps 4 \
  --strength 0.6 --image-latents "$work/fb.npy" \
  --latents "$work/noise.npy" --dtype float64 --out-latents "$work/rs.npy" \
  > /dev/null
echo "== refiner, --strength 0.6 from latents"
py "$here/compare_npy.py" "$work/fs.npy" "$work/rs.npy" --rtol-max 1e-5

# Inpainting on the refiner (StableDiffusionXLInpaintPipeline on its folder:
# the aesthetic time ids, the inpaint defaults) at strength 0.6, and the
# ensemble of experts with a mask: the base (compiled with --vae-encoder)
# inpaints to --denoising-end 0.8, the refiner takes its latents as the
# image (--image-latents, put back outside the mask as given) from
# --denoising-start 0.8; against diffusers' same calls.
py "$here/sd_pipeline_reference.py" mask --out "$work/mask.png" --height $H \
  --width $W --seed 4 > /dev/null
"$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --image "$work/in.png" --mask "$work/mask.png" --steps 4 --strength 0.6 \
  --latents "@$work/noise.npy" --output-latents "@$work/fm.npy" \
  --timeout 60 --quiet
py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" --image \
  "$work/in.png" --mask "$work/mask.png" --steps 4 --strength 0.6 \
  --height $H --width $W --latents "$work/noise.npy" --dtype float64 \
  --out-latents "$work/rm.npy" > /dev/null
echo "== refiner, inpainting at --strength 0.6"
py "$here/compare_npy.py" "$work/fm.npy" "$work/rm.npy" --rtol-max 1e-4
"$B/fresco-compile" "$work/base" -o "$work/base-enc.fplan" --batch 2 \
  --height $H --width $W --vae-encoder --quiet
"$B/fresco-run" "$work/base-enc.fplan" --weights "$work/base" \
  "${prompts[@]}" --image "$work/in.png" --mask "$work/mask.png" --steps 8 \
  --denoising-end 0.8 --latents "@$work/noise.npy" \
  --output-latents "@$work/fmb.npy" --timeout 60 --quiet
"$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --image-latents "@$work/fmb.npy" --mask "$work/mask.png" --steps 8 \
  --denoising-start 0.8 --latents "@$work/noise.npy" \
  --output-latents "@$work/fme.npy" --timeout 60 --quiet
py "$ref" img2img --pipeline "$work/base" "${prompts[@]}" --image \
  "$work/in.png" --mask "$work/mask.png" --steps 8 --denoising-end 0.8 \
  --height $H --width $W --latents "$work/noise.npy" --dtype float64 \
  --out-latents "$work/rmb.npy" > /dev/null
py "$ref" img2img --pipeline "$work/pipe" "${prompts[@]}" --image-latents \
  "$work/rmb.npy" --mask "$work/mask.png" --steps 8 --denoising-start 0.8 \
  --height $H --width $W --latents "$work/noise.npy" --dtype float64 \
  --out-latents "$work/rme.npy" > /dev/null
echo "== base inpainting, --denoising-end 0.8"
py "$here/compare_npy.py" "$work/fmb.npy" "$work/rmb.npy" --rtol-max 1e-4
echo "== refiner inpainting, --denoising-start 0.8 from the base's latents"
py "$here/compare_npy.py" "$work/fme.npy" "$work/rme.npy" --rtol-max 1e-4

# Bad input: clear errors.
bad() { # message flags...: fresco-run of PLAN ($plan) refuses FLAGS, exit 1
  expect_error "$1" "$B/fresco-run" "${plan:-$work/r.fplan}" \
    --weights "${weights:-$work/pipe}" "${prompts[@]}" --steps 4 \
    -o "$work/x.png" --timeout 60 --quiet "${@:2}"
}
bad "pipeline 'StableDiffusionXLImg2ImgPipeline' is image-to-image only"
bad "reads one prompt per image: --prompt-2 does not apply" \
  --image "$work/in.png" --prompt-2 "a" --prompt-2 "b"
plan=$work/base.fplan weights=$work/base bad "--aesthetic-score: pipeline \
'StableDiffusionXLPipeline' takes no aesthetic score" --aesthetic-score 7
plan=$work/base.fplan weights=$work/base bad "--negative-aesthetic-score: \
pipeline 'StableDiffusionXLPipeline' takes no aesthetic score" \
  --negative-aesthetic-score 2
bad "--target-size: the SDXL refiner's time ids (requires_aesthetics_score) \
are original size, crop corner and aesthetic score" --image "$work/in.png" \
  --target-size 40,32
plan=$work/base.fplan weights=$work/base bad "--denoising-start applies to \
image-to-image" --denoising-start 0.5
bad "--denoising-start 0.8 must be below --denoising-end 0.5" \
  --image-latents "@$work/fb.npy" --denoising-start 0.8 --denoising-end 0.5
bad "--denoising-end 0.001 keeps no denoising step" --image "$work/in.png" \
  --strength 1.0 --denoising-end 0.001
bad "--denoising-start 0.999 keeps no denoising step" \
  --image-latents "@$work/fb.npy" --denoising-start 0.999
bad "--denoising-start and --denoising-end are not implemented for \
HeunDiscreteScheduler, whose steps take two model calls" \
  --image-latents "@$work/fb.npy" --denoising-start 0.5 \
  --scheduler HeunDiscreteScheduler
py -c "import numpy as np, sys; np.save(sys.argv[1], np.load(sys.argv[2])[:, :, :8])" \
  "$work/short.npy" "$work/noise.npy"
bad "--image-latents must be f32 [2 (or 1), 4, 16, 12] (the plan's latent \
grid), got f32[2, 4, 8, 12]" --image-latents "@$work/short.npy"
expect_usage "--strength does not apply with --denoising-start" \
  "$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --image-latents "@$work/fb.npy" --denoising-start 0.8 --strength 0.5 \
  -o "$work/x.png"
expect_usage "--denoising-end must be in (0, 1), got 1" \
  "$B/fresco-run" "$work/base.fplan" --weights "$work/base" "${prompts[@]}" \
  --denoising-end 1 -o "$work/x.png"
expect_usage "--image and --image-latents both give the init image" \
  "$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --image "$work/in.png" --image-latents "@$work/fb.npy" -o "$work/x.png"
expect_usage "--aesthetic-score expects a number, got 'high'" \
  "$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --image "$work/in.png" --aesthetic-score high -o "$work/x.png"
expect_usage "--original-size expects H,W, two numbers (e.g. 1024,1024), \
got '64x48'" "$B/fresco-run" "$work/r.fplan" --weights "$work/pipe" \
  "${prompts[@]}" --image "$work/in.png" --original-size 64x48 -o "$work/x.png"
# Folders: text_encoder_2 null; requires_aesthetics_score false with the
# refiner's UNet (5 time ids).
edited() { # name python-statement-on-index: a copy of the refiner folder
  cp -r "$work/pipe" "$work/$1"
  py - "$work/$1/model_index.json" "$2" <<'PY'
import json, sys
path, stmt = sys.argv[1], sys.argv[2]
index = json.load(open(path))
exec(stmt)
json.dump(index, open(path, "w"), indent=2)
PY
}
edited no-te2 'index["text_encoder_2"] = [None, None]'
expect_error "model_index.json: text_encoder_2 is null; \
StableDiffusionXLImg2ImgPipeline needs it" \
  "$B/fresco-compile" "$work/no-te2" -o "$work/x.fplan"
edited no-aesthetic 'index["requires_aesthetics_score"] = False'
expect_error "text_encoder_2's projection_dim (16) differs from the UNet's \
pooled text input (8: projection_class_embeddings_input_dim minus 6 x \
addition_time_embed_dim" \
  "$B/fresco-compile" "$work/no-aesthetic" -o "$work/x.fplan"
echo "sdxl refiner: OK"
