#!/usr/bin/env bash
# sd_generate_parity.sh SCHEDULER [--sd2]: text-to-image with true classifier-free
# guidance on a tiny random StableDiffusionPipeline folder written by
# diffusers itself (sd_pipeline_reference.py make: the unet-tiny UNet, a
# 4-channel VAE, CLIP with the real BPE tokenizer), against the real
# diffusers StableDiffusionPipeline on CPU in float64 from the same latents:
#  - 2 prompts with a negative prompt, 4 steps, guidance 7.5: final latents
#    within 1e-4 of their max magnitude, PNGs within one 8-bit level;
#  - no negative prompt ("" as diffusers) and guidance 1 (unguided);
#  - several ranks (Gloo processes) against the 1-rank run within 1e-5:
#    cfg=2 (the prompts' and negative prompts' halves apart), placement
#    (text encoder and VAE on rank 0, the UNet on rank 1), tp=2,
#    cfg=2 x tp=2 on 4 ranks, pipeline=2, and the latent rows split:
#    ulysses=2, ring=2, ulysses=4, cfg=2 x ring=2, tp=2 x ulysses=2,
#    ulysses=2 x pipeline=2, placement x ulysses=2; rows that a degree does
#    not divide at every level, padded: ring=3, ulysses=3, cfg=2 x ring=3,
#    ulysses=2 at a height whose lower level has odd rows;
#  - clip_skip 1 and 2 (fresco-compile --clip-skip) against diffusers, and
#    on cfg=2, placement and tp=2 against the 1-rank run;
#  - with a stochastic scheduler (Euler ancestral, LCM or DDPM: fresh noise
#    every step, seed 7 on both sides), one prompt on the 2-image plan gives image 0 of the 2-prompt
#    run bit for bit, and another seed changes the images.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
scheduler=$1
variant=${2:-}
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sd_pipeline_reference.py
H=32 W=24

py "$ref" make --out "$work/pipe" --seed 3 --scheduler "$scheduler" $variant > /dev/null
py "$ref" latents --pipeline "$work/pipe" --out "$work/x.npy" --batch 2 \
  --seed 5 --height $H --width $W > /dev/null
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
"$B/fresco-compile" "$work/pipe" -o "$work/one.fplan" --batch 2 --height $H \
  --width $W
"$B/fresco-inspect" "$work/one.fplan"

generate() { # plan out-name extra-flags...
  local plan=$1 name=$2
  shift 2
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/pipe" "${prompts[@]}" \
    --steps 4 --seed 7 --latents "@$work/x.npy" -o "$work/$name.png" \
    --output-latents "@$work/$name.npy" --timeout 60 --quiet "$@"
}
reference() { # out-name extra-flags...
  local name=$1
  shift
  py "$ref" run --pipeline "$work/pipe" "${prompts[@]}" --steps 4 \
    --latents "$work/x.npy" --height $H --width $W --dtype float64 --noise-seed 7 \
    --out-latents "$work/$name.npy" "$@" > /dev/null
}

generate one neg --negative-prompt "blurry, low quality"
reference ref_neg --negative-prompt "blurry, low quality" \
  --out-images "$work/ref_img.npy"
py "$here/compare_npy.py" "$work/neg.npy" "$work/ref_neg.npy" --rtol-max 1e-4
pngs_match_reference "$work/neg" "$work/ref_img.npy"
generate one plain
reference ref_plain
py "$here/compare_npy.py" "$work/plain.npy" "$work/ref_plain.npy" --rtol-max 1e-4
generate one unguided --guidance-scale 1
reference ref_unguided --guidance-scale 1
py "$here/compare_npy.py" "$work/unguided.npy" "$work/ref_unguided.npy" \
  --rtol-max 1e-4

multi() { # name ranks compile-flags...
  local name=$1 ranks=$2
  shift 2
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    --height $H --width $W --ranks "$ranks" "$@" --quiet
  generate "$name" "$name" --negative-prompt "blurry, low quality"
  echo "== $name ($ranks ranks: $*)"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/neg.npy" --rtol-max 1e-5
}
multi cfg2 2 --parallel cfg=2
multi placement 2 --place text_encoder=0,vae=0,unet=1
multi tp2 2 --parallel tp=2
multi cfg2-tp2 4 --parallel cfg=2,tp=2
# The UNet's transformer blocks ([B, H x W, C] tokens): tp's partial sums
# reduce-scattered over the tokens (the ResNets' [B, C, H, W] sums stay
# all-reduced).
multi tp2-rs 2 --parallel tp=2 --tp-reduce-scatter
"$B/fresco-inspect" "$work/tp2-rs.fplan" | grep -q "reduce_scatter" ||
  { echo "FAIL: tp2-rs has no reduce_scatter"; exit 1; }
# The transformer blocks' row-parallel linears in chunks (a sample each),
# their sums overlapping the next chunk's work.
multi tp2-ch2 2 --parallel tp=2 --tp-chunks 2
multi pipeline2 2 --parallel pipeline=2
# Micro-batches through the stages (the guidance halves of the 2 images).
multi pipeline2-mb2 2 --parallel pipeline=2 --microbatches 2
multi cfg2-pipeline2-mb2 4 --parallel cfg=2,pipeline=2 --microbatches 2

# The UNet's latent rows split over the ranks: halo exchanges at its 3x3
# convolutions and the downsampler, group norms over every band, ulysses'
# all_to_alls or ring attention in its self-attention.
# (With two of the four schedulers: SD 1.x's UNet and SD 2's linear
# projections.)
if [ "$scheduler" = DDIMScheduler ] || [ "$variant" = --sd2 ]; then
  multi ulysses2 2 --parallel ulysses=2
  multi ring2 2 --parallel ring=2
  multi ulysses4 4 --parallel ulysses=4
  multi cfg2-ring2 4 --parallel cfg=2,ring=2
  multi tp2-ulysses2 4 --parallel tp=2,ulysses=2
  multi ulysses2-pipeline2 4 --parallel ulysses=2,pipeline=2
  multi placement-ulysses2 3 --place text_encoder=0,vae=0,unet=1+2 \
    --parallel ulysses=2
fi
# Rows that a degree does not divide at every level are padded at the
# bottom (fresco-pad-uneven) so that each level splits evenly: the halo
# exchanges zero the padding rows, the group norms leave them out, the
# attentions mask them. 16 latent rows (8 at the lower level) over 3
# ranks: 18 (9), the last band part padding at each level.
if [ "$scheduler" = DDIMScheduler ] || [ "$variant" = --sd2 ]; then
  multi ring3 3 --parallel ring=3
  multi ulysses3 3 --parallel ulysses=3
  multi cfg2-ring3 6 --parallel cfg=2,ring=3
  # tp's ResNet blocks (channels in whole groups) with padded row bands.
  multi tp2-ring3 6 --parallel tp=2,ring=3
  # 28 px are 14 then 7 latent rows in the 2-level UNet; 40 px are 20, 10
  # then 5 in SD 2's 3-level one: ulysses=2 pads them to 16 (8) and 24
  # (12, 6), against the 1-rank run at that size.
  odd_h=28
  [ "$variant" = --sd2 ] && odd_h=40
  py "$ref" latents --pipeline "$work/pipe" --out "$work/x_odd.npy" --batch 2 \
    --seed 5 --height $odd_h --width $W > /dev/null
  for layout in one:1 ulysses2:2; do
    name=${layout%%:*} ranks=${layout##*:}
    flags=()
    [ "$ranks" = 1 ] || flags=(--parallel ulysses=2)
    "$B/fresco-compile" "$work/pipe" -o "$work/odd_$name.fplan" --batch 2 \
      --height $odd_h --width $W --ranks "$ranks" "${flags[@]}" --quiet
    "$B/fresco-run" "$work/odd_$name.fplan" --weights "$work/pipe" \
      "${prompts[@]}" --steps 4 --seed 7 --latents "@$work/x_odd.npy" \
      -o "$work/odd_$name.png" --output-latents "@$work/odd_$name.npy" \
      --timeout 60 --quiet --negative-prompt "blurry, low quality"
  done
  echo "== ulysses=2 at $odd_h px (rows padded)"
  py "$here/compare_npy.py" "$work/odd_ulysses2.npy" "$work/odd_one.npy" \
    --rtol-max 1e-5
fi
# diffusers' clip_skip (fresco-compile --clip-skip): the prompts read
# final_layer_norm(hidden_states[-(K+1)]), the negative prompts the last
# hidden state. K = 1 and 2 (the embeddings, in this 2-layer CLIP) against
# diffusers; on cfg=2 (the halves on different ranks), placement and tp=2
# against the 1-rank run; and the skip must change the result.
if [ "$scheduler" = DDIMScheduler ] || [ "$variant" = --sd2 ]; then
  for k in 1 2; do
    "$B/fresco-compile" "$work/pipe" -o "$work/skip$k.fplan" --batch 2 \
      --height $H --width $W --clip-skip $k --quiet
    generate skip$k skip$k --negative-prompt "blurry, low quality"
    reference ref_skip$k --negative-prompt "blurry, low quality" --clip-skip $k
    echo "== clip_skip $k"
    py "$here/compare_npy.py" "$work/skip$k.npy" "$work/ref_skip$k.npy" \
      --rtol-max 1e-4
  done
  if py "$here/compare_npy.py" "$work/skip1.npy" "$work/neg.npy" \
    --rtol-max 1e-4 > /dev/null; then
    echo "FAIL: --clip-skip 1 changed nothing"; exit 1
  fi
  for layout in "cfg2 2 --parallel cfg=2" \
    "placement 2 --place text_encoder=0,vae=0,unet=1" "tp2 2 --parallel tp=2"; do
    set -- $layout
    name=skip1-$1 ranks=$2
    shift 2
    "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
      --height $H --width $W --clip-skip 1 --ranks "$ranks" "$@" --quiet
    generate "$name" "$name" --negative-prompt "blurry, low quality"
    echo "== clip_skip 1 on $name"
    py "$here/compare_npy.py" "$work/$name.npy" "$work/skip1.npy" \
      --rtol-max 1e-5
  done
fi
# One negative prompt per prompt, or one for all: the same when equal.
generate one neg2 --negative-prompt "blurry, low quality" \
  --negative-prompt "blurry, low quality"
cmp "$work/neg2.npy" "$work/neg.npy"
bad() { # message flags...: fresco-run of one.fplan refuses FLAGS with MESSAGE
  expect_error "$1" "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" \
    "${@:2}" -o "$work/x.png" --steps 1
}
bad "got 3 negative prompts for 2 prompts" "${prompts[@]}" \
  --negative-prompt a --negative-prompt b --negative-prompt c
bad "reads one prompt per image: --negative-prompt-2 does not apply" \
  "${prompts[@]}" --negative-prompt a --negative-prompt-2 b
bad "reads one prompt per image: --prompt-2 does not apply" \
  "${prompts[@]}" --prompt-2 x --prompt-2 y
if [ "$scheduler" = EulerAncestralDiscreteScheduler ] ||
  [ "$scheduler" = LCMScheduler ] || [ "$scheduler" = DDPMScheduler ]; then
  # Image 0's noise, initial and per step, depends only on (seed, 0).
  first_image "$work/x.npy" "$work/x0.npy"
  "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" \
    --prompt "a red fox in the snow" --steps 4 --seed 7 --latents "@$work/x0.npy" \
    --negative-prompt "blurry, low quality" -o "$work/single.png" \
    --output-latents "@$work/single.npy" --timeout 60 --quiet
  py - "$work" <<'PY'
import sys
import numpy as np
work = sys.argv[1]
single, batch = np.load(f"{work}/single.npy"), np.load(f"{work}/neg.npy")
assert single.shape[0] == 1 and np.array_equal(single[0], batch[0]), \
    f"image 0 alone differs from image 0 of the batch by {np.abs(single[0] - batch[0]).max()}"
print("one prompt = image 0 of two, bit for bit")
PY
  generate one seed8 --negative-prompt "blurry, low quality" --seed 8
  if cmp -s "$work/seed8.npy" "$work/neg.npy"; then
    echo "--seed 8 gave the latents of --seed 7: the step noise is not seeded"; exit 1
  fi
fi
echo "stable diffusion ($scheduler${variant:+ $variant}): OK"
