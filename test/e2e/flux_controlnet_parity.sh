#!/usr/bin/env bash
# flux_controlnet_parity.sh: FluxControlNetPipeline on tiny random folders
# (make_flux_pipeline.py --controlnets K: a FluxControlNetModel of 1 double
# and 3 single blocks beside the transformer's 2 and 2, so FluxTransformer2DModel's
# ceil interval picks which sample each block adds) against the real
# diffusers FluxControlNetPipeline on CPU in float64, the control image's
# latents the VAE encoder's mean on both sides (diffusers 0.31 samples them
# from torch's global RNG): final packed latents within 1e-4 of their max
# magnitude for one net (default scale; scale 0.5 in a guidance window), two
# nets (a scale and a window each), ControlNet-Unions (--control-mode; one
# net, two with a mode each, and one over two images with
# --control-images 2, also inpainting at batch 1) and
# schnell, image-to-image (FluxControlNetImg2ImgPipeline: strength 0.6,
# a window over the steps that run) and inpainting
# (FluxControlNetInpaintPipeline: its defaults; two nets, on ulysses=2 and
# ring=5 too); scale 0, the window and another mode
# move them. Then several
# ranks against the 1-rank run within 1e-5: placement (encoders and VAE on
# rank 0: the control latents are sent), ulysses=2, ring=2, ulysses=3 (16 text tokens padded), ring=5 (96 image tokens too:
# the control latents padded with the latents), tp=2, pipeline=2, and two
# nets on ulysses=2; the union net on tp=2 and pipeline=2. Bad input: a
# missing or extra control image, one of another size,
# patch=2 (DistriFusion's stale activations in a ControlNet: not built), a
# ControlNet misfit, a union plan without --control-mode or with a mode
# past num_mode, --control-mode on another plan, a union net on ulysses,
# an XLabs-style pixel embedding.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
ref=$here/flux_pipeline_reference.py
H=32 W=48 L=16

py "$here/make_flux_pipeline.py" --out "$work/one" --seed 3 --controlnets 1 \
  > /dev/null
py "$here/make_flux_pipeline.py" --out "$work/two" --seed 4 --controlnets 2 \
  > /dev/null
py "$ref" --pipeline "$work/one" --make-latents "$work/noise.npy" --batch 2 \
  --seed 5 --height $H --width $W > /dev/null
for k in 1 2; do
  py "$here/sd_pipeline_reference.py" image --out "$work/c$k.png" \
    --height $H --width $W --seed $((6 + k)) > /dev/null
done
size=(--height $H --width $W --max-sequence-length $L)
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
run=(--steps 4 --latents "@$work/noise.npy" --timeout 60)
for p in one two; do
  "$B/fresco-compile" "$work/$p" -o "$work/$p.fplan" --batch 2 "${size[@]}" \
    --quiet
done
"$B/fresco-inspect" "$work/one.fplan" |
  grep -q "denoiser.*control_latents, control_scale" ||
  { echo "fresco-inspect shows no control latents input"; exit 1; }

case_() { # name pipe control-flags...: fresco-run vs diffusers
  local name=$1 pipe=$2
  shift 2
  "$B/fresco-run" "$work/$pipe.fplan" --weights "$work/$pipe" \
    "${prompts[@]}" "${run[@]}" "$@" --output-latents "@$work/f-$name.npy" \
    --quiet
  py "$ref" --pipeline "$work/$pipe" "${prompts[@]}" --latents \
    "$work/noise.npy" --steps 4 "${size[@]}" --dtype float64 "$@" \
    --guidance-scale "${GUIDANCE:-7.0}" \
    --out-latents "$work/r-$name.npy" > /dev/null
  echo "== $name"
  py "$here/compare_npy.py" "$work/f-$name.npy" "$work/r-$name.npy" \
    --rtol-max 1e-4
}
# FluxControlNetPipeline's defaults: guidance 7.0, scale 1.0.
case_ default one --control-image "$work/c1.png"
case_ window one --control-image "$work/c1.png" --controlnet-scale 0.5 \
  --control-guidance-start 0.25 --control-guidance-end 0.75
case_ two two --control-image "$work/c1.png" --control-image "$work/c2.png" \
  --controlnet-scale 0.7,1.2 --control-guidance-start 0,0.5 \
  --control-guidance-end 0.5,1
"$B/fresco-run" "$work/one.fplan" --weights "$work/one" "${prompts[@]}" \
  "${run[@]}" --control-image "$work/c1.png" --controlnet-scale 0 \
  --output-latents "@$work/f-zero.npy" --quiet
for other in zero window; do
  if py "$here/compare_npy.py" "$work/f-$other.npy" "$work/f-default.npy" \
    --rtol-max 1e-3 > /dev/null; then
    echo "the ControlNet's $other run gave the default's latents"; exit 1
  fi
done

# Image-to-image (FluxControlNetImg2ImgPipeline): strength 0.6 (3 of 4
# steps; the class's default: the same bytes without --strength), scale 1.0,
# and a window counted over the steps that run (start 0.4 of 3 steps keeps
# the last; counted over all 4 timesteps it would keep the last two); the
# init image's latents the encoder's mean as the control image's.
py "$here/sd_pipeline_reference.py" image --out "$work/in.png" --height $H \
  --width $W --seed 2 > /dev/null
case_ i2i one --control-image "$work/c1.png" --image "$work/in.png" \
  --strength 0.6
"$B/fresco-run" "$work/one.fplan" --weights "$work/one" "${prompts[@]}" \
  "${run[@]}" --control-image "$work/c1.png" --image "$work/in.png" \
  --output-latents "@$work/f-i2i-default.npy" --quiet
cmp "$work/f-i2i-default.npy" "$work/f-i2i.npy"
case_ i2i-window one --control-image "$work/c1.png" --image "$work/in.png" \
  --strength 0.75 --control-guidance-start 0.4
# Inpainting (FluxControlNetInpaintPipeline): its defaults (strength 0.6,
# guidance 7.0, scale 1.0), and two nets at strength 0.9 with a window; the
# latter on ulysses=2 and ring=5 (uneven) equals 1 rank.
py "$here/sd_pipeline_reference.py" mask --out "$work/mask.png" --height $H \
  --width $W --seed 4 --mode L > /dev/null
inpaint=(--image "$work/in.png" --mask "$work/mask.png")
case_ inpaint one --control-image "$work/c1.png" "${inpaint[@]}" \
  --strength 0.6
"$B/fresco-run" "$work/one.fplan" --weights "$work/one" "${prompts[@]}" \
  "${run[@]}" --control-image "$work/c1.png" "${inpaint[@]}" \
  --output-latents "@$work/f-inpaint-default.npy" --quiet
cmp "$work/f-inpaint-default.npy" "$work/f-inpaint.npy"
inpaint_two=(--control-image "$work/c1.png" --control-image "$work/c2.png"
  "${inpaint[@]}" --strength 0.9 --control-guidance-start 0.3
  --controlnet-scale 0.8,1.1)
case_ inpaint-two two "${inpaint_two[@]}"
for par in ulysses=2 ring=5; do
  "$B/fresco-compile" "$work/two" -o "$work/two-$par.fplan" --batch 2 \
    "${size[@]}" --ranks ${par#*=} --parallel $par --quiet
  "$B/fresco-run" "$work/two-$par.fplan" --weights "$work/two" \
    "${prompts[@]}" "${run[@]}" "${inpaint_two[@]}" \
    --output-latents "@$work/m-inpaint-$par.npy" --quiet
  echo "== inpainting, two nets, $par"
  py "$here/compare_npy.py" "$work/m-inpaint-$par.npy" \
    "$work/f-inpaint-two.npy" --rtol-max 1e-5
done

# ControlNet-Union (num_mode 5): the mode's embedding token joins the net's
# text tokens; another mode moves the latents.
py "$here/make_flux_pipeline.py" --out "$work/union" --seed 6 --controlnets 1 \
  --union 5 > /dev/null
"$B/fresco-compile" "$work/union" -o "$work/union.fplan" --batch 2 \
  "${size[@]}" --quiet
case_ union union --control-image "$work/c1.png" --control-mode 3
"$B/fresco-run" "$work/union.fplan" --weights "$work/union" "${prompts[@]}" \
  "${run[@]}" --control-image "$work/c1.png" --control-mode 0 \
  --output-latents "@$work/f-mode0.npy" --quiet
# (One token among 113: a small move, 9e-4 of the magnitude here.)
if py "$here/compare_npy.py" "$work/f-mode0.npy" "$work/f-union.npy" \
  --rtol-max 1e-5 > /dev/null; then
  echo "--control-mode 0 and 3 gave the same latents"; exit 1
fi

# FLUX.1-schnell with a schnell ControlNet (no guidance embedders).
py "$here/make_flux_pipeline.py" --out "$work/schnell" --seed 5 --schnell \
  --controlnets 1 > /dev/null
"$B/fresco-compile" "$work/schnell" -o "$work/schnell.fplan" --batch 2 \
  "${size[@]}" --quiet
case_ schnell schnell --control-image "$work/c2.png"

# Several ranks against the 1-rank run.
multi() { # name pipe ranks compile-flags...
  local name=$1 pipe=$2 ranks=$3 images=(--control-image "$work/c1.png")
  shift 3
  [ "$pipe" = two ] && images+=(--control-image "$work/c2.png")
  "$B/fresco-compile" "$work/$pipe" -o "$work/$name.fplan" --batch 2 \
    "${size[@]}" --ranks "$ranks" "$@" --quiet
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/$pipe" \
    "${prompts[@]}" "${run[@]}" "${images[@]}" --controlnet-scale 0.8 \
    --control-guidance-end 0.75 --output-latents "@$work/m-$name.npy" --quiet
  "$B/fresco-run" "$work/$pipe.fplan" --weights "$work/$pipe" \
    "${prompts[@]}" "${run[@]}" "${images[@]}" --controlnet-scale 0.8 \
    --control-guidance-end 0.75 --output-latents "@$work/m1-$pipe.npy" --quiet
  echo "== $name ($ranks ranks: $*)"
  py "$here/compare_npy.py" "$work/m-$name.npy" "$work/m1-$pipe.npy" \
    --rtol-max 1e-5
}
multi placement one 2 --place \
  text_encoder=0,text_encoder_2=0,vae=0,vae_encoder=0,transformer=1
multi ulysses2 one 2 --parallel ulysses=2
multi ring2 one 2 --parallel ring=2
multi ulysses3 one 3 --parallel ulysses=3
multi ring5 one 5 --parallel ring=5
multi tp2 one 2 --parallel tp=2
multi pipeline2 one 2 --parallel pipeline=2
multi two-ulysses2 two 2 --parallel ulysses=2
# Two union nets, a mode each (the builder slices the mode input per net).
py "$here/make_flux_pipeline.py" --out "$work/union2" --seed 7 \
  --controlnets 2 --union 4 > /dev/null
"$B/fresco-compile" "$work/union2" -o "$work/union2.fplan" --batch 2 \
  "${size[@]}" --quiet
case_ union2 union2 --control-image "$work/c1.png" --control-image \
  "$work/c2.png" --control-mode 1,3 --controlnet-scale 0.6,1.1
# One union net over two control images (--control-images 2: diffusers'
# FluxMultiControlNetModel of one union net), a mode, scale and window each;
# its weights stored once. diffusers 0.31 sizes its window list by the nets
# (1) unless given per image, and then reads only the first image: the
# reference gets the windows per image.
cp -r "$work/union" "$work/unionx2"
sed -i 's/"FluxControlNetModel"/"FluxMultiControlNetModel"/' \
  "$work/unionx2/model_index.json"
"$B/fresco-compile" "$work/unionx2" -o "$work/unionx2.fplan" --batch 2 \
  "${size[@]}" --control-images 2 --quiet
unionx2=(--control-image "$work/c1.png" --control-image "$work/c2.png"
  --control-mode 1,3 --controlnet-scale 0.6,1.1 --control-guidance-start 0,0.25
  --control-guidance-end 0.75,1)
case_ unionx2 unionx2 "${unionx2[@]}"
weights() { "$B/fresco-inspect" "$1" | grep -m1 "weights"; }
[ "$(weights "$work/unionx2.fplan")" = "$(weights "$work/union.fplan")" ] ||
  { echo "--control-images 2 stored the union net's weights twice:" \
    "$(weights "$work/unionx2.fplan") vs $(weights "$work/union.fplan")"; exit 1; }
for par in tp=2 pipeline=2; do
  "$B/fresco-compile" "$work/unionx2" -o "$work/unionx2-$par.fplan" \
    --batch 2 "${size[@]}" --control-images 2 --ranks 2 --parallel $par \
    --quiet
  "$B/fresco-run" "$work/unionx2-$par.fplan" --weights "$work/unionx2" \
    "${prompts[@]}" "${run[@]}" "${unionx2[@]}" \
    --output-latents "@$work/m-unionx2-$par.npy" --quiet
  echo "== union over two images, $par"
  py "$here/compare_npy.py" "$work/m-unionx2-$par.npy" "$work/f-unionx2.npy" \
    --rtol-max 1e-5
done
# And inpainting with it (FluxControlNetInpaintPipeline), at batch 1: 0.31's
# inpaint class does not expand a union net's modes to a batch of 2 (its
# text-to-image class does), so it cannot run the batch-2 case.
py "$ref" --pipeline "$work/unionx2" --make-latents "$work/noise1.npy" \
  --batch 1 --seed 5 --height $H --width $W > /dev/null
"$B/fresco-compile" "$work/unionx2" -o "$work/unionx2-b1.fplan" \
  "${size[@]}" --control-images 2 --quiet
fox=(--prompt "a red fox in the snow" --steps 4 --latents)
"$B/fresco-run" "$work/unionx2-b1.fplan" --weights "$work/unionx2" \
  "${fox[@]}" "@$work/noise1.npy" "${unionx2[@]}" "${inpaint[@]}" \
  --strength 0.6 --output-latents "@$work/f-unionx2-inpaint.npy" --quiet
py "$ref" --pipeline "$work/unionx2" "${fox[@]}" "$work/noise1.npy" \
  "${size[@]}" --dtype float64 "${unionx2[@]}" "${inpaint[@]}" \
  --strength 0.6 --guidance-scale 7.0 \
  --out-latents "$work/r-unionx2-inpaint.npy" > /dev/null
echo "== union over two images, inpainting (batch 1)"
py "$here/compare_npy.py" "$work/f-unionx2-inpaint.npy" \
  "$work/r-unionx2-inpaint.npy" --rtol-max 1e-4
for par in tp=2 pipeline=2; do
  "$B/fresco-compile" "$work/union" -o "$work/union-$par.fplan" --batch 2 \
    "${size[@]}" --ranks 2 --parallel $par --quiet
  "$B/fresco-run" "$work/union-$par.fplan" --weights "$work/union" \
    "${prompts[@]}" "${run[@]}" --control-image "$work/c1.png" \
    --control-mode 3 --output-latents "@$work/m-union-$par.npy" --quiet
  echo "== union, $par"
  py "$here/compare_npy.py" "$work/m-union-$par.npy" "$work/f-union.npy" \
    --rtol-max 1e-5
done

# Bad input: clear errors.
bad() { # message plan flags...
  local msg=$1 plan=$2
  shift 2
  expect_error "$msg" "$B/fresco-run" "$work/$plan.fplan" \
    --weights "$work/$plan" "${prompts[@]}" --steps 2 -o "$work/x.png" \
    --timeout 60 --quiet "$@"
}
bad "give its control image with --control-image" one
bad "got 1 --control-image flag(s)" two --control-image "$work/c1.png"
py "$here/sd_pipeline_reference.py" image --out "$work/small.png" \
  --height 16 --width 16 --seed 2 > /dev/null
bad "control image 1 of 1 is 16x16 pixels, the plan's images 48x32" one \
  --control-image "$work/small.png"
expect_error "patch with a ControlNet in 'transformer' is not implemented" \
  "$B/fresco-compile" "$work/one" -o "$work/x.fplan" "${size[@]}" --ranks 2 \
  --parallel patch=2
bad "this plan runs a ControlNet-Union: give each control image's mode" \
  union --control-image "$work/c1.png"
bad "embedding: id 5 at position 0 is outside the table's [0, 5)" union \
  --control-image "$work/c1.png" --control-mode 5
bad "--control-mode: this plan's ControlNets have no modes" one \
  --control-image "$work/c1.png" --control-mode 1
expect_error "--control-images: controlnet is not a ControlNet-Union" \
  "$B/fresco-compile" "$work/one" -o "$work/x.fplan" "${size[@]}" \
  --control-images 2
expect_error "--control-images applies to one ControlNet-Union; this folder \
has 2 ControlNets" "$B/fresco-compile" "$work/two" -o "$work/x.fplan" \
  "${size[@]}" --control-images 2
expect_usage "--control-images must be in 1..16, got 0" "$B/fresco-compile" \
  "$work/union" -o "$work/x.fplan" "${size[@]}" --control-images 0
py "$here/make_flux_pipeline.py" --out "$work/plain" --seed 8 > /dev/null
expect_error "--control-images applies to a FluxControlNetPipeline folder \
(one ControlNet-Union over several control images), not FluxPipeline" \
  "$B/fresco-compile" "$work/plain" -o "$work/x.fplan" "${size[@]}" \
  --control-images 2
for par in ulysses=2 ulysses=3 ring=2; do # (ulysses=3: uneven text too)
  expect_error "$par with a ControlNet-Union is not implemented" \
    "$B/fresco-compile" "$work/union" -o "$work/x.fplan" "${size[@]}" \
    --ranks ${par#*=} --parallel $par
done
cp -r "$work/one" "$work/hint"
py - "$work/hint/controlnet/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["conditioning_embedding_channels"] = 16
json.dump(c, open(sys.argv[1], "w"))
PY
expect_error "input_hint_block, XLabs-style) is not implemented" \
  "$B/fresco-compile" "$work/hint" -o "$work/x.fplan" "${size[@]}"
cp -r "$work/one" "$work/misfit"
py - "$work/misfit/controlnet/config.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])); c["guidance_embeds"] = False
json.dump(c, open(sys.argv[1], "w"))
PY
expect_error "controlnet: the ControlNet's guidance_embeds is false" \
  "$B/fresco-compile" "$work/misfit" -o "$work/x.fplan" "${size[@]}"
echo "OK"
