#!/usr/bin/env bash
# sdxl_sd3_generate_parity.sh sdxl|sd3|sd35|sd3-no-t5: text-to-image on a tiny
# random StableDiffusionXLPipeline or StableDiffusion3Pipeline folder written
# by diffusers itself (sdxl_sd3_reference.py make: several CLIP encoders with
# the real BPE merges, T5 with a trained SentencePiece model, a 4-channel
# VAE), against the real diffusers pipeline on CPU in float64 from the same
# latents, 4 steps of true classifier-free guidance:
#  - 2 prompts without a negative prompt (SDXL: zero embeddings, as its
#    force_zeros_for_empty_prompt), final latents within 1e-4 of their max
#    magnitude, PNGs within one 8-bit level;
#  - a negative prompt and distinct second (and third) prompts; then
#    negative prompts of their own for the second (and third) encoders;
#  - sdxl: a folder with force_zeros_for_empty_prompt false ("" encoded);
#  - sdxl: micro-conditioning (--original-size 64,48, --crops-coords-top-left
#    8,4, --target-size 40,32; then negative ones too) against diffusers
#    given the same values, within 1e-4, and the runs ignoring them missing
#    it; on cfg=2 ranks too;
#  - sdxl, sd3: clip_skip 1 (fresco-compile --clip-skip) against diffusers,
#    with and without a negative prompt, and on cfg=2 against 1 rank;
#  - several ranks (Gloo processes) against the 1-rank run within 1e-5: cfg=2,
#    placement (text encoders and VAE on rank 0, the denoiser on rank 1),
#    tp=2, cfg=2 x tp=2, pipeline=2, ulysses=2, ring=2, cfg=2 x ulysses=2
#    placement x ring=2 (SDXL's UNet: its rows split with halos), ring=3
#    (rows or tokens padded),
#    pipeline=2 with 4 micro-batches, cfg=2 x pipeline=2 with 2, and
#    patch=2 with every step fresh (exact);
#  - bad input: a prompt slot the pipeline lacks, a negative prompt count
#    (second encoder's too); sdxl: --negative-prompt-2 alone (zeroed half);
#    sdxl: negative time ids diffusers would ignore; sd3: --original-size.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
kind=$1
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sdxl_sd3_reference.py

make_flags=() size=() compile_flags=() ref_flags=() slots=()
case $kind in
sdxl)
  make_flags=(--kind sdxl) size=(--height 32 --width 24)
  slots=(--prompt-2 "an oil painting" --prompt-2 "a photo") ;;
sd3 | sd35 | sd3-no-t5)
  make_flags=(--kind sd3) size=(--height 24 --width 16)
  [ "$kind" = sd35 ] && make_flags+=(--sd35)
  if [ "$kind" = sd3-no-t5 ]; then
    make_flags+=(--no-t5)
    slots=(--prompt-2 "an oil painting" --prompt-2 "a photo")
  else
    # T5 at 16 tokens (the default 256 would dominate this tiny test).
    compile_flags=(--max-sequence-length 16) ref_flags=(--max-sequence-length 16)
    slots=(--prompt-2 "an oil painting" --prompt-2 "a photo"
      --prompt-3 "seen from above, at dusk" --prompt-3 "close up")
  fi ;;
*) echo "usage: $0 sdxl|sd3|sd35|sd3-no-t5"; exit 2 ;;
esac

py "$ref" make "${make_flags[@]}" --out "$work/pipe" --seed 3 > /dev/null
py "$ref" latents --out "$work/x.npy" --batch 2 --seed 5 "${size[@]}" > /dev/null
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
"$B/fresco-compile" "$work/pipe" -o "$work/one.fplan" --batch 2 "${size[@]}" \
  "${compile_flags[@]}"
"$B/fresco-inspect" "$work/one.fplan"

generate() { # plan out-name extra-flags...
  local plan=$1 name=$2
  shift 2
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/${pipe:-pipe}" \
    "${prompts[@]}" --steps 4 --latents "@$work/x.npy" -o "$work/$name.png" \
    --output-latents "@$work/$name.npy" --timeout 60 --quiet "$@"
}
reference() { # out-name extra-flags...
  local name=$1
  shift
  py "$ref" run --pipeline "$work/${pipe:-pipe}" "${prompts[@]}" --steps 4 \
    --latents "$work/x.npy" "${size[@]}" "${ref_flags[@]}" --dtype float64 \
    --out-latents "$work/$name.npy" "$@" > /dev/null 2>&1
}
compare() { py "$here/compare_npy.py" "$work/$1.npy" "$work/$2.npy" --rtol-max "$3"; }

generate one plain
reference ref_plain --out-images "$work/ref_img.npy"
compare plain ref_plain 1e-4
pngs_match_reference "$work/plain" "$work/ref_img.npy"
# An empty second prompt stands for the prompt (diffusers' prompt_2 or prompt).
generate one empty2 --prompt-2 "" --prompt-2 ""
cmp "$work/empty2.npy" "$work/plain.npy"
generate one neg --negative-prompt "blurry, low quality" "${slots[@]}"
reference ref_neg --negative-prompt "blurry, low quality" "${slots[@]}"
compare neg ref_neg 1e-4
# Negative prompts of their own for the second (and third) encoders
# (negative_prompt_2, _3), one per image: they change the result.
negs=(--negative-prompt "blurry, low quality"
  --negative-prompt-2 "dark" --negative-prompt-2 "cold")
if [ "$kind" = sd3 ] || [ "$kind" = sd35 ]; then
  negs+=(--negative-prompt-3 "noisy, grainy" --negative-prompt-3 "washed out")
fi
generate one neg2 "${negs[@]}" "${slots[@]}"
reference ref_neg2 "${negs[@]}" "${slots[@]}"
compare neg2 ref_neg2 1e-4
if compare neg2 neg 1e-4 > /dev/null; then
  echo "--negative-prompt-2 changed nothing"
  exit 1
fi
# An empty one stands for the negative prompt, image by image: Fresco's
# rule, as for --prompt-2 (diffusers keeps "" in a list, and falls back only
# for a single string).
generate one neg2-empty --negative-prompt "blurry, low quality" \
  --negative-prompt-2 "dark" --negative-prompt-2 "" "${slots[@]}"
generate one neg2-same --negative-prompt "blurry, low quality" \
  --negative-prompt-2 "dark" --negative-prompt-2 "blurry, low quality" \
  "${slots[@]}"
cmp "$work/neg2-empty.npy" "$work/neg2-same.npy"

if [ "$kind" = sdxl ]; then
  # force_zeros_for_empty_prompt false: the negative half encodes "".
  py "$ref" make "${make_flags[@]}" --no-force-zeros --out "$work/pipe-nz" \
    --seed 3 > /dev/null
  "$B/fresco-compile" "$work/pipe-nz" -o "$work/nz.fplan" --batch 2 \
    "${size[@]}" --quiet
  pipe=pipe-nz generate nz nz
  pipe=pipe-nz reference ref_nz
  compare nz ref_nz 1e-4
  py - "$work" <<'PY'
import sys
import numpy as np
work = sys.argv[1]
a, b = np.load(f"{work}/nz.npy"), np.load(f"{work}/plain.npy")
d = np.abs(a - b).max()
print(f"zeros vs encoded \"\" negative: max difference {d:.3g}")
assert d > 1e-3, "force_zeros_for_empty_prompt made no difference"
PY

  # SDXL's micro-conditioning per run: the prompts' original size, crop
  # corner and target size, then the negative half's too (used only with
  # both negative sizes, as StableDiffusionXLPipeline), against diffusers
  # given the same values. With negative ids the reference calls the
  # pipeline once per prompt: diffusers 0.31 repeats the [negative,
  # prompts'] pair of time-id rows per prompt, misaligning them with the
  # embeddings for 2 prompts (sdxl_sd3_reference.py's docstring).
  micro=(--negative-prompt "blurry, low quality" "${slots[@]}"
    --original-size 64,48 --crops-coords-top-left 8,4 --target-size 40,32)
  negmicro=(--negative-original-size 56,40
    --negative-crops-coords-top-left 2,6 --negative-target-size 24,16)
  generate one micro "${micro[@]}"
  reference ref_micro "${micro[@]}"
  compare micro ref_micro 1e-4
  generate one micro-neg "${micro[@]}" "${negmicro[@]}"
  reference ref_micro-neg "${micro[@]}" "${negmicro[@]}" --per-image
  compare micro-neg ref_micro-neg 1e-4
  # The values matter: a run ignoring them (the plan's time ids), or the
  # negative ones, misses the reference.
  for pair in neg:ref_micro micro:ref_micro-neg; do
    if compare "${pair%%:*}" "${pair#*:}" 1e-4 > "$work/ignored.log"; then
      echo "${pair%%:*} matches ${pair#*:}: the time ids were ignored"
      exit 1
    fi
    echo "== ${pair%%:*} against ${pair#*:} (must differ):" \
      "$(grep -m1 -o 'ratio [^ ]*' "$work/ignored.log")"
  done
fi

if [ "$kind" = sdxl ] || [ "$kind" = sd3 ]; then
  # diffusers' clip_skip (fresco-compile --clip-skip 1): the prompts read
  # hidden_states[-3] of each CLIP encoder, the negative prompts
  # hidden_states[-2]; with and without a negative prompt (SDXL's zeroed
  # half), against diffusers; on cfg=2 against the 1-rank run; and the
  # skip must change the result.
  "$B/fresco-compile" "$work/pipe" -o "$work/skip.fplan" --batch 2 \
    "${size[@]}" "${compile_flags[@]}" --clip-skip 1 --quiet
  generate skip skip-neg --negative-prompt "blurry, low quality" "${slots[@]}"
  reference ref_skip-neg --negative-prompt "blurry, low quality" "${slots[@]}" \
    --clip-skip 1
  compare skip-neg ref_skip-neg 1e-4
  generate skip skip-plain
  reference ref_skip-plain --clip-skip 1
  compare skip-plain ref_skip-plain 1e-4
  if compare skip-neg neg 1e-4 > /dev/null; then
    echo "FAIL: --clip-skip 1 changed nothing"; exit 1
  fi
  "$B/fresco-compile" "$work/pipe" -o "$work/skip-cfg2.fplan" --batch 2 \
    "${size[@]}" "${compile_flags[@]}" --clip-skip 1 --ranks 2 \
    --parallel cfg=2 --quiet
  generate skip-cfg2 skip-cfg2 --negative-prompt "blurry, low quality" \
    "${slots[@]}"
  echo "== clip_skip 1 on cfg=2"
  compare skip-cfg2 skip-neg 1e-5
fi

multi() { # name ranks compile-flags...
  local name=$1 ranks=$2
  shift 2
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    "${size[@]}" "${compile_flags[@]}" --ranks "$ranks" "$@" --quiet
  generate "$name" "$name" --negative-prompt "blurry, low quality" "${slots[@]}"
  echo "== $name ($ranks ranks: $*)"
  compare "$name" neg 1e-5
}
if [ "$kind" = sdxl ]; then
  denoiser=unet encoders=text_encoder=0,text_encoder_2=0
else
  denoiser=transformer encoders=text_encoder=0,text_encoder_2=0
  [ "$kind" = sd3-no-t5 ] || encoders=$encoders,text_encoder_3=0
fi
multi cfg2 2 --parallel cfg=2
if [ "$kind" = sdxl ]; then
  # Each rank holds one guidance half: the negative time ids on rank 1.
  generate cfg2 cfg2-micro "${micro[@]}" "${negmicro[@]}"
  echo "== cfg2 with micro-conditioning"
  compare cfg2-micro micro-neg 1e-5
fi
multi placement 2 --place "$encoders,vae=0,$denoiser=1"
multi tp2 2 --parallel tp=2
multi cfg2-tp2 4 --parallel cfg=2,tp=2
multi pipeline2 2 --parallel pipeline=2
# Micro-batches (the guidance halves of the 2 images) through the stages;
# with cfg, each rank's half in 2.
multi pipeline2-mb4 2 --parallel pipeline=2 --microbatches 4
multi cfg2-pipeline2-mb2 4 --parallel cfg=2,pipeline=2 --microbatches 2
# SD3's transformer splits its [image; context] tokens (93 or 154 text
# tokens: padded to the degree); SDXL's UNet its latent rows, with halo
# exchanges at the convolutions and group norms over every band.
multi ulysses2 2 --parallel ulysses=2
multi ring2 2 --parallel ring=2
multi cfg2-ulysses2 4 --parallel cfg=2,ulysses=2
multi placement-ring2 3 --place "$encoders,vae=0,$denoiser=1+2" --parallel ring=2
# A degree that does not divide the rows: SD3's tokens, SDXL's latent rows
# (16, 8 and 4 at its levels: padded at the bottom to 24) padded.
multi ring3 3 --parallel ring=3
# patch=2 (DistriFusion) with every step fresh is exact; its stale steps are
# checked against an emulation on DiT, SD and Flux (patch_parity.sh).
multi patch2-fresh 2 --parallel patch=2 --fresh-steps 4
# PipeFusion with every step fresh runs its exact warm-up function only;
# its patched steps are checked on DiT and Flux (patch_parity.sh).
if [ "$kind" != sdxl ]; then
  multi pipefusion2-fresh 2 --parallel pipefusion=2 --fresh-steps 4
fi

bad() { # message flags...: fresco-run of one.fplan refuses FLAGS with MESSAGE
  expect_error "$1" "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" \
    "${@:2}" -o "$work/x.png" --steps 1
}
bad "got 3 negative prompts for 2 prompts" "${prompts[@]}" \
  --negative-prompt a --negative-prompt b --negative-prompt c
bad "got 1 second prompts for 2 prompts" "${prompts[@]}" --prompt-2 x
bad "unknown scheduler 'KarrasVeScheduler'; supported schedulers:" \
  "${prompts[@]}" --scheduler KarrasVeScheduler
bad "got 3 --negative-prompt-2 for 2 prompts" "${prompts[@]}" \
  --negative-prompt a --negative-prompt-2 a --negative-prompt-2 b \
  --negative-prompt-2 c
if [ "$kind" = sdxl ] || [ "$kind" = sd3-no-t5 ]; then
  bad "has no third text encoder: --prompt-3 does not apply" "${prompts[@]}" \
    --prompt-3 x --prompt-3 y
  # (Before SDXL's "needs --negative-prompt", which would not help.)
  bad "has no third text encoder: --negative-prompt-3 does not apply" \
    "${prompts[@]}" --negative-prompt-3 x
fi
if [ "$kind" = sdxl ]; then
  # diffusers zeroes the negative half without a negative prompt and would
  # ignore negative_prompt_2.
  bad "--negative-prompt-2 needs --negative-prompt: without one pipeline" \
    "${prompts[@]}" --negative-prompt-2 x
fi
if [ "$kind" = sdxl ]; then
  # What StableDiffusionXLPipeline would silently ignore is refused.
  bad "--negative-original-size: StableDiffusionXLPipeline (text-to-image) \
uses negative time ids only when both --negative-original-size and \
--negative-target-size are given" "${prompts[@]}" --negative-original-size 56,40
  bad "--negative-crops-coords-top-left: StableDiffusionXLPipeline \
(text-to-image) uses negative time ids only when both" "${prompts[@]}" \
    --negative-crops-coords-top-left 2,6
else
  bad "--original-size: pipeline 'StableDiffusion3Pipeline' has no time ids" \
    "${prompts[@]}" --original-size 64,48
fi
# Bad folders: a missing component, a scheduler or UNet the pipeline cannot
# drive, mismatched encoders.
bad_compile() { # message file key json-value|DELETE
  local message=$1
  rm -rf "$work/broken" && cp -r "$work/pipe" "$work/broken"
  py - "$work/broken/$2" "$3" "$4" <<'PY'
import json, sys
path, key, value = sys.argv[1:]
d = json.load(open(path))
if value == "DELETE":
    del d[key]
else:
    d[key] = json.loads(value)
json.dump(d, open(path, "w"))
PY
  expect_error "$message" "$B/fresco-compile" "$work/broken" \
    -o "$work/broken.fplan" "${size[@]}"
}
bad_compile "has no 'text_encoder_2' component" model_index.json text_encoder_2 DELETE
bad_compile "text_encoder_2 must be a CLIPTextModelWithProjection" \
  text_encoder_2/config.json architectures '["CLIPTextModel"]'
if [ "$kind" = sdxl ]; then
  bad_compile "this UNet does not take" unet/config.json addition_embed_type null
  bad_compile "must add up to the UNet's cross_attention_dim" \
    text_encoder/config.json hidden_size 12
  # Latent statistics work (e2e-sdxl-latent-stats); a zero std is refused.
  bad_compile "config key 'latents_std' must list finite numbers, none of them zero" \
    vae/config.json latents_std '[1, 0, 1, 1]'
else
  bad_compile "runs FlowMatchEulerDiscreteScheduler, not 'DDIMScheduler'" \
    scheduler/scheduler_config.json _class_name '"DDIMScheduler"'
  bad_compile "must equal the transformer's pooled_projection_dim" \
    text_encoder/config.json projection_dim 5
fi
echo "$kind: OK"
