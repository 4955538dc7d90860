#!/usr/bin/env bash
# cpu_flux_pipeline.sh [STEPS]: a small FluxPipeline (bench/torch_flux_pipeline.py make: 2 double
# + 4 single blocks of 8 heads x 64, CLIP ViT-L, a 4-layer 512-wide T5, FLUX.1's VAE), one
# 256x256 image from a prompt with 128 T5 tokens: Fresco's text-encoder, per-step and VAE-decode
# times next to diffusers' FluxPipeline on CPU PyTorch on the same folder, measured in the same
# run on the same machine (second of two runs each).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-4}
bin=${FRESCO_BUILD_DIR:-$root/build}/bin
py=$root/.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prompt="a lighthouse on a cliff at dusk, oil painting"

"$py" "$root/bench/torch_flux_pipeline.py" make "$work/pipe" > /dev/null
"$bin/fresco-compile" "$work/pipe" -o "$work/p.fplan" --height 256 --width 256 \
  --max-sequence-length 128
for run in warm timed; do
  "$bin/fresco-run" "$work/p.fplan" --weights "$work/pipe" --prompt "$prompt" \
    --steps "$steps" -o "$work/img.png" --stats 2> "$work/$run.log"
done
grep -E "steps of" "$work/timed.log"
"$py" - "$work/timed.log" "$steps" <<'PY'
import json, re, statistics, sys
log, steps = open(sys.argv[1]).read(), int(sys.argv[2])
per_step = [float(x) for x in re.findall(r"denoise: step \d+/\d+, ([0-9.]+) s", log)]
decode = float(re.search(r"decode ([0-9.]+) s", log).group(1))
encode = float(re.search(r"text encoders ([0-9.]+) s", log).group(1))
print(json.dumps({"impl": "fresco-cpu", "images": 1, "size": [256, 256], "steps": steps,
                  "encode_s": encode,
                  "step_median_s": round(statistics.median(per_step[1:] or per_step), 4),
                  "step_times_s": per_step, "vae_decode_s": decode}))
PY
"$py" "$root/bench/torch_flux_pipeline.py" run "$work/pipe" --prompt "$prompt" \
  --steps "$steps" --runs 2
