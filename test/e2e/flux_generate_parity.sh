#!/usr/bin/env bash
# flux_generate_parity.sh dev|schnell: text-to-image end to end on a tiny
# random FluxPipeline folder written by diffusers itself
# (make_flux_pipeline.py: real CLIP BPE merges, a trained SentencePiece T5
# tokenizer, a 2-shard T5 index) against the real diffusers FluxPipeline on
# CPU in float64, from the same packed initial latents and prompts:
#  - 2 prompts (one with accents, Greek, ideographs and an emoji; dev: with a
#    separate, truncated --prompt-2 for T5), 4 steps:
#    final packed latents within 1e-4 of their max magnitude, PNGs of the
#    right size within one 8-bit level of diffusers' decoded images;
#  - bf16 storage (cpu-staged) within twice diffusers' own bf16 error;
#  - 1 prompt on the same 2-image plan (a padded batch): image 0 again;
#  - several ranks (Gloo processes) against the 1-rank run within 1e-5:
#    the seed's placement (text encoders and VAE on rank 0, the transformer
#    on rank 1: the embeddings are sent), tp=2 with the encoders on every
#    rank, placement x tp=2 on 3 ranks, pipeline=2, ulysses=2, placement x
#    ulysses=2 x ring=2 on 5 ranks, and uneven: ring=5 (112 tokens), ulysses=4
#    (2 heads);
#  - bad input: a missing tokenizer folder, a size the VAE and the 2x2
#    packing cannot divide, cfg parallel (Flux has no CFG batch), class
#    labels for a text pipeline, a missing prompt file.
# Needs FRESCO_BIN and FRESCO_PYTHON (see dit_forward_parity.sh).
set -euo pipefail
variant=$1
. "$(dirname "$0")/common.sh"
B=$FRESCO_BIN
H=32 W=48 L=16

flags=()
[ "$variant" = schnell ] && flags+=(--schnell)
py "$here/make_flux_pipeline.py" --out "$work/pipe" --seed 3 "${flags[@]}" \
  > /dev/null
py "$here/flux_pipeline_reference.py" --pipeline "$work/pipe" \
  --make-latents "$work/x.npy" --batch 2 --seed 5 --height $H --width $W \
  > /dev/null
prompts=(--prompt "a red fox in the snow" --prompt "Two cats, one dog! Zwei Kätzchen, ΟΔΟΣ 東京 🐱")
if [ "$variant" = dev ]; then
  prompts+=(--prompt-2 "a watercolor of a lighthouse at dusk with long reflections on the quiet water"
    --prompt-2 "macro photo of dew on a spider web")
fi
steps=4 guidance=3.5

"$B/fresco-compile" "$work/pipe" -o "$work/one.fplan" --batch 2 --height $H \
  --width $W --max-sequence-length $L
"$B/fresco-inspect" "$work/one.fplan"
"$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" "${prompts[@]}" \
  --steps $steps --guidance-scale $guidance --latents "@$work/x.npy" \
  -o "$work/img.png" --output-latents "@$work/one.npy" --stats \
  2> "$work/one.log"
cat "$work/one.log"
if [ "$variant" = dev ]; then
  grep -q "warning: the T5 prompt has" "$work/one.log" ||
    { echo "no truncation warning for the long --prompt-2"; exit 1; }
fi
py "$here/flux_pipeline_reference.py" --pipeline "$work/pipe" "${prompts[@]}" \
  --latents "$work/x.npy" --steps $steps --guidance-scale $guidance \
  --height $H --width $W --max-sequence-length $L --dtype float64 \
  --out-latents "$work/ref.npy" --out-images "$work/ref_img.npy" > /dev/null
py "$here/compare_npy.py" "$work/one.npy" "$work/ref.npy" --rtol-max 1e-4
pngs_match_reference "$work/img" "$work/ref_img.npy"

# bf16 storage (a plan compiled for it, on cpu-staged, the GPU's storage
# emulated): against the float64 pipeline within twice diffusers' own error
# in torch.bfloat16 plus 1e-3, as the forward tests (the timesteps, scaled
# by 1000 inside the model, stay f32).
"$B/fresco-compile" "$work/pipe" -o "$work/bf16.fplan" --batch 2 --height $H \
  --width $W --max-sequence-length $L --dtype bf16 --quiet
"$B/fresco-run" "$work/bf16.fplan" --weights "$work/pipe" --backend cpu-staged \
  "${prompts[@]}" --steps $steps --guidance-scale $guidance \
  --latents "@$work/x.npy" --output-latents "@$work/bf16.npy" --quiet
py "$here/flux_pipeline_reference.py" --pipeline "$work/pipe" "${prompts[@]}" \
  --latents "$work/x.npy" --steps $steps --guidance-scale $guidance \
  --height $H --width $W --max-sequence-length $L --dtype bfloat16 \
  --out-latents "$work/torch_bf16.npy" > /dev/null
within_twice_torch_error bf16 fresco "$work/bf16.npy" diffusers \
  "$work/torch_bf16.npy" "$work/ref.npy"

# One prompt on the 2-image plan: the batch is padded, image 0 is the same.
first_image "$work/x.npy" "$work/x0.npy"
first=(--prompt "a red fox in the snow")
[ "$variant" = dev ] && first+=(--prompt-2 "a watercolor of a lighthouse at dusk with long reflections on the quiet water")
"$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" "${first[@]}" \
  --steps $steps --guidance-scale $guidance --latents "@$work/x0.npy" \
  --output-latents "@$work/single.npy" --quiet
first_image "$work/ref.npy" "$work/ref0.npy"
py "$here/compare_npy.py" "$work/single.npy" "$work/ref0.npy" --rtol-max 1e-4

# Several ranks against the 1-rank run.
multi() { # name ranks compile-flags...
  local name=$1 ranks=$2
  shift 2
  "$B/fresco-compile" "$work/pipe" -o "$work/$name.fplan" --batch 2 \
    --height $H --width $W --max-sequence-length $L --ranks "$ranks" "$@" \
    --quiet
  "$B/fresco-run" "$work/$name.fplan" --weights "$work/pipe" "${prompts[@]}" \
    --steps $steps --guidance-scale $guidance --latents "@$work/x.npy" \
    -o "$work/$name.png" --output-latents "@$work/$name.npy" --timeout 60 \
    --quiet
  echo "== $name ($ranks ranks: $*)"
  py "$here/compare_npy.py" "$work/$name.npy" "$work/one.npy" --rtol-max 1e-5
  cmp "$work/$name-0.png" "$work/img-0.png" > /dev/null ||
    py - "$work/$name-0.png" "$work/img-0.png" <<'PY'
import sys
import numpy as np
from PIL import Image
a, b = (np.asarray(Image.open(p)).astype(int) for p in sys.argv[1:])
assert a.shape == b.shape and np.abs(a - b).max() <= 1, "PNGs differ"
PY
}
encoders=text_encoder=0,text_encoder_2=0,vae=0
multi placement 2 --place "$encoders,transformer=1"
multi tp2 2 --parallel tp=2
multi placement-tp2 3 --place "$encoders,transformer=1+2" --parallel tp=2
multi pipeline2 2 --parallel pipeline=2
multi ulysses2 2 --parallel ulysses=2
multi placement-usp 5 --place "$encoders,transformer=1+2+3+4" \
  --parallel ulysses=2,ring=2
# Uneven: 96 + 16 tokens on 5 ring ranks (padded), 2 heads on ulysses=4.
multi ring5 5 --parallel ring=5
multi ulysses4 4 --parallel ulysses=4

# Bad input: clear errors, exit 1.
cp -r "$work/pipe" "$work/notok"
rm -rf "$work/notok/tokenizer_2"
expect_error "has no 'tokenizer_2' folder" "$B/fresco-run" "$work/one.fplan" \
  --weights "$work/notok" --prompt "a fox" -o "$work/x.png" --steps 1
cp -r "$work/pipe" "$work/nomerges"
rm "$work/nomerges/tokenizer/merges.txt"
expect_error "merges.txt" "$B/fresco-run" "$work/one.fplan" \
  --weights "$work/nomerges" --prompt "a fox" -o "$work/x.png" --steps 1
expect_error "must be a multiple of 4 pixels" "$B/fresco-compile" \
  "$work/pipe" -o "$work/bad.fplan" --height 30
expect_error "has none (guidance" "$B/fresco-compile" "$work/pipe" \
  -o "$work/bad.fplan" --ranks 2 --parallel cfg=2
expect_error "conditioned on prompts, not class labels" "$B/fresco-run" \
  "$work/one.fplan" --weights "$work/pipe" --class-label 1 -o "$work/x.png"
expect_error "cannot read the prompt file" "$B/fresco-run" "$work/one.fplan" \
  --weights "$work/pipe" --prompt-file "$work/none.txt" -o "$work/x.png"
expect_error "has no classifier-free guidance batch: a negative prompt does not apply" \
  "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" --prompt "a fox" \
  --negative-prompt "blurry" -o "$work/x.png" --steps 1
expect_error "has no classifier-free guidance batch: --negative-prompt-2 does not apply" \
  "$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" --prompt "a fox" \
  --negative-prompt-2 "blurry" -o "$work/x.png" --steps 1
expect_error "give one --prompt-2 per --prompt" "$B/fresco-run" \
  "$work/one.fplan" --weights "$work/pipe" --prompt a --prompt b \
  --prompt-2 c --prompt-2 d --prompt-2 e -o "$work/x.png" --steps 1
printf '\n  \n' > "$work/empty.txt"
expect_error "holds no prompt" "$B/fresco-run" "$work/one.fplan" \
  --weights "$work/pipe" --prompt-file "$work/empty.txt" -o "$work/x.png"
# A prompt file gives one image per line, as --prompt does.
printf 'a red fox in the snow\nTwo cats, one dog! Zwei Kätzchen, ΟΔΟΣ 東京 🐱\n' > "$work/prompts.txt"
prompt2=()
[ "$variant" = dev ] && prompt2=(--prompt-2 "a watercolor of a lighthouse at dusk with long reflections on the quiet water" --prompt-2 "macro photo of dew on a spider web")
"$B/fresco-run" "$work/one.fplan" --weights "$work/pipe" \
  --prompt-file "$work/prompts.txt" "${prompt2[@]}" --steps $steps \
  --guidance-scale $guidance --latents "@$work/x.npy" \
  --output-latents "@$work/file.npy" --quiet 2> /dev/null
cmp "$work/file.npy" "$work/one.npy"
echo "flux $variant: OK"
