#!/usr/bin/env bash
# flux_fixture_parity.sh [--schnell]: the Flux fixtures, and Fresco's
# components on them.
# 1. make_flux_pipeline.py writes the same bytes twice for a seed.
# 2. flux_pipeline_reference.py runs diffusers' FluxPipeline on it in float64
#    (--dump-components) and float32: the final latents agree within 1e-5 of
#    max|latents| (what f32 rounding over a few steps leaves; a pipeline that
#    is not deterministic or mixes inputs is O(1) off).
# 3. Each component of the folder, compiled by fresco-compile and run by
#    fresco-run --function, on the inputs the pipeline gave it, against the
#    float64 dump within 1e-5 of max|ref| (as the bare-model parity tests):
#    CLIPTextModel's pooled output, T5EncoderModel's last hidden state (the
#    2-shard index) and the transformer's first step. fresco-tokenize on the
#    pipeline's tokenizer/ and tokenizer_2/ gives the ids the pipeline used.
# The VAE has 4 blocks (vae_scale_factor 16, FLUX.1's), as a bare transformer
# plan maps --height/--width to (H/16)(W/16) tokens.
# Needs FRESCO_BIN (the build's bin/) and FRESCO_PYTHON (the .venv python).
set -euo pipefail
variant=${1:-}
. "$(dirname "$0")/common.sh"

batch=2 height=64 width=96 text=16
make=("$FRESCO_PYTHON" "$here/make_flux_pipeline.py" --seed 4
  --vae-block-out-channels 8,8,16,16 $variant)
"${make[@]}" --out "$work/pipe"
"${make[@]}" --out "$work/again" >/dev/null
diff -r "$work/pipe" "$work/again"
echo "make_flux_pipeline.py: the same bytes twice"

prompts=("a photo of a cat, highly detailed"
  "An astronaut riding a horse on Mars! 8k, trending on artstation")
ref=("$FRESCO_PYTHON" "$here/flux_pipeline_reference.py" --pipeline "$work/pipe"
  --prompt "${prompts[0]}" --prompt "${prompts[1]}" --steps 3
  --guidance-scale 3.5 --height $height --width $width
  --max-sequence-length $text)
"$FRESCO_PYTHON" "$here/flux_pipeline_reference.py" --pipeline "$work/pipe" \
  --make-latents "$work/x.npy" --batch $batch --height $height \
  --width $width --seed 9
"${ref[@]}" --latents "@$work/x.npy" --dtype float64 \
  --out-latents "$work/y64.npy" --out-images "$work/img.npy" \
  --dump-components "$work/dump"
"${ref[@]}" --latents "$work/x.npy" --out-latents "$work/y32.npy"
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/y32.npy" "$work/y64.npy" \
  --rtol-max 1e-5

d=$work/dump
"$FRESCO_BIN/fresco-compile" "$work/pipe/text_encoder" -o "$work/clip.fplan" \
  --batch $batch
"$FRESCO_BIN/fresco-run" "$work/clip.fplan" --weights "$work/pipe/text_encoder" \
  --function text_encoder --input "@$d/clip_input_ids.npy" \
  --output "@$work/clip_hidden.npy" --output "@$work/clip_pooled.npy"
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/clip_pooled.npy" \
  "$d/clip_pooled.npy" --rtol-max 1e-5

"$FRESCO_BIN/fresco-compile" "$work/pipe/text_encoder_2" -o "$work/t5.fplan" \
  --batch $batch --max-sequence-length $text
"$FRESCO_BIN/fresco-run" "$work/t5.fplan" --weights "$work/pipe/text_encoder_2" \
  --function text_encoder_2 --input "@$d/t5_input_ids.npy" \
  --output "@$work/t5_hidden.npy"
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/t5_hidden.npy" \
  "$d/t5_last_hidden.npy" --rtol-max 1e-5

"$FRESCO_BIN/fresco-compile" "$work/pipe/transformer" -o "$work/dit.fplan" \
  --batch $batch --height $height --width $width --max-sequence-length $text
flux_transformer_inputs "$d/step0"
"$FRESCO_BIN/fresco-run" "$work/dit.fplan" --weights "$work/pipe/transformer" \
  --function transformer "${inputs[@]}" --output "@$work/noise_pred.npy"
"$FRESCO_PYTHON" "$here/compare_npy.py" "$work/noise_pred.npy" \
  "$d/step0_noise_pred.npy" --rtol-max 1e-5

# The ids: fresco-tokenize prints "ids: ..." per prompt (T5 adds " length: L").
"$FRESCO_PYTHON" - "$FRESCO_BIN/fresco-tokenize" "$work" $text "${prompts[@]}" <<'PY'
import json
import subprocess
import sys
import numpy as np
tool, work, text, prompts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
stdin = "".join(json.dumps(p) + "\n" for p in prompts)
ok = True
for sub, kind, extra, ref in (("tokenizer", "clip", [], "clip_input_ids"),
                              ("tokenizer_2", "t5", ["--max-length", text], "t5_input_ids")):
    res = subprocess.run([tool, "--kind", kind, "--tokenizer", f"{work}/pipe/{sub}", *extra],
                         input=stdin, capture_output=True, text=True, check=True)
    got = [[int(x) for x in line[4:].split(" length: ")[0].split()]
           for line in res.stdout.splitlines() if line.startswith("ids:")]
    want = np.load(f"{work}/dump/{ref}.npy").tolist()
    print(f"{sub}: fresco-tokenize {'equals' if got == want else 'DIFFERS FROM'} the pipeline's {ref}")
    ok &= got == want
sys.exit(0 if ok else 1)
PY
