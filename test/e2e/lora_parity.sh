#!/usr/bin/env bash
# lora_parity.sh: LoRA files in diffusers' PEFT format (written by
# make_lora.py) merged into the weights at load (fresco-run --lora
# FILE[:SCALE]) against diffusers' load_lora_weights + set_adapters (PEFT's
# LoRA layers, not merged) in float64, from the same latents:
#  - Flux (dev), two LoRAs at once: one on the transformer and CLIP whose
#    ranks and alphas vary by module (so diffusers' defaults for modules
#    without an alpha matter), one on the transformer alone at a negative
#    scale: final latents within 1e-4 of their max magnitude, and without
#    the LoRAs far from them (the test can fail); then several ranks against
#    the 1-rank run within 1e-5: tp=2 (row and column slices of the adapted
#    weights), tp=3 (2 heads padded to 3: zero rows the update must leave
#    alone), pipeline=2, and the text encoders on rank 0 with the
#    transformer on ranks 1-2 (ulysses=2);
#  - kohya's format (sd-scripts' Flux names: fused qkv and linear1 split by
#    rows, CLIP's lora_te1_ modules) against diffusers' conversion within
#    1e-4, and linear1 (which diffusers 0.31 splits by FLUX.1's sizes only)
#    against the same update in PEFT's format; tp=2 against 1 rank;
#  - Stable Diffusion's tiny UNet and CLIP with guidance: linears, then
#    convolutions too (3x3 and 1x1), then kohya's format with diffusers'
#    names, each against diffusers within 1e-4; tp=2 (the convolutions split
#    by channels) against 1 rank within 1e-5;
#  - function mode (the transformer alone) takes --lora too;
#  - SD 1.x kohya names in Stable Diffusion's original (LDM) form give the
#    same latents as the same tensors in diffusers' names, bit for bit, and
#    one on a slot the UNet leaves empty is refused;
#  - SDXL (UNet, both CLIP encoders: the first's last layer, which SDXL
#    never reads, left out) and SD3 (transformer, both CLIPs) with mixed
#    ranks, and SDXL in sd-scripts' format (LDM names, lora_te1_ / te2_, with
#    convolutions), against diffusers within 1e-4;
#  - bad input: a missing file, a kohya name Fresco does not map, a fused qkv
#    whose rows do not split, a module the plan does not have, shapes that do
#    not match the weight, a norm's weight, a component the plan does
#    not load, lora_A without lora_B (lora_down without lora_up), a bad scale.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
H=32 W=48 L=16

# ---- Flux ----
py "$here/make_flux_pipeline.py" --out "$work/pipe" --seed 3 > /dev/null
py "$here/flux_pipeline_reference.py" --pipeline "$work/pipe" \
  --make-latents "$work/x.npy" --batch 2 --seed 5 --height $H --width $W \
  > /dev/null
py "$here/make_lora.py" --pipeline "$work/pipe" --out "$work/a.safetensors" \
  --components transformer,text_encoder --mixed --alphas --seed 1
py "$here/make_lora.py" --pipeline "$work/pipe" --out "$work/b.safetensors" \
  --components transformer --rank 2 --seed 2
loras=(--lora "$work/a.safetensors:0.8" --lora "$work/b.safetensors:-0.5")
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
run() { # plan out-name extra-flags...
  local plan=$1 name=$2
  shift 2
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/pipe" "${prompts[@]}" \
    --steps 4 --guidance-scale 3.5 --latents "@$work/x.npy" \
    -o "$work/$name.png" --output-latents "@$work/$name.npy" --timeout 60 \
    --quiet "$@"
}
"$B/fresco-compile" "$work/pipe" -o "$work/one.fplan" --batch 2 --height $H \
  --width $W --max-sequence-length $L --quiet
run one lora "${loras[@]}" 2> "$work/lora.log"
cat "$work/lora.log"
grep -q "LoRA .*a.safetensors (PEFT, scale 0.8): text_encoder: 12 modules" \
  "$work/lora.log" || { echo "no LoRA summary"; exit 1; }
py "$here/flux_pipeline_reference.py" --pipeline "$work/pipe" "${prompts[@]}" \
  --latents "$work/x.npy" --steps 4 --guidance-scale 3.5 --height $H \
  --width $W --max-sequence-length $L --dtype float64 "${loras[@]}" \
  --out-latents "$work/ref.npy" > /dev/null
py "$here/compare_npy.py" "$work/lora.npy" "$work/ref.npy" --rtol-max 1e-4
run one plain
if py "$here/compare_npy.py" "$work/plain.npy" "$work/ref.npy" \
  --rtol-max 1e-2 > /dev/null; then
  echo "the LoRAs change nothing: the test cannot fail"
  exit 1
fi

# kohya's format: sd-scripts' Flux names (the fused qkv's lora_up split by
# rows among q, k and v), CLIP's lora_te1_ modules, alpha / r per module.
py "$here/make_lora.py" --pipeline "$work/pipe" --out "$work/k.safetensors" \
  --kohya flux --seed 3
run one kohya --lora "$work/k.safetensors:0.9" 2> "$work/kohya.log"
cat "$work/kohya.log"
grep -q "(kohya, scale 0.9): text_encoder: 12 modules" "$work/kohya.log" ||
  { echo "no kohya LoRA summary"; exit 1; }
py "$here/flux_pipeline_reference.py" --pipeline "$work/pipe" "${prompts[@]}" \
  --latents "$work/x.npy" --steps 4 --guidance-scale 3.5 --height $H \
  --width $W --max-sequence-length $L --dtype float64 \
  --lora "$work/k.safetensors:0.9" --out-latents "$work/kref.npy" > /dev/null
py "$here/compare_npy.py" "$work/kohya.npy" "$work/kref.npy" --rtol-max 1e-4
# The single blocks' linear1 (q, k, v and the MLP's input in one), which
# diffusers 0.31 splits by FLUX.1's sizes only: the same update written in
# PEFT's format gives the same latents.
py "$here/make_lora.py" --pipeline "$work/pipe" --out "$work/l1.safetensors" \
  --kohya linear1 --peft-twin "$work/twin.safetensors" --seed 4
run one linear1 --lora "$work/l1.safetensors:0.9" 2> /dev/null
run one twin --lora "$work/twin.safetensors:0.9" 2> /dev/null
py "$here/compare_npy.py" "$work/linear1.npy" "$work/twin.npy" --rtol-max 1e-6
if py "$here/compare_npy.py" "$work/linear1.npy" "$work/plain.npy" \
  --rtol-max 1e-3 > /dev/null; then
  echo "linear1's update changes nothing: the test cannot fail"
  exit 1
fi

multi() { # name ranks compile-flags...
  local name=$1 ranks=$2
  shift 2
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    --height $H --width $W --max-sequence-length $L --ranks "$ranks" "$@" \
    --quiet
  run "$name" "$name" "${loras[@]}" 2> /dev/null
  echo "== $name ($ranks ranks: $*)"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/lora.npy" --rtol-max 1e-5
}
multi tp2 2 --parallel tp=2
multi tp3 3 --parallel tp=3
multi pipeline2 2 --parallel pipeline=2
multi placement-uly2 3 --place text_encoder=0,text_encoder_2=0,vae=0,transformer=1+2 \
  --parallel ulysses=2
# tp=2's ranks each take their heads' rows of the fused qkv update.
run tp2 kohya-tp2 --lora "$work/k.safetensors:0.9" --lora \
  "$work/l1.safetensors:0.9" 2> /dev/null
run one kohya-both --lora "$work/k.safetensors:0.9" --lora \
  "$work/l1.safetensors:0.9" 2> /dev/null
py "$here/compare_npy.py" "$work/kohya-tp2.npy" "$work/kohya-both.npy" \
  --rtol-max 1e-5

# Function mode takes --lora too: the transformer alone, on diffusers' inputs
# (flux_reference.py sizes them for FLUX.1's 16x VAE, this one's is 4x).
py "$here/flux_reference.py" --model "$work/pipe/transformer" \
  --make-inputs "$work/in" --batch 2 --height $((4 * H)) --width $((4 * W)) \
  --max-sequence-length $L > /dev/null
inputs=()
for n in hidden_states encoder_hidden_states pooled_projections timestep \
  img_ids txt_ids guidance; do
  inputs+=(--input "@$work/in/$n.npy")
done
for with in plain lora; do
  extra=()
  [ $with = lora ] && extra=(--lora "$work/b.safetensors")
  "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" \
    --function transformer "${inputs[@]}" --output "@$work/fn-$with.npy" \
    "${extra[@]}" 2> "$work/fn-$with.log"
done
grep -q "LoRA .*b.safetensors (PEFT, scale 1): transformer: 50 modules" \
  "$work/fn-lora.log" || { cat "$work/fn-lora.log"; exit 1; }
if py "$here/compare_npy.py" "$work/fn-lora.npy" "$work/fn-plain.npy" \
  --rtol-max 1e-2 > /dev/null; then
  echo "--lora changed nothing in function mode"
  exit 1
fi

# ---- Bad input: exit 1 (2 for a bad scale), a message naming the problem.
tensors() { # out.safetensors name=shape...: U(-0.1, 0.1) f32 tensors
  py - "$@" <<'PY'
import sys
import numpy as np
from safetensors.numpy import save_file
rng = np.random.default_rng(0)
out = {}
for arg in sys.argv[2:]:
    name, shape = arg.split("=")
    dims = tuple(int(d) for d in shape.split("x")) if shape else ()
    out[name] = rng.uniform(-0.1, 0.1, dims).astype(np.float32)
save_file(out, sys.argv[1])
PY
}
bad() { # message lora-file
  expect_error "$1" "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" \
    --prompt "a fox" --steps 1 -o "$work/x.png" --lora "$2"
}
q=transformer.transformer_blocks.0.attn.to_q
bad "cannot open" "$work/none.safetensors"
tensors "$work/kohya.safetensors" \
  lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight=4x32
bad "module 'lora_unet_double_blocks_0_img_attn_qkv' has lora_down but no lora_up" \
  "$work/kohya.safetensors"
tensors "$work/sdkohya.safetensors" \
  lora_unet_input_blocks_1_1_proj_in.lora_down.weight=4x32 \
  lora_unet_input_blocks_1_1_proj_in.lora_up.weight=32x4
bad "kohya module 'lora_unet_input_blocks_1_1_proj_in' is not one Fresco maps" \
  "$work/sdkohya.safetensors"
tensors "$work/qkv.safetensors" \
  lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight=4x32 \
  lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight=64x4
bad "has lora_up [64, 4] for 64 outputs, but its weights (transformer_blocks.0.attn.to_q.weight ... transformer_blocks.0.attn.to_v.weight), which split its rows, have 96" \
  "$work/qkv.safetensors"
tensors "$work/te.safetensors" lora_te1_nothing_here.lora_down.weight=4x32 \
  lora_te1_nothing_here.lora_up.weight=32x4
bad "kohya module 'lora_te1_nothing_here' names no weight of text_encoder" \
  "$work/te.safetensors"
tensors "$work/nomodule.safetensors" transformer.nothing.lora_A.weight=4x32 \
  transformer.nothing.lora_B.weight=32x4
bad "which is a transformer weight of neither this plan nor its checkpoint" \
  "$work/nomodule.safetensors"
tensors "$work/shape.safetensors" $q.lora_A.weight=4x32 $q.lora_B.weight=48x4
bad "has lora_B [48, 4] for 48 outputs, but 'transformer_blocks.0.attn.to_q.weight' has 32" \
  "$work/shape.safetensors"
tensors "$work/rank.safetensors" $q.lora_A.weight=4x32 $q.lora_B.weight=32x3
bad "has lora_A [4, 32] and lora_B [32, 3], whose ranks differ" \
  "$work/rank.safetensors"
tensors "$work/dims.safetensors" $q.lora_A.weight=4x32x1 $q.lora_B.weight=32x4
bad "expected [r, in] and [out, r] (a linear layer's), or [r, in, kh, kw] and [out, r, 1, 1]" \
  "$work/dims.safetensors"
tensors "$work/conv.safetensors" vae.decoder.conv_in.lora_A.weight=4x16 \
  vae.decoder.conv_in.lora_B.weight=32x4
bad "has lora_A [4, 16], which does not fit the inputs of 'decoder.conv_in.weight'" \
  "$work/conv.safetensors"
n=transformer.transformer_blocks.0.attn.norm_q
tensors "$work/norm.safetensors" $n.lora_A.weight=4x16 $n.lora_B.weight=16x4
bad "LoRA is supported on linear and 2-D convolution weights only" \
  "$work/norm.safetensors"
tensors "$work/unet.safetensors" unet.conv_in.lora_A.weight=4x4 \
  unet.conv_in.lora_B.weight=4x4
bad "name component 'unet', whose weights this plan does not load" \
  "$work/unet.safetensors"
tensors "$work/half.safetensors" $q.lora_A.weight=4x32
bad "has lora_A but no lora_B weight" "$work/half.safetensors"
tensors "$work/alpha.safetensors" $q.lora_A.weight=4x32 $q.lora_B.weight=32x4 \
  $q.alpha=2x2
bad "an alpha is one number" "$work/alpha.safetensors"
expect_usage "the scale must be a finite number" "$B/fresco-run" \
  "$work/one.fplan" --weights "$work/pipe" --prompt "a fox" -o "$work/x.png" \
  --lora "$work/a.safetensors:inf"

# ---- Stable Diffusion: the UNet's and CLIP's linears, with guidance; then
# its convolutions (PEFT's Conv2d LoRA: the ResNets', the samplers', the 1x1
# proj_in / proj_out), and kohya's format with diffusers' names.
ref=$here/sd_pipeline_reference.py
py "$ref" make --out "$work/sd" --seed 3 --scheduler DDIMScheduler > /dev/null
py "$ref" latents --pipeline "$work/sd" --out "$work/sx.npy" --batch 2 \
  --seed 5 --height 32 --width 24 > /dev/null
py "$here/make_lora.py" --pipeline "$work/sd" --out "$work/sd.safetensors" \
  --components unet,text_encoder --mixed --seed 4
py "$here/make_lora.py" --pipeline "$work/sd" --out "$work/sdconv.safetensors" \
  --components unet,text_encoder --mixed --conv --seed 7
py "$here/make_lora.py" --pipeline "$work/sd" --out "$work/sdk.safetensors" \
  --components unet,text_encoder --kohya flat --conv --seed 6
"$B/fresco-compile" "$work/sd" -o "$work/sd1.fplan" --batch 2 --height 32 \
  --width 24 --quiet
"$B/fresco-compile" "$work/sd" -o "$work/sdtp2.fplan" --batch 2 --height 32 \
  --width 24 --ranks 2 --parallel tp=2 --quiet
sd() { # plan name lora
  "$B/fresco-run" "$work/$1.fplan" --weights "$work/sd" "${prompts[@]}" \
    --negative-prompt "blurry" --steps 4 --latents "@$work/sx.npy" \
    -o "$work/$2.png" --output-latents "@$work/$2.npy" --timeout 60 \
    --quiet --lora "$3" 2> /dev/null
  py "$ref" run --pipeline "$work/sd" "${prompts[@]}" --negative-prompt "blurry" \
    --steps 4 --latents "$work/sx.npy" --height 32 --width 24 --dtype float64 \
    --out-latents "$work/$2-ref.npy" --lora "$3" > /dev/null
  echo "== SD, $2"
  py "$here/compare_npy.py" "$work/$2.npy" "$work/$2-ref.npy" --rtol-max 1e-4
}
sd sd1 linear "$work/sd.safetensors:0.7"
# Without the LoRA the latents are far from these (the test can fail).
"$B/fresco-run" "$work/sd1.fplan" --weights "$work/sd" "${prompts[@]}" \
  --negative-prompt "blurry" --steps 4 --latents "@$work/sx.npy" \
  -o "$work/sdplain.png" --output-latents "@$work/sdplain.npy" --quiet
differs() { # a b: the two .npy files are not within 1e-2
  if py "$here/compare_npy.py" "$1" "$2" --rtol-max 1e-2 > /dev/null; then
    echo "$1 matches $2: the LoRA changed nothing"
    exit 1
  fi
}
differs "$work/linear.npy" "$work/sdplain.npy"
sd sd1 conv "$work/sdconv.safetensors:0.7"
sd sd1 kohya-sd "$work/sdk.safetensors:0.7"
# Stable Diffusion's original (LDM) names (sd-scripts writes them for SDXL,
# other tools for SD 1.x too): the same tensors as sdk.safetensors under
# those names give the same weights (diffusers 0.31 maps LDM names back for
# SDXL only: checked below).
py "$here/make_lora.py" --pipeline "$work/sd" --out "$work/sdldm.safetensors" \
  --components unet,text_encoder --kohya ldm --conv --seed 6
"$B/fresco-run" "$work/sd1.fplan" --weights "$work/sd" "${prompts[@]}" \
  --negative-prompt "blurry" --steps 4 --latents "@$work/sx.npy" \
  -o "$work/ldm.png" --output-latents "@$work/ldm.npy" --timeout 60 \
  --quiet --lora "$work/sdldm.safetensors:0.7" 2> "$work/ldm.log"
grep -q "(kohya, scale 0.7): text_encoder: 12 modules (rank up to 4); unet: 79 modules" \
  "$work/ldm.log" || { cat "$work/ldm.log"; exit 1; }
cmp "$work/ldm.npy" "$work/kohya-sd.npy"
# An LDM name on a slot this UNet fills with nothing (its second down block
# has no attention) is refused, not dropped.
tensors "$work/noattn.safetensors" \
  lora_unet_input_blocks_3_1_proj_in.lora_down.weight=4x64 \
  lora_unet_input_blocks_3_1_proj_in.lora_up.weight=64x4
expect_error "(Stable Diffusion's name for the UNet's down_blocks_1_attentions_0_proj_in) names no weight of unet" \
  "$B/fresco-run" "$work/sd1.fplan" --weights "$work/sd" "${prompts[@]}" \
  -o "$work/x.png" --steps 1 --lora "$work/noattn.safetensors"
# tp=2 splits the ResNets' convolutions by output and input channels.
"$B/fresco-run" "$work/sdtp2.fplan" --weights "$work/sd" "${prompts[@]}" \
  --negative-prompt "blurry" --steps 4 --latents "@$work/sx.npy" \
  -o "$work/tp2.png" --output-latents "@$work/sdtp2.npy" --timeout 60 \
  --quiet --lora "$work/sdconv.safetensors:0.7" 2> /dev/null
py "$here/compare_npy.py" "$work/sdtp2.npy" "$work/conv.npy" --rtol-max 1e-5
# ---- SDXL (the UNet and both CLIP encoders) and SD3 (the transformer and
# both CLIPs), PEFT LoRAs with mixed ranks, against diffusers.
xl=$here/sdxl_sd3_reference.py
for kind in sdxl sd3; do
  if [ $kind = sdxl ]; then
    size=(--height 32 --width 24) comps=unet,text_encoder,text_encoder_2 t5=()
  else
    size=(--height 24 --width 16) t5=(--max-sequence-length 16)
    comps=transformer,text_encoder,text_encoder_2
  fi
  py "$xl" make --kind $kind --out "$work/$kind" --seed 3 > /dev/null
  py "$xl" latents --out "$work/$kind-x.npy" --batch 2 --seed 5 "${size[@]}" \
    > /dev/null
  py "$here/make_lora.py" --pipeline "$work/$kind" \
    --out "$work/$kind.safetensors" --components $comps --mixed --seed 8
  # SDXL: sd-scripts' format, the UNet in Stable Diffusion's names.
  [ $kind = sd3 ] || py "$here/make_lora.py" --pipeline "$work/$kind" \
    --out "$work/$kind-ldm.safetensors" --components $comps --kohya ldm \
    --conv --seed 9
  "$B/fresco-compile" "$work/$kind" -o "$work/$kind.fplan" --batch 2 \
    "${size[@]}" "${t5[@]}" --quiet
  "$B/fresco-run" "$work/$kind.fplan" --weights "$work/$kind" "${prompts[@]}" \
    --steps 4 --latents "@$work/$kind-x.npy" -o "$work/$kind.png" \
    --output-latents "@$work/$kind.npy" --timeout 60 --quiet \
    --lora "$work/$kind.safetensors:0.6" 2> "$work/$kind.log"
  # SDXL reads its first CLIP's next-to-last layer: the last one's modules
  # are checked against the checkpoint and left out, as they change nothing.
  [ $kind = sd3 ] || grep -q "text_encoder: 12 modules (rank up to 8) and 6 on weights this plan does not use (text_model.encoder.layers.2.mlp.fc1.weight, ...), left out" \
    "$work/$kind.log" || { cat "$work/$kind.log"; exit 1; }
  py "$xl" run --pipeline "$work/$kind" "${prompts[@]}" --steps 4 \
    --latents "$work/$kind-x.npy" "${size[@]}" "${t5[@]}" --dtype float64 \
    --out-latents "$work/$kind-ref.npy" --lora "$work/$kind.safetensors:0.6" \
    > /dev/null 2>&1
  echo "== $kind"
  py "$here/compare_npy.py" "$work/$kind.npy" "$work/$kind-ref.npy" \
    --rtol-max 1e-4
  "$B/fresco-run" "$work/$kind.fplan" --weights "$work/$kind" "${prompts[@]}" \
    --steps 4 --latents "@$work/$kind-x.npy" -o "$work/$kind.png" \
    --output-latents "@$work/$kind-plain.npy" --timeout 60 --quiet
  differs "$work/$kind.npy" "$work/$kind-plain.npy"
  [ $kind = sd3 ] && continue
  "$B/fresco-run" "$work/$kind.fplan" --weights "$work/$kind" "${prompts[@]}" \
    --steps 4 --latents "@$work/$kind-x.npy" -o "$work/$kind.png" \
    --output-latents "@$work/$kind-ldm.npy" --timeout 60 --quiet \
    --lora "$work/$kind-ldm.safetensors:0.6" 2> "$work/$kind-ldm.log"
  grep -q "(kohya, scale 0.6): text_encoder: 12 modules (rank up to 4) and 6 on weights this plan does not use" \
    "$work/$kind-ldm.log" || { cat "$work/$kind-ldm.log"; exit 1; }
  differs "$work/$kind-ldm.npy" "$work/$kind-plain.npy"
  py "$xl" run --pipeline "$work/$kind" "${prompts[@]}" --steps 4 \
    --latents "$work/$kind-x.npy" "${size[@]}" --dtype float64 \
    --out-latents "$work/$kind-ldm-ref.npy" \
    --lora "$work/$kind-ldm.safetensors:0.6" > /dev/null 2>&1
  echo "== $kind, kohya with Stable Diffusion's names"
  py "$here/compare_npy.py" "$work/$kind-ldm.npy" "$work/$kind-ldm-ref.npy" \
    --rtol-max 1e-4
done
echo "lora: OK"
