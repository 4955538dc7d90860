"""check-mlp.py WEIGHTS.safetensors X.npy Y.npy: checks Inputs/mlp.mlir's output
against NumPy in float64 (reads safetensors with the standard library)."""
import json
import math
import struct
import sys

import numpy as np

path, xpath, ypath = sys.argv[1:]
raw = open(path, "rb").read()
(n,) = struct.unpack("<Q", raw[:8])
header = json.loads(raw[8:8 + n])
data = raw[8 + n:]
w = {}
for name, info in header.items():
    if name == "__metadata__":
        continue
    b, e = info["data_offsets"]
    w[name] = np.frombuffer(data[b:e], dtype="<f4").reshape(info["shape"]).astype(np.float64)

x = np.load(xpath).astype(np.float64)
h = x @ w["fc1.weight"].T + w["fc1.bias"]
erf = np.vectorize(math.erf)
h = 0.5 * h * (1 + erf(h / math.sqrt(2)))
h = h @ w["fc2.weight"].T + x
mu = h.mean(-1, keepdims=True)
var = ((h - mu) ** 2).mean(-1, keepdims=True)
ref = (h - mu) / np.sqrt(var + 1e-5) * w["norm.weight"] + w["norm.bias"]
got = np.load(ypath)
err = np.abs(got - ref).max() / np.abs(ref).max()
print(f"relative error {err:.3g}")
sys.exit(0 if got.shape == ref.shape and err < 1e-5 else 1)
