#!/usr/bin/env bash
# lora_load.sh [RUNS] [RANK]: what merging a LoRA at load costs. A FLUX.1-dev
# width transformer (1 double + 2 single blocks, 0.65 G parameters, a random
# bf16 checkpoint) runs one forward at 256 px with 64 text tokens, RUNS times
# (default 5) without and with a random rank-RANK (default 16) PEFT LoRA on
# every linear of its blocks, alternating; prints fresco-run --stats' load
# time of each run and the medians. Needs build/bin and .venv (numpy,
# safetensors, torch). Scratch in $FRESCO_BENCH_DIR (default /tmp/fresco-lora).
set -euo pipefail
runs=${1:-5} rank=${2:-16}
root=$(cd "$(dirname "$0")/.." && pwd)
B=${FRESCO_BIN:-$root/build/bin}
py=${FRESCO_PYTHON:-$root/.venv/bin/python}
d=${FRESCO_BENCH_DIR:-/tmp/fresco-lora}
mkdir -p "$d"
cd "$d"
"$py" - "$root" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/models/flux/pipelines/flux1-dev/transformer/config.json"))
c["num_layers"], c["num_single_layers"] = 1, 2
json.dump(c, open("config.json", "w"), indent=2)
PY
[ -f model/diffusion_pytorch_model.safetensors ] ||
  "$B/fresco-random-checkpoint" config.json -o model --dtype bf16
"$B/fresco-compile" config.json -o plan.fplan --batch 1 --height 256 \
  --width 256 --max-sequence-length 64 --quiet
"$py" "$root/test/e2e/flux_reference.py" --model model --make-inputs in \
  --batch 1 --height 256 --width 256 --max-sequence-length 64 > /dev/null
"$py" - "$rank" <<'PY'
import sys
import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file
r = int(sys.argv[1])
rng = np.random.default_rng(0)
out = {}
with safe_open("model/diffusion_pytorch_model.safetensors", "pt") as f:
    for k in f.keys():
        shape = f.get_slice(k).get_shape()
        if k.endswith(".weight") and len(shape) == 2 and "blocks" in k:
            m = "transformer." + k[:-len(".weight")]
            out[m + ".lora_A.weight"] = rng.uniform(-0.01, 0.01, (r, shape[1])).astype(np.float32)
            out[m + ".lora_B.weight"] = rng.uniform(-0.01, 0.01, (shape[0], r)).astype(np.float32)
save_file(out, "lora.safetensors")
print(f"lora_load: {len(out) // 2} modules at rank {r}")
PY
inputs=()
for n in hidden_states encoder_hidden_states pooled_projections timestep \
  img_ids txt_ids guidance; do
  inputs+=(--input "@in/$n.npy")
done
cat model/*.safetensors > /dev/null # the page cache warm for both
: > none.txt
: > lora.txt
for _ in $(seq "$runs"); do
  for with in none lora; do
    extra=()
    [ $with = lora ] && extra=(--lora lora.safetensors)
    "$B/fresco-run" plan.fplan --weights model "${inputs[@]}" \
      --output @out.npy --stats "${extra[@]}" 2>&1 |
      sed -n 's/.*load \([0-9.]*\) s.*/\1/p' >> $with.txt
  done
done
for with in none lora; do
  echo "$with: load $(tr '\n' ' ' < $with.txt)s; median $(sort -g $with.txt |
    awk '{a[NR]=$1} END {print a[int((NR + 1) / 2)]}') s"
done
