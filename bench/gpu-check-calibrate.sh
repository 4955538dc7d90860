# shellcheck shell=bash disable=SC2154,SC2034
# gpu-check-calibrate.sh: phase 6 of bench/gpu-check.sh, sourced there after
# its helpers (say, row, tmo, left, jget) and variables (bindir, plans,
# backend, py, work, gpu, dry, measured_ms, failed).
#
# Phase 6, the cost model on this card (docs/planner.md), run by phases 4
# and 4b right after each forward they measure, on its weights (a full run
# may not reach a later phase, and a later call would not have them):
# `fresco-run --calibrate` times every instruction shape of the plan and
# writes one table per plan and float storage to $OUT/calibration/ (tables
# to ship in share/calibrations); then `fresco-inspect --predict` prices the
# plan on the card's topology preset with that table and with the roofline
# alone, next to the measured forward time (CUDA graphs, warm-up left out).
# The sum of per-instruction medians misses what a whole forward adds or
# hides (launch gaps, overlap, graph replay), which is what this row shows.

# card_topology: the topology preset for this GPU's name.
card_topology() {
  case $gpu in
    none*) echo cpu-loopback ;;
    *H200*) echo h200-sxm-8 ;;
    *H100*PCIe*) echo h100-pcie-8 ;;
    *) echo h100-sxm-8 ;; # H100 SXM, and the nearest preset for others
  esac
}

# calibrate_one LABEL PLAN WEIGHTS DTYPE: calibrates, predicts, adds a row.
calibrate_one() {
  local label=$1 plan=$2 weights=$3 dtype=$4
  local measured=${measured_ms[$label]:-}
  if [ ! -f "$plan" ] || [ ! -d "$weights" ] || [[ ! $measured =~ ^[0-9.]+$ ]]; then
    row "calibration $label" "n/a" "no measured forward to set it against"
    return
  elif [ "$(left)" -lt 40 ]; then
    row "calibration $label" "skipped" "under 40 s of the budget left"
    return
  fi
  local table=$OUT/calibration/$card-${label// /-}.json rc
  tmo 120 "$bindir/fresco-run" "$plan" --weights "$weights" --backend "$backend" \
    --dtype "$dtype" --repeat 5 --calibrate "$table" > "$work/calibrate.log" 2>&1
  rc=$?
  cat "$work/calibrate.log"
  if [ $rc -ne 0 ]; then
    failed=1
    row "calibration $label" "FAIL" "rc $rc: $(grep -m1 error "$work/calibrate.log" | cut -c1-80)"
    return
  fi
  local topo cal roof entries
  topo=$(card_topology)
  # The plans' predictions need the repository's topology presets.
  cal=$(FRESCO_SHARE_DIR=$root/share "$bindir/fresco-inspect" "$plan" --predict \
    --topology "$topo" --calibration "$table" --dtype "$dtype" --steps 1 --json \
    2> "$work/predict.err") && cal=$(jget <(echo "$cal") step_seconds)
  roof=$(FRESCO_SHARE_DIR=$root/share "$bindir/fresco-inspect" "$plan" --predict \
    --topology "$topo" --dtype "$dtype" --steps 1 --json 2>> "$work/predict.err") &&
    roof=$(jget <(echo "$roof") step_seconds)
  if [ -z "$cal" ] || [ -z "$roof" ]; then
    failed=1
    row "calibration $label" "FAIL" "fresco-inspect --predict: $(head -1 "$work/predict.err" | cut -c1-80)"
    return
  fi
  entries=$(grep -c '"op":' "$table")
  row "calibration $label" "timing" "$(awk -v c="$cal" -v r="$roof" -v m="$measured" \
    'BEGIN {printf "predicted %.2f ms with the table (%+.0f%%), %.2f ms roofline (%+.0f%%); measured %.2f ms", c * 1000, 100 * (c * 1000 - m) / m, r * 1000, 100 * (r * 1000 - m) / m, m}'); $entries shapes, $topo, $(basename "$table")"
}

# calibration_setup: the card's name for the tables' files, their folder.
calibration_setup() {
  card=$(echo "$gpu" | head -1 | cut -d, -f1 | tr 'A-Z ' 'a-z-' | tr -cd 'a-z0-9-')
  [ "$dry" = 1 ] && card=dry-run-cpu
  mkdir -p "$OUT/calibration"
}
