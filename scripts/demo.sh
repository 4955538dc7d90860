#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, write a random-weight
# DiT-S/2 checkpoint in diffusers' on-disk layout, compile it, run one
# forward on random latents and print the output's statistics.
# FRESCO_BUILD_DIR overrides the build folder; FRESCO_DEMO_DIR the work folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FRESCO_BUILD_DIR:-$root/build}
work=${FRESCO_DEMO_DIR:-$root/out/demo}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir > /dev/null
cmake --build "$build" -j2 --target fresco-compile fresco-run \
  fresco-random-checkpoint
bin=$build/bin
mkdir -p "$work"

echo "== writing a random DiT-S/2 checkpoint (diffusers layout) to $work/dit-s2"
"$bin/fresco-random-checkpoint" "$root/models/dit/configs/dit-s-2-256.json" \
  -o "$work/dit-s2"
echo "== compiling for batch 2"
"$bin/fresco-compile" "$work/dit-s2" -o "$work/dit-s2.fplan" --batch 2
echo "== making inputs: latents [2,4,32,32], timesteps, class labels"
/usr/bin/python3 - "$work" <<'PY'
import sys
import numpy as np
work = sys.argv[1]
rng = np.random.default_rng(0)
np.save(f"{work}/latents.npy", rng.standard_normal((2, 4, 32, 32), dtype=np.float32))
np.save(f"{work}/timestep.npy", np.array([999, 500], dtype=np.int64))
np.save(f"{work}/class_labels.npy", np.array([207, 360], dtype=np.int64))
PY
echo "== running the transformer forward"
"$bin/fresco-run" "$work/dit-s2.fplan" --weights "$work/dit-s2" \
  --function transformer --input "@$work/latents.npy" \
  --input "@$work/timestep.npy" --input "@$work/class_labels.npy" \
  --output "@$work/sample.npy" --stats
echo "== wrote $work/sample.npy"
"$bin/fresco-run" "$work/dit-s2.fplan" --weights "$work/dit-s2" \
  --function transformer --input "@$work/latents.npy" \
  --input "@$work/timestep.npy" --input "@$work/class_labels.npy"
