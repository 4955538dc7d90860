#!/usr/bin/env bash
# storage_overflow.sh: a denoiser whose output overflows f16 storage (its
# final projection scaled so the noise prediction reaches ~1e6 > 65504)
# stops with an error naming the step and the cause, rather than decoding
# NaN into a black image; the same checkpoint runs in f32 and bf16 (whose
# range is f32's).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN

"$B/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-tiny-4heads" \
  -o "$work/pipe" 2> /dev/null
"$FRESCO_PYTHON" - "$work/pipe/transformer/diffusion_pytorch_model.safetensors" <<'PY'
import sys
from safetensors.numpy import load_file, save_file
path = sys.argv[1]
tensors = load_file(path)
for name in ("proj_out_2.weight", "proj_out_2.bias"):
    tensors[name] = tensors[name] * 1e6
save_file(tensors, path)
PY
"$B/fresco-compile" "$work/pipe" -o "$work/pipe.fplan" --batch 1 --quiet
gen() { "$B/fresco-run" "$work/pipe.fplan" --weights "$work/pipe" --backend cpu-staged \
  --class-label 3 --steps 2 --quiet -o "$work/out.png" "$@"; }
gen --dtype f32
gen --dtype bf16
set +e
gen --dtype f16 2> "$work/f16.log"
rc=$?
set -e
cat "$work/f16.log"
[ $rc -eq 1 ] || { echo "FAIL: f16 run exited $rc, expected 1"; exit 1; }
grep -q "error: denoising step 1: the denoiser's output has [0-9]* non-finite values of [0-9]* (an overflow: f16 storage ends at 65504" "$work/f16.log" ||
  { echo "FAIL: no overflow message"; exit 1; }
echo "== f32 and bf16 run, f16 overflow is named"
