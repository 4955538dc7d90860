"""check-swap.py X.npy Y.npy: exits 0 when Y is X with the halves of its last
dimension swapped, bit for bit."""
import sys

import numpy as np

x, y = np.load(sys.argv[1]), np.load(sys.argv[2])
h = x.shape[-1] // 2
want = np.concatenate([x[..., h:], x[..., :h]], axis=-1)
if y.shape != want.shape or not np.array_equal(y, want):
    sys.exit(f"halves not swapped: got {y.tolist()}, want {want.tolist()}")
print("OK")
