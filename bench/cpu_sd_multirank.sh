#!/usr/bin/env bash
# cpu_sd_multirank.sh [SIZE] [RUNS]: one forward of Stable Diffusion 1.5's
# UNet (random weights, models/unet/pipelines/sd15/unet at SIZE x SIZE px,
# default 256; batch 2: an image and its negative prompt; random inputs) on
# 1 and 2 local CPU ranks (fresco-run's launcher gives each rank cores/N
# OpenMP threads), RUNS timed runs after a warm-up. Prints rank 0's median
# per layout, all measured in this one run on this machine; FRESCO_LAYOUTS
# picks others ("1;2 cfg=2;2 ulysses=2;2 ring=2;2 tp=2" by default).
# FRESCO_BUILD_DIR picks the build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
size=${1:-256}
runs=${2:-3}
bin=${FRESCO_BUILD_DIR:-$root/build}/bin
py=$root/.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The UNet's size is its config's sample_size (latent pixels).
"$py" - "$root/models/unet/pipelines/sd15/unet/config.json" "$work/config.json" \
  "$size" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["sample_size"] = int(sys.argv[3]) // 8
json.dump(c, open(sys.argv[2], "w"), indent=2)
PY
"$bin/fresco-random-checkpoint" "$work/config.json" -o "$work/unet" 2> /dev/null
"$py" - "$work" "$size" <<'PY'
import numpy as np, sys
work, side = sys.argv[1], int(sys.argv[2]) // 8
rng = np.random.default_rng(0)
np.save(work + "/sample.npy", rng.standard_normal((2, 4, side, side)).astype(np.float32))
np.save(work + "/timestep.npy", np.array([500.0, 500.0], np.float32))
np.save(work + "/text.npy", rng.standard_normal((2, 77, 768)).astype(np.float32))
PY
printf "%-14s %6s %12s  %s\n" layout ranks "median s" "runs (s)"
IFS=';' read -r -a layouts <<< "${FRESCO_LAYOUTS:-1;2 cfg=2;2 ulysses=2;2 ring=2;2 tp=2}"
for layout in "${layouts[@]}"; do
  set -- $layout
  flags=(--ranks "$1")
  [ $# -gt 1 ] && flags+=(--parallel "$2")
  "$bin/fresco-compile" "$work/unet" -o "$work/p.fplan" --batch 2 \
    "${flags[@]}" --quiet
  "$bin/fresco-run" "$work/p.fplan" --weights "$work/unet" \
    --input "@$work/sample.npy" --input "@$work/timestep.npy" \
    --input "@$work/text.npy" --repeat $((runs + 1)) --stats \
    --output "@$work/out-$1-${2:-single}.npy" > /dev/null 2> "$work/log"
  # Rank 0's (or the only rank's) run times, the warm-up dropped.
  times=$(grep -m1 -E '^(\[rank 0\] )?fresco-run: load' "$work/log" |
    sed -n 's/.* run \([0-9. ]*\) s,.*/\1/p' | cut -d' ' -f2-)
  median=$(tr ' ' '\n' <<< "$times" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
  printf "%-14s %6s %12s  %s\n" "${2:-single}" "$1" "$median" "$times"
done
# Every layout's output against the 1-rank one (the same forward).
"$py" - "$work" <<'PY'
import glob, numpy as np, sys
one = np.load(sys.argv[1] + "/out-1-single.npy")
for f in sorted(glob.glob(sys.argv[1] + "/out-2-*.npy")):
    x = np.load(f)
    print("%s: max |x - 1 rank| / max |1 rank| = %.2e" % (f.split("/")[-1], np.abs(x - one).max() / np.abs(one).max()))
PY
