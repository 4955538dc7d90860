#!/usr/bin/env bash
# text_encoder_parity.sh KIND [TOKENS]: a tiny random text encoder written by
# transformers' save_pretrained (KIND: clip, clip-legacy, clip-projection, t5,
# t5-real-buckets;
# see text_encoder_reference.py) -> fresco-compile -> fresco-run in f32,
# against transformers' forward in float64 on the same files and ids.
# Tolerance: 1e-5 of max|ref|, or 1.5 times transformers' own float32 error
# when that is larger. The plan computes in f32 (unit roundoff 6e-8) through
# a few layers of GEMMs over 16 to 48 terms, softmaxes and norms, which
# leaves errors near 1e-6; T5's unscaled scores grow with the sequence, and
# at 512 tokens f32 rounding of the scores alone reaches 3e-5 (transformers
# in float32). A wrong mask, bucket or pooled row moves the output by 1e-2
# or more.
# Needs FRESCO_BIN (the build's bin/) and FRESCO_PYTHON (the .venv python).
set -euo pipefail
kind=$1
tokens=${2:-24}
. "$(dirname "$0")/common.sh"

"$FRESCO_PYTHON" "$here/text_encoder_reference.py" make "$kind" "$work" \
  --tokens "$tokens" --batch 3 --seed 7
case $kind in
clip-projection)
  function=text_encoder_2 extra=()
  names=(last_hidden_state penultimate_hidden_state text_embeds)
  ;;
clip*)
  function=text_encoder extra=()
  names=(last_hidden_state pooler_output)
  ;;
*)
  function=text_encoder_2 extra=(--max-sequence-length "$tokens")
  names=(last_hidden_state)
  ;;
esac
"$FRESCO_BIN/fresco-compile" "$work/model" -o "$work/model.fplan" --batch 3 \
  "${extra[@]}"
outputs=()
for name in "${names[@]}"; do outputs+=(--output "@$work/$name.npy"); done
"$FRESCO_BIN/fresco-run" "$work/model.fplan" --weights "$work/model" \
  --function "$function" --input "@$work/ids.npy" "${outputs[@]}"
"$FRESCO_PYTHON" "$here/text_encoder_reference.py" run "$work/model" \
  "$work/ids.npy" "$work/ref"
"$FRESCO_PYTHON" "$here/text_encoder_reference.py" run "$work/model" \
  "$work/ids.npy" "$work/f32" --dtype float32
"$FRESCO_PYTHON" - "$work" <<'PY'
import os
import sys
import numpy as np
work = sys.argv[1]
ok = True
for out in ("last_hidden_state", "penultimate_hidden_state", "pooler_output", "text_embeds"):
    if not os.path.exists(f"{work}/{out}.npy"):
        continue
    ref = np.load(f"{work}/ref/{out}.npy")
    got = np.load(f"{work}/{out}.npy").astype(np.float64)
    if got.shape != ref.shape:
        print(f"{out}: shape {got.shape}, expected {ref.shape}")
        ok = False
        continue
    scale = np.abs(ref).max()
    ours = np.abs(got - ref).max() / scale
    torch = np.abs(np.load(f"{work}/f32/{out}.npy") - ref).max() / scale
    limit = max(1e-5, 1.5 * torch)
    print(f"{out}: fresco {ours:.3g}, transformers float32 {torch:.3g} of max|ref| from float64 (limit {limit:.3g})")
    ok &= bool(np.isfinite(ours) and ours <= limit)
sys.exit(0 if ok else 1)
PY
