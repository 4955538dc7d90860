"""make-npy.py OUT.npy DTYPE DIM... [--value V]: writes a NumPy array for CLI tests.

Random normal values (seed 0) unless --value is given; integer dtypes get
values in [0, 10).
"""
import argparse

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("dtype")
p.add_argument("shape", type=int, nargs="*")
p.add_argument("--value", type=float)
a = p.parse_args()
rng = np.random.default_rng(0)
dt = np.dtype(a.dtype)
if a.value is not None:
    x = np.full(a.shape, a.value, dtype=dt)
elif dt.kind in "iu":
    x = rng.integers(0, 10, size=a.shape).astype(dt)
else:
    x = rng.standard_normal(a.shape).astype(dt)
np.save(a.out, x)
