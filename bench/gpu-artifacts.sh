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
#   OUTDIR/gen.fplan, OUTDIR/gen-pipe/  the tiny DiT pipeline (random weights)
#                               for the 4-step generation check
# for each cfg in $FRESCO_GPU_CHECK_CONFIGS (default dit-s-2-256 dit-xl-2-256).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$1 out=$2
mkdir -p "$out"
for cfg in ${FRESCO_GPU_CHECK_CONFIGS:-dit-s-2-256 dit-xl-2-256}; do
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2.fplan" --batch 2 --quiet
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2-tp2.fplan" --batch 2 --ranks 2 --parallel tp=2 --quiet
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2-uly2.fplan" --batch 2 --ranks 2 --parallel ulysses=2 --quiet
  "$bin/fresco-compile" "$root/models/dit/configs/$cfg.json" \
    -o "$out/$cfg-b2-ring2.fplan" --batch 2 --ranks 2 --parallel ring=2 --quiet
done
# The Flux-width DiT, batch 2 (bf16 is chosen at run time).
flux=${FRESCO_GPU_CHECK_FLUX:-dit-flux-width-1024}
"$bin/fresco-compile" "$root/models/dit/configs/$flux.json" \
  -o "$out/flux-b2.fplan" --batch 2 --quiet
rm -rf "$out/gen-pipe"
# Its progress lines are noise here, but not its error (set -e would end the
# script without a word).
msg=$("$bin/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-tiny" \
  -o "$out/gen-pipe" 2>&1) || { echo "gpu-artifacts: $msg" >&2; exit 1; }
"$bin/fresco-compile" "$out/gen-pipe" -o "$out/gen.fplan" --batch 2 --quiet
