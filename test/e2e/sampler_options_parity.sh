#!/usr/bin/env bash
# sampler_options_parity.sh: fresco-run --scheduler-config KEY=VALUE on the
# tiny random StableDiffusionPipeline folder (SD 1.5's PNDM config) against
# diffusers' NAME.from_config(pipe.scheduler.config, KEY=VALUE, ...) in
# float64: DPM-Solver++ with Karras sigmas ("DPM++ 2M Karras"), then with
# solver order 3 and final_sigmas_type sigma_min, and Euler with trailing
# timestep spacing, UniPC of order 3 with Karras sigmas, and "DPM++ 2M SDE
# Karras" (its step noise Fresco's for seed 0 on both sides), and --eta
# (the pipelines' eta): DDIM at 0.5, TCD at 0.3 and 0 (their noise likewise);
# final latents within 1e-4 of their max magnitude, and each override (and
# eta) changes them; --eta where the scheduler or pipeline takes none is
# refused. Then bad input: a key the class does not read
# (the error lists those it does), a value it refuses, no '='.
# --guidance-rescale (guidance_rescale) the same way: SD 1.x at 0.7, SD 2.x
# (v-prediction) with zero terminal SNR and trailing spacing, its intended
# recipe, and SDXL; refused where diffusers' class has no such parameter.
# --num-images-per-prompt 2 equals giving each prompt (and each per-prompt
# negative prompt) twice; more images than the plan's batch is refused.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sd_pipeline_reference.py

py "$ref" make --out "$work/pipe" --seed 3 --scheduler PNDMScheduler > /dev/null
py "$ref" latents --pipeline "$work/pipe" --out "$work/x.npy" --batch 2 \
  --seed 5 > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/p.fplan" --batch 2 --height 32 \
  --width 24 --quiet
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
run() { # out flags...
  local out=$1
  shift
  "$B/fresco-run" "$work/p.fplan" --weights "$work/pipe" "${prompts[@]}" \
    --steps 5 --latents "@$work/x.npy" --output-latents "@$work/$out.npy" \
    --timeout 60 --quiet "$@"
}
cases=(
  "karras|--scheduler DPMSolverMultistepScheduler --scheduler-config use_karras_sigmas=true"
  "karras3|--scheduler DPMSolverMultistepScheduler --scheduler-config use_karras_sigmas=true --scheduler-config solver_order=3 --scheduler-config final_sigmas_type=sigma_min"
  "trailing|--scheduler EulerDiscreteScheduler --scheduler-config timestep_spacing=\"trailing\""
  "unipc3|--scheduler UniPCMultistepScheduler --scheduler-config solver_order=3 --scheduler-config use_karras_sigmas=true"
  "sde|--scheduler DPMSolverMultistepScheduler --scheduler-config algorithm_type=sde-dpmsolver++ --scheduler-config use_karras_sigmas=true"
  "ddim-eta|--scheduler DDIMScheduler --eta 0.5"
  "tcd|--scheduler TCDScheduler --eta 0.3"
  "tcd0|--scheduler TCDScheduler"
)
for c in "${cases[@]}"; do
  name=${c%%|*}
  eval "flags=(${c#*|})"
  run "f-$name" "${flags[@]}"
  py "$ref" run --pipeline "$work/pipe" "${prompts[@]}" --steps 5 \
    --latents "$work/x.npy" --dtype float64 "${flags[@]}" \
    --out-latents "$work/r-$name.npy" > /dev/null
  echo "== $name: ${flags[*]}"
  py "$here/compare_npy.py" "$work/f-$name.npy" "$work/r-$name.npy" \
    --rtol-max 1e-4
done
# The keys were applied: without them the results differ.
run plain-dpm --scheduler DPMSolverMultistepScheduler
run plain-euler --scheduler EulerDiscreteScheduler
run plain-unipc --scheduler UniPCMultistepScheduler
run plain-ddim --scheduler DDIMScheduler
for pair in "plain-dpm f-karras" "f-karras f-karras3" "plain-euler f-trailing" \
  "plain-unipc f-unipc3" "f-karras f-sde" "plain-ddim f-ddim-eta" "f-tcd0 f-tcd"; do
  set -- $pair
  if cmp -s "$work/$1.npy" "$work/$2.npy"; then
    echo "$1 and $2 are the same: an override was not applied"; exit 1
  fi
done

bad() { # message flags...
  expect_error "$1" "$B/fresco-run" "$work/p.fplan" --weights "$work/pipe" \
    "${prompts[@]}" --steps 2 -o "$work/x.png" --timeout 60 "${@:2}"
}
bad "--scheduler-config use_karas_sigmas: DPMSolverMultistepScheduler \
(diffusers 0.31) takes no 'use_karas_sigmas' (diffusers would drop it); its \
settings: num_train_timesteps, beta_start," \
  --scheduler DPMSolverMultistepScheduler \
  --scheduler-config use_karas_sigmas=true
bad "--scheduler-config use_karras_sigmas: PNDMScheduler (diffusers 0.31) \
takes no 'use_karras_sigmas'" --scheduler-config use_karras_sigmas=true
# A key a stored config could set but from_config drops as a keyword.
bad "takes no 'sigma_min'" --scheduler DPMSolverMultistepScheduler \
  --scheduler-config sigma_min=0.1
bad "--scheduler-config steps_offset: give a value (null and NaN are not settings)" \
  --scheduler-config steps_offset=null
bad "PNDMScheduler's step takes no eta (only DDIMScheduler's and TCDScheduler's do" \
  --eta 0.3
bad "EulerDiscreteScheduler: scheduler config key 'timestep_spacing' = \
\"middle\" is not valid (expected linspace, leading or trailing)" \
  --scheduler EulerDiscreteScheduler --scheduler-config timestep_spacing=middle
bad "--scheduler-config _class_name: PNDMScheduler (diffusers 0.31) takes \
no '_class_name'" \
  --scheduler-config _class_name=DDIMScheduler
expect_usage "--scheduler-config takes KEY=VALUE (e.g. \
use_karras_sigmas=true), got 'foo'" "$B/fresco-run" "$work/p.fplan" \
  --weights "$work/pipe" "${prompts[@]}" -o "$work/x.png" \
  --scheduler-config foo

# guidance_rescale and num_images_per_prompt on SDXL below; first SD.
"$B/fresco-run" "$work/p.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --negative-prompt "blurry" --steps 5 --latents "@$work/x.npy" \
  --guidance-rescale 0.7 --output-latents "@$work/f-rescale.npy" \
  --timeout 60 --quiet
py "$ref" run --pipeline "$work/pipe" "${prompts[@]}" --negative-prompt \
  "blurry" --steps 5 --latents "$work/x.npy" --dtype float64 \
  --guidance-rescale 0.7 --out-latents "$work/r-rescale.npy" > /dev/null
echo "== SD 1.x, --guidance-rescale 0.7"
py "$here/compare_npy.py" "$work/f-rescale.npy" "$work/r-rescale.npy" \
  --rtol-max 1e-4
"$B/fresco-run" "$work/p.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --negative-prompt "blurry" --steps 5 --latents "@$work/x.npy" \
  --output-latents "@$work/f-norescale.npy" --timeout 60 --quiet
if cmp -s "$work/f-rescale.npy" "$work/f-norescale.npy"; then
  echo "--guidance-rescale changed nothing"; exit 1
fi
py "$ref" make --out "$work/sd2" --seed 3 --sd2 --scheduler DDIMScheduler \
  > /dev/null
"$B/fresco-compile" "$work/sd2" -o "$work/sd2.fplan" --batch 2 --height 32 \
  --width 24 --quiet
zsnr=(--guidance-rescale 0.7 --scheduler-config rescale_betas_zero_snr=true
  --scheduler-config timestep_spacing=trailing)
"$B/fresco-run" "$work/sd2.fplan" --weights "$work/sd2" "${prompts[@]}" \
  --negative-prompt "blurry" --steps 5 --latents "@$work/x.npy" "${zsnr[@]}" \
  --output-latents "@$work/f-sd2.npy" --timeout 60 --quiet
py "$ref" run --pipeline "$work/sd2" "${prompts[@]}" --negative-prompt \
  "blurry" --steps 5 --latents "$work/x.npy" --dtype float64 "${zsnr[@]}" \
  --out-latents "$work/r-sd2.npy" > /dev/null
echo "== SD 2.x (v-prediction), zero terminal SNR, trailing, rescale 0.7"
py "$here/compare_npy.py" "$work/f-sd2.npy" "$work/r-sd2.npy" --rtol-max 1e-4
xl=$here/sdxl_sd3_reference.py
py "$xl" make --kind sdxl --out "$work/sdxl" --seed 3 > /dev/null
"$B/fresco-compile" "$work/sdxl" -o "$work/sdxl.fplan" --batch 2 \
  --height 32 --width 24 --quiet
"$B/fresco-run" "$work/sdxl.fplan" --weights "$work/sdxl" "${prompts[@]}" \
  --negative-prompt "blurry" --steps 4 --latents "@$work/x.npy" \
  --guidance-rescale 0.5 --output-latents "@$work/f-sdxl.npy" --timeout 60 \
  --quiet
py "$xl" run --pipeline "$work/sdxl" "${prompts[@]}" --negative-prompt \
  "blurry" --steps 4 --latents "$work/x.npy" --dtype float64 \
  --guidance-rescale 0.5 --out-latents "$work/r-sdxl.npy" > /dev/null
echo "== SDXL, --guidance-rescale 0.5"
py "$here/compare_npy.py" "$work/f-sdxl.npy" "$work/r-sdxl.npy" --rtol-max 1e-4
# One prompt with its --prompt-2, two images: the second prompt repeated too.
"$B/fresco-run" "$work/sdxl.fplan" --weights "$work/sdxl" --prompt "a fox" \
  --prompt-2 "an oil painting" --num-images-per-prompt 2 --steps 2 \
  --latents "@$work/x.npy" --output-latents "@$work/n-sdxl.npy" --timeout 60 \
  --quiet
"$B/fresco-run" "$work/sdxl.fplan" --weights "$work/sdxl" --prompt "a fox" \
  --prompt "a fox" --prompt-2 "an oil painting" --prompt-2 "an oil painting" \
  --steps 2 --latents "@$work/x.npy" --output-latents "@$work/e-sdxl.npy" \
  --timeout 60 --quiet
cmp "$work/n-sdxl.npy" "$work/e-sdxl.npy"
py "$ref" image --out "$work/in.png" --seed 2 > /dev/null
"$B/fresco-compile" "$work/pipe" -o "$work/i2i.fplan" --batch 2 --height 32 \
  --width 24 --vae-encoder --quiet
expect_error "--guidance-rescale (guidance_rescale) is a parameter of \
StableDiffusionPipeline (text-to-image) and the SDXL classes only; this run \
is StableDiffusionPipeline's image-to-image" "$B/fresco-run" \
  "$work/i2i.fplan" --weights "$work/pipe" "${prompts[@]}" --image \
  "$work/in.png" --guidance-rescale 0.7 --steps 2 -o "$work/x.png"
expect_usage "--guidance-rescale must be in [0, 1], got 1.5" \
  "$B/fresco-run" "$work/p.fplan" --weights "$work/pipe" "${prompts[@]}" \
  -o "$work/x.png" --guidance-rescale 1.5

# num_images_per_prompt: each prompt and its negative prompt repeated.
"$B/fresco-compile" "$work/pipe" -o "$work/p4.fplan" --batch 4 --height 32 \
  --width 24 --quiet
"$B/fresco-run" "$work/p4.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --negative-prompt blurry --negative-prompt dark --num-images-per-prompt 2 \
  --steps 3 --output-latents "@$work/n2.npy" -o "$work/n2.png" --quiet
"$B/fresco-run" "$work/p4.fplan" --weights "$work/pipe" \
  --prompt "${prompts[1]}" --prompt "${prompts[1]}" --prompt "${prompts[3]}" \
  --prompt "${prompts[3]}" --negative-prompt blurry --negative-prompt blurry \
  --negative-prompt dark --negative-prompt dark --steps 3 \
  --output-latents "@$work/n2-explicit.npy" --quiet
cmp "$work/n2.npy" "$work/n2-explicit.npy"
ls "$work"/n2-3.png > /dev/null
expect_error "2 prompt(s) x --num-images-per-prompt 3 is 6 images, but the \
plan generates at most 4 per run; recompile with fresco-compile --batch 6" \
  "$B/fresco-run" "$work/p4.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --num-images-per-prompt 3 --steps 2 -o "$work/x.png"
expect_usage "--num-images-per-prompt applies to prompts" "$B/fresco-run" \
  "$work/p4.fplan" --weights "$work/pipe" --class-label 1 \
  --num-images-per-prompt 2 -o "$work/x.png"
echo "sampler options: OK"
