#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, write a random-weight DiT
# pipeline folder in diffusers' layout (tiny transformer + VAE + DDIM
# scheduler), compile it for 4 ranks (cfg=2 x tp=2) and generate one PNG per
# class label with 4 rank processes.
# FRESCO_BUILD_DIR overrides the build folder; FRESCO_DEMO_DIR the work folder.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${FRESCO_BUILD_DIR:-$root/build}
work=${FRESCO_DEMO_DIR:-$root/out/demo}

"$root/scripts/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DMLIR_DIR=/usr/lib/llvm-22/lib/cmake/mlir > /dev/null
cmake --build "$build" -j2 --target fresco-compile fresco-run fresco-inspect \
  fresco-random-checkpoint
bin=$build/bin
mkdir -p "$work"

echo "== writing a random-weight DiT pipeline folder to $work/dit-tiny"
"$bin/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-tiny" \
  -o "$work/dit-tiny"
echo "== compiling it for 2 images per run on 4 ranks: cfg=2 x tensor parallel 2"
"$bin/fresco-compile" "$work/dit-tiny" -o "$work/dit-tiny.fplan" --batch 2 \
  --ranks 4 --parallel cfg=2,tp=2
"$bin/fresco-inspect" "$work/dit-tiny.fplan"
echo "== generating classes 207 and 360 (25 DDIM steps, guidance 4, seed 0), 4 processes"
"$bin/fresco-run" "$work/dit-tiny.fplan" --weights "$work/dit-tiny" \
  --class-label 207,360 --steps 25 --guidance-scale 4 --seed 0 \
  -o "$work/dit.png" --stats
echo "== done: $work/dit-0.png and $work/dit-1.png (random weights: noise images)"
