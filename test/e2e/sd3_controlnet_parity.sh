#!/usr/bin/env bash
# sd3_controlnet_parity.sh: StableDiffusion3ControlNetPipeline on tiny random
# folders (sdxl_sd3_reference.py make --kind sd3 --controlnets K: a
# 4-block transformer and SD3ControlNetModels of 2 blocks, so sample i // 2
# lands after block i and the context_pre_only last block adds none)
# against the real diffusers class on CPU in float64, the control image's
# latents the VAE encoder's mean on both sides (diffusers 0.31 samples them
# from torch's global RNG) and scaled as 0.31 scales them (scaling_factor,
# no shift): final latents within 1e-4 of their max magnitude for one net
# (default scale; scale 0.5 in a guidance window) and two nets (a scale and
# a window each); scale 0 moves them. Then several ranks against the 1-rank
# run within 1e-5: cfg=2, placement (encoders and VAE on rank 0), tp=2,
# ulysses=2, ring=2, ring=5 and ulysses=5 (uneven tokens), ring=4 (even
# tokens, uneven patch rows), pipeline=2, and
# two nets on cfg=2 and ulysses=2.
# StableDiffusion3ControlNetInpaintingPipeline (make --inpaint: the net's
# extra_conditioning_channels 1): the control image masked to -1 where the
# control mask is white, its latent mean shifted and scaled, then 1 - the
# mask on the latent grid, against diffusers within 1e-4 (default; scale
# 0.6 in a window; guidance 1); another mask moves the result; cfg=2,
# ulysses=2, ring=5 and tp=2 against 1 rank within 1e-5. Bad input:
# image-to-image, a control image of another size, a ControlNet whose
# blocks do not map onto the transformer's, --guess-mode (SD's and SDXL's
# nets only), an inpainting net in the plain
# class or a plain net in the inpainting class, a missing or misplaced
# --control-mask, a mask of another size, --image or --mask on the
# inpainting plan.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/sdxl_sd3_reference.py
size=(--height 24 --width 16)

py "$ref" make --kind sd3 --controlnets 1 --out "$work/one" --seed 3 \
  > /dev/null
py "$ref" make --kind sd3 --controlnets 2 --out "$work/two" --seed 4 \
  > /dev/null
py "$ref" latents --out "$work/x.npy" --batch 2 --seed 5 "${size[@]}" \
  > /dev/null
for k in 1 2; do
  py "$here/sd_pipeline_reference.py" image --out "$work/c$k.png" \
    --height 24 --width 16 --seed $((6 + k)) > /dev/null
done
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
for p in one two; do
  "$B/fresco-compile" "$work/$p" -o "$work/$p.fplan" --batch 2 "${size[@]}" \
    --max-sequence-length 16 --quiet
done
"$B/fresco-inspect" "$work/one.fplan" |
  grep -q "denoiser.*control_latents, control_scale" ||
  { echo "fresco-inspect shows no control latents input"; exit 1; }

generate() { # name plan pipe flags...: $work/NAME.npy
  local name=$1 plan=$2 pipe=$3
  shift 3
  "$B/fresco-run" "$work/$plan.fplan" --weights "$work/$pipe" \
    "${prompts[@]}" --steps 4 --latents "@$work/x.npy" --timeout 60 \
    --output-latents "@$work/$name.npy" --quiet "$@"
}
case_() { # name pipe control-flags...: fresco-run vs diffusers
  local name=$1 pipe=$2
  shift 2
  generate "f-$name" "$pipe" "$pipe" "$@"
  py "$ref" run --pipeline "$work/$pipe" "${prompts[@]}" --steps 4 \
    --latents "$work/x.npy" "${size[@]}" --max-sequence-length 16 \
    --dtype float64 --out-latents "$work/r-$name.npy" "$@" > /dev/null 2>&1
  echo "== $name"
  py "$here/compare_npy.py" "$work/f-$name.npy" "$work/r-$name.npy" \
    --rtol-max 1e-4
}
case_ default one --control-image "$work/c1.png"
case_ window one --control-image "$work/c1.png" --controlnet-scale 0.5 \
  --control-guidance-start 0.25 --control-guidance-end 0.75
case_ two two --control-image "$work/c1.png" --control-image "$work/c2.png" \
  --controlnet-scale 0.7,1.2 --control-guidance-start 0,0.5 \
  --control-guidance-end 0.5,1
generate f-zero one one --control-image "$work/c1.png" --controlnet-scale 0
if py "$here/compare_npy.py" "$work/f-zero.npy" "$work/f-default.npy" \
  --rtol-max 1e-5 > /dev/null; then
  echo "--controlnet-scale 0 gave the default's latents"; exit 1
fi

# Several ranks against the 1-rank run.
multi() { # name pipe ranks compile-flags...
  local name=$1 pipe=$2 ranks=$3 images=(--control-image "$work/c1.png")
  shift 3
  [ "$pipe" = two ] && images+=(--control-image "$work/c2.png")
  "$B/fresco-compile" "$work/$pipe" -o "$work/$name.fplan" --batch 2 \
    "${size[@]}" --max-sequence-length 16 --ranks "$ranks" "$@" --quiet
  generate "m-$name" "$name" "$pipe" "${images[@]}" --controlnet-scale 0.8 \
    --control-guidance-end 0.75
  generate "m1-$name" "$pipe" "$pipe" "${images[@]}" --controlnet-scale 0.8 \
    --control-guidance-end 0.75
  echo "== $name ($ranks ranks: $*)"
  py "$here/compare_npy.py" "$work/m-$name.npy" "$work/m1-$name.npy" \
    --rtol-max 1e-5
}
multi cfg2 one 2 --parallel cfg=2
multi placement one 2 --place \
  text_encoder=0,text_encoder_2=0,text_encoder_3=0,vae=0,vae_encoder=0,transformer=1
multi tp2 one 2 --parallel tp=2
multi ulysses2 one 2 --parallel ulysses=2
multi ring2 one 2 --parallel ring=2
# Uneven: 24 image tokens padded to 25 after both patch embeddings of the
# latents (the transformer's and the net's) and the control latents' (ring=5;
# ulysses=5 pads the 2 heads to 5 too).
multi ring5 one 5 --parallel ring=5
multi ulysses5 one 5 --parallel ulysses=5
# ring=4 divides the 24 tokens but not the 6 patch rows: whole rows are
# padded (32 tokens), so that the unpatchify's reshape carries the shares.
multi ring4 one 4 --parallel ring=4
multi pipeline2 one 2 --parallel pipeline=2
multi two-cfg2 two 2 --parallel cfg=2
multi two-ulysses2 two 2 --parallel ulysses=2

# Bad input: clear errors.
expect_error "image-to-image with an SD3 ControlNet is not implemented" \
  "$B/fresco-run" "$work/one.fplan" --weights "$work/one" "${prompts[@]}" \
  --steps 2 -o "$work/x.png" --control-image "$work/c1.png" \
  --image "$work/c1.png" --quiet
expect_error "--guess-mode applies to a Stable Diffusion or SDXL ControlNet \
plan" "$B/fresco-run" "$work/one.fplan" --weights "$work/one" \
  "${prompts[@]}" --steps 2 -o "$work/x.png" --control-image "$work/c1.png" \
  --guess-mode --quiet
py "$here/sd_pipeline_reference.py" image --out "$work/small.png" \
  --height 16 --width 16 --seed 2 > /dev/null
expect_error "control image 1 of 1 is 16x16 pixels, the plan's images 16x24" \
  "$B/fresco-run" "$work/one.fplan" --weights "$work/one" "${prompts[@]}" \
  --steps 2 -o "$work/x.png" --control-image "$work/small.png" --quiet
edit() { # folder key=value: a copy of one with controlnet/config.json edited
  cp -r "$work/one" "$work/$1"
  py - "$work/$1/controlnet/config.json" "$2" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); k, v = sys.argv[2].split("=")
c[k] = json.loads(v)
json.dump(c, open(sys.argv[1], "w"))
PY
}
edit deep num_layers=5
expect_error "controlnet: the ControlNet's 5 blocks do not map onto the \
transformer's 4" "$B/fresco-compile" "$work/deep" -o "$work/x.fplan" \
  "${size[@]}" --max-sequence-length 16
edit extra extra_conditioning_channels=1
expect_error "controlnet: extra_conditioning_channels is 1: \
StableDiffusion3ControlNetPipeline gives its nets the control latents alone" \
  "$B/fresco-compile" "$work/extra" -o "$work/x.fplan" "${size[@]}" \
  --max-sequence-length 16

# StableDiffusion3ControlNetInpaintingPipeline: the net repaints the control
# image where the control mask is white.
py "$ref" make --kind sd3 --controlnets 1 --inpaint --out "$work/inp" \
  --seed 5 > /dev/null
py - "$work" <<'PY'
import sys
import numpy as np
from PIL import Image
work = sys.argv[1]
m = np.zeros((24, 16), np.uint8)
m[5:17, 3:12] = 255  # a box, edges off the 2x latent grid
Image.fromarray(m).save(f"{work}/mask.png")
Image.fromarray(np.ascontiguousarray(m.T[:16, :])).resize((16, 24)).save(f"{work}/mask2.png")
PY
"$B/fresco-compile" "$work/inp" -o "$work/inp.fplan" --batch 2 "${size[@]}" \
  --max-sequence-length 16 --quiet
"$B/fresco-inspect" "$work/inp.fplan" | grep -q "control latents + 1 mask channel" ||
  { echo "fresco-inspect shows no control mask channel"; exit 1; }
inp=(--control-image "$work/c1.png" --control-mask "$work/mask.png")
case_ inp-default inp "${inp[@]}" --negative-prompt "blurry"
case_ inp-window inp "${inp[@]}" --controlnet-scale 0.6 \
  --control-guidance-start 0.25 --control-guidance-end 0.75
case_ inp-unguided inp "${inp[@]}" --guidance-scale 1
generate f-inp-mask2 inp inp --control-image "$work/c1.png" \
  --control-mask "$work/mask2.png" --negative-prompt "blurry"
if py "$here/compare_npy.py" "$work/f-inp-mask2.npy" "$work/f-inp-default.npy" \
  --rtol-max 1e-5 > /dev/null; then
  echo "another --control-mask gave the same latents"; exit 1
fi
for par in cfg=2 ulysses=2 ring=5 tp=2; do
  "$B/fresco-compile" "$work/inp" -o "$work/inp-$par.fplan" --batch 2 \
    "${size[@]}" --max-sequence-length 16 --ranks "${par#*=}" \
    --parallel "$par" --quiet
  generate "f-inp-$par" "inp-$par" inp "${inp[@]}" --negative-prompt "blurry"
  echo "== inpainting on $par"
  py "$here/compare_npy.py" "$work/f-inp-$par.npy" "$work/f-inp-default.npy" \
    --rtol-max 1e-5
done
expect_error "this plan runs an inpainting SD3 ControlNet \
(StableDiffusion3ControlNetInpaintingPipeline): give the mask" \
  "$B/fresco-run" "$work/inp.fplan" --weights "$work/inp" "${prompts[@]}" \
  --steps 2 -o "$work/x.png" --control-image "$work/c1.png" --quiet
expect_error "--control-mask: this plan's ControlNet has no mask input" \
  "$B/fresco-run" "$work/one.fplan" --weights "$work/one" "${prompts[@]}" \
  --steps 2 -o "$work/x.png" "${inp[@]}" --quiet
expect_error "takes no --image or --mask: give the image to repaint as \
--control-image" "$B/fresco-run" "$work/inp.fplan" --weights "$work/inp" \
  "${prompts[@]}" --steps 2 -o "$work/x.png" "${inp[@]}" \
  --image "$work/c1.png" --mask "$work/mask.png" --quiet
expect_error "takes no --image: give the image to repaint" \
  "$B/fresco-run" "$work/inp.fplan" --weights "$work/inp" "${prompts[@]}" \
  --steps 2 -o "$work/x.png" "${inp[@]}" --image "$work/c1.png" --quiet
py "$here/sd_pipeline_reference.py" image --out "$work/small-mask.png" \
  --height 16 --width 16 --seed 2 > /dev/null
expect_error "the control mask is 16x16 pixels, the plan's images 16x24" \
  "$B/fresco-run" "$work/inp.fplan" --weights "$work/inp" "${prompts[@]}" \
  --steps 2 -o "$work/x.png" --control-image "$work/c1.png" \
  --control-mask "$work/small-mask.png" --quiet
cp -r "$work/inp" "$work/inp-plain"
py - "$work/inp-plain/controlnet/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["extra_conditioning_channels"] = 0
json.dump(c, open(sys.argv[1], "w"))
PY
expect_error "controlnet: extra_conditioning_channels is 0: \
StableDiffusion3ControlNetInpaintingPipeline gives its net the masked \
image's latents and 1 mask channel" "$B/fresco-compile" "$work/inp-plain" \
  -o "$work/x.fplan" "${size[@]}" --max-sequence-length 16
echo "OK"
