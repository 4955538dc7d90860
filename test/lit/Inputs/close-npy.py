"""close-npy.py A.npy B.npy TOL [--index-a I] [--index-b J]: exits 0 when
max|A - B| <= TOL * max|B| (A[I] and B[J] with indices), printing the
ratio."""
import argparse
import sys

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("a")
p.add_argument("b")
p.add_argument("tol", type=float)
p.add_argument("--index-a", type=int)
p.add_argument("--index-b", type=int)
args = p.parse_args()
a, b = np.load(args.a).astype(np.float64), np.load(args.b).astype(np.float64)
if args.index_a is not None:
    a = a[args.index_a]
if args.index_b is not None:
    b = b[args.index_b]
ratio = np.abs(a - b).max() / max(np.abs(b).max(), 1e-30) if a.shape == b.shape else np.inf
print(f"ratio {ratio:.3g} (tolerance {args.tol:g})")
sys.exit(0 if ratio <= args.tol else 1)
