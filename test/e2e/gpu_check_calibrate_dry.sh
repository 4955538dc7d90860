#!/usr/bin/env bash
# gpu_check_calibrate_dry.sh: bench/gpu-check.sh's phase 6 (calibration
# tables and predicted vs measured) as a dry run on the CPU after the
# forwards of phases 4 and 4b (backend cpu-staged, dit-tiny): its rows must
# be there with both predictions and the measured time, and each table must
# load into the cost model. Needs FRESCO_BIN and FRESCO_PYTHON.
set -euo pipefail
. "$(dirname "$0")/common.sh"
gpu_check_dry "4 4b 6"
num='[0-9]+\.[0-9]+'
for label in 'dit-tiny f32' 'dit-tiny bf16'; do
  grep -Eq "^calibration $label +timing +predicted $num ms with the table \([+-][0-9]+%\), $num ms roofline \([+-][0-9]+%\); measured $num ms; [0-9]+ shapes, cpu-loopback" "$log" ||
    { echo "missing row: calibration $label"; exit 1; }
done
# The Flux-width phase's model is dit-tiny in the dry run too.
grep -Eq "^calibration dit-tiny bf16 +timing" "$log"
for t in dry-run-cpu-dit-tiny-f32 dry-run-cpu-dit-tiny-bf16; do
  f=$work/out/calibration/$t.json
  [ -s "$f" ] || { echo "no table $f"; exit 1; }
  "$FRESCO_BIN/fresco-inspect" "$root/build-gpu/plans-dry/dit-tiny-b2.fplan" --predict \
    --topology cpu-loopback --calibration "$f" --dtype "${t##*-}" --steps 1 > /dev/null
done
