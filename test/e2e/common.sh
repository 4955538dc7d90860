# shellcheck shell=bash disable=SC2034
# common.sh: sourced (after `set -euo pipefail`) by the e2e scripts here.
# Sets $here (this folder) and $root (the repository), requires FRESCO_BIN
# (the build's bin/) and FRESCO_PYTHON (the .venv python), and makes a $work
# folder that is removed on exit. Then defines the checks the scripts share:
# py, first_image, expect_error, expect_usage, pngs_match_reference, within_twice_torch_error,
# ranks_match_one, forward_parity, flux_transformer_inputs and gpu_check_dry
# (each described below).
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
: "${FRESCO_BIN:?set FRESCO_BIN to the build bin/ folder}"
: "${FRESCO_PYTHON:?set FRESCO_PYTHON to the venv python (scripts/setup-venv.sh)}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

py() { "$FRESCO_PYTHON" "$@"; }

# first_image IN OUT: OUT.npy holds image 0 of the batch IN.npy ([:1]).
first_image() {
  py -c "import numpy as np, sys; np.save(sys.argv[2], np.load(sys.argv[1])[:1])" "$1" "$2"
}

# expect_error MESSAGE COMMAND...: COMMAND must exit 1 and print MESSAGE (a
# fixed string) on stdout or stderr; otherwise shows its output and exits 1.
# expect_usage MESSAGE COMMAND...: the same for a usage error (exit 2).
expect_exit() {
  local want=$1 message=$2
  shift 2
  set +e
  "$@" > "$work/err.log" 2>&1
  local rc=$?
  set -e
  if [ $rc -ne "$want" ] || ! grep -qF -- "$message" "$work/err.log"; then
    echo "expected exit $want and '$message', got $rc:"
    cat "$work/err.log"
    exit 1
  fi
}
expect_error() { expect_exit 1 "$@"; }
expect_usage() { expect_exit 2 "$@"; }

# pngs_match_reference PREFIX REF: the PNGs PREFIX-0.png, PREFIX-1.png, ...
# are within one 8-bit level of REF, a pipeline's raw [B, 3, H, W] VAE output
# (.npy), mapped to pixels as diffusers does ((x / 2 + 0.5) clipped, x 255).
pngs_match_reference() {
  py - "$1" "$2" <<'PY'
import sys
import numpy as np
from PIL import Image
prefix, ref = sys.argv[1], np.load(sys.argv[2])
for i in range(ref.shape[0]):
    got = np.asarray(Image.open(f"{prefix}-{i}.png").convert("RGB")).astype(np.int32)
    want = np.round(np.clip(ref[i].transpose(1, 2, 0) / 2 + 0.5, 0, 1) * 255).astype(np.int32)
    assert got.shape == want.shape, f"image {i}: {got.shape} vs {want.shape}"
    diff = np.abs(got - want).max()
    print(f"image {i}: {got.shape[1]}x{got.shape[0]}, max 8-bit difference {diff}")
    assert diff <= 1, "PNG differs from diffusers' image"
PY
}

# within_twice_torch_error LABEL OURS_NAME OURS THEIRS_NAME THEIRS REF: the
# low-precision output OURS (.npy) is as close to the float64 REF as twice
# PyTorch's own output THEIRS in that precision, plus 1e-3 of max|REF| (for
# the f32 arithmetic); a non-finite OURS fails.
within_twice_torch_error() {
  py - "$@" <<'PY'
import sys
import numpy as np
label, ours_name, ours_path, theirs_name, theirs_path, ref_path = sys.argv[1:]
ref = np.load(ref_path).astype(np.float64)
scale = np.abs(ref).max()
ours = np.abs(np.load(ours_path) - ref).max() / scale
theirs = np.abs(np.load(theirs_path) - ref).max() / scale
limit = 2 * theirs + 1e-3
print(f"{label}: {ours_name} {ours:.3g}, {theirs_name} {theirs:.3g} of max|ref| from float64 (limit {limit:.3g})")
sys.exit(0 if np.isfinite(ours) and ours <= limit else 1)
PY
}

# ranks_match_one ONE OUT...: each multi-rank output OUT (.npy) has the shape
# of the 1-rank output ONE and is within 1e-5 of its max magnitude (every OUT
# is reported before a failure).
ranks_match_one() {
  py - "$@" <<'PY'
import os
import sys
import numpy as np
ref = np.load(sys.argv[1])
ok = True
for path in sys.argv[2:]:
    got = np.load(path)
    good = got.shape == ref.shape
    ratio = np.abs(got - ref).max() / np.abs(ref).max() if good else float("inf")
    good = good and ratio <= 1e-5
    name = os.path.basename(path)[:-len(".npy")]
    print(f"{name:16s} ratio {ratio:.3g} to 1 rank: {'OK' if good else 'FAIL'}")
    ok &= bool(good)
sys.exit(0 if ok else 1)
PY
}

# forward_parity RTOL [STORAGE]: checks $work/out.npy against the caller's
# `reference DTYPE OUT` (the diffusers model in DTYPE, written to OUT): within
# RTOL of max|ref| from float64 or, for STORAGE bf16, within twice
# PyTorch's own bfloat16 error (within_twice_torch_error).
forward_parity() {
  local rtol=$1 storage=${2:-}
  reference float64 "$work/ref.npy"
  if [ -z "$storage" ]; then
    py "$here/compare_npy.py" "$work/out.npy" "$work/ref.npy" --rtol-max "$rtol"
    return
  fi
  [ "$storage" = bf16 ] || { echo "STORAGE must be bf16, got '$storage'"; exit 2; }
  reference bfloat16 "$work/torch.npy"
  within_twice_torch_error "$storage" fresco "$work/out.npy" PyTorch \
    "$work/torch.npy" "$work/ref.npy"
}

# flux_transformer_inputs DIR: sets the array `inputs` to fresco-run's
# --input NAME=@DIR/NAME.npy for each FluxTransformer2DModel.forward tensor
# DIR holds (as flux_reference.py --make-inputs writes them; guidance only
# for a guidance-distilled model).
flux_transformer_inputs() {
  local name
  inputs=()
  for name in hidden_states encoder_hidden_states pooled_projections timestep \
    img_ids txt_ids guidance; do
    [ -f "$1/$name.npy" ] && inputs+=(--input "$name=@$1/$name.npy")
  done
  return 0
}

# gpu_check_dry PHASES: bench/gpu-check.sh's PHASES as a dry run on the CPU
# (backend cpu-staged, tiny models) into $work/out; its output in $log (set
# here), shown and fatal on failure; prints its table.
gpu_check_dry() {
  log=$work/out.txt
  FRESCO_GPU_CHECK_CPU=1 FRESCO_GPU_CHECK_PHASES="$1" \
    FRESCO_BUILD_DIR=$(dirname "$FRESCO_BIN") OUT=$work/out \
    bash "$root/bench/gpu-check.sh" > "$log" 2>&1 || { cat "$log"; exit 1; }
  sed -n '/^check /,$p' "$log"
}

# sd_layout_plans PIPE H W: the three 2-rank plans of a Stable Diffusion
# folder with its VAE encoder that the image-to-image and inpainting tests
# compare with 1 rank: $work/cfg=2.fplan, $work/ulysses=2.fplan and
# $work/place.fplan (text encoder, VAE and encoder on rank 0, the UNet on 1).
sd_layout_plans() {
  local pipe=$1 h=$2 w=$3 par flags
  for par in cfg=2 ulysses=2 place; do
    flags=(--parallel $par)
    [ $par = place ] &&
      flags=(--place text_encoder=0,vae=0,vae_encoder=0,unet=1)
    "$FRESCO_BIN/fresco-compile" "$pipe" -o "$work/$par.fplan" --batch 2 \
      --height "$h" --width "$w" --vae-encoder --ranks 2 "${flags[@]}" --quiet
  done
}
