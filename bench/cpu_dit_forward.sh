#!/usr/bin/env bash
# cpu_dit_forward.sh [CONFIG] [BATCH] [RUNS]: one DiT transformer forward on
# CPU, Fresco (fresco-run) next to CPU PyTorch running the real diffusers
# class, measured in the same run on the same machine. Prints both medians.
# Needs a built tree (FRESCO_BUILD_DIR, default <repo>/build) and .venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=${1:-$root/models/dit/configs/dit-s-2-256.json}
batch=${2:-2}
runs=${3:-5}
bin=${FRESCO_BUILD_DIR:-$root/build}/bin
py=$root/.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin/fresco-random-checkpoint" "$config" -o "$work/model" 2> /dev/null
"$bin/fresco-compile" "$work/model" -o "$work/model.fplan" --batch "$batch"
"$py" "$root/test/e2e/dit_reference.py" --model "$work/model" \
  --make-inputs "$work/in" --batch "$batch" > /dev/null
# One warm-up run, then RUNS timed runs of the same executor.
"$bin/fresco-run" "$work/model.fplan" --weights "$work/model" \
  --input "@$work/in/latents.npy" --input "@$work/in/timestep.npy" \
  --input "@$work/in/class_labels.npy" --stats --repeat $((runs + 1)) \
  --output "@$work/out.npy" 2> "$work/fresco.log"
cat "$work/fresco.log"
"$py" - "$work/fresco.log" "$config" "$batch" <<'PY'
import json, os, re, statistics, sys
log, config, batch = sys.argv[1:]
runs = [float(x) for x in re.search(r"run ([0-9. ]+) s", open(log).read()).group(1).split()][1:]
print(json.dumps({"impl": "fresco-cpu", "config": os.path.basename(config), "batch": int(batch),
                  "median_s": round(statistics.median(runs), 4), "runs": runs}))
PY
"$py" "$root/bench/torch_dit_forward.py" --config "$config" --batch "$batch" \
  --runs "$runs"
