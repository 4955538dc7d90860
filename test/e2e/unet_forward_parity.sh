#!/usr/bin/env bash
# unet_forward_parity.sh CONFIG BATCH TEXT_TOKENS: a random
# UNet2DConditionModel written by diffusers' own save_pretrained ->
# fresco-compile (a bare model, `--max-sequence-length` text tokens) ->
# fresco-run --function unet on inputs in UNet2DConditionModel.forward's
# order (SDXL's text_embeds and time_ids last when the config has them),
# compared with the real diffusers class in float64 on CPU PyTorch
# loading the same folder: within 1e-5 of max|ref| (Fresco's f32 kernels
# round every op once; a wrong skip, scale or chunk order is O(1)).
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
config=$1 batch=$2 text=$3
. "$(dirname "$0")/common.sh"

"$FRESCO_PYTHON" "$here/make_diffusers_checkpoint.py" --config "$config" \
  --out "$work/model" --seed 3 > /dev/null
"$FRESCO_BIN/fresco-compile" "$work/model" -o "$work/model.fplan" \
  --batch "$batch" --max-sequence-length "$text"
"$FRESCO_PYTHON" "$here/unet_reference.py" --model "$work/model" \
  --make-inputs "$work/in" --batch "$batch" --seed 5 --text-tokens "$text"
added=()
for name in text_embeds time_ids; do
  [ -f "$work/in/$name.npy" ] && added+=(--input "$name=@$work/in/$name.npy")
done
"$FRESCO_BIN/fresco-run" "$work/model.fplan" --weights "$work/model" \
  --function unet --input "sample=@$work/in/sample.npy" \
  --input "timestep=@$work/in/timestep.npy" \
  --input "encoder_hidden_states=@$work/in/encoder_hidden_states.npy" \
  "${added[@]}" --output "@$work/out.npy" --stats
"$FRESCO_PYTHON" "$here/unet_reference.py" --model "$work/model" \
  --inputs "$work/in" --out "$work/ref.npy" --dtype float64
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/out.npy" "$work/ref.npy" \
  --rtol-max 1e-5
