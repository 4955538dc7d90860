#!/usr/bin/env bash
# cpu_dit_multirank.sh [STEPS]: DiT-S/2 at 256 px (sd-vae decoder), one
# image with guidance, on 1, 2 and 4 local CPU ranks (fresco-run's launcher
# gives each rank cores/N OpenMP threads). Prints the wall time of the whole
# run and rank 0's per-step denoising time for each layout, all measured in
# this one run on this machine. FRESCO_LAYOUTS picks other layouts.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-10}
bin=${FRESCO_BUILD_DIR:-$root/build}/bin
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-s-2-256" \
  -o "$work/pipe" 2> /dev/null
printf "%-38s %6s %12s %12s %10s\n" layout ranks "s/step" "denoise s" "wall s"
# (DiT-S/2 has 6 heads: tp=4 is refused; tp=2 and tp=3 divide them.)
# FRESCO_LAYOUTS overrides the list, e.g. "1;2 ulysses=2;2 ring=2"; words
# after the parallel spec are more fresco-compile flags, e.g.
# "2 pipefusion=2 --pipefusion-patches 4".
IFS=';' read -r -a layouts <<< "${FRESCO_LAYOUTS:-1;2 cfg=2;2 tp=2;4 cfg=2,tp=2}"
for layout in "${layouts[@]}"; do
  set -- $layout
  n=$1
  flags=(--ranks "$n")
  [ $# -gt 1 ] && flags+=(--parallel "$2" "${@:3}")
  "$bin/fresco-compile" "$work/pipe" -o "$work/p.fplan" --batch 1 \
    "${flags[@]}" --quiet
  start=$(date +%s.%N)
  "$bin/fresco-run" "$work/p.fplan" --weights "$work/pipe" --class-label 207 \
    --steps "$steps" -o "$work/img.png" --stats --quiet 2> "$work/log"
  end=$(date +%s.%N)
  # "10 steps of", or "10 steps (1 fresh, 9 stale) of" (patch=P)
  line=$(grep -m1 -E "steps( \([^)]*\))? of" "$work/log")
  per=$(sed -E 's/.*\(([0-9.]+) s\/step\).*/\1/' <<< "$line")
  den=$(sed -E 's/.* in ([0-9.]+) s \(.*/\1/' <<< "$line")
  label="${2:-single}"
  [ $# -gt 2 ] && label="$label ${*:3}"
  printf "%-38s %6s %12s %12s %10.2f\n" "$label" "$n" "$per" "$den" \
    "$(echo "$end - $start" | bc)"
done
