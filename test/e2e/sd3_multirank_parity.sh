#!/usr/bin/env bash
# sd3_multirank_parity.sh: SD3Transformer2DModel (SD3.5-tiny: 2 heads, qk
# RMS norms, dual attention, a context_pre_only last block; written by
# diffusers' save_pretrained) compiled as a bare model and run with
# fresco-run --function transformer on several Gloo ranks (loopback) under
# the sequence strategies, tp and their products, against the 1-rank
# output of the same model (which sd3_forward_parity.sh checks against
# diffusers): within 1e-5 of its max magnitude.
# Even sizes (sample_size 8: 4x4 = 16 image tokens, 8 text tokens):
# ulysses=2, ring=2, ring=4, ulysses=2 x ring=2, tp=2 x ulysses=2,
# tp=2 x ring=2, ulysses=4 (2 heads padded to 4), tp=2, pipeline=2,
# ring=2 x pipeline=2, cfg=2 x ulysses=2 (the batch of 2 halved), tp=2
# in 4 chunks (--tp-chunks).
# Uneven (sample_size 6: 3x3 = 9 image tokens, 5 text tokens; the image
# tokens padded after the patch embedding, the text on its own, padding
# masked inside the joined keys): ulysses=2, ring=4, ulysses=2 x ring=2,
# ulysses=4, tp=2 x ulysses=2, ring=8 (the last ranks hold only padding),
# tp=3 (2 heads padded to 3), tp=3 in 2 chunks. tp=2 x ring=2 and the uneven ulysses=2 x
# ring=2 also run on cpu-staged with the same bits.
# The uneven 1-rank output is also checked against diffusers in float64
# (its crop starts at row and column (8 - 3) // 2 = 2).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN

# Two folders: the stored pos_embed buffer is the table at base size
# sample_size / patch_size, which diffusers loads over its own.
"$FRESCO_PYTHON" "$root/test/lit/Inputs/edit-json.py" \
  "$root/models/sd3/configs/sd3.5-tiny.json" "$work/uneven.json" \
  'sample_size=6'
for s in even uneven; do
  config=$work/uneven.json
  [ $s = uneven ] || config=$root/models/sd3/configs/sd3.5-tiny.json
  "$FRESCO_PYTHON" "$here/make_diffusers_checkpoint.py" --config "$config" \
    --out "$work/$s" --seed 3 > /dev/null
done

run() { # size text name ranks compile-flags...
  local s=$1 t=$2 name=$3 ranks=$4
  shift 4
  if [ ! -d "$work/in-$s" ]; then
    "$FRESCO_PYTHON" "$here/sd3_reference.py" --model "$work/$s" \
      --make-inputs "$work/in-$s" --batch 2 --seed 5 \
      --max-sequence-length "$t" > /dev/null
  fi
  "$B/fresco-compile" "$work/$s" -o "$work/$s-$name.fplan" --batch 2 \
    --max-sequence-length "$t" --ranks "$ranks" "$@" --quiet
  forward "$s" "$name"
}
forward() { # size name [fresco-run flags...]: $work/SIZE-NAME[-staged].npy
  local s=$1 name=$2 inputs=() n
  shift 2
  for n in hidden_states encoder_hidden_states pooled_projections timestep; do
    inputs+=(--input "$n=@$work/in-$s/$n.npy")
  done
  "$B/fresco-run" "$work/$s-$name.fplan" --weights "$work/$s" \
    --function transformer "${inputs[@]}" \
    --output "@$work/$s-$name${1:+-staged}.npy" --timeout 60 "$@"
}
run even 8 one 1
run even 8 uly2 2 --parallel ulysses=2
run even 8 ring2 2 --parallel ring=2
run even 8 ring4 4 --parallel ring=4
run even 8 uly2ring2 4 --parallel ulysses=2,ring=2
run even 8 tp2uly2 4 --parallel tp=2,ulysses=2
run even 8 tp2ring2 4 --parallel tp=2,ring=2
run even 8 uly4 4 --parallel ulysses=4
run even 8 tp2 2 --parallel tp=2
run even 8 tp2rs 2 --parallel tp=2 --tp-reduce-scatter
"$B/fresco-inspect" "$work/even-tp2rs.fplan" | grep -q "reduce_scatter" ||
  { echo "FAIL: even-tp2rs has no reduce_scatter"; exit 1; }
# SD3's joint blocks' row-parallel linears in 4 chunks (half a sample's
# tokens each), on the image and text streams.
run even 8 tp2ch4 2 --parallel tp=2 --tp-chunks 4
run even 8 pp2 2 --parallel pipeline=2
run even 8 pp2ring2 4 --parallel ring=2,pipeline=2
run even 8 cfg2uly2 4 --parallel cfg=2,ulysses=2
run uneven 5 one 1
run uneven 5 uly2 2 --parallel ulysses=2
run uneven 5 ring4 4 --parallel ring=4
run uneven 5 uly2ring2 4 --parallel ulysses=2,ring=2
run uneven 5 uly4 4 --parallel ulysses=4
run uneven 5 tp2uly2 4 --parallel tp=2,ulysses=2
run uneven 5 ring8 8 --parallel ring=8
run uneven 5 tp3 3 --parallel tp=3
run uneven 5 tp3ch2 3 --parallel tp=3 --tp-chunks 2
# The device-memory path (weights uploaded, collectives staged): same bits.
for case in even-tp2ring2 uneven-uly2ring2; do
  forward "${case%%-*}" "${case#*-}" --backend cpu-staged
  cmp "$work/$case.npy" "$work/$case-staged.npy"
  echo "== $case on cpu-staged: identical output"
done
"$FRESCO_PYTHON" "$here/sd3_reference.py" --model "$work/uneven" \
  --inputs "$work/in-uneven" --out "$work/uneven-ref.npy" --dtype float64
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/uneven-one.npy" \
  "$work/uneven-ref.npy" --rtol-max 1e-5
ranks_match_one "$work/even-one.npy" \
  "$work"/even-{uly2,ring2,ring4,uly2ring2,tp2uly2,tp2ring2,uly4,tp2,tp2rs,tp2ch4,pp2,pp2ring2,cfg2uly2}.npy
ranks_match_one "$work/uneven-one.npy" \
  "$work"/uneven-{uly2,ring4,uly2ring2,uly4,tp2uly2,ring8,tp3,tp3ch2}.npy
