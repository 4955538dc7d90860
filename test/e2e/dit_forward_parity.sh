#!/usr/bin/env bash
# dit_forward_parity.sh CONFIG BATCH [WRITER]: random checkpoint ->
# fresco-compile -> fresco-run, compared with the real diffusers
# DiTTransformer2DModel in float64 on CPU PyTorch loading the same files.
# WRITER is "fresco" (fresco-random-checkpoint, the default) or
# "diffusers:DTYPE:SHARD_SIZE" (diffusers' own save_pretrained, e.g.
# diffusers:bfloat16:20KB for a sharded bf16 folder).
# Needs FRESCO_BIN (the build's bin/) and FRESCO_PYTHON (the .venv python).
set -euo pipefail
config=$1
batch=$2
writer=${3:-fresco}
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
  --output "@$work/out.npy" --stats
"$FRESCO_PYTHON" "$here/dit_reference.py" --model "$work/model" \
  --latents "$work/in/latents.npy" --timestep "$work/in/timestep.npy" \
  --class-labels "$work/in/class_labels.npy" --out "$work/ref.npy" \
  --dtype float64
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/out.npy" "$work/ref.npy" \
  --rtol-max 1e-4
