#!/usr/bin/env bash
# cpu_flux_forward.sh [CONFIG] [PIXELS] [TEXT_TOKENS] [RUNS]: one Flux
# transformer forward on CPU at batch 1 (random weights and inputs), RUNS
# timed runs after a warm-up; prints the per-op profile and the median.
# FRESCO_BUILD_DIR picks the build (default <repo>/build), so two builds
# can be compared on the same machine in the same session.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
config=${1:-$root/bench/configs/flux-small/transformer.json}
pixels=${2:-512}
text=${3:-256}
runs=${4:-5}
bin=${FRESCO_BUILD_DIR:-$root/build}/bin
py=$root/.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin/fresco-random-checkpoint" "$config" -o "$work/model" 2> /dev/null
"$bin/fresco-compile" "$work/model" -o "$work/model.fplan" --quiet \
  --height "$pixels" --width "$pixels" --max-sequence-length "$text"
# Inputs in the forward's order, shaped from the plan's own signature.
"$bin/fresco-run" "$work/model.fplan" --list > "$work/sig.txt"
"$py" - "$work" "$pixels" "$text" < /dev/null <<'PY'
import numpy as np, re, sys
work, pixels, text = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sig = open(work + "/sig.txt").read()
args = re.search(r"transformer\((.*?)\) ->", sig).group(1)
rng = np.random.default_rng(0)
side = pixels // 16
for i, (name, shape) in enumerate(re.findall(r"(\w+): f32\[([0-9, ]*)\]", args)):
    dims = [int(d) for d in shape.split(",") if d.strip()]
    if name == "img_ids":
        x = np.zeros(dims, np.float32)
        x[:, 1] = np.repeat(np.arange(side), side)
        x[:, 2] = np.tile(np.arange(side), side)
    elif name == "txt_ids":
        x = np.zeros(dims, np.float32)
    elif name in ("timestep", "guidance"):
        x = np.full(dims, 0.5 if name == "timestep" else 3.5, np.float32)
    else:
        x = rng.standard_normal(dims).astype(np.float32)
    np.save("%s/in%d.npy" % (work, i), x)
PY
inputs=()
for f in $(ls "$work"/in*.npy | sort -V); do inputs+=(--input "@$f"); done
"$bin/fresco-run" "$work/model.fplan" --weights "$work/model" "${inputs[@]}" \
  --repeat $((runs + 1)) --stats --profile 2> "$work/fresco.log" > /dev/null
sed -n '/profile over/,/by op and shape/p' "$work/fresco.log"
"$py" - "$work/fresco.log" <<'PY'
import re, statistics, sys
runs = [float(x) for x in re.search(r"run ([0-9. ]+) s", open(sys.argv[1]).read()).group(1).split()][1:]
print("median %.4f s over %d runs: %s" % (statistics.median(runs), len(runs), " ".join("%.4f" % r for r in runs)))
PY
