#!/usr/bin/env bash
# flux_multirank_parity.sh: FluxTransformer2DModel (a tiny random one with 2
# heads, as diffusers' save_pretrained writes it) compiled as a bare model
# and run with fresco-run --function transformer on several Gloo ranks
# (loopback) under every sequence strategy and their products, against
# the 1-rank output of the same plan's model (which flux_forward_parity.sh
# checks against diffusers): within 1e-5 of its max magnitude.
# Even sizes (64x64 px: 16 image tokens, 8 text tokens): ulysses=2, ring=2,
# ring=4, ulysses=2 x ring=2, tp=2 x ulysses=2, tp=2 x ring=2, pipeline=2,
# pipeline=2 x ring=2, and ulysses=4 (2 heads padded to 4).
# Uneven (48x48 px: 9 image tokens, 5 text tokens; each padded on its own,
# padding masked inside the joined keys): ring=4, ulysses=2 x ring=2,
# ulysses=4 (heads too), tp=3 (heads 2 -> 3), tp=2 x ulysses=2, ring=8
# (the last rank holds only padding). With --tp-reduce-scatter: tp=2 and
# tp=2 x ulysses=2 (even), tp=3 (uneven: only the image stream's sums are
# scattered). With --tp-chunks: tp=2 in 4 chunks (even) and tp=3 in 2
# (uneven). tp=2 x ring=2, tp=2 with --tp-reduce-scatter or in chunks and
# ulysses=2 x ring=2 (uneven) also run on cpu-staged with the same bits.
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN

"$FRESCO_PYTHON" "$here/make_diffusers_checkpoint.py" \
  --config "$root/models/flux/configs/flux-tiny.json" --out "$work/model" \
  --seed 3 > /dev/null
run() { # size-name height width text name ranks compile-flags...
  local s=$1 h=$2 w=$3 t=$4 name=$5 ranks=$6
  shift 6
  if [ ! -d "$work/in-$s" ]; then
    "$FRESCO_PYTHON" "$here/flux_reference.py" --model "$work/model" \
      --make-inputs "$work/in-$s" --batch 2 --seed 5 --height "$h" \
      --width "$w" --max-sequence-length "$t" > /dev/null
  fi
  "$B/fresco-compile" "$work/model" -o "$work/$s-$name.fplan" --batch 2 \
    --height "$h" --width "$w" --max-sequence-length "$t" \
    --ranks "$ranks" "$@" --quiet
  forward "$s" "$name"
}
forward() { # size-name name [fresco-run flags...]: $work/SIZE-NAME[-staged].npy
  local s=$1 name=$2 inputs=() n
  shift 2
  for n in hidden_states encoder_hidden_states pooled_projections timestep \
    img_ids txt_ids guidance; do
    inputs+=(--input "$n=@$work/in-$s/$n.npy")
  done
  "$B/fresco-run" "$work/$s-$name.fplan" --weights "$work/model" \
    --function transformer "${inputs[@]}" \
    --output "@$work/$s-$name${1:+-staged}.npy" --timeout 60 "$@"
}
run even 64 64 8 one 1
run even 64 64 8 uly2 2 --parallel ulysses=2
run even 64 64 8 ring2 2 --parallel ring=2
run even 64 64 8 ring4 4 --parallel ring=4
run even 64 64 8 uly2ring2 4 --parallel ulysses=2,ring=2
run even 64 64 8 tp2uly2 4 --parallel tp=2,ulysses=2
run even 64 64 8 tp2ring2 4 --parallel tp=2,ring=2
# tp's partial sums reduce-scattered over each stream's tokens (image 16,
# text 8, joint 24); uneven: 9 image tokens split 3 ways, the 5 text and 14
# joint tokens keep their all_reduces.
run even 64 64 8 tp2rs 2 --parallel tp=2 --tp-reduce-scatter
run even 64 64 8 tp2uly2rs 4 --parallel tp=2,ulysses=2 --tp-reduce-scatter
run uneven 48 48 5 tp3rs 3 --parallel tp=3 --tp-reduce-scatter
# tp's row-parallel linears in chunks: 4 per linear at batch 2, half of
# each sample's tokens (image, text, joint) a chunk; uneven, 2 (a sample
# each).
run even 64 64 8 tp2ch4 2 --parallel tp=2 --tp-chunks 4
run uneven 48 48 5 tp3ch2 3 --parallel tp=3 --tp-chunks 2
run even 64 64 8 pp2 2 --parallel pipeline=2
run even 64 64 8 pp2ring2 4 --parallel ring=2,pipeline=2
run even 64 64 8 uly4 4 --parallel ulysses=4
run uneven 48 48 5 one 1
run uneven 48 48 5 ring4 4 --parallel ring=4
run uneven 48 48 5 uly2ring2 4 --parallel ulysses=2,ring=2
run uneven 48 48 5 uly4 4 --parallel ulysses=4
run uneven 48 48 5 tp3 3 --parallel tp=3
run uneven 48 48 5 tp2uly2 4 --parallel tp=2,ulysses=2
run uneven 48 48 5 ring8 8 --parallel ring=8
for plan in even-tp2rs even-tp2uly2rs; do
  "$B/fresco-inspect" "$work/$plan.fplan" | grep -q "reduce_scatter" ||
    { echo "FAIL: $plan has no reduce_scatter"; exit 1; }
done
# The image stream's sums were scattered, the text and joint ones reduced.
"$B/fresco-inspect" "$work/uneven-tp3rs.fplan" > "$work/uneven-tp3rs.txt"
grep -q "reduce_scatter" "$work/uneven-tp3rs.txt" && grep -q "all_reduce" "$work/uneven-tp3rs.txt" ||
  { echo "FAIL: uneven tp=3 --tp-reduce-scatter should keep some all_reduces and scatter others"; \
    cat "$work/uneven-tp3rs.txt"; exit 1; }
# The device-memory path (weights uploaded, collectives staged): same bits.
for case in even-tp2ring2 uneven-uly2ring2 even-tp2rs even-tp2ch4; do
  forward "${case%%-*}" "${case#*-}" --backend cpu-staged
  cmp "$work/$case.npy" "$work/$case-staged.npy"
  echo "== $case on cpu-staged: identical output"
done
ranks_match_one "$work/even-one.npy" \
  "$work"/even-{uly2,ring2,ring4,uly2ring2,tp2uly2,tp2ring2,pp2,pp2ring2,uly4,tp2rs,tp2uly2rs,tp2ch4}.npy
ranks_match_one "$work/uneven-one.npy" \
  "$work"/uneven-{ring4,uly2ring2,uly4,tp3,tp2uly2,ring8,tp3rs,tp3ch2}.npy
