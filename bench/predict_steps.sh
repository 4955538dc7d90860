#!/usr/bin/env bash
# predict_steps.sh BIN [BASE_BIN]: the cost model's step time (roofline, no
# calibration, H100 SXM) of fixed layouts of FLUX.1-dev (1024 px, bf16),
# SDXL base (1024 px, bf16) and DiT-XL/2 (256 px, f32), compiled with the
# fresco-compile in BIN; with BASE_BIN, the same plans from that build side by
# side (the baseline of a change, same run). Needs no weights: configs only.
# Layouts: FRESCO_LAYOUTS (";"-separated compile flags), default 1 rank, tp,
# tp with --tp-reduce-scatter and ulysses.
set -euo pipefail
B=${1:?bin folder}
BASE=${2:-}
root=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
layouts=${FRESCO_LAYOUTS:-"--ranks 1;--ranks 2 --parallel tp=2;--ranks 8 --parallel tp=8;--ranks 8 --parallel tp=8 --tp-reduce-scatter;--ranks 4 --parallel ulysses=4"}
step() { # bin model-args... -> the predicted step in ms
  local bin=$1
  shift
  # shellcheck disable=SC2068
  "$bin/fresco-compile" "$@" -o "$W/p.fplan" --quiet
  "$bin/fresco-inspect" "$W/p.fplan" --predict --topology h100-sxm-8 \
    --steps 28 | sed -n 's/^predicted step \([0-9.]*\) ms.*/\1/p'
}
models=(
  "flux1-dev|$root/models/flux/pipelines/flux1-dev --dtype bf16"
  "sdxl-base|$root/models/unet/pipelines/sdxl-base --dtype bf16"
  "dit-xl-2|$root/models/dit/pipelines/dit-xl-2-256"
)
printf '%-10s %-40s %10s %10s\n' model layout "${BASE:+base ms}" "step ms"
for m in "${models[@]}"; do
  name=${m%%|*}
  IFS=' ' read -r -a args <<<"${m#*|}"
  IFS=';' read -r -a ls <<<"$layouts"
  for l in "${ls[@]}"; do
    IFS=' ' read -r -a flags <<<"$l"
    before=""
    [ -n "$BASE" ] && before=$(step "$BASE" "${args[@]}" "${flags[@]}")
    after=$(step "$B" "${args[@]}" "${flags[@]}")
    printf '%-10s %-40s %10s %10s\n' "$name" "$l" "$before" "$after"
  done
done
