#!/usr/bin/env bash
# The main job on a fresh machine: set up, build, then
#  1. text to image: write a random-weight FluxPipeline folder in diffusers'
#     layout (tiny transformer, VAE, CLIP and T5 encoders with tokenizers
#     trained by the tool, FLUX.1-dev's scheduler), compile it for 3 ranks
#     (text encoders and VAE on rank 0, the transformer tensor-parallel on
#     ranks 1 and 2) and generate one PNG per prompt with 3 rank processes;
#  2. the same for a class-conditional DiT pipeline on 4 ranks (cfg=2 x tp=2).
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

echo "== writing a random-weight FluxPipeline folder to $work/flux-tiny"
"$bin/fresco-random-checkpoint" "$root/models/flux/pipelines/flux-tiny" \
  -o "$work/flux-tiny"
echo "== compiling it for 2 prompts per run, 128x128, on 3 ranks: text encoders and VAE on rank 0, the transformer on ranks 1-2 (tensor parallel)"
"$bin/fresco-compile" "$work/flux-tiny" -o "$work/flux-tiny.fplan" --batch 2 \
  --height 128 --width 128 --max-sequence-length 64 --ranks 3 \
  --place text_encoder=0,text_encoder_2=0,vae=0,transformer=1+2 --parallel tp=2
"$bin/fresco-inspect" "$work/flux-tiny.fplan"
echo "== generating two prompts (8 steps, guidance 3.5, seed 0), 3 processes"
"$bin/fresco-run" "$work/flux-tiny.fplan" --weights "$work/flux-tiny" \
  --prompt "a lighthouse on a cliff at dusk" --prompt "a red fox in the snow" \
  --steps 8 --guidance-scale 3.5 --seed 0 -o "$work/flux.png" --stats

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
echo "== done: $work/flux-0.png, $work/flux-1.png, $work/dit-0.png and $work/dit-1.png (random weights: noise images)"
