#!/usr/bin/env bash
# fp8_forward_error.sh dit CONFIG BATCH | flux CONFIG BATCH HEIGHT WIDTH TEXT:
# one forward of a random model compiled three ways (f32; --dtype bf16;
# --dtype bf16 --gemm fp8), run on the CPU (f32: cpu; bf16 and fp8:
# cpu-staged, which emulates a GPU's storage and its FP8 GEMMs exactly),
# each against diffusers in float64.
#
# The bound. e4m3 keeps 3 mantissa bits, so each GEMM operand is rounded
# to 2^-4 relative, against 2^-8 for bf16 storage: 16 times coarser. To
# first order a forward's error is a sum over its roundings, each scaled by
# its unit roundoff and by how the network carries it to the output; the
# FP8 run has the bf16 run's roundings with those of the marked GEMMs'
# operands scaled up 16 times, and the rest unchanged. So its error is at
# most 16 times the bf16 run's (max|out - ref| / max|ref|). Without FP8
# rounding the two plans run the same kernels and give the same bits: the
# FP8 output must differ from the bf16 one by more than one bf16 rounding
# at the output's scale (2^-8 of max|ref|). Measured (docs/benchmarks.md):
# 1.5 to 2.5 times bf16's error, these random models' blocks adding
# little to the output next to the bf16 layers around them. The plan must
# also mark exactly the transformer blocks' token-wise linears
# (fresco-inspect counts them).
# Needs FRESCO_BIN (the build's bin/) and FRESCO_PYTHON (the .venv python).
set -euo pipefail
family=$1 config=$2 batch=$3
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN

size=()
if [ "$family" = dit ]; then
  "$B/fresco-random-checkpoint" "$config" -o "$work/model" --seed 3
  py "$here/dit_reference.py" --model "$work/model" --make-inputs "$work/in" \
    --batch "$batch" --seed 5
  inputs=(--input "@$work/in/latents.npy" --input "@$work/in/timestep.npy"
    --input "@$work/in/class_labels.npy")
  reference() {
    py "$here/dit_reference.py" --model "$work/model" \
      --latents "$work/in/latents.npy" --timestep "$work/in/timestep.npy" \
      --class-labels "$work/in/class_labels.npy" --out "$1" --dtype float64
  }
  # Per block: to_q, to_k, to_v, to_out.0, ff.net.0.proj, ff.net.2.
  want=$(py -c "import json,sys; print(6 * json.load(open(sys.argv[1]))['num_layers'])" "$config")
elif [ "$family" = flux ]; then
  size=(--height "$4" --width "$5" --max-sequence-length "$6")
  py "$here/make_diffusers_checkpoint.py" --config "$config" \
    --out "$work/model" --seed 3
  py "$here/flux_reference.py" --model "$work/model" --make-inputs "$work/in" \
    --batch "$batch" --seed 5 --height "$4" --width "$5" \
    --max-sequence-length "$6"
  flux_transformer_inputs "$work/in"
  reference() {
    py "$here/flux_reference.py" --model "$work/model" --inputs "$work/in" \
      --out "$1" --dtype float64
  }
  # Double blocks: q, k, v and their context twins, both outputs, both
  # feed-forwards' two linears (12); single blocks: q, k, v, proj_mlp,
  # and proj_out as two linears over its attention and MLP columns
  # (fresco-split-concat-linear) (6).
  want=$(py -c "import json,sys; c=json.load(open(sys.argv[1])); print(12 * c['num_layers'] + 6 * c['num_single_layers'])" "$config")
else
  echo "family must be dit or flux, got '$family'"
  exit 2
fi

compile() { # out flags...
  local out=$1
  shift
  "$B/fresco-compile" "$work/model" -o "$out" --batch "$batch" "${size[@]}" \
    --quiet "$@"
}
run() { # plan out backend
  "$B/fresco-run" "$1" --weights "$work/model" --function transformer \
    "${inputs[@]}" --output "@$2" --backend "$3"
}
compile "$work/f32.fplan"
compile "$work/bf16.fplan" --dtype bf16
compile "$work/fp8.fplan" --dtype bf16 --gemm fp8
"$B/fresco-inspect" "$work/fp8.fplan" | tee "$work/inspect.txt"
grep -q "($want of [0-9]* linears FP8)" "$work/inspect.txt" || {
  echo "expected $want FP8 linears in the transformer"
  exit 1
}
run "$work/f32.fplan" "$work/f32.npy" cpu
run "$work/bf16.fplan" "$work/bf16.npy" cpu-staged
run "$work/fp8.fplan" "$work/fp8.npy" cpu-staged
reference "$work/ref.npy"
py - "$work" <<'PY'
import sys
import numpy as np
work = sys.argv[1]
ref = np.load(f"{work}/ref.npy").astype(np.float64)
scale = np.abs(ref).max()
err = {k: np.abs(np.load(f"{work}/{k}.npy") - ref).max() / scale
       for k in ("f32", "bf16", "fp8")}
l2 = {k: np.linalg.norm(np.load(f"{work}/{k}.npy") - ref) / np.linalg.norm(ref)
      for k in ("f32", "bf16", "fp8")}
moved = np.abs(np.load(f"{work}/fp8.npy") - np.load(f"{work}/bf16.npy")).max() / scale
print("max|out - ref| / max|ref| from float64: " +
      ", ".join(f"{k} {v:.3g}" for k, v in err.items()) +
      f"; fp8/bf16 {err['fp8'] / err['bf16']:.2f} (bound 16)")
print("||out - ref|| / ||ref||: " + ", ".join(f"{k} {v:.3g}" for k, v in l2.items()))
print(f"max|fp8 - bf16| / max|ref| {moved:.3g} (floor 2^-8 = {2**-8:.3g})")
ok = all(np.isfinite(v) for v in err.values())
ok = ok and err["fp8"] <= 16 * err["bf16"] and moved > 2**-8
sys.exit(0 if ok else 1)
PY
