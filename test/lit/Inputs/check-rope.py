"""check-rope.py make IDS Q | check IDS Q Y: rope.mlir's inputs (Flux-like
ids: 3 text tokens at 0, then a 2 x 2 image grid (0, row, column); q
N(0, 1)), or Y checked against diffusers' FluxPosEmbed and apply_rotary_emb
written out in float64 with numpy (repeat-interleaved cos/sin tables, x *
cos + rotate(x) * sin); prints the relative error, exits 1 above 1e-6."""
import sys

import numpy as np

mode, ids_path, q_path = sys.argv[1:4]
if mode == "make":
    ids = np.zeros((7, 3), np.float32)
    ids[3:, 1] = [0, 0, 1, 1]
    ids[3:, 2] = [0, 1, 0, 1]
    np.save(ids_path, ids)
    np.save(q_path, np.random.default_rng(1).standard_normal((2, 7, 32)).astype(np.float32))
    sys.exit(0)

ids = np.load(ids_path).astype(np.float64)
q = np.load(q_path).astype(np.float64)
y = np.load(sys.argv[4]).astype(np.float64)
cos, sin = [], []
for axis, dim in enumerate((4, 6, 6)):
    freqs = 1.0 / 10000.0 ** (np.arange(0, dim, 2) / dim)
    angles = np.outer(ids[:, axis], freqs)
    cos.append(np.repeat(np.cos(angles), 2, axis=1))
    sin.append(np.repeat(np.sin(angles), 2, axis=1))
cos, sin = np.concatenate(cos, 1), np.concatenate(sin, 1)  # [T, 16]
x = q.reshape(2, 7, 2, 16)
rotated = np.stack([-x[..., 1::2], x[..., 0::2]], -1).reshape(x.shape)
want = (x * cos[None, :, None] + rotated * sin[None, :, None]).reshape(q.shape)
err = np.abs(y - want).max() / np.abs(want).max()
print(f"relative error {err:.3g}")
sys.exit(0 if err <= 1e-6 else 1)
