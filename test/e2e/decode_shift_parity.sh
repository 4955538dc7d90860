#!/usr/bin/env bash
# decode_shift_parity.sh: the sampling loop's hand-off to the decoder with
# FLUX.1's VAE factors. The hand-written toy pipeline (test/lit/Inputs/
# toy-pipeline.mlir: decoder = silu(z) as RGB) gets scaling_factor 0.3611 and
# shift_factor 0.1159; its PNGs must equal, in every 8-bit value, what
# FluxPipeline's decode expression `latents / scaling_factor + shift_factor`
# (torch, float32) through that decoder and diffusers' VaeImageProcessor
# postprocessing gives from the run's own final latents. (The bare `vae`
# function takes latents already in the VAE's scale; see
# vae_decode_parity.sh.)
set -euo pipefail
. "$(dirname "$0")/common.sh"

sed -e 's/scaling_factor = 2.0 : f64/scaling_factor = 0.3611 : f64/' \
  -e 's/shift_factor = 0.0 : f64/shift_factor = 0.1159 : f64/' \
  "$root/test/lit/Inputs/toy-pipeline.mlir" > "$work/toy.mlir"
grep -q "shift_factor = 0.1159" "$work/toy.mlir"
"$FRESCO_BIN/fresco-compile" "$work/toy.mlir" -o "$work/toy.fplan" --quiet
"$FRESCO_BIN/fresco-inspect" "$work/toy.fplan" | grep "decoded as"
mkdir -p "$work/weights"
"$FRESCO_PYTHON" - "$work/x0.npy" <<'PY'
import sys
import numpy as np
# Small latents: most decoded values stay inside (-1, 1), unclamped.
x = 0.15 * np.random.default_rng(3).standard_normal((2, 1, 2, 2))
np.save(sys.argv[1], x.astype(np.float32))
PY
"$FRESCO_BIN/fresco-run" "$work/toy.fplan" --weights "$work/weights" \
  --class-label 1,2 --steps 2 --latents "@$work/x0.npy" -o "$work/t.png" \
  --output-latents "@$work/lat.npy" --quiet
"$FRESCO_PYTHON" - "$work" <<'PY'
import sys
import numpy as np
import torch
from PIL import Image
from diffusers.image_processor import VaeImageProcessor

work = sys.argv[1]
latents = torch.from_numpy(np.load(f"{work}/lat.npy"))
processor = VaeImageProcessor()


def pixels(z):
    """The toy decoder, then FluxPipeline's postprocess(output_type="pil")."""
    sample = torch.nn.functional.silu(z).repeat(1, 3, 1, 1)
    return [np.asarray(im).astype(np.int32)
            for im in processor.postprocess(sample, output_type="pil")]


want = pixels(latents / 0.3611 + 0.1159)  # FluxPipeline's expression
unshifted = pixels(latents / 0.3611)
for i, ref in enumerate(want):
    got = np.asarray(Image.open(f"{work}/t-{i}.png").convert("RGB")).astype(np.int32)
    diff = np.abs(got - ref).max()
    # The check must be able to fail: without the shift the pixels move.
    moved = np.abs(unshifted[i] - ref).max()
    print(f"image {i}: max 8-bit difference {diff} (without the shift: {moved})")
    assert diff == 0, "PNG differs from FluxPipeline's decode expression"
    assert moved > 5, "the shift does not show in the pixels; the test is vacuous"
PY
echo OK
