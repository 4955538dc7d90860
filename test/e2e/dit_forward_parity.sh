#!/usr/bin/env bash
# dit_forward_parity.sh CONFIG BATCH [WRITER [STORAGE]]: random checkpoint ->
# fresco-compile -> fresco-run, compared with the real diffusers
# DiTTransformer2DModel in float64 on CPU PyTorch loading the same files.
# WRITER is "fresco" (fresco-random-checkpoint, the default) or
# "diffusers:DTYPE:SHARD_SIZE" (diffusers' own save_pretrained, e.g.
# diffusers:bfloat16:20KB for a sharded bf16 folder).
# STORAGE bf16 runs fresco-run --backend cpu-staged --dtype bf16 (every
# float stored in 2 bytes, as on a GPU) and the diffusers model in
# torch.bfloat16: Fresco's distance from float64 must be within twice
# PyTorch's (plus 1e-3 of max|ref| for the f32 arithmetic). (CPU PyTorch has
# no float16 conv2d, so f16 is checked by FloatStorageTest only.)
# Needs FRESCO_BIN (the build's bin/) and FRESCO_PYTHON (the .venv python).
set -euo pipefail
config=$1
batch=$2
writer=${3:-fresco}
storage=${4:-}
. "$(dirname "$0")/common.sh"

if [ "$writer" = fresco ]; then
  "$FRESCO_BIN/fresco-random-checkpoint" "$config" -o "$work/model" --seed 3
else
  IFS=: read -r _ dtype shard <<< "$writer"
  "$FRESCO_PYTHON" "$here/make_diffusers_checkpoint.py" --config "$config" \
    --out "$work/model" --seed 3 --dtype "$dtype" --shard-size "$shard"
  ls "$work/model"
fi
"$FRESCO_BIN/fresco-compile" "$work/model" -o "$work/model.fplan" --batch "$batch"
"$FRESCO_PYTHON" "$here/dit_reference.py" --model "$work/model" \
  --make-inputs "$work/in" --batch "$batch" --seed 5
"$FRESCO_BIN/fresco-run" "$work/model.fplan" --weights "$work/model" \
  --function transformer --input "@$work/in/latents.npy" \
  --input "@$work/in/timestep.npy" --input "@$work/in/class_labels.npy" \
  --output "@$work/out.npy" --stats ${storage:+--backend cpu-staged --dtype $storage}
reference() { # dtype out
  "$FRESCO_PYTHON" "$here/dit_reference.py" --model "$work/model" \
    --latents "$work/in/latents.npy" --timestep "$work/in/timestep.npy" \
    --class-labels "$work/in/class_labels.npy" --out "$2" --dtype "$1"
}
forward_parity 1e-4 "$storage"
