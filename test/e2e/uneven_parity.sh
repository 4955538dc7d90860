#!/usr/bin/env bash
# uneven_parity.sh: splits that do not divide (issue 10). A DiT with 6 heads
# and 25 tokens (a 10x10 latent in 2x2 patches) on ulysses=4, ring=4, tp=4
# ulysses=2 x ring=2 and cfg=2 x ulysses=2: fresco-pad-uneven pads the
# tokens to 28 and, where ulysses or tp splits them, the heads to 8; tp=5
# pads the heads to 10 and the MLP's 96 features to 100; ring=8 (32 tokens)
# leaves the last rank a block of padding only, whose ring hop attends to
# nothing; ulysses=2 x ring=4 puts padding in one segment of one ring
# block, which only the right segment order masks; the final latents of 4 DDIM steps
# with guidance match the 1-rank run within 1e-5 of their max magnitude, on
# real CPU ranks (Gloo over loopback), and through the device-memory path
# (cpu-staged: weights uploaded, collectives staged) with the same bits.
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN

"$B/fresco-random-checkpoint" "$root/models/dit/pipelines/dit-tiny-6heads-25tokens" \
  -o "$work/pipe" 2> /dev/null
"$FRESCO_PYTHON" "$here/dit_pipeline_reference.py" --pipeline "$work/pipe" \
  --make-latents "$work/x0.npy" --batch 2 --seed 4 > /dev/null
run() { # name ranks compile-flags...
  local name=$1 ranks=$2
  shift 2
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    --ranks "$ranks" "$@" --quiet
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" \
    --class-label 3,7 --steps 4 --latents "@$work/x0.npy" --quiet \
    -o "$work/$name.png" --output-latents "@$work/$name.npy" --timeout 60
}
run one 1
run uly4 4 --parallel ulysses=4
run ring4 4 --parallel ring=4
run tp4 4 --parallel tp=4
run uly2ring2 4 --parallel ulysses=2,ring=2
run cfg2uly2 4 --parallel cfg=2,ulysses=2
run tp5 5 --parallel tp=5
run ring8 8 --parallel ring=8
run uly2ring4 8 --parallel ulysses=2,ring=4
for name in tp4 uly2ring2; do
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" --backend cpu-staged \
    --class-label 3,7 --steps 4 --latents "@$work/x0.npy" --quiet \
    -o "$work/$name-staged.png" --output-latents "@$work/$name-staged.npy"
  cmp "$work/$name.npy" "$work/$name-staged.npy"
  echo "== $name on cpu-staged: identical latents"
done
ranks_match_one "$work/one.npy" \
  "$work"/{uly4,ring4,tp4,uly2ring2,cfg2uly2,tp5,ring8,uly2ring4}.npy
