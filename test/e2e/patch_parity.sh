#!/usr/bin/env bash
# patch_parity.sh dit|sd|flux|sd3 [patch|pipefusion]: --parallel patch=P
# (DistriFusion's displaced patches; the default) or pipefusion=S
# --pipefusion-patches M (PipeFusion: M patches run in turn through S
# stages, the emulation's --pipefusion M) on a tiny random pipeline, Gloo
# ranks on loopback, 4 steps:
#  - exact when every step is fresh (--fresh-steps 4): the final latents
#    within 1e-5 of the 1-rank run's max magnitude;
#  - stale after the first step (--fresh-steps 1, the default): against an
#    independent one-process emulation of the same ranks on the real
#    diffusers models (distrifusion.py: every self-attention's queries of a
#    rank's tokens read their own keys and values fresh and the other
#    ranks' from the previous step), in float64, within 1e-5 of max; and
#    measurably away from the exact run (the staleness is there);
#  - fresco-run --fresh-steps overrides the plan's count;
#  - bad input: patch with ulysses, --fresh-steps without patch (compile
#    and run) or with patch=1;
#  - dit: pipeline=3 x patch=2, whose first stage holds no self-attention.
# Layouts: dit: patch=2, patch=3 (4 patch rows: tokens padded), cfg=2 x
# patch=2, tp=2 x patch=2, patch=2 x pipeline=2; sd: patch=2 (rows with
# halos, group norms over every band), cfg=2 x patch=2; flux: patch=2
# (text tokens split with the image tokens), patch=5 (both padded),
# placement x patch=2.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
model=$1
strategy=${2:-patch}
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
steps=4

case $model in
dit)
  ref=$here/dit_pipeline_reference.py
  py "$here/make_diffusers_pipeline.py" \
    --template "$root/models/dit/pipelines/dit-tiny" --out "$work/pipe" \
    --seed 2 > /dev/null
  py "$ref" --pipeline "$work/pipe" --make-latents "$work/x.npy" --batch 2 \
    --seed 4 > /dev/null
  size=()
  inputs=(--class-label 3,7 --guidance-scale 4)
  reference() { # out flags...
    local out=$1
    shift
    py "$ref" --pipeline "$work/pipe" --class-labels 3,7 --steps $steps \
      --guidance-scale 4 --latents "@$work/x.npy" --dtype float64 \
      --out-latents "$out" "$@" > /dev/null
  }
  ;;
sd)
  ref=$here/sd_pipeline_reference.py
  py "$ref" make --out "$work/pipe" --seed 3 --scheduler DDIMScheduler > /dev/null
  py "$ref" latents --pipeline "$work/pipe" --out "$work/x.npy" --batch 2 \
    --seed 5 --height 32 --width 24 > /dev/null
  size=(--height 32 --width 24)
  inputs=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!"
    --negative-prompt "blurry")
  reference() {
    local out=$1
    shift
    py "$ref" run --pipeline "$work/pipe" "${inputs[@]}" --steps $steps \
      --latents "$work/x.npy" --height 32 --width 24 --dtype float64 \
      --out-latents "$out" "$@" > /dev/null
  }
  ;;
flux)
  ref=$here/flux_pipeline_reference.py
  py "$here/make_flux_pipeline.py" --out "$work/pipe" --seed 3 > /dev/null
  py "$ref" --pipeline "$work/pipe" --make-latents "$work/x.npy" --batch 2 \
    --seed 5 --height 32 --width 48 > /dev/null
  size=(--height 32 --width 48 --max-sequence-length 16)
  inputs=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!"
    --guidance-scale 3.5)
  reference() {
    local out=$1
    shift
    py "$ref" --pipeline "$work/pipe" "${inputs[@]}" --latents "$work/x.npy" \
      --steps $steps --height 32 --width 48 --max-sequence-length 16 \
      --dtype float64 --out-latents "$out" "$@" > /dev/null
  }
  ;;
sd3)
  # SD3.5-like: joint attention over [image; context] and the image-only
  # attn2 of its dual-attention blocks.
  ref=$here/sdxl_sd3_reference.py
  py "$ref" make --kind sd3 --sd35 --out "$work/pipe" --seed 3 > /dev/null
  py "$ref" latents --out "$work/x.npy" --batch 2 --seed 5 --height 32 \
    --width 16 > /dev/null
  size=(--height 32 --width 16)
  inputs=(--prompt "a red fox in the snow" --prompt "Two cats, one dog!")
  reference() {
    local out=$1
    shift
    py "$ref" run --pipeline "$work/pipe" "${inputs[@]}" --steps $steps \
      --latents "$work/x.npy" "${size[@]}" --dtype float64 \
      --out-latents "$out" "$@" > /dev/null 2>&1
  }
  ;;
*)
  echo "usage: patch_parity.sh dit|sd|flux|sd3" >&2
  exit 2
  ;;
esac

compile() { # name ranks flags...
  local name=$1 ranks=$2
  shift 2
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    "${size[@]}" --ranks "$ranks" "$@" --quiet
}
generate() { # name out flags...
  local name=$1 out=$2
  shift 2
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" "${inputs[@]}" \
    --steps $steps --latents "@$work/x.npy" -o "$work/$out.png" \
    --output-latents "@$work/$out.npy" --timeout 60 --quiet "$@"
}
# Stale after fresh step(s): the emulation of P ranks, and not the exact run.
stale() { # name patches fresh
  local name=$1 p=$2 fresh=$3
  [ -f "$work/ref-$p-$fresh.npy" ] ||
    reference "$work/ref-$p-$fresh.npy" "--$strategy" "$p" \
      --fresh-steps "$fresh"
  echo "== $name, fresh steps $fresh: against the emulation of $strategy $p"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/ref-$p-$fresh.npy" \
    --rtol-max 1e-5
  py - "$work/$name.npy" "$work/one.npy" <<'PY'
import sys
import numpy as np
got, exact = np.load(sys.argv[1]), np.load(sys.argv[2])
d = np.abs(got - exact).max() / np.abs(exact).max()
print(f"stale vs exact: {d:.3g} of max")
assert d > 1e-5, "the stale run equals the exact one: nothing was stale"
PY
}
layout() { # name ranks patch compile-flags...
  local name=$1 ranks=$2 p=$3
  shift 3
  compile "$name" "$ranks" "$@"
  generate "$name" "$name-exact" --fresh-steps $steps
  ranks_match_one "$work/one.npy" "$work/$name-exact.npy"
  generate "$name" "$name"
  stale "$name" "$p" 1
}

compile one 1
generate one one
if [ "$strategy" = pipefusion ]; then
  # The stage count S does not enter the result: M patches, any S.
  case $model in
  dit)
    layout pf2 2 2 --parallel pipefusion=2
    layout pf2-m4 2 4 --parallel pipefusion=2 --pipefusion-patches 4
    # 4 patch rows in 3 patches: the tokens padded.
    layout pf3 3 3 --parallel pipefusion=3
    layout tp2-pf2 4 2 --parallel tp=2,pipefusion=2
    layout cfg2-pf2 4 2 --parallel cfg=2,pipefusion=2
    compile pf2-fresh2 2 --parallel pipefusion=2 --fresh-steps 2
    generate pf2-fresh2 fresh2
    generate pf2 fresh2-run --fresh-steps 2
    cmp "$work/fresh2.npy" "$work/fresh2-run.npy"
    stale fresh2 2 2
    ;;
  flux)
    layout pf2 2 2 --parallel pipefusion=2
    # 96 image and 16 text tokens in 5 patches, each padded on its own.
    layout pf2-m5 2 5 --parallel pipefusion=2 --pipefusion-patches 5
    layout placed-pf2 3 2 \
      --place text_encoder=0,text_encoder_2=0,vae=0,transformer=1+2 \
      --parallel pipefusion=2
    ;;
  sd3)
    layout pf2 2 2 --parallel pipefusion=2
    # The context tokens padded to 3 patches.
    layout pf2-m3 2 3 --parallel pipefusion=2 --pipefusion-patches 3
    ;;
  *)
    echo "patch_parity.sh: pipefusion runs dit, flux and sd3" >&2
    exit 2
    ;;
  esac
  "$B/fresco-inspect" "$work/pf2.fplan" | grep -F \
    "the first 1 step run the warm-up 'transformer_warmup' (exact)"
  bad() { # message compile-flags...
    expect_error "$1" "$B/fresco-compile" "$work/pipe" -o "$work/bad.fplan" \
      "${size[@]}" "${@:2}"
  }
  bad "PipeFusion's patches do not compose with another sequence split" \
    --ranks 4 --parallel ulysses=2,pipefusion=2
  bad "pipefusion already cuts the pipeline stages" --ranks 4 \
    --parallel pipefusion=2,pipeline=2
  bad "pipefusion=1 needs at least 2 pipeline stages" --parallel pipefusion=1
  expect_usage "--pipefusion-patches must be in 2..64, got 1" \
    "$B/fresco-compile" "$work/pipe" -o "$work/bad.fplan" "${size[@]}" \
    --ranks 2 --parallel pipefusion=2 --pipefusion-patches 1
  expect_usage "--pipefusion-patches must be in 2..64, got 0" \
    "$B/fresco-compile" "$work/pipe" -o "$work/bad.fplan" "${size[@]}" \
    --ranks 2 --parallel pipefusion=2 --pipefusion-patches 0
  if [ "$model" = dit ]; then
    # More patches than the 4 patch rows can be cut into: named by the flag.
    bad "--pipefusion-patches 8 cannot split" --ranks 2 \
      --parallel pipefusion=2 --pipefusion-patches 8
    expect_error "pipefusion needs a pipeline" "$B/fresco-compile" \
      "$work/pipe/transformer" -o "$work/bad.fplan" --ranks 2 \
      --parallel pipefusion=2
  fi
  bad "PipeFusion's warm-up twin of the denoiser: it runs where the denoiser does" \
    --ranks 2 --parallel pipefusion=2 --place transformer_warmup=0+1
  expect_usage "--pipefusion-patches goes with --parallel pipefusion=S" \
    "$B/fresco-compile" "$work/pipe" -o "$work/bad.fplan" "${size[@]}" \
    --ranks 2 --parallel pipeline=2 --pipefusion-patches 2
  exit 0
fi
case $model in
dit)
  layout patch2 2 2 --parallel patch=2
  layout patch3 3 3 --parallel patch=3
  layout cfg2-patch2 4 2 --parallel cfg=2,patch=2
  layout tp2-patch2 4 2 --parallel tp=2,patch=2
  layout patch2-pipeline2 4 2 --parallel patch=2,pipeline=2
  # Three stages: the first holds no self-attention (no stale gather on
  # its ranks), and --fresh-steps still applies to the plan.
  compile pipeline3-patch2 6 --parallel pipeline=3,patch=2
  generate pipeline3-patch2 pipeline3-exact --fresh-steps $steps
  ranks_match_one "$work/one.npy" "$work/pipeline3-exact.npy"
  # The plan's count overridden at run time.
  compile patch2-fresh2 2 --parallel patch=2 --fresh-steps 2
  generate patch2-fresh2 fresh2
  generate patch2 fresh2-run --fresh-steps 2
  cmp "$work/fresh2.npy" "$work/fresh2-run.npy"
  stale fresh2 2 2
  ;;
sd)
  layout patch2 2 2 --parallel patch=2
  layout cfg2-patch2 4 2 --parallel cfg=2,patch=2
  # PipeFusion's patches cannot run a UNet's convolutions one at a time.
  expect_error "pipefusion runs transformer denoisers (DiT, Flux, SD3), not UNets" \
    "$B/fresco-compile" "$work/pipe" -o "$work/bad.fplan" "${size[@]}" \
    --ranks 2 --parallel pipefusion=2
  ;;
sd3)
  layout patch2 2 2 --parallel patch=2
  ;;
flux)
  layout patch2 2 2 --parallel patch=2
  # Uneven: 96 image and 16 text tokens over 5 ranks, each padded on its own.
  layout patch5 5 5 --parallel patch=5
  layout placed-patch2 3 2 --place text_encoder=0,text_encoder_2=0,vae=0,transformer=1+2 \
    --parallel patch=2
  ;;
esac

expect_error "displaced patches do not compose with another sequence split" \
  "$B/fresco-compile" "$work/pipe" -o "$work/bad.fplan" "${size[@]}" \
  --ranks 4 --parallel ulysses=2,patch=2
expect_usage "--fresh-steps goes with --parallel patch=P" \
  "$B/fresco-compile" "$work/pipe" -o "$work/bad.fplan" "${size[@]}" \
  --ranks 2 --parallel ring=2 --fresh-steps 2
# patch=1 splits nothing: a count of fresh steps would be dropped.
expect_error "--fresh-steps: nothing compiled reads stale blocks" \
  "$B/fresco-compile" "$work/pipe" -o "$work/bad.fplan" "${size[@]}" \
  --parallel patch=1 --fresh-steps 2
expect_error "--fresh-steps: plan" "$B/fresco-run" "$work/one.fplan" \
  --weights "$work/pipe" "${inputs[@]}" --steps 1 --fresh-steps 1 \
  -o "$work/bad.png"
