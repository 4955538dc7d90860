"""check-rms-norm.py WEIGHTS X Y: Y against rms-norm.mlir's two norms in
float64 with diffusers' formula (x * rsqrt(mean(x^2) + eps) * w); prints the
relative error, exits 1 above 1e-5 (reads safetensors with the standard
library)."""
import json
import struct
import sys

import numpy as np

raw = open(sys.argv[1], "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
info = json.loads(raw[8:8 + n])["norm.weight"]
b, e = info["data_offsets"]
w = np.frombuffer(raw[8 + n + b:8 + n + e], dtype="<f4").astype(np.float64)
x = np.load(sys.argv[2]).astype(np.float64)
y = np.load(sys.argv[3]).astype(np.float64)


def rms(v, eps):
    return v / np.sqrt((v * v).mean(-1, keepdims=True) + eps)


want = rms(rms(x, 1e-6) * w, 1e-5)
err = np.abs(y - want).max() / np.abs(want).max()
print(f"relative error {err:.3g}")
sys.exit(0 if err <= 1e-5 else 1)
