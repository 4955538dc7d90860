#!/usr/bin/env bash
# cpu_dit_pipeline.sh [STEPS]: DiT-S/2 at 256 px with the sd-vae decoder
# (models/dit/pipelines/dit-s-2-256), 2 images with classifier-free guidance
# (transformer batch 4): Fresco's per-step and VAE-decode times next to CPU
# PyTorch running the real diffusers classes (bench/torch_dit_pipeline.py),
# measured in the same run on the same machine.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
steps=${1:-5}
bin=${FRESCO_BUILD_DIR:-$root/build}/bin
py=$root/.venv/bin/python
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

"$bin/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-s-2-256" \
  -o "$work/pipe" 2> /dev/null
"$bin/fresco-compile" "$work/pipe" -o "$work/p.fplan" --batch 2
# Two runs: the first warms caches and page-faults the weights in.
for run in warm timed; do
  "$bin/fresco-run" "$work/p.fplan" --weights "$work/pipe" --class-label 207,360 \
    --steps "$steps" -o "$work/img.png" --stats 2> "$work/$run.log"
done
grep -E "steps of|denoise:" "$work/timed.log" | tail -2
"$py" - "$work/timed.log" "$steps" <<'PY'
import json, re, statistics, sys
log, steps = open(sys.argv[1]).read(), int(sys.argv[2])
per_step = [float(x) for x in re.findall(r"denoise: step \d+/\d+, ([0-9.]+) s", log)]
decode = float(re.search(r"decode ([0-9.]+) s", log).group(1))
print(json.dumps({"impl": "fresco-cpu", "pipeline": "dit-s-2-256", "images": 2,
                  "step_median_s": round(statistics.median(per_step[1:] or per_step), 4),
                  "steps": per_step, "vae_decode_s": decode}))
PY
"$py" "$root/bench/torch_dit_pipeline.py" --batch 2 --steps "$steps" \
  --vae-warmup 1 --vae-runs 2
