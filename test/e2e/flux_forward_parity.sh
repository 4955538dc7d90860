#!/usr/bin/env bash
# flux_forward_parity.sh CONFIG BATCH HEIGHT WIDTH TEXT_TOKENS [STORAGE]: a
# random FluxTransformer2DModel written by diffusers' own save_pretrained ->
# fresco-compile (a bare model: --height/--width/--max-sequence-length) ->
# fresco-run --function transformer on inputs in FluxTransformer2DModel.
# forward's order (packed latents, realistic img_ids/txt_ids as FluxPipeline
# makes them), compared with the real diffusers class in float64 on CPU
# PyTorch loading the same folder.
# f32: within 1e-5 of max|ref|. The float64 reference still rounds to f32
# where diffusers forces it (timestep sinusoids, RMS mean squares, rotary
# products), and Fresco's f32 kernels round every op once: a few 1e-7
# relative per op, summed over a few hundred ops, stays below 1e-5 (a wrong
# index, scale or chunk order is O(1)).
# STORAGE bf16: fresco-run --backend cpu-staged --dtype bf16 against the
# same float64 reference, within twice diffusers' own error in
# torch.bfloat16 plus 1e-3 of max|ref|, as dit_forward_parity.sh.
# Needs FRESCO_BIN (the build's bin/) and FRESCO_PYTHON (the .venv python).
set -euo pipefail
config=$1 batch=$2 height=$3 width=$4 text=$5
storage=${6:-}
. "$(dirname "$0")/common.sh"

"$FRESCO_PYTHON" "$here/make_diffusers_checkpoint.py" --config "$config" \
  --out "$work/model" --seed 3
"$FRESCO_BIN/fresco-compile" "$work/model" -o "$work/model.fplan" \
  --batch "$batch" --height "$height" --width "$width" \
  --max-sequence-length "$text"
"$FRESCO_PYTHON" "$here/flux_reference.py" --model "$work/model" \
  --make-inputs "$work/in" --batch "$batch" --seed 5 --height "$height" \
  --width "$width" --max-sequence-length "$text"
flux_transformer_inputs "$work/in"
"$FRESCO_BIN/fresco-run" "$work/model.fplan" --weights "$work/model" \
  --function transformer "${inputs[@]}" --output "@$work/out.npy" --stats \
  ${storage:+--backend cpu-staged --dtype $storage}
reference() { # dtype out
  "$FRESCO_PYTHON" "$here/flux_reference.py" --model "$work/model" \
    --inputs "$work/in" --out "$2" --dtype "$1"
}
forward_parity 1e-5 "$storage"
