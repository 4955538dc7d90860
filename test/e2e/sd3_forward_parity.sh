#!/usr/bin/env bash
# sd3_forward_parity.sh CONFIG BATCH TEXT_TOKENS [STORAGE]: a random
# SD3Transformer2DModel written by diffusers' own save_pretrained ->
# fresco-compile (a bare model, the latent from sample_size, the text tokens
# from --max-sequence-length) -> fresco-run --function transformer on inputs
# in SD3Transformer2DModel.forward's order, compared with the real diffusers
# class in float64 on CPU PyTorch loading the same folder: within 1e-5 of
# max|ref| (Fresco's f32 kernels round every op once; a wrong crop, chunk
# order or token order is O(1)).
# Needs FRESCO_BIN (the build's bin/) and FRESCO_PYTHON (the .venv python).
set -euo pipefail
config=$1 batch=$2 text=$3
storage=${4:-}
. "$(dirname "$0")/common.sh"

"$FRESCO_PYTHON" "$here/make_diffusers_checkpoint.py" --config "$config" \
  --out "$work/model" --seed 3
"$FRESCO_BIN/fresco-compile" "$work/model" -o "$work/model.fplan" \
  --batch "$batch" --max-sequence-length "$text"
"$FRESCO_PYTHON" "$here/sd3_reference.py" --model "$work/model" \
  --make-inputs "$work/in" --batch "$batch" --seed 5 \
  --max-sequence-length "$text"
inputs=()
for name in hidden_states encoder_hidden_states pooled_projections timestep; do
  inputs+=(--input "$name=@$work/in/$name.npy")
done
"$FRESCO_BIN/fresco-run" "$work/model.fplan" --weights "$work/model" \
  --function transformer "${inputs[@]}" --output "@$work/out.npy" --stats \
  ${storage:+--backend cpu-staged --dtype $storage}
reference() { # dtype out
  "$FRESCO_PYTHON" "$here/sd3_reference.py" --model "$work/model" \
    --inputs "$work/in" --out "$2" --dtype "$1"
}
forward_parity 1e-5 "$storage"
