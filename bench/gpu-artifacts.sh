#!/usr/bin/env bash
# gpu-artifacts.sh BINDIR OUTDIR: what bench/gpu-check.sh runs, made with the
# MLIR-linked tools of BINDIR (fresco-compile, fresco-random-checkpoint),
# which the lent GPU machines cannot build:
#   OUTDIR/<cfg>-b2.fplan       transformer forward, batch 2, 1 rank
#   OUTDIR/<cfg>-b2-tp2.fplan   the same, tensor parallel on 2 ranks
#   OUTDIR/<cfg>-b2-uly2.fplan  the same, Ulysses sequence parallel on 2 ranks
#   OUTDIR/<cfg>-b2-ring2.fplan the same, ring attention on 2 ranks
#   OUTDIR/flux-b2.fplan         the Flux-width DiT ($FRESCO_GPU_CHECK_FLUX,
#                               default dit-flux-width-1024), batch 2
#   OUTDIR/flux-b2-fp8.fplan     the same, --dtype bf16 --gemm fp8
#   OUTDIR/gen.fplan, OUTDIR/gen-pipe/  the tiny DiT pipeline (random weights)
#                               for the 4-step generation check
#   OUTDIR/flux-dev/            FLUX.1-dev's transformer at 1024 px (4096
#                               image + 512 text tokens), batch 1, with 2
#                               double + 4 single blocks (phase 4d):
#                               config.json, shape ("HEIGHT WIDTH TOKENS
#                               BATCH"), plan.fplan; OUTDIR/flux-dev-full/ the
#                               same at its real depth (19 + 38). The weights
#                               are drawn on the GPU machine (bench/
#                               torch_flux.py make): 23.8 GB at full depth.
#   OUTDIR/flux-pipe/, OUTDIR/flux-gen.fplan  a tiny random FluxPipeline
#                               (test/e2e/make_flux_pipeline.py: diffusers
#                               writes it here, the GPU machines have none)
#                               for the Flux generation check (phase 5b)
#   OUTDIR/sd-pipe/, OUTDIR/sd-gen.fplan, OUTDIR/sd-gen-uly2.fplan  a tiny
#                               random StableDiffusionPipeline (test/e2e/
#                               sd_pipeline_reference.py make), 2 images of
#                               32x24 px, on 1 rank and with its UNet's rows
#                               split over 2 (phase 5c)
#   OUTDIR/sdcn-pipe/, OUTDIR/sdcn-ctl.png, OUTDIR/sdcn-gen*.fplan  the same
#                               with a ControlNet (a StableDiffusion-
#                               ControlNetPipeline folder) and its control
#                               image (phase 5c)
# for each cfg in $FRESCO_GPU_CHECK_CONFIGS (default dit-s-2-256 dit-xl-2-256).
# FRESCO_GPU_CHECK_FLUX_DEV (a FluxTransformer2DModel config.json) and
# FRESCO_GPU_CHECK_FLUX_DEV_SHAPE ("HEIGHT WIDTH TOKENS BATCH") replace
# FLUX.1-dev and "1024 1024 512 1" (gpu-check's dry run: a tiny config).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$1 out=$2
# The project's venv where there is one (a source build on a GPU machine has
# none: its python3 writes the configs, and phase 5b has no pipeline).
py=${FRESCO_PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || py=python3
mkdir -p "$out"
for cfg in ${FRESCO_GPU_CHECK_CONFIGS:-dit-s-2-256 dit-xl-2-256}; do
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2.fplan" --batch 2 --quiet
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2-tp2.fplan" --batch 2 --ranks 2 --parallel tp=2 --quiet
  # Megatron's sequence parallelism: the ReduceScatter instruction.
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2-tp2rs.fplan" --batch 2 --ranks 2 --parallel tp=2 \
    --tp-reduce-scatter --quiet
  # tp in 2 chunks: asynchronous AllReduces, chunked GEMMs in place.
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2-tp2ch2.fplan" --batch 2 --ranks 2 --parallel tp=2 \
    --tp-chunks 2 --quiet
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2-uly2.fplan" --batch 2 --ranks 2 --parallel ulysses=2 --quiet
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2-ring2.fplan" --batch 2 --ranks 2 --parallel ring=2 --quiet
done
# The Flux-width DiT, batch 2 (bf16 is chosen at run time).
flux=${FRESCO_GPU_CHECK_FLUX:-dit-flux-width-1024}
"$bin/fresco-compile" "$root/models/dit/configs/$flux.json" \
  -o "$out/flux-b2.fplan" --batch 2 --quiet
# The same with FP8 GEMMs (the blocks' token-wise linears), bf16 elsewhere.
"$bin/fresco-compile" "$root/models/dit/configs/$flux.json" \
  -o "$out/flux-b2-fp8.fplan" --batch 2 --dtype bf16 --gemm fp8 --quiet
rm -rf "$out/gen-pipe"
# Its progress lines are noise here, but not its error (set -e would end the
# script without a word).
msg=$("$bin/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-tiny" \
  -o "$out/gen-pipe" 2>&1) || { echo "gpu-artifacts: $msg" >&2; exit 1; }
"$bin/fresco-compile" "$out/gen-pipe" -o "$out/gen.fplan" --batch 2 --quiet

# FLUX.1-dev's transformer: a reduced depth with FLUX.1-dev's 1:2 ratio of
# double to single blocks (its time scales to the full model by the FLOP
# ratio), and the full depth for a call of its own.
dev_config=${FRESCO_GPU_CHECK_FLUX_DEV:-$root/models/flux/pipelines/flux1-dev/transformer/config.json}
read -r fh fw ft fb <<< "${FRESCO_GPU_CHECK_FLUX_DEV_SHAPE:-1024 1024 512 1}"
for v in reduced full; do
  d=$out/flux-dev
  [ $v = reduced ] || d=$out/flux-dev-full
  rm -rf "$d" && mkdir -p "$d"
  "$py" - "$dev_config" "$d/config.json" $v <<'PY'
import json, sys
src, dst, depth = sys.argv[1:]
config = json.load(open(src))
if depth == "reduced":
    config["num_layers"], config["num_single_layers"] = 2, 4
json.dump(config, open(dst, "w"), indent=2)
PY
  echo "$fh $fw $ft $fb" > "$d/shape"
  "$bin/fresco-compile" "$d/config.json" -o "$d/plan.fplan" --batch "$fb" \
    --height "$fh" --width "$fw" --max-sequence-length "$ft" --quiet
done
# A tiny random FluxPipeline (dev: guidance embedded) and its plan, written
# by diffusers and transformers: where this Python has none (a source build
# on a GPU machine), phase 5b says so (gpu-bundle.sh refuses a bundle
# without it).
rm -rf "$out/flux-pipe" "$out/flux-gen.fplan" "$out/sd-pipe" "$out"/sd-gen*.fplan \
  "$out/sdcn-pipe" "$out"/sdcn-*
if ! "$py" -c 'import diffusers, transformers' 2> /dev/null; then
  echo "gpu-artifacts: $py has no diffusers/transformers: no Flux or SD pipeline for phases 5b and 5c" >&2
  exit 0
fi
msg=$("$py" "$root/test/e2e/make_flux_pipeline.py" --out "$out/flux-pipe" --seed 3 2>&1) ||
  { echo "gpu-artifacts: make_flux_pipeline.py: $msg" >&2; exit 1; }
"$bin/fresco-compile" "$out/flux-pipe" -o "$out/flux-gen.fplan" --batch 1 \
  --height 32 --width 48 --max-sequence-length 32 --quiet
# A tiny random StableDiffusionPipeline, its UNet's rows split for phase 5c.
msg=$("$py" "$root/test/e2e/sd_pipeline_reference.py" make --out "$out/sd-pipe" \
  --seed 3 --scheduler DDIMScheduler 2>&1) ||
  { echo "gpu-artifacts: sd_pipeline_reference.py: $msg" >&2; exit 1; }
"$bin/fresco-compile" "$out/sd-pipe" -o "$out/sd-gen.fplan" --batch 2 \
  --height 32 --width 24 --quiet
"$bin/fresco-compile" "$out/sd-pipe" -o "$out/sd-gen-uly2.fplan" --batch 2 \
  --height 32 --width 24 --ranks 2 --parallel ulysses=2 --quiet
# The same with a ControlNet in the UNet's function.
msg=$("$py" "$root/test/e2e/sd_pipeline_reference.py" make --out "$out/sdcn-pipe" \
  --seed 3 --scheduler DDIMScheduler --controlnet 2>&1) &&
  msg=$("$py" "$root/test/e2e/sd_pipeline_reference.py" image \
    --out "$out/sdcn-ctl.png" --height 32 --width 24 --seed 9 2>&1) ||
  { echo "gpu-artifacts: sd_pipeline_reference.py: $msg" >&2; exit 1; }
"$bin/fresco-compile" "$out/sdcn-pipe" -o "$out/sdcn-gen.fplan" --batch 2 \
  --height 32 --width 24 --quiet
"$bin/fresco-compile" "$out/sdcn-pipe" -o "$out/sdcn-gen-uly2.fplan" --batch 2 \
  --height 32 --width 24 --ranks 2 --parallel ulysses=2 --quiet
