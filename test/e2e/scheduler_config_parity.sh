#!/usr/bin/env bash
# scheduler_config_parity.sh: fresco-run --scheduler-config KEY=VALUE on the
# tiny random StableDiffusionPipeline folder (SD 1.5's PNDM config) against
# diffusers' NAME.from_config(pipe.scheduler.config, KEY=VALUE, ...) in
# float64: DPM-Solver++ with Karras sigmas ("DPM++ 2M Karras"), then with
# solver order 3 and final_sigmas_type sigma_min, and Euler with trailing
# timestep spacing; final latents within 1e-4 of their max magnitude, and
# each override changes them. Then bad input: a key the class does not read
# (the error lists those it does), a value it refuses, no '='.
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
for pair in "plain-dpm f-karras" "f-karras f-karras3" "plain-euler f-trailing"; do
  set -- $pair
  if cmp -s "$work/$1.npy" "$work/$2.npy"; then
    echo "$1 and $2 are the same: an override was not applied"; exit 1
  fi
done

bad() { # message flags...
  expect_error "$1" "$B/fresco-run" "$work/p.fplan" --weights "$work/pipe" \
    "${prompts[@]}" --steps 2 -o "$work/x.png" --timeout 60 "${@:2}"
}
bad "--scheduler-config use_karas_sigmas: DPMSolverMultistepScheduler does \
not read 'use_karas_sigmas' (it reads algorithm_type, beta_end," \
  --scheduler DPMSolverMultistepScheduler \
  --scheduler-config use_karas_sigmas=true
bad "--scheduler-config use_karras_sigmas: PNDMScheduler does not read \
'use_karras_sigmas'" --scheduler-config use_karras_sigmas=true
bad "EulerDiscreteScheduler: scheduler config key 'timestep_spacing' = \
\"middle\" is not valid (expected linspace, leading or trailing)" \
  --scheduler EulerDiscreteScheduler --scheduler-config timestep_spacing=middle
bad "'_class_name' is not a scheduler setting" \
  --scheduler-config _class_name=DDIMScheduler
expect_usage "--scheduler-config takes KEY=VALUE (e.g. \
use_karras_sigmas=true), got 'foo'" "$B/fresco-run" "$work/p.fplan" \
  --weights "$work/pipe" "${prompts[@]}" -o "$work/x.png" \
  --scheduler-config foo
echo "scheduler config overrides: OK"
