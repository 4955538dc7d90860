#!/usr/bin/env bash
# cpu_sd_multirank.sh [STEPS] [SIZE]: Stable Diffusion 1.5's UNet (random
# weights, models/unet/pipelines/sd15) generating one SIZE x SIZE image
# (default 256) with a negative prompt (the UNet's batch is 2) on 1 and 2
# local CPU ranks (fresco-run's launcher gives each rank cores/N OpenMP
# threads). Prints rank 0's per-step denoising time for each layout, all
# measured in this one run on this machine; FRESCO_LAYOUTS picks others
# ("1;2 cfg=2;2 ulysses=2;2 ring=2" by default).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-5}
size=${2:-256}
bin=${FRESCO_BUILD_DIR:-$root/build}/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/fresco-random-checkpoint" "$root/models/unet/pipelines/sd15" \
  -o "$work/pipe" 2> /dev/null
printf "%-22s %6s %10s %12s\n" layout ranks "s/step" "denoise s"
IFS=';' read -r -a layouts <<< "${FRESCO_LAYOUTS:-1;2 cfg=2;2 ulysses=2;2 ring=2}"
for layout in "${layouts[@]}"; do
  set -- $layout
  flags=(--ranks "$1")
  [ $# -gt 1 ] && flags+=(--parallel "$2")
  "$bin/fresco-compile" "$work/pipe" -o "$work/p.fplan" --height "$size" \
    --width "$size" "${flags[@]}" --quiet
  "$bin/fresco-run" "$work/p.fplan" --weights "$work/pipe" \
    --prompt "a red fox in the snow" --negative-prompt "blurry" \
    --steps "$steps" --seed 1 -o "$work/img.png" --stats --quiet 2> "$work/log"
  line=$(grep -m1 "steps of" "$work/log")
  per=$(sed -E 's/.*\(([0-9.]+) s\/step\).*/\1/' <<< "$line")
  den=$(sed -E 's/.* in ([0-9.]+) s \(.*/\1/' <<< "$line")
  printf "%-22s %6s %10s %12s\n" "${2:-single}" "$1" "$per" "$den"
done
